package bus_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/linesim/bus"
)

// TestCodec runs testdata/<case>/: line.jsonl is one wire line; want.jsonl
// is the line Encode makes of what Decode read (and a fixed point: it
// decodes and encodes to itself), or error.txt names the sentinel
// ("ErrBadMessage: " or "ErrUnknownType: ") and a substring of the error.
func TestCodec(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			line, err := os.ReadFile(filepath.Join(dir, "line.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			m, derr := bus.Decode(line)
			if want, err := os.ReadFile(filepath.Join(dir, "error.txt")); err == nil {
				kind, sub, _ := strings.Cut(strings.TrimSpace(string(want)), ": ")
				sentinel := map[string]error{"ErrBadMessage": bus.ErrBadMessage, "ErrUnknownType": bus.ErrUnknownType}[kind]
				if sentinel == nil {
					t.Fatalf("error.txt: unknown sentinel %q", kind)
				}
				if !errors.Is(derr, sentinel) || !strings.Contains(derr.Error(), sub) {
					t.Fatalf("Decode: %v (%v), want %s containing %q", m, derr, kind, sub)
				}
				return
			}
			if derr != nil {
				t.Fatalf("Decode: %v", derr)
			}
			want, err := os.ReadFile(filepath.Join(dir, "want.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := bus.Encode(m)
			if err != nil {
				t.Fatalf("Encode(%#v): %v", m, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode(Decode(line))\n got %s\nwant %s", got, want)
			}
			m2, err := bus.Decode(want)
			if err != nil {
				t.Fatalf("Decode(want): %v", err)
			}
			if again, err := bus.Encode(m2); err != nil || !bytes.Equal(again, want) {
				t.Fatalf("want.jsonl is not a fixed point: %s %v", again, err)
			}
		})
	}
}

// Encode refuses what Decode would refuse, and lines longer than MaxLine
// either way.
func TestEncodeRefuses(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for name, m := range map[string]bus.Message{
		"nil":              nil,
		"product seq 0":    bus.Product{At: at},
		"product no time":  bus.Product{Seq: 1},
		"gate no result":   bus.Gate{Seq: 1, Verdict: bus.VerdictPass},
		"gate pushed pass": bus.Gate{Seq: 1, Verdict: bus.VerdictReject, Pushed: true, Result: bus.ResultPassed},
		"hello no bus":     bus.Hello{Version: 1},
		"too long":         bus.Printed{Seq: 1, At: at, Data: strings.Repeat("1", bus.MaxLine)},
	} {
		if b, err := bus.Encode(m); !errors.Is(err, bus.ErrBadMessage) {
			t.Errorf("%s: Encode = %q, %v; want ErrBadMessage", name, b, err)
		}
	}
	long := `{"type":"printed","seq":1,"at":"2026-03-02T10:00:00Z","record":"","data":"` + strings.Repeat("1", bus.MaxLine) + `","seed":"1"}`
	if _, err := bus.Decode([]byte(long)); !errors.Is(err, bus.ErrBadMessage) || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("Decode of a line over MaxLine: %v", err)
	}
}

// FuzzDecode: any line either fails with ErrBadMessage or ErrUnknownType,
// or decodes to a message that encodes to a line decoding to the same
// message (the encoding is a fixed point from then on).
func FuzzDecode(f *testing.F) {
	dirs, _ := filepath.Glob("testdata/*/line.jsonl")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := bus.Decode(line)
		if err != nil {
			if !errors.Is(err, bus.ErrBadMessage) && !errors.Is(err, bus.ErrUnknownType) {
				t.Fatalf("Decode(%q): %v: neither ErrBadMessage nor ErrUnknownType", line, err)
			}
			return
		}
		b, err := bus.Encode(m)
		if err != nil {
			// Decoding may grow a line (invalid UTF-8 becomes U+FFFD):
			// only the length limit may refuse it.
			if !errors.Is(err, bus.ErrBadMessage) || !strings.Contains(err.Error(), "longer than") {
				t.Fatalf("Encode(Decode(%q)) = %v", line, err)
			}
			return
		}
		m2, err := bus.Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = %v (encoded %q)", line, err, b)
		}
		b2, err := bus.Encode(m2)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("not a fixed point: %q -> %q -> %q (%v)", line, b, b2, err)
		}
	})
}
