package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/printer/gs1/gcp"
	"github.com/serialine/serialine/store/journal"
)

const (
	unitGTIN = "09501101530003"
	caseGTIN = "19501101530000"
)

// TestLevelsForAggregation: a product's packaging levels carry what
// aggregation needs (name, quantity, id sscc|sgtin, the level's GTIN);
// Above gives them in the aggregation config's form without the unit
// level; the text form round-trips; every bad level is refused naming it.
func TestLevelsForAggregation(t *testing.T) {
	p := records.Product{GTIN: unitGTIN, Name: "P", Profile: "eu-fmd", GCPLength: 7, Active: true,
		Levels: []records.Level{{Name: "unit", Quantity: 1}, {Name: "case", Quantity: 12, ID: "sgtin", GTIN: caseGTIN}, {Name: "pallet", Quantity: 80}}}
	if probs := p.Check(); len(probs) > 0 {
		t.Fatalf("good product refused: %v", probs)
	}
	want := []config.Level{{Name: "case", Quantity: 12, ID: "sgtin", GTIN: caseGTIN}, {Name: "pallet", Quantity: 80, ID: "sscc"}}
	if got := p.Above(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Above = %+v, want %+v", got, want)
	}
	txt := records.LevelsText(p.Levels)
	if txt != "unit:1, case:12:sgtin:"+caseGTIN+", pallet:80" {
		t.Fatalf("LevelsText = %q", txt)
	}
	back, err := records.ParseLevels(txt)
	if err != nil || records.LevelsText(back) != txt {
		t.Fatalf("ParseLevels(%q) = %+v, %v", txt, back, err)
	}
	for _, bad := range []string{"case", "case:x", "case:1:sgtin:1:2"} {
		if _, err := records.ParseLevels(bad); !errors.Is(err, records.ErrInvalid) {
			t.Errorf("ParseLevels(%q): %v, want ErrInvalid", bad, err)
		}
	}
	for _, c := range []struct {
		levels string
		want   string // in the problems
	}{
		{"case:12, unit:1", "levels[1]: \"unit\" is the pack itself"},
		{"unit:2, case:12", "levels[0]: \"unit\" is the pack itself"},
		{"unit:1, case:0", "levels[1].quantity: must be 1..100000"},
		{"unit:1, case:12, case:5", "levels[2].name: must be set and unique"},
		{"unit:1, case:12:sgtin", "levels[1].gtin: required with id sgtin"},
		{"unit:1, case:12:sgtin:" + unitGTIN, "levels[1].gtin: " + unitGTIN + " is the unit's GTIN"},
		{"case:12:sscc:" + caseGTIN, "levels[0].gtin: only with id sgtin"},
		{"case:12:epc", `levels[0].id: must be "sscc" or "sgtin"`},
	} {
		lv, err := records.ParseLevels(c.levels)
		if err != nil {
			t.Fatal(err)
		}
		q := p
		q.Levels = lv
		if probs := strings.Join(q.Check(), "; "); !strings.Contains(probs, c.want) {
			t.Errorf("%q: problems %q, want %q", c.levels, probs, c.want)
		}
	}
}

// TestOldLevelRecordsRead: a product version written before levels
// carried id and gtin reads back with SSCC levels, unchanged otherwise.
func TestOldLevelRecordsRead(t *testing.T) {
	ctx := context.Background()
	j, _ := openJournal(t)
	old := `{"gtin":"` + unitGTIN + `","name":"Old","profile":"eu-fmd","template":"","levels":[{"name":"unit","quantity":1},{"name":"case","quantity":12}],` +
		`"gcp_length":7,"min_shelf_life_days":90,"max_batch":1000,"active":true,"version":1,"changed_by":"admin","changed_at":"2026-01-05T08:00:00Z"}`
	if !json.Valid([]byte(old)) {
		t.Fatal("bad fixture")
	}
	if err := j.AppendAudit(ctx, journal.AuditEntry{Who: "admin", Role: "admin", Action: records.ActionProduct, After: old, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s, err := records.Open(ctx, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Product(unitGTIN)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Above(); len(got) != 1 || got[0] != (config.Level{Name: "case", Quantity: 12, ID: "sscc"}) {
		t.Fatalf("old levels read as %+v", got)
	}
	if probs := p.Check(); len(probs) > 0 {
		t.Fatalf("old record no longer valid: %v", probs)
	}
}

// TestMasterPrefixLength: the product master answers the company prefix
// length of a product's GTIN and of its packaging levels' GTINs (the
// current version), and says ErrUnknown for a GTIN it does not know, so
// a gcp.Chain asks the next source.
func TestMasterPrefixLength(t *testing.T) {
	ctx := context.Background()
	j, _ := openJournal(t)
	s, err := records.Open(ctx, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := records.Product{GTIN: unitGTIN, Name: "P", Profile: "eu-fmd", GCPLength: 9, Active: true, Reason: "new",
		Levels: []records.Level{{Name: "case", Quantity: 12, ID: "sgtin", GTIN: caseGTIN}}}
	if _, err := s.SaveProduct(ctx, p, "admin", "admin"); err != nil {
		t.Fatal(err)
	}
	p.GCPLength = 7
	if _, err := s.SaveProduct(ctx, p, "admin", "admin"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{unitGTIN, caseGTIN} {
		if n, err := s.PrefixLength(g); n != 7 || err != nil {
			t.Errorf("%s: %d %v, want 7 (the current version)", g, n, err)
		}
	}
	_, err = s.PrefixLength("09506000134352")
	if !errors.Is(err, gcp.ErrUnknown) || !strings.Contains(err.Error(), "09506000134352") {
		t.Fatalf("unknown GTIN: %v", err)
	}
	ch := gcp.Chain{s, gcp.Products{"09506000134352": 8}}
	if n, err := ch.PrefixLength("09506000134352"); n != 8 || err != nil {
		t.Fatalf("chain after the master: %d %v", n, err)
	}
}
