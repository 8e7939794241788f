package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs/reference"
)

// TestGeneratedTableUpToDate regenerates the AI table from the reference
// dictionary and compares it with the committed aitable_gen.go.
func TestGeneratedTableUpToDate(t *testing.T) {
	dict := reference.File(t, "gs1-syntax-dictionary.txt")
	out := filepath.Join(t.TempDir(), "aitable_gen.go")
	if err := run(dict, out, "ff2eb4b"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../aitable_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("printer/gs1/aitable_gen.go is stale: run go generate ./printer/gs1")
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"0 N1\n", "01 *? Q5\n", "01 N14 foo=bar\n", "3105-3100 N6\n"} {
		if _, _, err := parse(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
