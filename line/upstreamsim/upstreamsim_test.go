package upstreamsim

import (
	"strings"
	"testing"
)

func TestSequential(t *testing.T) {
	s, err := New(Options{Mode: Sequential, SerialLength: 8, Prefix: "L1"})
	if err != nil {
		t.Fatal(err)
	}
	got := s.generate("09501101530003", 3)
	want := []string{"L1000001", "L1000002", "L1000003"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestRandomUniqueAndAlphabet(t *testing.T) {
	s, err := New(Options{SerialLength: 6})
	if err != nil {
		t.Fatal(err)
	}
	got := s.generate("09501101530003", 5000)
	seen := map[string]bool{}
	for _, v := range got {
		if len(v) != 6 || strings.Trim(v, randomAlphabet) != "" {
			t.Fatalf("serial %q: wrong length or character", v)
		}
		if seen[v] {
			t.Fatalf("duplicate %q", v)
		}
		seen[v] = true
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Options{{Mode: "odd"}, {SerialLength: 21}, {SerialLength: 3, Prefix: "ABC"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestCheckGTIN(t *testing.T) {
	cases := map[string]bool{"09501101530003": true, "09501101530004": false, "0950110153000": false, "0950110153000A": false}
	for g, ok := range cases {
		if (checkGTIN(g) == "") != ok {
			t.Errorf("checkGTIN(%s) = %q", g, checkGTIN(g))
		}
	}
}
