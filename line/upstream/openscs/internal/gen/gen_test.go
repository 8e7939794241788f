package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/serialine/serialine/configs/reference"
)

// nodeset_gen.go is what the generator makes from the reference node set.
func TestGeneratedUpToDate(t *testing.T) {
	data, err := os.ReadFile(reference.File(t, "opcua/Opc.Ua.OPENSCS.NodeSet2.xml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Generate(data)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../nodeset_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, have) {
		t.Fatal("nodeset_gen.go is stale: run go generate ./line/upstream/openscs")
	}
	for _, want := range []string{"SNRequestAllocated", "SNReturnUnallocated", "SNtoEncoded", "LabelsScrappingEvent", "InsufficientSerialNumbers3"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("generated facts lack %s", want)
		}
	}
}
