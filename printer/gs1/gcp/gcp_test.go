package gcp

import (
	"errors"
	"strings"
	"testing"
)

func TestListLongestPrefix(t *testing.T) {
	l, err := Load("testdata/gcpprefixformatlist.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		gtin string
		n    int
		err  error
	}{
		{"09501101530003", 9, nil},        // 9501101 (9) beats 950 (7)
		{"09502345000012", 7, nil},        // 950
		{"10614141000415", 7, nil},        // indicator 1 ignored; 0614141 beats 061414
		{"00614149000012", 8, nil},        // 061414
		{"00200000000017", 0, ErrUnknown}, // restricted circulation: length 0
		{"04000000000016", 0, ErrUnknown}, // no prefix
		{"0950110153000", 0, ErrInvalid},
	} {
		n, err := l.PrefixLength(c.gtin)
		if n != c.n || !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("%s: %d, %v; want %d, %v", c.gtin, n, err, c.n, c.err)
		}
		if err != nil && c.err == ErrUnknown && !strings.Contains(err.Error(), c.gtin) {
			t.Errorf("%s: error %q does not name the GTIN", c.gtin, err)
		}
	}
}

func TestParseJSONAndBad(t *testing.T) {
	l, err := Parse(strings.NewReader(`{"GCPPrefixFormatList":{"entry":[{"prefix":"950","gcpLength":7},{"prefix":"9501101","gcpLength":"9"}]}}`), "x.json")
	if err != nil || l.Entries() != 2 {
		t.Fatal(l, err)
	}
	if n, err := l.PrefixLength("09501101530003"); n != 9 || err != nil {
		t.Fatal(n, err)
	}
	for _, bad := range []string{``, `<GCPPrefixFormatList/>`, `<GCPPrefixFormatList><entry prefix="95a" gcpLength="7"/></GCPPrefixFormatList>`,
		`<GCPPrefixFormatList><entry prefix="950" gcpLength="13"/></GCPPrefixFormatList>`, `{"GCPPrefixFormatList":`} {
		if _, err := Parse(strings.NewReader(bad), "bad.xml"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v; want ErrInvalid", bad, err)
		}
	}
}

func TestChainNeverDefaults(t *testing.T) {
	l, _ := Load("testdata/gcpprefixformatlist.xml")
	c := Chain{Products{"09501101530003": 7}, l}
	if n, err := c.PrefixLength("09501101530003"); n != 7 || err != nil {
		t.Fatalf("product master first: %d %v", n, err)
	}
	if n, err := c.PrefixLength("09502345000012"); n != 7 || err != nil {
		t.Fatalf("then the list: %d %v", n, err)
	}
	_, err := Chain{Products{}}.PrefixLength("04000000000016")
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "04000000000016") {
		t.Fatalf("unknown: %v", err)
	}
	if err := (Products{"123": 7, "09501101530003": 13}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}
