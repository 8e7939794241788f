package line_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
)

// TestOfflineHoldBeforeDry: with the site server down the line keeps
// running from its local pool, holds before the pool runs dry, and
// completes once the site server is back; every serial printed came from
// the journal (the batch balances, the journal verifies).
func TestOfflineHoldBeforeDry(t *testing.T) {
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pools.RequestSize, cfg.Pools.LowWater, cfg.Pools.MinStart, cfg.Pools.HoldBelow = 100, 60, 50, 20
	cfg.Pools.CheckInterval = 50 * time.Millisecond
	cfg.Cycle.DrawGroup, cfg.Cycle.DrawAhead = 8, 16
	l := startLine(t, linesim.Options{Rate: 100, Config: &cfg})
	c := l.Controller
	ctx := context.Background()
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "OFF", GTIN: testGTIN, Lot: "L9", Expiry: "281231", Profile: "eu-fmd", Target: 250}, operator); err != nil {
		t.Fatal(err)
	}
	if err := c.Command(ctx, "OFF", api.Command{Name: "start"}, operator); err != nil {
		t.Fatal(err)
	}
	l.Upstream.SetDown(true)
	waitState(t, l, 30*time.Second, packml.Held)
	b, err := c.Batch(ctx, "OFF")
	if err != nil {
		t.Fatal(err)
	}
	last := b.History[len(b.History)-1]
	hold := b.History[len(b.History)-2]
	if last.To != "Held" || !strings.Contains(hold.Reason, "pool") {
		t.Fatalf("held for %q, want the pool", hold.Reason)
	}
	if b.Counters.Commissioned >= 250 || b.Counters.Commissioned < 50 {
		t.Fatalf("commissioned %d before the hold: the line should have run offline on the local pool", b.Counters.Commissioned)
	}
	t.Logf("held at %d commissioned, pool %d", b.Counters.Commissioned, poolOf(t, l))
	l.Upstream.SetDown(false)
	if err := c.Command(ctx, "OFF", api.Command{Name: "unhold"}, operator); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, l, 60*time.Second, packml.Complete, packml.Held)
	for st == packml.Held { // the pool may still be refilling at the first unhold
		if err := c.Command(ctx, "OFF", api.Command{Name: "unhold"}, operator); err != nil {
			t.Fatal(err)
		}
		st = waitState(t, l, 60*time.Second, packml.Complete, packml.Held)
	}
	rec, err := c.Reconciliation(ctx, "OFF")
	if err != nil || !rec.Balanced || rec.Commissioned < 250 {
		t.Fatalf("reconciliation: %+v %v", rec, err)
	}
	if n := len(l.Upstream.Issued(testGTIN)); n < rec.Drawn {
		t.Fatalf("%d serials drawn but only %d issued upstream", rec.Drawn, n)
	}
}

func poolOf(t *testing.T, l *linesim.Line) int {
	n, err := l.Journal.PoolLevel(testGTIN)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
