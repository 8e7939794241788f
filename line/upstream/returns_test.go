package upstream_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/line/upstreamsim"
)

// A return with one unknown serial: the site server takes the others and
// lists the unknown one; nothing is dropped.
func TestReturnPartlyRefused(t *testing.T) {
	s := start(t, upstreamsim.Options{Mode: upstreamsim.Sequential, SerialLength: 8})
	c := client(t, s.URL(), "")
	p, err := c.RequestSerials(t.Context(), gtin, 6)
	if err != nil {
		t.Fatal(err)
	}
	ret := append(slices.Clone(p.Serials[:3]), "NEVERISSUED")
	ret = append(ret, p.Serials[3:]...)
	res, err := c.ReturnSerials(t.Context(), "ret-1", gtin, ret)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Accepted, p.Serials) || len(res.Refused) != 1 || res.Refused[0].Serial != "NEVERISSUED" || res.Refused[0].Code != "unknown_serial" {
		t.Fatalf("result %+v", res)
	}
	if got := s.Returned(gtin); !slices.Equal(got, p.Serials) {
		t.Fatalf("site server has back %v, want %v", got, p.Serials)
	}
	// The same return again (a retry after a lost reply): same answer.
	again, err := c.ReturnSerials(t.Context(), "ret-1", gtin, ret)
	if err != nil || !slices.Equal(again.Accepted, res.Accepted) || len(again.Refused) != 1 {
		t.Fatalf("repeat: %+v, %v", again, err)
	}
}

// A server that refuses a whole return for one unknown serial (422) is
// asked in halves until the refused serial is found; the others are taken.
func TestReturnBisectsWholeRefusals(t *testing.T) {
	known := map[string]bool{}
	for _, s := range []string{"A1", "A2", "A3", "A4", "A5", "A6", "A7"} {
		known[s] = true
	}
	var mu sync.Mutex
	var taken []string
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req upstream.ReturnRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		for _, v := range req.Serials {
			if !known[v] {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnprocessableEntity)
				json.NewEncoder(w).Encode(upstream.ErrorReply{Code: "unknown_serial", Message: "serial " + v + " unknown"})
				return
			}
		}
		taken = append(taken, req.Serials...)
		json.NewEncoder(w).Encode(upstream.ReturnReply{RequestID: req.RequestID, Accepted: len(req.Serials)})
	}))
	t.Cleanup(srv.Close)
	c := client(t, srv.URL, "")
	ret := []string{"A1", "A2", "A3", "X9", "A4", "A5", "A6", "A7"}
	res, err := c.ReturnSerials(t.Context(), "r", gtin, ret)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A1", "A2", "A3", "A4", "A5", "A6", "A7"}
	if !slices.Equal(res.Accepted, want) || len(res.Refused) != 1 || res.Refused[0].Serial != "X9" {
		t.Fatalf("result %+v", res)
	}
	if !slices.Equal(taken, want) {
		t.Fatalf("server took %v", taken)
	}
	if calls != 7 { // 8 → 4+4 → 2+2 → 1+1 (X9 found after 3 levels)
		t.Fatalf("calls = %d, want 7", calls)
	}
}
