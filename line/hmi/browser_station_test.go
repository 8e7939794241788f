package hmi_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/hmi"
)

// stationAgg answers scans like a manual station: codes containing "BAD"
// are refused, the others fill a case of 2.
type stationAgg struct {
	fakeAgg
	mu    sync.Mutex
	n     int
	codes []string
}

func (s *stationAgg) Scan(_ context.Context, _, code string, _ api.Actor) (api.ScanResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes = append(s.codes, code)
	if strings.Contains(code, "BAD") {
		return api.ScanResult{Code: code, OK: false, Message: code + " refused: is rejected, not commissioned"}, nil
	}
	s.n++
	return api.ScanResult{Code: code, OK: true, Message: code + " added"}, nil
}

func (s *stationAgg) Station(context.Context, string) (api.StationState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return api.StationState{Name: "manual", Mode: "case", Link: "up", Open: &api.AggParent{HRI: "(00) 1", Level: "case", Count: s.n, Capacity: 2}}, nil
}

// TestBrowserManualStation: at the manual station a scanner typing into
// the page (keys + Enter) gets the answer at once, green or red, and the
// scan field keeps the focus for the next scan.
func TestBrowserManualStation(t *testing.T) {
	ctx := browserContext(t)
	agg := &stationAgg{}
	e := apitest.NewEnv(t, apitest.EnvOptions{Aggregation: agg, UI: func(e *apitest.Env) http.Handler {
		h, err := hmi.New(hmi.Options{Controller: e.Fake, Auth: e.Auth, Audit: api.JournalAudit{J: e.Journal}, Aggregation: agg})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}})
	b := browser(t, ctx)
	b.login(ctx, e.URL, "otto", apitest.OperatorPassword)
	b.navigate(ctx, e.URL+"/station")
	b.waitFor(ctx, "station page, scan field focused", `document.activeElement && document.activeElement.id === "scan-code"`)
	scan := func(code string) {
		t.Helper()
		b.fill(ctx, "#scan-form", "#scan-code", code)
	}
	scan("(01)09501101530003(21)GOOD1")
	b.waitFor(ctx, "green answer", `document.querySelector("#scan-result").classList.contains("pass") && document.querySelector("#scan-result").textContent.includes("GOOD1 added")`)
	b.waitFor(ctx, "case fill shown", `document.querySelector("#st-open").textContent.includes("1 of 2")`)
	scan("BAD7")
	b.waitFor(ctx, "red answer", `document.querySelector("#scan-result").classList.contains("fail") && document.querySelector("#scan-result").textContent.includes("REFUSED")`)
	b.waitFor(ctx, "field empty and focused again", `document.activeElement.id === "scan-code" && document.activeElement.value === ""`)
	// a click elsewhere does not lose the scanner's target
	b.click(ctx, "#st-cancel")
	b.waitFor(ctx, "focus back in the scan field", `document.activeElement.id === "scan-code"`)
	// one tap only arms the cancel (it would discard the case's scans)
	b.waitFor(ctx, "cancel armed, case kept", `document.querySelector("#st-cancel").textContent.includes("Tap again") && document.querySelector("#st-open").textContent.includes("1 of 2")`)
	b.screenshot(ctx, filepath.Join(artifactDir(t), "station.png"))
	agg.mu.Lock()
	defer agg.mu.Unlock()
	if len(agg.codes) != 2 {
		t.Fatalf("scans reaching the station: %v", agg.codes)
	}
}
