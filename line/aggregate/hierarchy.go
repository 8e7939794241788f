package aggregate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/records"
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

// HierarchySource gives a product's packaging hierarchy by unit GTIN, as
// it was at asOf (a batch's creation: a batch keeps the hierarchy it was
// defined with). Hierarchy returns an error wrapping ErrNoHierarchy when it
// has none for the GTIN (then the next source of Hierarchies is asked).
type HierarchySource interface {
	Hierarchy(gtin string, asOf time.Time) (Hierarchy, error)
}

// ErrNoHierarchy: no packaging hierarchy is known for a GTIN.
var ErrNoHierarchy = errors.New("no packaging hierarchy")

// hierarchyOf builds the hierarchy of gtin from levels above the unit in
// the aggregation config's form.
func hierarchyOf(gtin string, levels []config.Level) Hierarchy {
	h := Hierarchy{GTIN: gtin}
	child := journal.UnitLevel
	for _, l := range levels {
		k := journal.IDSSCC
		if l.ID == config.IDSGTIN {
			k = journal.IDSGTIN
		}
		h.Levels = append(h.Levels, Level{Name: l.Name, Quantity: l.Quantity, Kind: k, GTIN: l.GTIN, ChildLevel: child})
		child = l.Name
	}
	return h
}

type configHierarchy map[string]Hierarchy

// ConfigHierarchy is the HierarchySource of the aggregation config section.
func ConfigHierarchy(c config.Aggregation) HierarchySource {
	m := configHierarchy{}
	for _, p := range c.Products {
		m[p.GTIN] = hierarchyOf(p.GTIN, p.Levels)
	}
	return m
}

func (m configHierarchy) Hierarchy(gtin string, _ time.Time) (Hierarchy, error) {
	h, ok := m[gtin]
	if !ok {
		return Hierarchy{}, fmt.Errorf("%w for GTIN %s: not in aggregation.products", ErrNoHierarchy, gtin)
	}
	return h, nil
}

// ProductMaster is the product master (*records.Store).
type ProductMaster interface {
	// ProductAt returns the version of gtin's product in force at t (zero
	// t: the current one).
	ProductAt(gtin string, t time.Time) (records.Product, error)
}

type masterHierarchy struct{ m ProductMaster }

// MasterHierarchy is the HierarchySource of the product master: the
// packaging levels above the unit of the version in force at asOf (records.Level: name,
// quantity, id sscc|sgtin, level GTIN). nil m gives none.
func MasterHierarchy(m ProductMaster) HierarchySource {
	if m == nil {
		return nil
	}
	return masterHierarchy{m}
}

func (s masterHierarchy) Hierarchy(gtin string, asOf time.Time) (Hierarchy, error) {
	p, err := s.m.ProductAt(gtin, asOf)
	if err != nil {
		return Hierarchy{}, fmt.Errorf("%w for GTIN %s: not in the product master (%w)", ErrNoHierarchy, gtin, err)
	}
	above := p.Above()
	if len(above) == 0 {
		return Hierarchy{}, fmt.Errorf("%w for GTIN %s: its product master entry (%s, version %d) has no packaging level above the unit",
			ErrNoHierarchy, gtin, p.Name, p.Version)
	}
	return hierarchyOf(gtin, above), nil
}

type chain []HierarchySource

// Hierarchies asks each source in turn (nil ones skipped): the first that
// knows the GTIN gives its hierarchy. The line's order is the aggregation
// config, then the product master.
func Hierarchies(srcs ...HierarchySource) HierarchySource {
	var c chain
	for _, s := range srcs {
		if s != nil {
			c = append(c, s)
		}
	}
	return c
}

func (c chain) Hierarchy(gtin string, asOf time.Time) (Hierarchy, error) {
	var why []string
	prefix := fmt.Sprintf("%v for GTIN %s: ", ErrNoHierarchy, gtin)
	for _, s := range c {
		h, err := s.Hierarchy(gtin, asOf)
		if err == nil || !errors.Is(err, ErrNoHierarchy) {
			return h, err
		}
		why = append(why, strings.TrimPrefix(err.Error(), prefix))
	}
	return Hierarchy{}, fmt.Errorf("%w for GTIN %s: %s", ErrNoHierarchy, gtin, strings.Join(why, "; "))
}
