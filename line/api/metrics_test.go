package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/store/journal"
)

// TestMetricsEndpoint serves /metrics without a session and counts API
// requests by route pattern.
func TestMetricsEndpoint(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(filepath.Join(dir, "j.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	defer func() { // the audit trail the refusals went to is intact
		if rep, err := j.Verify(context.Background()); err != nil || !rep.OK() {
			t.Errorf("journal verify: %v %v", err, rep.Problems)
		}
	}()
	a, _, err := auth.Open(context.Background(), auth.Options{Path: filepath.Join(dir, "u.db"), Audit: api.JournalAudit{J: j}, Hash: apitest.FastHash})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{Controller: apitest.New(nil, apitest.GTIN, 1), Auth: a, Audit: api.JournalAudit{J: j}, Metrics: m, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, p := range []string{"/api/v1/status", "/api/v1/batches/X", "/api/v1/nope"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`serialine_api_requests_total{code="401",route="GET /api/v1/status"} 1`,
		`serialine_api_requests_total{code="401",route="GET /api/v1/batches/{id}"} 1`,
		`serialine_api_requests_total{code="404",route="/api/"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("missing %s in\n%s", want, b)
		}
	}
}
