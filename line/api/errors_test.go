package api

import "testing"

// TestPlain: package prefixes and trailing sentinel texts go; a word that
// only looks like a prefix ("this line: ") stays.
func TestPlain(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`unit "X": journal: not found: serial "X" was never seen on this line: not found`, `unit "X": not found: serial "X" was never seen on this line`},
		{"line: batch B1: start: line clearance not confirmed: refused", "batch B1: start: line clearance not confirmed"},
		{"auth: wrong password (records: x): bad request: bad request", "wrong password (x)"},
		{"the printer of this line: ink out", "the printer of this line: ink out"},
	} {
		if got := plain(c.in); got != c.want {
			t.Errorf("plain(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
