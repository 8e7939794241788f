package api_test

import (
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

// reportingFake is the fake controller with reconciliation reports.
type reportingFake = apitest.ReportingFake

func TestReportDownloads(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{NoRecords: true, Wrap: func(f *apitest.Fake) api.Controller { return apitest.ReportingFake{Fake: f} }})
	op := e.Tokens["otto"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "R/1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 10}, 201, nil)
	for format, want := range map[string]string{"html": "<html", "csv": "R/1", "json": `"R/1"`, "": "<html"} {
		code, b := e.Do(t, op, "GET", "/api/v1/batches/R%2F1/report?format="+format, nil)
		if code != 200 || !strings.Contains(strings.ToLower(string(b)), strings.ToLower(want)) {
			t.Errorf("format %q: %d %.200s", format, code, b)
		}
	}
	code, b := e.Do(t, op, "GET", "/api/v1/batches/R%2F1/report?format=xls", nil)
	if code != 400 || errCode(t, b) != api.CodeBadRequest {
		t.Errorf("xls: %d %s", code, b)
	}
	code, _ = e.Do(t, op, "GET", "/api/v1/batches/NOPE/report", nil)
	if code != 404 {
		t.Errorf("unknown batch: %d", code)
	}
	// a controller without reports
	e2 := apitest.NewEnv(t, apitest.EnvOptions{})
	code, b = e2.Do(t, e2.Tokens["otto"], "GET", "/api/v1/batches/X/report", nil)
	if code != 404 || !strings.Contains(string(b), "printable reports") {
		t.Errorf("no reporter: %d %s", code, b)
	}
}
