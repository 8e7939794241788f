package keyence

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/internal/codectest"
)

func TestReadCodecTable(t *testing.T) {
	f := DefaultFormat()
	codectest.Run(t, "testdata", func(t *testing.T, dir string, input []byte) (vision.Result, error) {
		return f.Parse(string(input))
	})
}

func TestParseReply(t *testing.T) {
	for in, want := range map[string]Reply{
		"OK,LON":      {OK: true, Command: "LON"},
		"OK,LOFF":     {OK: true, Command: "LOFF"},
		"ER,LON,14":   {Command: "LON", Code: 14},
		"OK,BCLR,1,2": {OK: true, Command: "BCLR", Rest: "1,2"},
	} {
		got, err := ParseReply([]byte(in))
		if err != nil || got != want {
			t.Errorf("ParseReply(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if !IsReply([]byte(in)) {
			t.Errorf("IsReply(%q) false", in)
		}
	}
	for in, want := range map[string]string{
		"OK":         "reply is not OK,cmd",
		"ER,LON":     "exactly one error code",
		"ER,LON,xx":  `error code "xx"`,
		"ER,LON,1,2": "exactly one error code",
		"NO,LON":     "reply is not",
	} {
		_, err := ParseReply([]byte(in))
		if err == nil || !errors.Is(err, vision.ErrGarbled) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseReply(%q) = %v, want %q", in, err, want)
		}
	}
	if IsReply([]byte("0109501101530003")) {
		t.Error("read data taken for a reply")
	}
}

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"OK,LON", "ER,LON,01", "ER,,", "OK,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReply(b)
		if err != nil && !errors.Is(err, vision.ErrGarbled) {
			t.Fatalf("not garbled: %v", err)
		}
		if err == nil && r.Command == "" {
			t.Fatal("empty command accepted")
		}
	})
}

func FuzzParseRead(f *testing.F) {
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("testdata", e.Name(), "input")); err == nil {
			f.Add(string(b))
		}
	}
	format := DefaultFormat()
	f.Fuzz(func(t *testing.T, line string) {
		r, err := format.Parse(line)
		if err != nil && !errors.Is(err, vision.ErrGarbled) {
			t.Fatalf("not garbled: %v", err)
		}
		if err == nil && !r.NoRead && r.Data == "" {
			t.Fatal("empty data accepted")
		}
	})
}
