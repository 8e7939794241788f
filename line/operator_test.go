package line_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/printer/gs1"
)

var supervisor = api.Actor{User: "sam", Role: "supervisor"}

// TestOperatorFlows exercises the API side of the controller on a live
// simulated line: refused definitions and commands (with the API's error
// classes), Start refused while the pool is too low and the site server is
// down, hold and unhold, unit lookup by serial, element string and Digital
// Link, supervisor unit actions, completion and the signed reconciliation.
func TestOperatorFlows(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()

	// Bad definitions.
	bad := []api.BatchDef{
		{ID: "X", GTIN: "09501101530004", Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 5}, // check digit
		{ID: "X", GTIN: testGTIN, Lot: "L", Expiry: "281331", Profile: "eu-fmd", Target: 5},         // month 13
		{ID: "X", GTIN: testGTIN, Lot: "L", Expiry: "281231", Profile: "mars", Target: 5},           // profile
		{ID: "X", GTIN: testGTIN, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 0},         // target
		{ID: "", GTIN: testGTIN, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 5},          // id
	}
	for _, d := range bad {
		if _, err := c.CreateBatch(ctx, d, operator); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("CreateBatch(%+v) err = %v, want ErrBadRequest", d, err)
		}
	}
	if err := c.Command(ctx, "NOPE", api.Command{Name: "start"}, operator); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("start without batch: %v", err)
	}

	// Pool too low and upstream down: Start refused with the reason.
	const otherGTIN = "09506000134352"
	l.Upstream.SetDown(true)
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "P1", GTIN: otherGTIN, Lot: "L1", Expiry: "281231", Profile: "us-dscsa", Target: 50}, operator); err != nil {
		t.Fatal(err)
	}
	confirmClearance(ctx, t, c, "P1")
	err := c.Command(ctx, "P1", api.Command{Name: "start"}, operator)
	if !errors.Is(err, api.ErrRefused) {
		t.Fatalf("start with an empty pool: err = %v, want ErrRefused", err)
	}
	t.Logf("refused as expected: %v", err)
	if err := c.Command(ctx, "P1", api.Command{Name: "unhold"}, operator); !errors.Is(err, api.ErrInvalidState) {
		t.Errorf("unhold in Idle: err = %v, want ErrInvalidState", err)
	}
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "P2", GTIN: testGTIN, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 5}, operator); err == nil {
		t.Error("a second batch was accepted while P1 is Idle")
	}
	if err := c.Command(ctx, "P1", api.Command{Name: "abort", Reason: "no serials"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 10*time.Second, packml.Aborted)
	l.Upstream.SetDown(false)

	// A real batch: start, hold, unhold, complete.
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "B2", GTIN: testGTIN, Lot: "LOT7", Expiry: "281200", Profile: "eu-fmd", Target: 40}, operator); err != nil {
		t.Fatal(err)
	}
	confirmClearance(ctx, t, c, "B2")
	if err := c.Command(ctx, "B2", api.Command{Name: "start"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 10*time.Second, packml.Execute)
	if err := c.Command(ctx, "B2", api.Command{Name: "hold", Reason: "operator check"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 20*time.Second, packml.Held)
	if err := c.Command(ctx, "B2", api.Command{Name: "unhold"}, operator); err != nil {
		t.Fatal(err)
	}
	runToComplete(t, l, "B2")

	// Unit lookups.
	us, err := c.Units(ctx, "B2", api.UnitQuery{States: []string{"commissioned"}, Limit: 3})
	if err != nil || len(us) != 3 {
		t.Fatalf("units: %v %d", err, len(us))
	}
	u := us[0]
	m, err := gs1.ParseRaw(u.ElementString)
	if err != nil {
		t.Fatalf("element string %q: %v", u.ElementString, err)
	}
	dl, err := m.DigitalLink("")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{u.Serial, "]d2" + u.ElementString, m.Bracketed(), dl} {
		got, err := c.Unit(ctx, q)
		if err != nil || got.Serial != u.Serial || got.State != "commissioned" || got.Seq == 0 || got.Grade == nil {
			t.Errorf("Unit(%q) = %+v, %v", q, got, err)
		}
	}
	if _, err := c.Unit(ctx, "NEVERDRAWN"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown serial: %v", err)
	}

	// Supervisor actions on commissioned units.
	if got, err := c.UnitAction(ctx, us[1].Serial, api.UnitSample, "stability study", supervisor); err != nil || got.State != "sampled" {
		t.Fatalf("sample: %+v %v", got, err)
	}
	if got, err := c.UnitAction(ctx, us[2].Serial, api.UnitReject, "damaged carton", supervisor); err != nil || got.State != "rejected" {
		t.Fatalf("reject: %+v %v", got, err)
	}
	if _, err := c.UnitAction(ctx, us[2].Serial, api.UnitSample, "again", supervisor); !errors.Is(err, api.ErrInvalidState) {
		t.Errorf("sample a rejected unit: %v", err)
	}

	// Reconciliation and signature.
	rec, err := c.Reconciliation(ctx, "B2")
	if err != nil || !rec.Balanced || !rec.Final || rec.Sampled != 1 {
		t.Fatalf("reconciliation: %+v %v", rec, err)
	}
	sig := api.Signature{User: "sam", Role: "supervisor", Meaning: api.MeaningApproved, Reason: "shift end"}
	if rec, err = c.SignReconciliation(ctx, "B2", sig); err != nil || rec.Signed == nil || rec.Signed.User != "sam" {
		t.Fatalf("sign: %+v %v", rec, err)
	}
	if _, err := c.SignReconciliation(ctx, "B2", sig); !errors.Is(err, api.ErrInvalidState) {
		t.Errorf("second signature: %v", err)
	}
	if b, err := c.Batch(ctx, "B2"); err != nil || b.Signed == nil {
		t.Errorf("batch not marked signed: %+v %v", b.Signed, err)
	}
	rep, err := c.ReconcileReport(ctx, "B2")
	if err != nil || len(rep.Signatures) != 1 {
		t.Fatalf("report: %v %+v", err, rep.Signatures)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Batch == nil || st.Batch.ID != "B2" || len(st.Devices) != 4 || len(st.Pools) == 0 {
		t.Errorf("status: %+v %v", st, err)
	}
}
