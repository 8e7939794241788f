package line_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/upstreamsim"
)

// TestPoolRequestIDSurvivesRestart: the serial request's replies are all
// lost, the controller is restarted on the same journal; the restarted
// controller asks again with the same request id (kept in the journal),
// so it gets the pool the site server already issued and nothing is
// stranded there.
func TestPoolRequestIDSurvivesRestart(t *testing.T) {
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Upstream.Attempts = 2
	up, err := upstreamsim.Start(upstreamsim.Options{Token: cfg.Upstream.Token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	db := filepath.Join(t.TempDir(), "line.db")
	ctx := t.Context()

	// First run: the request is issued, every reply is lost (the site
	// server hands back the same pool to the same id, so however often
	// the controller asks with it, one pool is issued), Start fails.
	up.DropReplyNext(1 << 20)
	lctx, cancel := context.WithCancel(ctx)
	l1, err := linesim.Start(lctx, linesim.Options{Rate: 60, Config: &cfg, DBPath: db, UpstreamServer: up})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if _, err := l1.Controller.CreateBatch(ctx, api.BatchDef{ID: "RESTART", GTIN: testGTIN, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 30}, operator); err != nil {
		cancel()
		t.Fatal(err)
	}
	confirmClearance(ctx, t, l1.Controller, "RESTART")
	if err := l1.Controller.Command(ctx, "RESTART", api.Command{Name: api.CmdStart}, operator); err == nil {
		cancel()
		t.Fatal("start succeeded although every reply of the serial request was lost")
	}
	pending, err := l1.Journal.PendingRequest(testGTIN)
	if err != nil || pending == "" {
		cancel()
		t.Fatalf("pending request id not in the journal: %q %v", pending, err)
	}
	cancel()
	if err := l1.Close(); err != nil {
		t.Fatalf("close first run: %v", err)
	}
	verifyJournal(t, db)
	if n := len(up.Issued(testGTIN)); n != cfg.Pools.RequestSize {
		t.Fatalf("the site server issued %d serials before the restart, want one pool of %d", n, cfg.Pools.RequestSize)
	}
	up.DropReplyNext(0)

	// Restart on the same journal and the same site server.
	l := startLine(t, linesim.Options{Rate: 60, Config: &cfg, DBPath: db, UpstreamServer: up})
	// (the restarted controller may already have asked again: then the
	// pending id is cleared by the import)
	if id, _ := l.Journal.PendingRequest(testGTIN); id != pending && id != "" {
		t.Fatalf("pending request id after restart %q, want %q", id, pending)
	}
	if err := l.Controller.Command(ctx, "RESTART", api.Command{Name: api.CmdStart}, operator); err != nil {
		t.Fatalf("start after restart: %v", err)
	}
	pools, err := l.Journal.Pools()
	if err != nil || len(pools) == 0 {
		t.Fatalf("pools %v %v", pools, err)
	}
	if pools[0].ID != "POOL-000001" {
		t.Errorf("first imported pool %s, want POOL-000001 (the one issued before the restart)", pools[0].ID)
	}
	runToComplete(t, l, "RESTART")
	rec, err := l.Controller.Reconciliation(ctx, "RESTART")
	if err != nil {
		t.Fatal(err)
	}
	issued := len(up.Issued(testGTIN))
	if lvl := poolOf(t, l); issued != rec.Drawn+lvl {
		t.Errorf("site server issued %d serials, the journal knows %d (drawn %d + pool %d): %d stranded",
			issued, rec.Drawn+lvl, rec.Drawn, lvl, issued-rec.Drawn-lvl)
	}
	if id, _ := l.Journal.PendingRequest(testGTIN); id != "" {
		t.Errorf("pending request %q left after its pool was imported", id)
	}
}
