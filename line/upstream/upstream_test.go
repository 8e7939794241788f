package upstream_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/line/upstreamsim"
)

const gtin = "09501101530003"

func start(t *testing.T, o upstreamsim.Options) *upstreamsim.Server {
	t.Helper()
	s, err := upstreamsim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func client(t *testing.T, url, token string) *upstream.Client {
	t.Helper()
	c, err := upstream.New(upstream.Options{BaseURL: url, Token: token,
		Retry: upstream.Retry{Attempts: 4, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRequestSerials(t *testing.T) {
	s := start(t, upstreamsim.Options{Token: "tok"})
	c := client(t, s.URL(), "tok")
	p, err := c.RequestSerials(context.Background(), gtin, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Serials) != 50 || p.GTIN != gtin || p.ID == "" {
		t.Fatalf("pool = %+v", p)
	}
	seen := map[string]bool{}
	for _, v := range p.Serials {
		if seen[v] {
			t.Fatalf("duplicate serial %s", v)
		}
		seen[v] = true
	}
	if got := s.Issued(gtin); len(got) != 50 {
		t.Fatalf("server issued %d", len(got))
	}
}

func TestUnauthorizedNotRetried(t *testing.T) {
	s := start(t, upstreamsim.Options{Token: "tok"})
	c := client(t, s.URL(), "wrong")
	_, err := c.RequestSerials(context.Background(), gtin, 5)
	if !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if s.Calls() != 1 {
		t.Fatalf("calls = %d, want 1 (no retry on 401)", s.Calls())
	}
}

func TestRetryThenSuccess(t *testing.T) {
	s := start(t, upstreamsim.Options{})
	s.FailNext(2)
	c := client(t, s.URL(), "")
	if _, err := c.RequestSerials(context.Background(), gtin, 5); err != nil {
		t.Fatal(err)
	}
	if s.Calls() != 3 {
		t.Fatalf("calls = %d, want 3", s.Calls())
	}
}

// A lost reply is retried with the same request id: the server hands back
// the same pool instead of issuing a second one.
func TestIdempotentAfterLostReply(t *testing.T) {
	s := start(t, upstreamsim.Options{Mode: upstreamsim.Sequential})
	s.DropReplyNext(1)
	c := client(t, s.URL(), "")
	p, err := c.RequestSerials(context.Background(), gtin, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Issued(gtin); len(got) != 10 || got[0] != p.Serials[0] {
		t.Fatalf("issued %d serials, want 10 (same pool on retry)", len(got))
	}
	s.DropReplyNext(1)
	if err := c.ReportEvents(context.Background(), "ev-1", []byte(`{"type":"EPCISDocument"}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.ReportEvents(context.Background(), "ev-1", []byte(`{"type":"EPCISDocument"}`)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Events()); n != 1 {
		t.Fatalf("events recorded = %d, want 1", n)
	}
	s.DropReplyNext(1)
	if res, err := c.ReturnSerials(context.Background(), "ret-1", gtin, p.Serials[5:]); err != nil || len(res.Accepted) != 5 {
		t.Fatal(res, err)
	}
	if n := len(s.Returned(gtin)); n != 5 {
		t.Fatalf("returned = %d, want 5", n)
	}
}

func TestUnavailable(t *testing.T) {
	s := start(t, upstreamsim.Options{})
	s.SetDown(true)
	c := client(t, s.URL(), "")
	_, err := c.RequestSerials(context.Background(), gtin, 5)
	if !errors.Is(err, upstream.ErrUnavailable) || !upstream.IsTransient(err) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if s.Calls() != 4 {
		t.Fatalf("calls = %d, want 4 attempts", s.Calls())
	}
}

func TestRejected(t *testing.T) {
	s := start(t, upstreamsim.Options{})
	c := client(t, s.URL(), "")
	if _, err := c.RequestSerials(context.Background(), "09501101530004", 5); !errors.Is(err, upstream.ErrRejected) ||
		!strings.Contains(err.Error(), "check digit") {
		t.Fatalf("bad gtin: err = %v", err)
	}
	if res, err := c.ReturnSerials(context.Background(), "ret-x", gtin, []string{"NEVERISSUED"}); err != nil || len(res.Refused) != 1 {
		t.Fatalf("return unknown: %+v, %v; want it refused", res, err)
	}
	if err := c.ReportEvents(context.Background(), "x", []byte(`{"type":"nope"}`)); !errors.Is(err, upstream.ErrRejected) {
		t.Fatalf("bad epcis: err = %v", err)
	}
}

func TestTLS(t *testing.T) {
	sim, err := upstreamsim.New(upstreamsim.Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(sim.Handler())
	defer ts.Close()
	tr := ts.Client().Transport.(*http.Transport)
	c, err := upstream.New(upstream.Options{BaseURL: ts.URL, Token: "tok", TLS: tr.TLSClientConfig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RequestSerials(context.Background(), gtin, 3); err != nil {
		t.Fatal(err)
	}
	// Without the test CA the handshake fails: transient, retried, then unavailable.
	bad, _ := upstream.New(upstream.Options{BaseURL: ts.URL, Token: "tok", TLS: &tls.Config{},
		Retry: upstream.Retry{Attempts: 1}})
	if _, err := bad.RequestSerials(context.Background(), gtin, 3); !errors.Is(err, upstream.ErrUnavailable) {
		t.Fatalf("untrusted cert: err = %v", err)
	}
}

func TestNewChecksURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "site:80"} {
		if _, err := upstream.New(upstream.Options{BaseURL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

type always503 struct{ calls int }

func (a *always503) RoundTrip(r *http.Request) (*http.Response, error) {
	a.calls++
	return &http.Response{StatusCode: 503, Body: io.NopCloser(strings.NewReader(`{"code":"x","message":"down"}`)),
		Header: http.Header{}, Request: r}, nil
}

// The backoff doubles from BaseDelay, capped at MaxDelay, jittered in [d/2, d].
func TestBackoffTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &always503{}
		c, err := upstream.New(upstream.Options{BaseURL: "http://site", HTTPClient: &http.Client{Transport: rt},
			Retry: upstream.Retry{Attempts: 4, BaseDelay: time.Second, MaxDelay: 2 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		_, err = c.RequestSerials(context.Background(), gtin, 1)
		el := time.Since(t0)
		if !errors.Is(err, upstream.ErrUnavailable) || rt.calls != 4 {
			t.Fatalf("err = %v calls = %d", err, rt.calls)
		}
		// waits: 1s, 2s, 2s each jittered to [d/2, d] -> [2.5s, 5s]
		if el < 2500*time.Millisecond || el > 5*time.Second {
			t.Fatalf("total backoff %v outside [2.5s, 5s]", el)
		}
	})
}

func TestBackoffStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &always503{}
		c, _ := upstream.New(upstream.Options{BaseURL: "http://site", HTTPClient: &http.Client{Transport: rt},
			Retry: upstream.Retry{Attempts: 10, BaseDelay: time.Minute, MaxDelay: time.Hour}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.RequestSerials(ctx, gtin, 1)
		if !errors.Is(err, context.DeadlineExceeded) || rt.calls != 1 {
			t.Fatalf("err = %v calls = %d", err, rt.calls)
		}
	})
}

type retryAfter503 struct{ calls int }

func (a *retryAfter503) RoundTrip(r *http.Request) (*http.Response, error) {
	a.calls++
	return &http.Response{StatusCode: 503, Body: io.NopCloser(strings.NewReader(`{"code":"x","message":"busy"}`)),
		Header: http.Header{"Retry-After": {"3"}}, Request: r}, nil
}

// A Retry-After of 3 s lengthens the 1 ms backoff (fake clock).
func TestRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &retryAfter503{}
		c, err := upstream.New(upstream.Options{BaseURL: "http://site", HTTPClient: &http.Client{Transport: rt},
			Retry: upstream.Retry{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		_, err = c.RequestSerials(context.Background(), gtin, 1)
		if el := time.Since(t0); !errors.Is(err, upstream.ErrUnavailable) || rt.calls != 3 || el != 6*time.Second {
			t.Fatalf("err = %v, calls = %d, waited %v; want ErrUnavailable, 3 calls, 2 waits of 3s", err, rt.calls, el)
		}
	})
}

// Every reply of a call lost: the call fails, but asking again with the
// same request id delivers the pool the server issued; nothing is stranded.
func TestRequestSerialsWithIDAcrossCalls(t *testing.T) {
	s := start(t, upstreamsim.Options{Mode: upstreamsim.Sequential})
	c := client(t, s.URL(), "")
	s.DropReplyNext(4) // client() tries 4 times
	if _, err := c.RequestPool(t.Context(), upstream.PoolRequest{ID: "REQ-1", GTIN: gtin, Count: 10}); !upstream.IsTransient(err) {
		t.Fatalf("all replies lost: err = %v, want transient", err)
	}
	p, err := c.RequestPool(t.Context(), upstream.PoolRequest{ID: "REQ-1", GTIN: gtin, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Issued(gtin); len(got) != 10 || strings.Join(got, ",") != strings.Join(p.Serials, ",") {
		t.Fatalf("server issued %d serials, client got %v", len(got), p.Serials)
	}
	if _, err := c.RequestPool(t.Context(), upstream.PoolRequest{GTIN: gtin, Count: 1}); err == nil {
		t.Error("empty request id accepted")
	}
}

type noPoolID struct{}

func (noPoolID) RoundTrip(r *http.Request) (*http.Response, error) {
	var req upstream.SerialRequest
	_ = json.NewDecoder(r.Body).Decode(&req)
	body, _ := json.Marshal(upstream.Pool{RequestID: req.RequestID, GTIN: req.GTIN, Serials: []string{"A"}})
	return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{}, Request: r}, nil
}

func TestPoolWithoutID(t *testing.T) {
	c, _ := upstream.New(upstream.Options{BaseURL: "http://site", HTTPClient: &http.Client{Transport: noPoolID{}}})
	if _, err := c.RequestSerials(t.Context(), gtin, 1); !errors.Is(err, upstream.ErrBadResponse) {
		t.Fatalf("pool without pool_id: err = %v, want ErrBadResponse", err)
	}
}
