package aggregate_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/aggregate"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/store/journal"
)

type master map[string]records.Product

func (m master) Product(gtin string) (records.Product, error) {
	p, ok := m[gtin]
	if !ok {
		return records.Product{}, fmt.Errorf("GTIN %s is not in the product master: %w", gtin, records.ErrNotFound)
	}
	return p, nil
}

// TestHierarchyFromProductMaster: the product master's levels map onto the
// aggregation's (the unit level left out, names, quantities, sscc by
// default, sgtin with the level's GTIN, each level's child level); the
// aggregation config wins for a GTIN it lists; a GTIN neither knows, or a
// product without levels above the unit, is refused naming the GTIN.
func TestHierarchyFromProductMaster(t *testing.T) {
	const other, noLevels, caseGTIN = "09506000134352", "09506000134376", "19501101530000"
	m := master{
		testGTIN: {GTIN: testGTIN, Name: "P", Levels: []records.Level{{Name: "unit", Quantity: 1},
			{Name: "case", Quantity: 12, ID: "sgtin", GTIN: caseGTIN}, {Name: "pallet", Quantity: 80}}},
		other:    {GTIN: other, Levels: []records.Level{{Name: "case", Quantity: 6}}},
		noLevels: {GTIN: noLevels, Name: "Loose", Version: 3, Levels: []records.Level{{Name: "unit", Quantity: 1}}},
	}
	cfg := config.Aggregation{Products: []config.Product{{GTIN: other, Levels: []config.Level{{Name: "case", Quantity: 40}}}}}
	src := aggregate.Hierarchies(aggregate.ConfigHierarchy(cfg), aggregate.MasterHierarchy(m))

	h, err := src.Hierarchy(testGTIN)
	if err != nil {
		t.Fatal(err)
	}
	want := []aggregate.Level{
		{Name: "case", Quantity: 12, Kind: journal.IDSGTIN, GTIN: caseGTIN, ChildLevel: journal.UnitLevel},
		{Name: "pallet", Quantity: 80, Kind: journal.IDSSCC, ChildLevel: "case"},
	}
	if h.GTIN != testGTIN || len(h.Levels) != 2 || h.Levels[0] != want[0] || h.Levels[1] != want[1] {
		t.Fatalf("from the master: %+v, want %+v", h, want)
	}
	if h, err := src.Hierarchy(other); err != nil || len(h.Levels) != 1 || h.Levels[0].Quantity != 40 {
		t.Fatalf("the config's hierarchy first: %+v %v", h, err)
	}
	for _, g := range []string{noLevels, "09501101530010"} {
		_, err := src.Hierarchy(g)
		if !errors.Is(err, aggregate.ErrNoHierarchy) || !strings.Contains(err.Error(), g) {
			t.Errorf("%s: %v, want ErrNoHierarchy naming the GTIN", g, err)
		}
		t.Logf("%s: %v", g, err)
	}
}
