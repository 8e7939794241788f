package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/printer/gs1/gcp"
)

// TestPrefixesPrecedence: the company prefix length of a GTIN comes from
// the product master, then line.company_prefixes, then line.gcp_file, then
// line.company_prefix_len; a GTIN none of them knows is an error naming
// it, and a line with none of them configured is valid (the product
// master may be the only source).
func TestPrefixesPrecedence(t *testing.T) {
	const gtin = "09501101530003" // 9501101: 9 digits in the GCP list fixture
	master := gcp.Products{gtin: 7}
	full := config.Line{CompanyPrefixes: map[string]int{gtin: 8}, GCPFile: "../../printer/gs1/gcp/testdata/gcpprefixformatlist.xml", CompanyPrefixLen: 10}
	for _, c := range []struct {
		name   string
		master gcp.Lookup
		line   func(config.Line) config.Line
		want   int
	}{
		{"product master first", master, func(l config.Line) config.Line { return l }, 7},
		{"then company_prefixes", nil, func(l config.Line) config.Line { return l }, 8},
		{"then gcp_file", nil, func(l config.Line) config.Line { l.CompanyPrefixes = nil; return l }, 9},
		{"then company_prefix_len", nil, func(l config.Line) config.Line { l.CompanyPrefixes, l.GCPFile = nil, ""; return l }, 10},
		{"master before the line-wide length", master, func(l config.Line) config.Line { l.CompanyPrefixes, l.GCPFile = nil, ""; return l }, 7},
	} {
		p, err := c.line(full).Prefixes(c.master)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := p.PrefixLength(gtin); n != c.want || err != nil {
			t.Errorf("%s: %d %v, want %d", c.name, n, err, c.want)
		}
	}
	p, err := config.Line{}.Prefixes(gcp.Products{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PrefixLength(gtin); !errors.Is(err, gcp.ErrUnknown) || !strings.Contains(err.Error(), gtin) || !strings.Contains(err.Error(), "product master") {
		t.Fatalf("unknown GTIN: %v", err)
	}
	demo, err := configs.Files.ReadFile("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	without := strings.Replace(string(demo), "company_prefix_len: 7", "", 1)
	cfg, err := config.Parse("demo.yaml", []byte(without))
	if err != nil {
		t.Fatalf("a line without company prefix settings (the product master gives them): %v", err)
	}
	if cfg.Line.CompanyPrefixLen != 0 {
		t.Fatal("a default company prefix length appeared")
	}
}
