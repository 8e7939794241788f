package hmi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/hmi"
)

// fakeAgg answers the aggregation pages with a fixed picture.
type fakeAgg struct{}

var palletP = api.AggParent{Code: "00095011010000000049", HRI: "(00) 095011010000000049", Level: "pallet", State: "open", Count: 2, Capacity: 5}

func (fakeAgg) AggStatus(context.Context) (api.AggStatus, error) {
	return api.AggStatus{Enabled: true, Batch: "B1", SSCCLeft: 97, Rework: 1, Orphans: 3, Pallet: &palletP,
		LastCases: []api.CaseRead{{Seq: 2, Codes: 19, Capacity: 20, Result: "rework", Reason: "missing codes: 19 read, a case holds 20"},
			{Seq: 1, Codes: 20, Capacity: 20, Result: "packed", Code: "00095011010000000018"}},
		Stations: []api.StationState{{Name: "case", Mode: "inline", Link: "up"}}}, nil
}
func (fakeAgg) AggLookup(_ context.Context, code string) (api.AggLookup, error) {
	return api.AggLookup{Code: code, Kind: "parent", Parent: &palletP, Units: 20,
		Contents: &api.AggTree{AggParent: palletP, Parents: []api.AggTree{{AggParent: api.AggParent{HRI: "(00) 095011010000000018", Level: "case"},
			Units: []api.Unit{{Serial: "SER001", State: "commissioned"}}}}}}, nil
}
func (fakeAgg) Station(context.Context, string) (api.StationState, error) {
	return api.StationState{Name: "manual", Mode: "case", Link: "up", AwaitLabel: true, Open: &api.AggParent{HRI: "(00) 1", Level: "case", Count: 20, Capacity: 20},
		Last: &api.ScanResult{OK: false, Message: "SER9 refused: is rejected, not commissioned"}}, nil
}
func (fakeAgg) Scan(context.Context, string, string, api.Actor) (api.ScanResult, error) {
	return api.ScanResult{}, nil
}
func (fakeAgg) StationCommand(context.Context, string, api.StationCommand, api.Actor, *api.Signature) (api.StationState, error) {
	return api.StationState{}, nil
}
func (fakeAgg) Rework(context.Context, api.ReworkRequest, api.Actor, api.Signature) (api.AggParent, error) {
	return api.AggParent{}, nil
}
func (fakeAgg) AggReconciliation(context.Context, string) (api.AggReconciliation, error) {
	return api.AggReconciliation{Batch: "B1", Levels: []api.AggLevel{{Name: "case", Capacity: 20, Full: 4, Partial: 1}, {Name: "pallet", Capacity: 5, Open: 1}},
		Commissioned: 93, Aggregated: 90, Orphans: []string{"A", "B", "C"}, OrphanPolicy: "decommission", CodesDrawn: 7, CodesUsed: 5, CodesOpen: 1, CodesScrapped: 1}, nil
}
func (fakeAgg) FinishAggregation(context.Context, string, api.Actor, api.Signature) (api.AggReconciliation, error) {
	return api.AggReconciliation{}, nil
}

func TestAggregationPages(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{UI: func(e *apitest.Env) http.Handler {
		h, err := hmi.New(hmi.Options{Controller: e.Fake, Auth: e.Auth, Audit: api.JournalAudit{J: e.Journal}, Aggregation: fakeAgg{}})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}})
	op, sup := e.Tokens["otto"], e.Tokens["sam"]
	for _, tc := range []struct {
		path, token string
		want, not   []string
	}{
		{"/", op, []string{`href="/aggregation"`, `href="/station"`, `/static/agg.js`}, nil},
		{"/aggregation", op, []string{"missing codes: 19 read", "(00) 095011010000000049", "4 full · 1 partial", "Units in no case (decommission)", "7 = 5 used + 0 retired + 1 scrapped + 1 open"}, []string{"agg-finish-form"}},
		{"/aggregation", sup, []string{"agg-finish-form"}, nil},
		{"/station", op, []string{`id="scan-code" autofocus`, "REFUSED", "is rejected, not commissioned", "Build case", "Build pallet", "scan it to close"}, []string{"partial-form"}},
		{"/station", sup, []string{"partial-form"}, nil},
		{"/rework?code=(00)095011010000000049", sup, []string{"SER001", "rework-form", "20 units"}, nil},
		{"/rework?code=(00)095011010000000049", op, []string{"SER001"}, []string{"rework-form"}},
	} {
		code, _, body := get(t, e, tc.token, tc.path)
		if code != 200 {
			t.Errorf("%s: %d", tc.path, code)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: %q missing", tc.path, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(body, n) {
				t.Errorf("%s: %q shown", tc.path, n)
			}
		}
	}
}

// Without aggregation each aggregation page says so (404); without a
// session each sends the browser to the login page.
func TestAggregationPagesNotConfigured(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{UI: func(e *apitest.Env) http.Handler {
		h, err := hmi.New(hmi.Options{Controller: e.Fake, Auth: e.Auth, Audit: api.JournalAudit{J: e.Journal}})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}})
	for _, path := range []string{"/aggregation", "/station", "/rework"} {
		if code, _, body := get(t, e, e.Tokens["otto"], path); code != http.StatusNotFound || !strings.Contains(body, "Aggregation is not configured on this line.") {
			t.Errorf("%s: %d, want 404 with the not-configured message", path, code)
		}
		if code, loc, _ := get(t, e, "", path); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
			t.Errorf("%s without a session: %d %q, want a redirect to /login", path, code, loc)
		}
	}
}
