package epcis_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/epcis/epcistest"
	"github.com/serialine/serialine/printer/gs1/gcp"
)

// Every kind carries its CBV 2.0 action/bizStep/disposition triple, with
// SGTIN and Digital Link EPCs, and validates against the schema.
func TestCBVPairs(t *testing.T) {
	schema := epcistest.Schema(t)
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	b := epcis.Batch{ID: "B1", GTIN: "09501101530003", Lot: "L1", Expiry: "281231"}
	want := map[epcis.Kind][3]string{
		epcis.Commissioning:   {"ADD", "commissioning", "active"},
		epcis.Sampling:        {"OBSERVE", "sampling", "non_sellable_other"},
		epcis.Destroying:      {"DELETE", "destroying", "destroyed"},
		epcis.Decommissioning: {"DELETE", "decommissioning", "inactive"},
		epcis.LabelScrapping:  {"OBSERVE", "destroying", "destroyed"},
	}
	for _, o := range []epcis.Options{
		{Prefixes: gcp.Products{"09501101530003": 9}},
		{EPCs: "dl"},
	} {
		for kind, w := range want {
			docs, err := epcis.Build(kind, b, []string{"A1", "B/2"}, at, o)
			if err != nil || len(docs) != 1 {
				t.Fatalf("%s %s: %v", o.EPCs, kind, err)
			}
			epcistest.Validate(t, schema, docs[0])
			var d epcis.Document
			if err := json.Unmarshal(docs[0], &d); err != nil {
				t.Fatal(err)
			}
			ev := d.Body.EventList[0]
			if got := [3]string{ev.Action, ev.BizStep, ev.Disposition}; got != w {
				t.Errorf("%s: %v, want %v", kind, got, w)
			}
			for i, e := range ev.EPCList {
				g, s, err := epcis.ParseEPC(e)
				if err != nil || g != b.GTIN || s != []string{"A1", "B/2"}[i] {
					t.Errorf("%s: ParseEPC(%s) = %s %s %v", kind, e, g, s, err)
				}
			}
			if o.EPCs == "dl" && !strings.HasPrefix(ev.EPCList[1], "https://id.gs1.org/01/09501101530003/21/B%2F2") {
				t.Errorf("dl epc %s", ev.EPCList[1])
			}
			if o.EPCs == "" && ev.EPCList[0] != "urn:epc:id:sgtin:950110153.0000.A1" {
				t.Errorf("sgtin epc %s", ev.EPCList[0])
			}
		}
	}
}

// No company prefix length: an error naming the GTIN, never a default.
func TestNoSilentCompanyPrefix(t *testing.T) {
	b := epcis.Batch{ID: "B1", GTIN: "09501101530003", Lot: "L1", Expiry: "281231"}
	for _, o := range []epcis.Options{{}, {Prefixes: gcp.Chain{gcp.Products{}}}} {
		_, err := epcis.Build(epcis.Commissioning, b, []string{"A1"}, time.Now(), o)
		if !errors.Is(err, epcis.ErrInvalid) || !strings.Contains(err.Error(), "09501101530003") {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// GS1 General Specifications 7.12: the sliding window.
func TestExpiryCenturyWindow(t *testing.T) {
	for _, c := range []struct {
		yy, now, want int
	}{
		{28, 2026, 2028}, {76, 2026, 2076}, {77, 2026, 1977}, {99, 2026, 1999},
		{0, 2026, 2000}, {26, 2026, 2026}, {0, 2051, 2100}, {1, 2051, 2101}, {2, 2051, 2002},
		{49, 2099, 2149}, {50, 2099, 2050}, {98, 2001, 1998}, {51, 2001, 2051}, {52, 2001, 1952},
	} {
		if got := epcis.Century(c.yy, c.now); got != c.want {
			t.Errorf("Century(%02d, %d) = %d, want %d", c.yy, c.now, got, c.want)
		}
	}
	d, err := epcis.ExpiryDateAt("990200", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || d != "1999-02-28" {
		t.Fatal(d, err)
	}
}

func TestParseEPCBad(t *testing.T) {
	for _, e := range []string{"", "urn:epc:id:sgtin:123.45", "urn:epc:id:sgtin:950110153.0.", "ftp://x/01/09501101530003/21/A", "https://id.gs1.org/01/09501101530003"} {
		if _, _, err := epcis.ParseEPC(e); !errors.Is(err, epcis.ErrInvalid) {
			t.Errorf("%q: %v", e, err)
		}
	}
}
