package hmi_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api/apitest"
)

// TestUnitPageChecksCode: the unit page shows the GS1 error for a code
// with a wrong check digit (not "never drawn"), flags a code whose lot and
// expiry differ from what was printed, and says a rejected unit is not
// saleable.
func TestUnitPageChecksCode(t *testing.T) {
	e := hmiEnv(t)
	op := e.Tokens["otto"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "U1", "gtin": apitest.GTIN, "lot": "LOT2611", "expiry": "281231", "target": 10}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/U1/start", nil, 200, nil)
	serials, err := e.Fake.Produce(3, 3)
	if err != nil {
		t.Fatal(err)
	}
	page := func(code string) string {
		t.Helper()
		c, _, body := get(t, e, op, "/unit?code="+url.QueryEscape(code))
		if c != 200 {
			t.Fatalf("unit page %q: %d", code, c)
		}
		return body
	}
	if body := page("(01)09501101530008(21)X"); strings.Contains(body, "never drawn") || !strings.Contains(body, "check digit") {
		t.Errorf("bad check digit:\n%s", body)
	}
	body := page("(01)" + apitest.GTIN + "(17)291231(10)FAKELOT(21)" + serials[0])
	if !strings.Contains(body, `id="unit-mismatches"`) || !strings.Contains(body, "FAKELOT") || !strings.Contains(body, "possible counterfeit") {
		t.Errorf("wrong lot/expiry:\n%s", body)
	}
	if body := page("(01)" + apitest.GTIN + "(21)" + serials[2]); !strings.Contains(body, `id="unit-warning"`) || !strings.Contains(body, "NOT SALEABLE") {
		t.Errorf("rejected unit:\n%s", body)
	}
	if body := page(serials[0]); !strings.Contains(body, `id="unit-saleable"`) || strings.Contains(body, "unit-mismatches") {
		t.Errorf("commissioned unit:\n%s", body)
	}
	// the batch is still running: the balance is "in progress", not red
	if c, _, body := get(t, e, op, "/reconciliation?batch=U1"); c != 200 || !strings.Contains(body, `id="rec-balance">in progress<`) || strings.Contains(body, "DOES NOT BALANCE") {
		t.Errorf("reconciliation of a running batch: %d\n%s", c, body)
	}
}

// TestUnitPageOffersWhatTheStateAllows: a supervisor is offered, for a
// commissioned unit, QA sample, manual reject and decommission; for a
// rejected unit of the running batch, none of them (the journal would
// refuse each).
func TestUnitPageOffersWhatTheStateAllows(t *testing.T) {
	e := hmiEnv(t)
	op, sup := e.Tokens["otto"], e.Tokens["sam"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "U2", "gtin": apitest.GTIN, "lot": "LOT2612", "expiry": "281231", "target": 10}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/U2/start", nil, 200, nil)
	serials, err := e.Fake.Produce(3, 3) // the third is rejected
	if err != nil {
		t.Fatal(err)
	}
	page := func(serial string) string {
		t.Helper()
		c, _, body := get(t, e, sup, "/unit?code="+url.QueryEscape(serial))
		if c != 200 {
			t.Fatalf("unit page %s: %d", serial, c)
		}
		return body
	}
	body := page(serials[0])
	for _, want := range []string{`id="unit-action-form"`, `<option value="sample">`, `<option value="reject">`, `<option value="decommission">`} {
		if !strings.Contains(body, want) {
			t.Errorf("commissioned unit: page lacks %s", want)
		}
	}
	if body := page(serials[2]); strings.Contains(body, `id="unit-action-form"`) {
		t.Errorf("rejected unit: supervisor actions offered:\n%s", body)
	}
}
