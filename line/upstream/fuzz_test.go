package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/serialine/serialine/line/upstream"
)

// FuzzServerReplies answers the client's pool request and serial return
// with arbitrary site-server replies (status, body, Retry-After) over real
// HTTP on loopback. Whatever comes back: no panic; a pool is only accepted
// when it is the one asked for (pool id, request id, GTIN, 1..n serials);
// every error is one of the client's kinds and its message stays short
// (it becomes an alarm text).
func FuzzServerReplies(f *testing.F) {
	var mu sync.Mutex
	var status int
	var body []byte
	var retryAfter string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, b, ra := status, body, retryAfter
		mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(st)
		_, _ = w.Write(b)
	}))
	f.Cleanup(srv.Close)
	c, err := upstream.New(upstream.Options{BaseURL: srv.URL, Token: "t", Timeout: 5 * time.Second,
		Retry: upstream.Retry{Attempts: 1}, NewID: func() string { return "req-1" }})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(200, []byte(`{"pool_id":"P1","request_id":"req-1","gtin":"09501101530003","serials":["A","B"]}`), "")
	f.Add(200, []byte(`{"request_id":"ret-1","accepted":2}`), "")
	f.Add(200, []byte(`{"request_id":"ret-1","accepted":1,"refused":[{"serial":"B","code":"unknown_serial","message":"not issued"}]}`), "")
	f.Add(200, []byte(`{"request_id":"ret-1","accepted":1,"refused":[{"serial":"Z"}]}`), "")
	f.Add(200, []byte(`{"pool_id":"P1","request_id":"other","gtin":"09501101530003","serials":["A"]}`), "")
	f.Add(200, []byte(`{"pool_id":"P1","request_id":"req-1","gtin":"09501101530003","serials":[]}`), "")
	f.Add(200, []byte(`{"pool_id":`), "")
	f.Add(422, []byte(`{"code":"unknown_serial","message":"serial \"X\" was not issued"}`), "")
	f.Add(503, []byte(`{"code":"unavailable","message":"down"}`), "3")
	f.Add(429, []byte("slow down"), "99999999999999999999")
	f.Add(401, []byte(`{"code":"unauthorized","message":"`+strings.Repeat("x", 5000)+`"}`), "")
	f.Add(500, []byte(strings.Repeat("\xff", 600)), "-1")
	f.Fuzz(func(t *testing.T, st int, b []byte, ra string) {
		if st < 200 || st > 599 {
			st = 200 + (st%400+400)%400
		}
		mu.Lock()
		status, body, retryAfter = st, b, ra
		mu.Unlock()
		ctx := context.Background()
		check := func(what string, err error) {
			if err == nil {
				return
			}
			if !errors.Is(err, upstream.ErrBadResponse) && !errors.Is(err, upstream.ErrRejected) &&
				!errors.Is(err, upstream.ErrUnauthorized) && !errors.Is(err, upstream.ErrUnavailable) {
				t.Errorf("%s: HTTP %d: error of no known kind: %v", what, st, err)
			}
			if n := len(err.Error()); n > 1000 || !utf8.ValidString(err.Error()) {
				t.Errorf("%s: HTTP %d: error message of %d bytes (valid UTF-8 %v)", what, st, n, utf8.ValidString(err.Error()))
			}
		}
		p, err := c.RequestPool(ctx, upstream.PoolRequest{ID: "req-1", GTIN: "09501101530003", Count: 10})
		check("request", err)
		if err == nil && (p.ID == "" || p.RequestID != "req-1" || p.GTIN != "09501101530003" || len(p.Serials) == 0 || len(p.Serials) > 10) {
			t.Errorf("accepted a pool that is not the one asked for: %+v", p)
		}
		res, err := c.ReturnSerials(ctx, "ret-1", "09501101530003", []string{"A", "B"})
		check("return", err)
		if err == nil && len(res.Accepted)+len(res.Refused) != 2 {
			t.Errorf("return of 2 serials settled %d accepted + %d refused", len(res.Accepted), len(res.Refused))
		}
		for _, r := range res.Refused {
			if r.Serial != "A" && r.Serial != "B" {
				t.Errorf("refusal of serial %q, never returned", r.Serial)
			}
		}
		check("health", c.Health(ctx))
	})
}
