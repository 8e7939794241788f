package line_test

import (
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
)

// TestSiteServerAccountsEveryIssuedSerial: after a batch is stopped midway
// and the outbox has drained, the site server can account for every serial
// it issued: commissioned or decommissioned by an EPCIS event, or returned
// (the unused pool). Serials the line drew but never printed (state
// Returned: drawn ahead, or cleared from the printer queue at batch end) are
// part of that too: otherwise the site server holds serials it can never
// reconcile — "no drawn serial is ever lost" seen from upstream.
func TestSiteServerAccountsEveryIssuedSerial(t *testing.T) {
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pools.ReturnUnusedAtEnd = true
	cfg.Pools.RequestSize, cfg.Pools.LowWater, cfg.Pools.MinStart = 400, 50, 50
	l := startLine(t, linesim.Options{Rate: 60, Config: &cfg})
	ctx := t.Context()
	c := l.Controller
	const id = "STOP1"
	startBatch(ctx, t, l, id, "L1", 300)
	waitFor(t, "20 commissioned units", func() bool {
		k, err := l.Journal.Counters(id)
		return err == nil && k.Commissioned >= 20
	})
	if err := c.Command(ctx, id, api.Command{Name: api.CmdStop}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, time.Minute, packml.Stopped)
	waitFor(t, "the outbox to drain", func() bool {
		items, err := l.Journal.OutboxPending(ctx, 1)
		return err == nil && len(items) == 0
	})
	k, err := l.Journal.Counters(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("journal counters at stop: %+v", k)
	if k.Returned == 0 {
		t.Log("no unit ended Returned in this run (nothing drawn ahead or queued at the stop)")
	}

	upstreamKnows := map[string]string{}
	for _, s := range l.Upstream.Returned(testGTIN) {
		upstreamKnows[s] = "returned"
	}
	upstreamEvents(t, l, func(_ []byte, e epcis.ObjectEvent) {
		for _, epc := range e.EPCList {
			upstreamKnows[epc[strings.LastIndexByte(epc, '.')+1:]] = e.BizStep
		}
	})
	var lost []string
	for _, s := range l.Upstream.Issued(testGTIN) {
		if _, ok := upstreamKnows[s]; !ok {
			lost = append(lost, s)
		}
	}
	for i, s := range lost {
		if i == 5 {
			break
		}
		u, err := l.Journal.Unit(s)
		t.Logf("issued serial %s unknown upstream: journal %s (%s) %v", s, u.State, u.Reason, err)
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d issued serials are neither in an EPCIS event nor returned: the site server cannot reconcile them",
			len(lost), len(l.Upstream.Issued(testGTIN)))
	}
}

// TestActionAfterBatchEndReachesSiteServer: after a batch completed and its
// EPCIS documents went upstream, a supervisor pulls a commissioned pack as a
// QA sample and rejects another one. The site server must hear of both
// (a sampling and a decommissioning event for those EPCs); otherwise it
// keeps two serials "active" whose packs are no longer sellable.
func TestActionAfterBatchEndReachesSiteServer(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	rec := runBatch(t, l, "LATE1", 30)
	if !rec.Balanced {
		t.Fatalf("reconciliation: %+v", rec)
	}
	ctx := t.Context()
	drained := func() bool {
		items, err := l.Journal.OutboxPending(ctx, 1)
		return err == nil && len(items) == 0
	}
	waitFor(t, "the outbox to drain", drained)
	var comm []string
	if err := l.Journal.Units("LATE1", func(u journal.Unit) error {
		if u.State == journal.Commissioned {
			comm = append(comm, u.Serial)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(comm) < 2 {
		t.Fatalf("%d commissioned units", len(comm))
	}
	supervisor := api.Actor{User: "sue", Role: "supervisor"}
	sampled, rejected := comm[0], comm[1]
	if _, err := l.Controller.UnitAction(ctx, sampled, api.UnitSample, "QA retain sample", supervisor); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Controller.UnitAction(ctx, rejected, api.UnitReject, "pack crushed at the case packer", supervisor); err != nil {
		t.Fatal(err)
	}
	// The documents are expected in the outbox when UnitAction returns
	// (ideally in the journal transaction of the step itself): once the
	// outbox is empty again they have reached the site server.
	waitFor(t, "the outbox to drain", drained)

	steps := map[string]string{} // serial -> bizSteps of the documents received
	upstreamEvents(t, l, func(_ []byte, e epcis.ObjectEvent) {
		for _, epc := range e.EPCList {
			steps[epc[strings.LastIndexByte(epc, '.')+1:]] += e.BizStep + " "
		}
	})
	if !strings.Contains(steps[sampled], "commissioning") || !strings.Contains(steps[rejected], "commissioning") {
		t.Fatalf("the batch-end commissioning events lack %s or %s: %q %q", sampled, rejected, steps[sampled], steps[rejected])
	}
	if !strings.Contains(steps[sampled], "sampling") {
		t.Errorf("QA sample %s pulled after the batch end: no sampling event reached the site server (got %q)", sampled, steps[sampled])
	}
	if !strings.Contains(steps[rejected], "decommissioning") && !strings.Contains(steps[rejected], "destroying") {
		t.Errorf("pack %s rejected after the batch end: no decommissioning event reached the site server (got %q)", rejected, steps[rejected])
	}
}

// TestEPCISTimeZoneOffset: a line configured in Europe/Berlin reports its
// events with that zone's offset at the event time (EPCIS
// eventTimeZoneOffset: the local time zone where the event happened).
func TestEPCISTimeZoneOffset(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Line.Timezone = "Europe/Berlin"
	l := startLine(t, linesim.Options{Rate: 60, Config: &cfg})
	rec := runBatch(t, l, "TZ1", 20)
	if !rec.Balanced {
		t.Fatalf("reconciliation: %+v", rec)
	}
	waitFor(t, "the outbox to drain", func() bool {
		items, err := l.Journal.OutboxPending(t.Context(), 1)
		return err == nil && len(items) == 0
	})
	n := 0
	upstreamEvents(t, l, func(_ []byte, e epcis.ObjectEvent) {
		at, err := time.Parse(time.RFC3339Nano, e.EventTime)
		if err != nil {
			t.Fatalf("eventTime %q: %v", e.EventTime, err)
		}
		if want := at.In(loc).Format("-07:00"); e.TimeZoneOffset != want {
			t.Errorf("%s event at %s: eventTimeZoneOffset %s, want %s (line.timezone Europe/Berlin)", e.BizStep, e.EventTime, e.TimeZoneOffset, want)
		}
		n++
	})
	if n == 0 {
		t.Fatal("no EPCIS event reached the site server")
	}
}
