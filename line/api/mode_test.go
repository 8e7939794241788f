package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/store/journal"
)

// TestUnitMode: POST /api/v1/mode is for supervisors, needs a reason,
// is refused while the batch runs, and outside Production the commands
// that lead to Execute are refused; every attempt is in the audit trail.
func TestUnitMode(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op, sup := e.Tokens["otto"], e.Tokens["sam"]
	maint := api.ModeRequest{Mode: "maintenance", Reason: "print head cleaning"}
	if code, body := e.Do(t, op, "POST", "/api/v1/mode", maint); code != http.StatusForbidden {
		t.Fatalf("operator: %d %s", code, body)
	}
	if code, body := e.Do(t, sup, "POST", "/api/v1/mode", api.ModeRequest{Mode: "maintenance"}); code != http.StatusBadRequest {
		t.Fatalf("no reason: %d %s", code, body)
	}
	if code, body := e.Do(t, sup, "POST", "/api/v1/mode", api.ModeRequest{Mode: "auto", Reason: "x"}); code != http.StatusBadRequest {
		t.Fatalf("unknown mode: %d %s", code, body)
	}
	e.MustDo(t, op, "POST", "/api/v1/batches", api.BatchDef{ID: "B1", GTIN: apitest.GTIN, Lot: "L1", Expiry: "281231", Profile: "eu-fmd", Target: 10}, http.StatusCreated, nil)
	var st api.Status
	e.MustDo(t, sup, "POST", "/api/v1/mode", maint, http.StatusOK, &st)
	if st.UnitMode != "Maintenance" {
		t.Fatalf("status after the change: %+v", st.UnitMode)
	}
	code, body := e.Do(t, op, "POST", "/api/v1/batches/B1/start", nil)
	if code != http.StatusConflict || !strings.Contains(string(body), "no serialised production outside Production") {
		t.Fatalf("start in Maintenance: %d %s", code, body)
	}
	e.MustDo(t, sup, "POST", "/api/v1/mode", api.ModeRequest{Mode: "production", Reason: "cleaning done"}, http.StatusOK, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/B1/start", nil, http.StatusOK, nil)
	if code, body := e.Do(t, sup, "POST", "/api/v1/mode", maint); code != http.StatusConflict || !strings.Contains(string(body), "Execute") {
		t.Fatalf("mode change in Execute: %d %s", code, body)
	}
	var got []string
	if err := e.Journal.Audit(t.Context(), journal.AuditFilter{Action: "api.mode*"}, func(a journal.AuditEntry) error {
		got = append(got, a.Who+" "+a.Action+" "+a.After)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"otto api.mode.refused POST /api/v1/mode", "sam api.mode.refused POST /api/v1/mode",
		"sam api.mode.refused POST /api/v1/mode", "sam api.mode unit mode Production -> Maintenance",
		"sam api.mode unit mode Maintenance -> Production", "sam api.mode.refused POST /api/v1/mode"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
