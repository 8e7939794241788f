package aggregate_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/aggregate"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/store/journal"
)

type master map[string]records.Product

func (m master) ProductAt(gtin string, _ time.Time) (records.Product, error) {
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

	h, err := src.Hierarchy(testGTIN, time.Time{})
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
	if h, err := src.Hierarchy(other, time.Time{}); err != nil || len(h.Levels) != 1 || h.Levels[0].Quantity != 40 {
		t.Fatalf("the config's hierarchy first: %+v %v", h, err)
	}
	for _, g := range []string{noLevels, "09501101530010"} {
		_, err := src.Hierarchy(g, time.Time{})
		if !errors.Is(err, aggregate.ErrNoHierarchy) || !strings.Contains(err.Error(), g) {
			t.Errorf("%s: %v, want ErrNoHierarchy naming the GTIN", g, err)
		}
		t.Logf("%s: %v", g, err)
	}
}

// TestHierarchyOfTheBatchsVersion: a batch keeps the packaging hierarchy of
// the product master version in force when it was defined; a version saved
// later (case of 6 instead of 4) applies to later batches only.
func TestHierarchyOfTheBatchsVersion(t *testing.T) {
	ctx := t.Context()
	j, _ := journalWithUnits(t, 1)
	now := time.Date(2026, 12, 7, 8, 0, 0, 400_000, time.UTC) // 0.4 ms into a millisecond
	store, err := records.Open(ctx, j, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	p := records.Product{GTIN: testGTIN, Name: "P", Profile: "eu-fmd", GCPLength: 7, Active: true,
		Levels: []records.Level{{Name: "case", Quantity: 4}, {Name: "pallet", Quantity: 2}}}
	if _, err := store.SaveProduct(ctx, p, "ada", "admin"); err != nil {
		t.Fatal(err)
	}
	// the batch is defined in the same millisecond, its creation time
	// kept by the journal to the millisecond (before the version's time)
	defined := now.Truncate(time.Millisecond)
	now = now.Add(time.Hour)
	p.Levels[0].Quantity = 6
	if _, err := store.SaveProduct(ctx, p, "ada", "admin"); err != nil {
		t.Fatal(err)
	}
	src := aggregate.MasterHierarchy(store)
	for _, c := range []struct {
		at   time.Time
		want int
	}{{defined, 4}, {now, 6}, {time.Time{}, 6}} {
		h, err := src.Hierarchy(testGTIN, c.at)
		if err != nil || h.Levels[0].Quantity != c.want {
			t.Errorf("hierarchy as of %v: %+v (%v), want a case of %d", c.at, h, err, c.want)
		}
	}
	_, err = src.Hierarchy(testGTIN, defined.Add(-2*time.Hour))
	if !errors.Is(err, aggregate.ErrNoHierarchy) || !strings.Contains(err.Error(), testGTIN) {
		t.Errorf("before the first version: %v, want ErrNoHierarchy naming the GTIN", err)
	}
}
