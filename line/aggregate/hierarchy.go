package aggregate

import (
	"fmt"

	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/store/journal"
)

// Level is one packaging level of a product.
type Level struct {
	Name       string         // "bundle", "case", "pallet"
	Quantity   int            // children when full
	Kind       journal.IDKind // how its parents are identified
	GTIN       string         // the level's GTIN (IDSGTIN)
	ChildLevel string         // journal.UnitLevel or the level below
}

// Hierarchy is a product's packaging levels above the unit, innermost first.
type Hierarchy struct {
	GTIN   string
	Levels []Level
}

// Level returns the level called name.
func (h Hierarchy) Level(name string) (Level, bool) {
	for _, l := range h.Levels {
		if l.Name == name {
			return l, true
		}
	}
	return Level{}, false
}

// Above returns the level holding children of level child (journal.UnitLevel
// for the first level).
func (h Hierarchy) Above(child string) (Level, bool) {
	for _, l := range h.Levels {
		if l.ChildLevel == child {
			return l, true
		}
	}
	return Level{}, false
}

// Spec is the journal's ParentSpec of a level for batch.
func (l Level) Spec(batch, station string) journal.ParentSpec {
	return journal.ParentSpec{Batch: batch, Level: l.Name, ChildLevel: l.ChildLevel, Capacity: l.Quantity, Station: station, Kind: l.Kind, GTIN: l.GTIN}
}

// HierarchySource gives a product's packaging hierarchy by unit GTIN: the
// configuration now, the product master (engineer W's) later.
type HierarchySource interface {
	Hierarchy(gtin string) (Hierarchy, error)
}

type configHierarchy map[string]Hierarchy

// ConfigHierarchy is the HierarchySource of the aggregation config section.
func ConfigHierarchy(c config.Aggregation) HierarchySource {
	m := configHierarchy{}
	for _, p := range c.Products {
		h := Hierarchy{GTIN: p.GTIN}
		child := journal.UnitLevel
		for _, l := range p.Levels {
			k := journal.IDSSCC
			if l.ID == "sgtin" {
				k = journal.IDSGTIN
			}
			h.Levels = append(h.Levels, Level{Name: l.Name, Quantity: l.Quantity, Kind: k, GTIN: l.GTIN, ChildLevel: child})
			child = l.Name
		}
		m[p.GTIN] = h
	}
	return m
}

func (m configHierarchy) Hierarchy(gtin string) (Hierarchy, error) {
	h, ok := m[gtin]
	if !ok {
		return Hierarchy{}, fmt.Errorf("no packaging hierarchy configured for GTIN %s (aggregation.products)", gtin)
	}
	return h, nil
}
