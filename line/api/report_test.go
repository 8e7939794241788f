package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/reconcile"
	"github.com/serialine/serialine/store/journal"
)

type reportingFake struct{ *apitest.Fake }

func (f reportingFake) ReconcileReport(ctx context.Context, id string) (reconcile.Report, error) {
	b, err := f.Batch(ctx, id)
	if err != nil {
		return reconcile.Report{}, err
	}
	jb := journal.Batch{BatchDef: journal.BatchDef{ID: b.ID, GTIN: b.GTIN, Lot: b.Lot, Expiry: b.Expiry, Profile: b.Profile, Target: b.Target}, State: b.State}
	r := reconcile.Build(jb, nil, reconcile.Shifts{}, time.Now())
	k := b.Counters
	r.Counts = reconcile.Counts{Drawn: k.Commissioned + k.Rejected + k.Sampled + k.Returned + k.Uncertain, Commissioned: k.Commissioned,
		Rejected: k.Rejected, Sampled: k.Sampled, Returned: k.Returned, Uncertain: k.Uncertain}
	for reason, n := range k.RejectedBy {
		r.RejectsByReason[reason] = n
	}
	r.Differences = nil
	r.Balanced = true
	return r, nil
}

func TestReportDownloads(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{NoRecords: true, Wrap: func(f *apitest.Fake) api.Controller { return reportingFake{f} }})
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
