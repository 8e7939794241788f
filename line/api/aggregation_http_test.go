package api_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// openAgg is an Aggregation whose batches may have parents open
// (api.AggOpener), answering as line/aggregate.Aggregator does.
type openAgg struct {
	recAgg
	mu   sync.Mutex
	open map[string][]string // batch -> "level code (n of m)"
}

func (o *openAgg) set(batch string, parents ...string) {
	o.mu.Lock()
	o.open[batch] = parents
	o.mu.Unlock()
}

func (o *openAgg) AggOpen(_ context.Context, batch string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ps := o.open[batch]; len(ps) > 0 {
		return fmt.Errorf("%w: %w", &journal.OpenParentsError{Batch: batch, Open: ps}, api.ErrRefused)
	}
	return nil
}

// TestSignRefusedWhileAggregationOpen: the reconciliation names the
// batch's open aggregation parents; the production sign-off and the QA
// release are each refused while any is open (audited as refused, nothing
// signed), and given once they are closed.
func TestSignRefusedWhileAggregationOpen(t *testing.T) {
	agg := &openAgg{open: map[string][]string{}}
	e := apitest.NewEnv(t, apitest.EnvOptions{Aggregation: agg})
	op, sam, quinn := e.Tokens["otto"], e.Tokens["sam"], e.Tokens["quinn"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "B-01", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 4}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/B-01/start", nil, 200, nil)
	if _, err := e.Fake.Produce(4, 0); err != nil {
		t.Fatal(err)
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/B-01/complete", nil, 200, nil)
	pallet := "pallet 00306141410000000017 (2 of 5)"
	agg.set("B-01", pallet)
	want := `batch "B-01" has 1 aggregation parent(s) still open: ` + pallet + "; close (or unpack) them first"
	var rec api.Reconciliation
	e.MustDo(t, op, "GET", "/api/v1/batches/B-01/reconciliation", nil, 200, &rec)
	if rec.AggregationOpen != want {
		t.Fatalf("reconciliation aggregation_open %q, want %q", rec.AggregationOpen, want)
	}
	prod := map[string]any{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "shift end"}
	qa := map[string]any{"step": "qa", "password": apitest.QAPassword, "meaning": "released", "reason": "QA"}
	refused := func(who, token string, body map[string]any) {
		t.Helper()
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if code, b := e.Do(t, token, "POST", "/api/v1/batches/B-01/reconciliation/sign", body); code != 409 {
			t.Fatalf("%s signs with the pallet open: %d %s", who, code, b)
		} else if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code != api.CodeRefused || eb.Error.Message != want {
			t.Fatalf("%s refused with %s, want code refused and %q", who, b, want)
		}
	}
	refused("production", sam, prod)
	agg.set("B-01")
	rec = api.Reconciliation{}
	e.MustDo(t, op, "GET", "/api/v1/batches/B-01/reconciliation", nil, 200, &rec)
	if rec.AggregationOpen != "" {
		t.Fatalf("aggregation_open %q once the pallet is closed", rec.AggregationOpen)
	}
	e.MustDo(t, sam, "POST", "/api/v1/batches/B-01/reconciliation/sign", prod, 200, nil)
	agg.set("B-01", pallet) // reopened in rework after the sign-off
	refused("QA", quinn, qa)
	agg.set("B-01")
	e.MustDo(t, quinn, "POST", "/api/v1/batches/B-01/reconciliation/sign", qa, 200, &rec)
	if rec.Review == nil || !rec.Review.Released {
		t.Fatalf("not released once the pallet is closed: %+v", rec.Review)
	}
	var signed, refusals []api.AuditRecord
	e.MustDo(t, sam, "GET", "/api/v1/audit?action=auth.sign", nil, 200, &signed)
	e.MustDo(t, sam, "GET", "/api/v1/audit?action=auth.sign.refused", nil, 200, &refusals)
	if len(signed) != 2 || len(refusals) != 2 {
		t.Fatalf("audit: %d auth.sign (want 2), %d auth.sign.refused (want 2)", len(signed), len(refusals))
	}
	for _, r := range refusals {
		if !strings.Contains(r.Reason, "still open: "+pallet) {
			t.Errorf("refusal audited as %q", r.Reason)
		}
	}
}
