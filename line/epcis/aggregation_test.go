package epcis

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestSSCCEPC(t *testing.T) {
	for _, tc := range []struct {
		sscc string
		cp   int
		want string
	}{
		{"106141412345678908", 7, "urn:epc:id:sscc:0614141.1234567890"}, // GS1 Tag Data Standard example
		{"306141411234567891", 7, "urn:epc:id:sscc:0614141.3123456789"},
		{"095011010000000017", 9, "urn:epc:id:sscc:950110100.00000001"},
	} {
		got, err := SSCC(tc.sscc, tc.cp)
		if err != nil || got != tc.want {
			t.Errorf("SSCC(%s, %d) = %q, %v; want %q", tc.sscc, tc.cp, got, err, tc.want)
		}
	}
	for _, bad := range []string{"12345", "1061414123456789x8"} {
		if _, err := SSCC(bad, 7); !errors.Is(err, ErrInvalid) {
			t.Errorf("SSCC(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestAggregationDocumentsValidate: every aggregation step kind, in one
// document, validates against GS1's schema; one event per step and parent;
// rebuilding gives the same bytes.
func TestAggregationDocumentsValidate(t *testing.T) {
	s := schema(t)
	at := time.Date(2026, 11, 26, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	c1, _ := SSCC("306141411234567891", 7)
	pal, _ := SSCC("306141411234567907", 7)
	u1, _ := SGTIN(batch.GTIN, 7, "A1")
	u2, _ := SGTIN(batch.GTIN, 7, "B/2")
	cs, _ := SGTIN("19501101530000", 7, "CASE7")
	steps := []Step{
		{Kind: ParentCommissioning, Parent: c1, At: at, Seq: 1},
		{Kind: Packing, Parent: c1, Children: []string{u1, u2}, At: at, Seq: 2},
		{Kind: ParentCommissioning, Parent: cs, At: at, Seq: 3, ILMD: map[string]any{"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2028-12-31"}},
		{Kind: ParentCommissioning, Parent: pal, At: at.Add(time.Minute), Seq: 4},
		{Kind: Packing, Parent: pal, Children: []string{c1}, At: at.Add(time.Minute), Seq: 5},
		{Kind: Unpacking, Parent: c1, Children: []string{u2}, At: at.Add(2 * time.Minute), Seq: 6},
		{Kind: ParentDecommissioning, Parent: c1, At: at.Add(3 * time.Minute), Seq: 7},
	}
	doc, err := BuildSteps("B1", steps, Options{CompanyPrefixLen: 7, ReadPoint: "urn:epc:id:sgln:9501101.00001.0"})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, s, doc)
	var d struct {
		Body struct {
			EventList []map[string]any `json:"eventList"`
		} `json:"epcisBody"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	want := []string{"ObjectEvent/ADD/commissioning", "AggregationEvent/ADD/packing", "ObjectEvent/ADD/commissioning",
		"ObjectEvent/ADD/commissioning", "AggregationEvent/ADD/packing", "AggregationEvent/DELETE/unpacking", "ObjectEvent/DELETE/decommissioning"}
	ids := map[any]bool{}
	for i, ev := range d.Body.EventList {
		if got := ev["type"].(string) + "/" + ev["action"].(string) + "/" + ev["bizStep"].(string); got != want[i] {
			t.Errorf("event %d: %s, want %s", i, got, want[i])
		}
		if ev["eventTimeZoneOffset"] != "+01:00" {
			t.Errorf("event %d offset %v", i, ev["eventTimeZoneOffset"])
		}
		ids[ev["eventID"]] = true
	}
	if len(ids) != len(steps) {
		t.Fatalf("%d distinct event ids for %d steps", len(ids), len(steps))
	}
	if pk := d.Body.EventList[1]; pk["parentID"] != c1 || len(pk["childEPCs"].([]any)) != 2 {
		t.Fatalf("packing event %v", pk)
	}
	again, _ := BuildSteps("B1", steps, Options{CompanyPrefixLen: 7, ReadPoint: "urn:epc:id:sgln:9501101.00001.0"})
	if string(again) != string(doc) {
		t.Fatal("rebuilt document differs")
	}
	if _, err := BuildSteps("B1", []Step{{Kind: Packing, Parent: c1, At: at}}, Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("packing without children: %v", err)
	}
}

// TestAggregationEPCsInTheLineFormat: the EPCs of aggregation events take
// the line's format and company prefix lookup, so they match the units'
// own commissioning events: SGTIN/SSCC URIs, or Digital Link URIs (no
// company prefix length needed).
func TestAggregationEPCsInTheLineFormat(t *testing.T) {
	sg := Options{Prefixes: gcpOf{"09501101530003": 7}}
	if got, err := sg.EPC("09501101530003", "AB1"); err != nil || got != "urn:epc:id:sgtin:9501101.053000.AB1" {
		t.Errorf("SGTIN: %q %v", got, err)
	}
	if _, err := sg.EPC("09506000134352", "AB1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown GTIN: %v", err)
	}
	if got, err := sg.SSCCEPC("095011010000000017", 7); err != nil || got != "urn:epc:id:sscc:9501101.0000000001" {
		t.Errorf("SSCC: %q %v", got, err)
	}
	dl := Options{EPCs: "dl", DLBase: "https://example.com/"}
	if got, err := dl.EPC("09501101530003", "AB/1"); err != nil || got != "https://example.com/01/09501101530003/21/AB%2F1" {
		t.Errorf("DL unit: %q %v", got, err)
	}
	if got, err := dl.SSCCEPC("095011010000000017", 0); err != nil || got != "https://example.com/00/095011010000000017" {
		t.Errorf("DL SSCC: %q %v", got, err)
	}
	if _, err := dl.SSCCEPC("0950", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("short SSCC: %v", err)
	}
}

// gcpOf is a company prefix lookup by GTIN.
type gcpOf map[string]int

func (g gcpOf) PrefixLength(gtin string) (int, error) {
	if n, ok := g[gtin]; ok {
		return n, nil
	}
	return 0, errors.New("unknown GTIN " + gtin)
}
