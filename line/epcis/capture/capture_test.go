package capture_test

import (
	"errors"
	"testing"
	"time"

	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/epcis/capture"
	"github.com/serialine/serialine/line/epcis/epcistest"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/line/upstreamsim"
	"github.com/serialine/serialine/printer/gs1/gcp"
)

// Capture against the site-server sim's EPCIS 2.0 capture interface over
// loopback: 202 + Location, the job polled until done, a resend adds
// nothing, a failed job is a refusal, a wrong token is unauthorized.
func TestCaptureJobs(t *testing.T) {
	s, err := upstreamsim.Start(upstreamsim.Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := capture.New(capture.Options{URL: s.URL(), Token: "tok", PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := epcis.Build(epcis.Commissioning, epcis.Batch{ID: "B1", GTIN: "09501101530003", Lot: "L1", Expiry: "281231"},
		[]string{"A1", "A2"}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), epcis.Options{Prefixes: gcp.Products{"09501101530003": 7}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second is a resend
		if err := c.ReportEvents(t.Context(), "d1", docs[0]); err != nil {
			t.Fatal(err)
		}
	}
	evs := s.Events()
	if len(evs) != 1 {
		t.Fatalf("repository holds %d documents, want 1", len(evs))
	}
	epcistest.Validate(t, epcistest.Schema(t), evs[0].Doc)
	s.FailCaptureNext(1)
	if err := c.ReportEvents(t.Context(), "d2", docs[0]); !errors.Is(err, upstream.ErrRejected) {
		t.Fatalf("failed job: %v", err)
	}
	if err := c.ReportEvents(t.Context(), "d3", []byte(`{"type":"nope"}`)); !errors.Is(err, upstream.ErrRejected) {
		t.Fatalf("bad document: %v", err)
	}
	bad, _ := capture.New(capture.Options{URL: s.URL(), Token: "wrong"})
	if err := bad.ReportEvents(t.Context(), "d4", docs[0]); !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
	s.SetDown(true)
	if err := c.ReportEvents(t.Context(), "d5", docs[0]); !upstream.IsTransient(err) {
		t.Fatalf("down: %v", err)
	}
}
