package openscs_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/upstream"
	scs "github.com/serialine/serialine/line/upstream/openscs"
	sim "github.com/serialine/serialine/line/upstreamsim/openscs"
	"github.com/serialine/serialine/printer/gs1/gcp"
)

const gtin = "09501101530003"

func startSim(t *testing.T, o sim.Options) *sim.Server {
	t.Helper()
	s, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newClient(t *testing.T, ep string, mod func(*scs.Config)) *scs.Client {
	t.Helper()
	cfg := scs.DefaultConfig(ep)
	cfg.Criteria.Request = "RequestID"
	if mod != nil {
		mod(&cfg)
	}
	c, err := scs.New(cfg, scs.Options{Line: "L1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// Paging: 1,234 serials in pages of 500 behind RequestTokens; a repeated
// request id gets the same serials back (the RequestID criterion).
func TestRequestPaging(t *testing.T) {
	s := startSim(t, sim.Options{PageSize: 500})
	c := newClient(t, s.Endpoint(), nil)
	p, err := c.RequestPool(t.Context(), upstream.PoolRequest{ID: "R1", GTIN: gtin, Lot: "L7", Order: "B1", Count: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Serials) != 1234 || p.ID != "open-scs:R1" || p.GTIN != gtin {
		t.Fatalf("pool %s %s: %d serials", p.ID, p.GTIN, len(p.Serials))
	}
	var pages int
	for _, call := range s.Calls() {
		if call.Method == "SNRequestAllocated" {
			pages++
		}
	}
	if pages != 3 {
		t.Fatalf("%d calls, want 3 pages", pages)
	}
	for _, v := range p.Serials[:5] {
		if st, ok := s.State(v); !ok || st != scs.Allocated {
			t.Fatalf("%s: %v %v", v, st, ok)
		}
	}
	again, err := c.RequestPool(t.Context(), upstream.PoolRequest{ID: "R1", GTIN: gtin, Count: 1234})
	if err != nil || !slices.Equal(again.Serials, p.Serials) {
		t.Fatalf("same request id: %d serials, %v", len(again.Serials), err)
	}
	crit := s.Calls()[0].Context
	if !slices.Contains(crit, scs.KeyValue{Key: "LotNumber", Value: "L7"}) || !slices.Contains(crit, scs.KeyValue{Key: "OrderID", Value: "B1"}) {
		t.Fatalf("criteria %v", crit)
	}
}

// InsufficientSerialNumbers: what is left is taken; nothing left is a refusal.
func TestRequestInsufficient(t *testing.T) {
	s := startSim(t, sim.Options{Capacity: 30, PageSize: 20})
	c := newClient(t, s.Endpoint(), nil)
	p, err := c.RequestPool(t.Context(), upstream.PoolRequest{ID: "R1", GTIN: gtin, Count: 50})
	if err != nil || len(p.Serials) != 30 {
		t.Fatalf("%d serials, %v; want the 30 left", len(p.Serials), err)
	}
	_, err = c.RequestPool(t.Context(), upstream.PoolRequest{ID: "R2", GTIN: gtin, Count: 5})
	if !errors.Is(err, scs.ErrInsufficient) || !errors.Is(err, upstream.ErrRejected) || upstream.IsTransient(err) {
		t.Fatalf("empty pool: %v", err)
	}
}

// A return with one serial the server does not know: the others are taken
// (found by bisection), the unknown one is refused with its reason.
func TestReturnPerSerial(t *testing.T) {
	s := startSim(t, sim.Options{})
	c := newClient(t, s.Endpoint(), nil)
	p, err := c.RequestPool(t.Context(), upstream.PoolRequest{ID: "R1", GTIN: gtin, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	ret := append(slices.Clone(p.Serials[:6]), "UNKNOWN1")
	res, err := c.ReturnSerials(t.Context(), "ret-1", gtin, ret)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Accepted, p.Serials[:6]) || len(res.Refused) != 1 || res.Refused[0].Serial != "UNKNOWN1" {
		t.Fatalf("result %+v", res)
	}
	for _, v := range p.Serials[:6] {
		if st, _ := s.State(v); st != scs.Unallocated {
			t.Fatalf("%s: %v, want Unallocated", v, st)
		}
	}
	// The same return again: the state is reached already, so accepted.
	if res, err := c.ReturnSerials(t.Context(), "ret-1", gtin, p.Serials[:6]); err != nil || len(res.Accepted) != 6 {
		t.Fatalf("repeat: %+v %v", res, err)
	}
}

// The line's EPCIS documents become Open-SCS state changes: encoded then
// commissioned, label scrapped, sampled, destroyed, decommissioned.
func TestReportEventsStateChanges(t *testing.T) {
	s := startSim(t, sim.Options{})
	c := newClient(t, s.Endpoint(), nil)
	p, err := c.RequestPool(t.Context(), upstream.PoolRequest{ID: "R1", GTIN: gtin, Count: 8})
	if err != nil {
		t.Fatal(err)
	}
	sn := p.Serials
	b := epcis.Batch{ID: "B1", GTIN: gtin, Lot: "L1", Expiry: "281231"}
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	send := func(kind epcis.Kind, serials []string, o epcis.Options) {
		t.Helper()
		docs, err := epcis.Build(kind, b, serials, at, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			if err := c.ReportEvents(t.Context(), string(kind), d); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
		}
	}
	sgtin := epcis.Options{Prefixes: gcp.Products{gtin: 9}}
	send(epcis.Commissioning, sn[:5], sgtin)
	send(epcis.LabelScrapping, sn[5:7], epcis.Options{EPCs: "dl"})
	send(epcis.Sampling, sn[1:2], sgtin)
	send(epcis.Destroying, sn[2:3], sgtin)
	send(epcis.Decommissioning, sn[3:4], sgtin)
	send(epcis.Commissioning, sn[:1], sgtin) // a resend: state reached, accepted
	want := []scs.SerialState{scs.Commissioned, scs.Sampled, scs.Destroyed, scs.Inactive, scs.Commissioned, scs.LabelScrapped, scs.LabelScrapped, scs.Allocated}
	for i, v := range sn {
		if st, _ := s.State(v); st != want[i] {
			t.Errorf("serial %d %s: %v, want %v", i, v, st, want[i])
		}
	}
	// A state change the model does not allow is refused.
	docs, _ := epcis.Build(epcis.Commissioning, b, sn[7:8], at, sgtin) // never encoded… but Encode comes first
	if err := c.ReportEvents(t.Context(), "x", docs[0]); err != nil {
		t.Fatalf("allocated → encoded → commissioned: %v", err)
	}
	docs, _ = epcis.Build(epcis.LabelScrapping, b, sn[7:8], at, sgtin)
	if err := c.ReportEvents(t.Context(), "y", docs[0]); !errors.Is(err, upstream.ErrRejected) {
		t.Fatalf("commissioned → label scrapped: %v, want a refusal", err)
	}
	var ctx []scs.KeyValue
	for _, call := range s.Calls() {
		if call.Method == "SIDCommissioningEvent" {
			ctx = call.Context
		}
	}
	for _, k := range []scs.KeyValue{{Key: "GTIN", Value: gtin}, {Key: "LotNumber", Value: "L1"}, {Key: "ExpirationDate", Value: "2028-12-31"}, {Key: "Line", Value: "L1"}} {
		if !slices.Contains(ctx, k) {
			t.Errorf("event context %v lacks %v", ctx, k)
		}
	}
}

func TestHealthAndDown(t *testing.T) {
	s := startSim(t, sim.Options{})
	c := newClient(t, s.Endpoint(), nil)
	if err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Nothing listening: transient (the line keeps running from its pool).
	gone := startSim(t, sim.Options{})
	ep := gone.Endpoint()
	gone.Close()
	if err := newClient(t, ep, nil).Health(t.Context()); !upstream.IsTransient(err) {
		t.Fatalf("server gone: %v, want ErrUnavailable", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := scs.DefaultConfig("http://x")
	cfg.Request, cfg.SecurityPolicy, cfg.PoolManager, cfg.Criteria.GTIN = "some", "Basic128", "ns=x", ""
	err := cfg.Validate().Err()
	for _, want := range []string{"endpoint", "request", "security_policy", "pool_manager", "criteria.gtin"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("problems %v lack %s", err, want)
		}
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || index(s, sub) >= 0)
}

func index(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
