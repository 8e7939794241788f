package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/serialine/serialine/configs/reference"
)

// TestGeneratedModelUpToDate regenerates the PackML type model from the
// reference node set and compares it with the committed model_gen.go.
func TestGeneratedModelUpToDate(t *testing.T) {
	in := reference.File(t, "opcua/Opc.Ua.PackML.NodeSet2.xml")
	out := filepath.Join(t.TempDir(), "model_gen.go")
	if err := run(in, out, "a2d4ae8"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../model_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("line/packtags/model_gen.go is stale: run go generate ./line/packtags")
	}
}
