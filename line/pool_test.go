package line_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
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
	confirmClearance(ctx, t, c, "OFF")
	if err := c.Command(ctx, "OFF", api.Command{Name: "start"}, operator); err != nil {
		t.Fatal(err)
	}
	l.Upstream.SetDown(true)
	var b api.Batch
	for i := 0; ; i++ {
		waitState(t, l, 30*time.Second, packml.Held)
		var err error
		if b, err = c.Batch(ctx, "OFF"); err != nil {
			t.Fatal(err)
		}
		hold := b.History[len(b.History)-2]
		if strings.Contains(hold.Reason, "pool") {
			break
		}
		if i == 5 {
			t.Fatalf("held for %q, want the pool", hold.Reason)
		}
		t.Logf("held for another reason first (%s): unhold", hold.Reason)
		if err := c.Command(ctx, "OFF", api.Command{Name: "unhold"}, operator); err != nil {
			t.Fatal(err)
		}
		waitState(t, l, 30*time.Second, packml.Execute, packml.Held)
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

// TestReturnUnusedAtEnd: with pools.return_unused_at_end the GTIN's unused
// serials go back to the site server (store and forward) when the batch
// ends, and the journal counts them as returned upstream.
func TestReturnUnusedAtEnd(t *testing.T) {
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pools.ReturnUnusedAtEnd = true
	cfg.Pools.RequestSize, cfg.Pools.LowWater, cfg.Pools.MinStart = 200, 50, 50
	l := startLine(t, linesim.Options{Rate: 60, Config: &cfg})
	rec := runBatch(t, l, "RET", 40)
	if !rec.Balanced {
		t.Fatalf("reconciliation: %+v", rec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		items, err := l.Journal.OutboxPending(ctx, 1)
		if err == nil && len(items) == 0 && len(l.Upstream.Returned(testGTIN)) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no serial returned to the site server")
		case <-time.After(20 * time.Millisecond):
		}
	}
	returned := map[string]bool{}
	for _, s := range l.Upstream.Returned(testGTIN) {
		returned[s] = true
	}
	if lvl := poolOf(t, l); lvl != 0 {
		t.Errorf("pool level after return = %d, want 0", lvl)
	}
	// Every issued serial is a unit of the batch or was returned unused;
	// a unit goes back upstream too when it was drawn but never reached a
	// printer (state Returned), never otherwise.
	units := map[string]journal.Unit{}
	if err := l.Journal.Units("RET", func(u journal.Unit) error { units[u.Serial] = u; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(units) != rec.Drawn {
		t.Errorf("%d units in the journal, reconciliation says drawn %d", len(units), rec.Drawn)
	}
	issued := l.Upstream.Issued(testGTIN)
	for _, s := range issued {
		if _, ok := units[s]; !ok && !returned[s] {
			t.Errorf("issued serial %s neither drawn nor returned", s)
		}
	}
	for s := range returned {
		if u, ok := units[s]; ok && u.State != journal.Returned {
			t.Errorf("serial %s returned upstream but the journal has it %s", s, u.State)
		}
	}
	if len(returned) > len(issued) {
		t.Errorf("returned %d > issued %d", len(returned), len(issued))
	}
}

// TestBadPoolRefusedWhole: a pool with a bad serial (too long, a space, a
// duplicate) is refused whole by the journal with an alarm naming the
// entries; nothing of it can be printed; the next (good) pool is used.
func TestBadPoolRefusedWhole(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	// The controller may already have fetched a pool at start: use a GTIN
	// nothing was fetched for.
	const gtin = "09506000134352"
	l.Upstream.BadPoolNext(1)
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "BAD", GTIN: gtin, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 30}, operator); err != nil {
		t.Fatal(err)
	}
	// The first pool issued for the GTIN is the bad one: the background
	// replenisher or Start's own request meets it; Start may be refused
	// for lack of serials until a good pool arrives.
	confirmClearance(ctx, t, c, "BAD")
	for i := 0; ; i++ {
		err := c.Command(ctx, "BAD", api.Command{Name: "start"}, operator)
		if err == nil {
			break
		}
		if !errors.Is(err, api.ErrRefused) || i == 5 {
			t.Fatalf("start: %v", err)
		}
	}
	runToComplete(t, l, "BAD")
	if rec, err := c.Reconciliation(ctx, "BAD"); err != nil || !rec.Balanced {
		t.Fatalf("reconciliation %+v %v", rec, err)
	}
	as, _ := c.Alarms(ctx, false)
	found := false
	for _, a := range as {
		if strings.Contains(a.Text, "refused") && strings.Contains(a.Detail, "BAD SERIAL") { // plain text, the technical detail kept
			found = true
		}
	}
	if !found {
		t.Fatalf("no alarm naming the bad serial: %+v", as)
	}
	// Nothing of the refused pool was imported, let alone printed.
	first := l.Upstream.Issued(gtin)[0]
	if _, err := l.Journal.Unit(first); err == nil {
		t.Fatalf("serial %s of the refused pool became a unit", first)
	}
	if u, err := c.Unit(ctx, first); err == nil {
		t.Fatalf("serial %s of the refused pool is known: %+v", first, u)
	}
}

// TestPoolRequestRepeatedWithSameID: every reply to the first serial
// request is lost after the site server issued the pool. The controller
// asks again with the same request id, so it gets that pool: every serial
// the site server issued is known to the journal (a unit or in the pool),
// none is stranded at the site server.
func TestPoolRequestRepeatedWithSameID(t *testing.T) {
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Upstream.Attempts = 2
	l := startLine(t, linesim.Options{Rate: 60, Config: &cfg})
	ctx := t.Context()
	c := l.Controller
	l.Upstream.DropReplyNext(cfg.Upstream.Attempts) // the first call fails whole
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "SAMEID", GTIN: testGTIN, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 30}, operator); err != nil {
		t.Fatal(err)
	}
	confirmClearance(ctx, t, c, "SAMEID")
	started := false
	for i := 0; i < 3 && !started; i++ {
		err := c.Command(ctx, "SAMEID", api.Command{Name: api.CmdStart}, operator)
		started = err == nil
		if err != nil {
			t.Logf("start %d: %v", i+1, err)
		}
	}
	if !started {
		t.Fatal("batch never started")
	}
	runToComplete(t, l, "SAMEID")
	rec, err := c.Reconciliation(ctx, "SAMEID")
	if err != nil {
		t.Fatal(err)
	}
	issued := len(l.Upstream.Issued(testGTIN))
	if lvl := poolOf(t, l); issued != rec.Drawn+lvl {
		t.Errorf("site server issued %d serials, the journal knows %d (drawn %d + pool %d): %d stranded",
			issued, rec.Drawn+lvl, rec.Drawn, lvl, issued-rec.Drawn-lvl)
	}
}
