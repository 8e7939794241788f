package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/store/journal"
)

// recAgg records what the API hands the aggregation controller.
type recAgg struct {
	mu   sync.Mutex
	sigs []*api.Signature
	by   []api.Actor
}

func (r *recAgg) note(by api.Actor, sig *api.Signature) {
	r.mu.Lock()
	r.by, r.sigs = append(r.by, by), append(r.sigs, sig)
	r.mu.Unlock()
}

func (r *recAgg) AggStatus(context.Context) (api.AggStatus, error) {
	return api.AggStatus{Enabled: true}, nil
}
func (r *recAgg) AggLookup(_ context.Context, code string) (api.AggLookup, error) {
	if code == "nope" {
		return api.AggLookup{}, api.ErrNotFound
	}
	return api.AggLookup{Code: code, Kind: "unit"}, nil
}
func (r *recAgg) Station(context.Context, string) (api.StationState, error) {
	return api.StationState{Name: "manual"}, nil
}
func (r *recAgg) Scan(_ context.Context, st, code string, by api.Actor) (api.ScanResult, error) {
	r.note(by, nil)
	return api.ScanResult{Code: code, OK: !strings.Contains(code, "BAD"), Message: "scanned at " + st}, nil
}
func (r *recAgg) StationCommand(_ context.Context, st string, cmd api.StationCommand, by api.Actor, sig *api.Signature) (api.StationState, error) {
	r.note(by, sig)
	return api.StationState{Name: st, Mode: cmd.Mode}, nil
}
func (r *recAgg) Rework(_ context.Context, req api.ReworkRequest, by api.Actor, sig api.Signature) (api.AggParent, error) {
	r.note(by, &sig)
	return api.AggParent{Code: req.Parent, State: "unpacked"}, nil
}
func (r *recAgg) AggReconciliation(_ context.Context, b string) (api.AggReconciliation, error) {
	return api.AggReconciliation{Batch: b}, nil
}
func (r *recAgg) FinishAggregation(_ context.Context, b string, by api.Actor, sig api.Signature) (api.AggReconciliation, error) {
	r.note(by, &sig)
	return api.AggReconciliation{Batch: b, Balanced: true, Finished: &sig}, nil
}

// TestAggregationAPI: roles, e-signatures and the audit trail of the
// aggregation routes.
func TestAggregationAPI(t *testing.T) {
	agg := &recAgg{}
	e := apitest.NewEnv(t, apitest.EnvOptions{Aggregation: agg})
	op, sup := e.Tokens["otto"], e.Tokens["sam"]
	var res api.ScanResult
	e.MustDo(t, op, "POST", "/api/v1/aggregation/stations/manual/scan", map[string]string{"code": "(01)09501101530003(21)A1"}, http.StatusOK, &res)
	if !res.OK || agg.by[0].User != "otto" {
		t.Fatalf("scan: %+v by %+v", res, agg.by)
	}
	e.MustDo(t, op, "POST", "/api/v1/aggregation/stations/manual/scan", map[string]string{"code": "BAD"}, http.StatusOK, &res)
	if res.OK {
		t.Fatal("refused scan answered ok")
	}
	e.MustDo(t, op, "POST", "/api/v1/aggregation/stations/manual/scan", map[string]any{"code": "x", "extra": 1}, http.StatusBadRequest, nil)
	e.MustDo(t, op, "GET", "/api/v1/aggregation/lookup?code=nope", nil, http.StatusNotFound, nil)
	e.MustDo(t, op, "GET", "/api/v1/aggregation/lookup", nil, http.StatusBadRequest, nil)
	// partial close: supervisor with e-signature only
	partial := map[string]any{"command": "close-partial", "reason": "batch end"}
	e.MustDo(t, op, "POST", "/api/v1/aggregation/stations/pallet/command", partial, http.StatusForbidden, nil)
	e.MustDo(t, sup, "POST", "/api/v1/aggregation/stations/pallet/command", partial, http.StatusBadRequest, nil) // signature_required
	partial["signature"] = map[string]string{"password": "wrong-password-1", "meaning": "approved", "reason": "batch end"}
	e.MustDo(t, sup, "POST", "/api/v1/aggregation/stations/pallet/command", partial, http.StatusForbidden, nil)
	partial["signature"] = map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "batch end"}
	e.MustDo(t, sup, "POST", "/api/v1/aggregation/stations/pallet/command", partial, http.StatusOK, nil)
	if s := agg.sigs[len(agg.sigs)-1]; s == nil || s.User != "sam" || s.Meaning != "approved" {
		t.Fatalf("partial close signature %+v", s)
	}
	e.MustDo(t, op, "POST", "/api/v1/aggregation/stations/manual/command", map[string]string{"command": "mode", "mode": "case"}, http.StatusOK, nil)
	// rework and finish: supervisor, e-signed
	rw := map[string]any{"action": "unpack", "parent": "(00)306141411234567891", "reason": "damaged",
		"signature": map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "damaged"}}
	e.MustDo(t, op, "POST", "/api/v1/aggregation/rework", rw, http.StatusForbidden, nil)
	e.MustDo(t, sup, "POST", "/api/v1/aggregation/rework", map[string]any{"action": "melt", "parent": "x", "reason": "r"}, http.StatusBadRequest, nil)
	e.MustDo(t, sup, "POST", "/api/v1/aggregation/rework", rw, http.StatusOK, nil)
	e.MustDo(t, sup, "POST", "/api/v1/batches/B1/aggregation/finish", map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "end"}, http.StatusOK, nil)
	e.MustDo(t, op, "GET", "/api/v1/batches/B1/aggregation", nil, http.StatusOK, nil)
	// the audit trail holds each action and each refusal
	var actions []string
	_ = e.Journal.Audit(context.Background(), journal.AuditFilter{Action: "api.aggregation.*"}, func(a journal.AuditEntry) error {
		actions = append(actions, a.Action)
		return nil
	})
	got := strings.Join(actions, " ")
	for _, want := range []string{"api.aggregation.scan", "api.aggregation.command", "api.aggregation.command.refused", "api.aggregation.unpack", "api.aggregation.finish"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit trail lacks %s: %s", want, got)
		}
	}
}
