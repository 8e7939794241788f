package hmi

import "testing"

// TestGradeLetter: an ungraded unit has no letter; a graded 0.0 is an F.
func TestGradeLetter(t *testing.T) {
	g := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		g    *float64
		want string
	}{{nil, ""}, {g(0), "F"}, {g(0.5), "D"}, {g(1.5), "C"}, {g(2.5), "B"}, {g(3.5), "A"}} {
		if got := gradeLetter(c.g); got != c.want {
			t.Errorf("gradeLetter(%v) = %q, want %q", c.g, got, c.want)
		}
	}
}
