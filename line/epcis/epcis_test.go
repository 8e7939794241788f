package epcis

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/serialine/serialine/line/epcis/epcistest"
)

func schema(t *testing.T) *jsonschema.Schema { return epcistest.Schema(t) }

func validate(t *testing.T, s *jsonschema.Schema, data []byte) { epcistest.Validate(t, s, data) }

var batch = Batch{ID: "B1", GTIN: "09501101530003", Lot: "LOT-42", Expiry: "271200"}

func TestDocumentsValidate(t *testing.T) {
	s := schema(t)
	at := time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC)
	o := Options{CompanyPrefixLen: 7, ReadPoint: "urn:epc:id:sgln:9501101.00001.0", MaxEPCs: 2}
	serials := []string{"A1", "B/2", "C%3", "D&4", "E5"}
	for _, k := range []Kind{Commissioning, Decommissioning, Sampling} {
		docs, err := Build(k, batch, serials, at, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) != 3 {
			t.Fatalf("%s: %d documents, want 3 (MaxEPCs 2)", k, len(docs))
		}
		n := 0
		for _, d := range docs {
			validate(t, s, d)
			var doc Document
			if err := json.Unmarshal(d, &doc); err != nil {
				t.Fatal(err)
			}
			ev := doc.Body.EventList[0]
			n += len(ev.EPCList)
			if ev.BizStep != string(k) {
				t.Errorf("bizStep %q want %q", ev.BizStep, k)
			}
			if k == Commissioning && (ev.ILMD["cbvmda:lotNumber"] != "LOT-42" || ev.ILMD["cbvmda:itemExpirationDate"] != "2027-12-31") {
				t.Errorf("ilmd = %v", ev.ILMD)
			}
			if k != Commissioning && ev.ILMD != nil {
				t.Errorf("%s carries ILMD", k)
			}
		}
		if n != len(serials) {
			t.Errorf("%s: %d EPCs, want %d", k, n, len(serials))
		}
	}
	// Deterministic: the same input builds the same bytes (idempotent resend).
	a, _ := Build(Commissioning, batch, serials, at, o)
	b, _ := Build(Commissioning, batch, serials, at, o)
	if !bytes.Equal(a[0], b[0]) {
		t.Error("Build is not deterministic")
	}
}

// The schema is not a rubber stamp: a document missing eventTime fails.
func TestSchemaRejectsBroken(t *testing.T) {
	s := schema(t)
	docs, err := Build(Commissioning, batch, []string{"X1"}, time.Now(), Options{CompanyPrefixLen: 7})
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(docs[0]), `"eventTime"`, `"eventTimeX"`, 1)
	inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(broken))
	if err := s.Validate(inst); err == nil {
		t.Fatal("schema accepted an event without eventTime")
	}
}

func TestSGTIN(t *testing.T) {
	cases := []struct {
		gtin   string
		cp     int
		serial string
		want   string
		bad    bool
	}{
		{"09501101530003", 7, "ABC", "urn:epc:id:sgtin:9501101.053000.ABC", false},
		{"10614141000415", 7, "a/b", "urn:epc:id:sgtin:0614141.100041.a%2Fb", false},
		{"09501101530003", 12, "1", "urn:epc:id:sgtin:950110153000.0.1", false},
		{"0950110153000", 7, "1", "", true},
		{"09501101530003", 5, "1", "", true},
		{"09501101530003", 7, "", "", true},
		{"09501101530003", 7, "has space", "", true},
	}
	for _, c := range cases {
		got, err := SGTIN(c.gtin, c.cp, c.serial)
		if c.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("SGTIN(%s,%d,%q) err = %v, want ErrInvalid", c.gtin, c.cp, c.serial, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("SGTIN(%s,%d,%q) = %q, %v; want %q", c.gtin, c.cp, c.serial, got, err, c.want)
		}
	}
}

func TestExpiryDate(t *testing.T) {
	cases := map[string]string{"271231": "2027-12-31", "280200": "2028-02-29", "270200": "2027-02-28", "270230": "", "271301": "", "2712": ""}
	for in, want := range cases {
		got, err := ExpiryDate(in)
		if want == "" {
			if err == nil {
				t.Errorf("ExpiryDate(%s) accepted: %s", in, got)
			}
			continue
		}
		if got != want || err != nil {
			t.Errorf("ExpiryDate(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func FuzzSGTIN(f *testing.F) {
	f.Add("09501101530003", 7, "ABC")
	f.Fuzz(func(t *testing.T, g string, cp int, s string) {
		u, err := SGTIN(g, cp, s)
		if err == nil && !strings.HasPrefix(u, "urn:epc:id:sgtin:") {
			t.Fatalf("bad urn %q", u)
		}
	})
}

// Event ids are urn:uuid: version-5 UUIDs, stable for the same content and
// different for different content; eventTimeZoneOffset follows the event
// time's location unless given.
func TestEventIDAndTimeZone(t *testing.T) {
	s := schema(t)
	loc := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 26, 14, 0, 0, 0, loc)
	uuid := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	event := func(k Kind, serials []string, o Options) ObjectEvent {
		t.Helper()
		docs, err := Build(k, batch, serials, at, o)
		if err != nil {
			t.Fatal(err)
		}
		validate(t, s, docs[0])
		var doc Document
		if err := json.Unmarshal(docs[0], &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Body.EventList[0]
	}
	o := Options{CompanyPrefixLen: 7}
	a := event(Commissioning, []string{"A1", "A2"}, o)
	if !uuid.MatchString(a.EventID) {
		t.Errorf("eventID %q is not a version-5 urn:uuid", a.EventID)
	}
	if a.EventTime != "2026-11-26T13:00:00.000Z" || a.TimeZoneOffset != "+01:00" {
		t.Errorf("eventTime %s offset %s, want 2026-11-26T13:00:00.000Z +01:00", a.EventTime, a.TimeZoneOffset)
	}
	if b := event(Commissioning, []string{"A1", "A2"}, o); b.EventID != a.EventID {
		t.Errorf("same content, different ids %s %s", a.EventID, b.EventID)
	}
	for _, other := range []ObjectEvent{event(Commissioning, []string{"A1", "A3"}, o), event(Decommissioning, []string{"A1", "A2"}, o)} {
		if other.EventID == a.EventID {
			t.Errorf("different content, same id %s", a.EventID)
		}
	}
	if e := event(Sampling, []string{"A1"}, Options{CompanyPrefixLen: 7, TimeZoneOffset: "-05:00"}); e.TimeZoneOffset != "-05:00" {
		t.Errorf("offset %s, want -05:00 as configured", e.TimeZoneOffset)
	}
	if _, err := Build(Sampling, batch, []string{"A1"}, at, Options{CompanyPrefixLen: 7, TimeZoneOffset: "CET"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("offset CET accepted: %v", err)
	}
}

func FuzzExpiryDate(f *testing.F) {
	for _, s := range []string{"271231", "280200", "270230", "2712", "abcdef", "991301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ExpiryDate(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ExpiryDate(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		d, perr := time.Parse("2006-01-02", got)
		if perr != nil || d.Format("060102")[:4] != s[:4] {
			t.Fatalf("ExpiryDate(%q) = %q: not the same year and month (%v)", s, got, perr)
		}
		if s[4:] != "00" && d.Format("02") != s[4:] {
			t.Fatalf("ExpiryDate(%q) = %q: day changed", s, got)
		}
	})
}
