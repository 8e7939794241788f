package dmcc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/internal/codectest"
	"github.com/serialine/serialine/vision/pattern"
)

func TestResultCodecTable(t *testing.T) {
	codectest.Run(t, "testdata", func(t *testing.T, dir string, input []byte) (vision.Result, error) {
		f := DefaultFormat()
		if pat, err := os.ReadFile(filepath.Join(dir, "pattern")); err == nil {
			f, err = pattern.Compile(pattern.Options{Pattern: string(pat), NoRead: DefaultNoRead, Source: "dmcc"})
			if err != nil {
				t.Fatal(err)
			}
		}
		return ParseResult(input, f)
	})
}

func TestCommandFraming(t *testing.T) {
	for _, tc := range []struct {
		c    Command
		wire string
	}{
		{Command{Text: "TRIGGER ON"}, "||>TRIGGER ON\r\n"},
		{Command{ID: 12, HasID: true, Text: "TRIGGER OFF"}, "||12>TRIGGER OFF\r\n"},
		{Command{ID: 7, HasID: true, Checksum: true, Text: "GET SYMBOL.DATAMATRIX"}, ""},
	} {
		got := AppendCommand(nil, tc.c)
		if tc.wire != "" && string(got) != tc.wire {
			t.Errorf("AppendCommand(%+v) = %q, want %q", tc.c, got, tc.wire)
		}
		if !bytes.HasSuffix(got, []byte(Footer)) {
			t.Fatalf("no footer: %q", got)
		}
		back, err := ParseCommand(got[:len(got)-2])
		if err != nil || back != tc.c {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v", got, back, err, tc.c)
		}
	}
	// checksum mode: the byte before CR LF is the XOR of all bytes before it.
	w := AppendCommand(nil, Command{Checksum: true, Text: "TRIGGER ON"})
	body := w[:len(w)-3]
	var x byte
	for _, c := range body {
		x ^= c
	}
	if w[len(w)-3] != x || !bytes.HasPrefix(w, []byte("||1:>TRIGGER ON")) {
		t.Errorf("checksum frame %q", w)
	}
	for in, want := range map[string]string{
		"TRIGGER ON":    "frame does not start with ||",
		"||12TRIGGER":   "expected '>'",
		"||>":           "empty command",
		"||1:>TRIGGERx": "checksum byte",
	} {
		_, err := ParseCommand([]byte(in))
		if err == nil || !errors.Is(err, vision.ErrGarbled) || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("ParseCommand(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	for _, r := range []Response{
		{Status: StatusReadString, Payload: []byte("]d2010950110153000321A\x1d10B")},
		{ID: 3, HasID: true, Status: StatusOK, Payload: []byte("ON")},
		{ID: 4, HasID: true, Checksum: true, Status: StatusBadParam},
		{Checksum: true, Status: StatusReadString, Payload: []byte{0, 1, 2, '\r', '\n', 0xff}},
	} {
		w := AppendResponse(nil, r)
		got, err := ParseResponse(w[:len(w)-2])
		if err != nil {
			t.Fatalf("%q: %v", w, err)
		}
		if got.ID != r.ID || got.HasID != r.HasID || got.Checksum != r.Checksum || got.Status != r.Status || !bytes.Equal(got.Payload, r.Payload) && len(r.Payload)+len(got.Payload) > 0 {
			t.Errorf("round trip %+v -> %q -> %+v", r, w, got)
		}
	}
	if StatusText(StatusBadChecksum) != "checksum incorrect" || StatusText(999) != "" {
		t.Error("StatusText")
	}
}

func seedLines(f *testing.F) {
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("testdata", e.Name(), "input")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("||12>TRIGGER ON"))
	f.Add(AppendCommand(nil, Command{Checksum: true, ID: 9, HasID: true, Text: "GET X"}))
}

func checkErr(t *testing.T, err error) {
	if err != nil && !errors.Is(err, vision.ErrGarbled) {
		t.Fatalf("error %v is not ErrGarbled", err)
	}
}

func FuzzParseResponse(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseResponse(line)
		checkErr(t, err)
		if err == nil && r.Status < 0 {
			t.Fatalf("negative status")
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := ParseCommand(line)
		checkErr(t, err)
		if err == nil {
			// re-encoding must parse to the same command
			w := AppendCommand(nil, c)
			c2, err := ParseCommand(w[:len(w)-2])
			if err != nil || c2 != c {
				t.Fatalf("re-encode %+v -> %q -> %+v, %v", c, w, c2, err)
			}
		}
	})
}

func FuzzParseResult(f *testing.F) {
	seedLines(f)
	format := DefaultFormat()
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseResult(line, format)
		checkErr(t, err)
		if err == nil && !r.NoRead && r.Data == "" {
			t.Fatalf("empty data accepted from %q", line)
		}
	})
}
