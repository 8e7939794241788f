package line_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"

	"strings"

	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/tij"
	"github.com/serialine/serialine/store/journal"
)

// TestFinalBatchStaysFinal: once a batch has reached a final state (here
// Complete, signed) no PackML command reopens it: Stop, Abort, Reset and
// Start are refused with ErrInvalidState, the batch stays Complete and
// signed, and a new batch can be defined. An aborted batch may be cleared
// (Aborted -> Stopped, still final) but not reset and started again.
func TestFinalBatchStaysFinal(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	runBatch(t, l, "F1", 10)
	if _, err := c.SignReconciliation(ctx, "F1", api.Signature{User: "sam", Role: "supervisor", Meaning: api.MeaningApproved, Reason: "counts checked"}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{api.CmdStop, api.CmdAbort, api.CmdReset, api.CmdStart, api.CmdClear} {
		err := c.Command(ctx, "F1", api.Command{Name: cmd}, operator)
		if !errors.Is(err, api.ErrInvalidState) {
			t.Fatalf("%s on a signed Complete batch: err = %v, want ErrInvalidState", cmd, err)
		}
		if cmd != api.CmdClear && !errors.Is(err, line.ErrBatchFinal) {
			t.Fatalf("%s on a signed Complete batch: err = %v, want ErrBatchFinal", cmd, err)
		}
	}
	if id, st := c.State(); id != "F1" || st != packml.Complete {
		t.Fatalf("state %s %s, want F1 Complete", id, st)
	}
	rec, err := c.Reconciliation(ctx, "F1")
	if err != nil || rec.Signed == nil || rec.State != "Complete" {
		t.Fatalf("reconciliation %+v (%v)", rec, err)
	}
	// The printable report carries the digest that was signed.
	rep, err := c.ReconcileReport(ctx, "F1")
	if err != nil || len(rep.Signatures) != 1 || rep.Signatures[0].Digest == "" || rep.Signatures[0].Digest != rep.Digest() {
		t.Fatalf("report signatures %+v (%v), digest now %s", rep.Signatures, err, rep.Digest())
	}

	// Lookup by scanned code on the real controller: compared with what
	// was printed, element by element.
	us, err := c.Units(ctx, "F1", api.UnitQuery{States: []string{"commissioned"}})
	if err != nil || len(us) == 0 {
		t.Fatalf("units: %v %v", us, err)
	}
	sn := us[0].Serial
	u, err := c.Unit(ctx, "(01)"+testGTIN+"(17)281231(10)LF1(21)"+sn)
	if err != nil || len(u.Mismatches) != 0 || !u.Saleable || u.Warning != "" {
		t.Fatalf("unit scanned as printed: %+v (%v)", u, err)
	}
	u, err = c.Unit(ctx, "(01)"+testGTIN+"(17)291231(10)LF1(21)"+sn)
	if err != nil || len(u.Mismatches) != 1 || u.Mismatches[0] != (api.FieldMismatch{AI: "17", Scanned: "291231", Printed: "281231"}) {
		t.Fatalf("unit with a wrong expiry: %+v (%v)", u, err)
	}

	// Aborted: Clear is allowed (-> Stopped), Reset/Start are not.
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "F2", GTIN: testGTIN, Lot: "LF2", Expiry: "281231", Profile: "eu-fmd", Target: 5}, operator); err != nil {
		t.Fatalf("new batch after a final one: %v", err)
	}
	if err := c.Command(ctx, "F2", api.Command{Name: api.CmdAbort, Reason: "test"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 10*time.Second, packml.Aborted)
	if err := c.Command(ctx, "F2", api.Command{Name: api.CmdClear}, operator); err != nil {
		t.Fatalf("clear an aborted batch: %v", err)
	}
	waitState(t, l, 10*time.Second, packml.Stopped)
	for _, cmd := range []string{api.CmdReset, api.CmdStart} {
		if err := c.Command(ctx, "F2", api.Command{Name: cmd}, operator); !errors.Is(err, line.ErrBatchFinal) {
			t.Fatalf("%s on a stopped batch: err = %v, want ErrBatchFinal", cmd, err)
		}
	}
	if _, st := c.State(); st != packml.Stopped {
		t.Fatalf("state %s, want Stopped", st)
	}
}

// TestStartOverride: Start is refused while the local pool is below
// pools.min_start (site server down); an operator cannot override it, nor
// a supervisor without an e-signature; a supervisor's e-signed override
// starts the batch and is audited with the signature. Line clearance (a
// record left in the printer queue) is refused even with the override.
func TestStartOverride(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	const gtin, id = "09506000134352", "OV1"
	l.Upstream.SetDown(true)
	// 60 serials locally: below min_start 100 of the demo config, above hold_below.
	var serials []string
	for i := range 60 {
		serials = append(serials, "OVR"+strings.Repeat("0", 4)+string(rune('A'+i/26))+string(rune('A'+i%26)))
	}
	if err := l.Journal.ImportPool(ctx, journal.Pool{ID: "local-60", GTIN: gtin, Serials: serials}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: id, GTIN: gtin, Lot: "LOV", Expiry: "281231", Profile: "us-dscsa", Target: 100}, operator); err != nil {
		t.Fatal(err)
	}
	confirmClearance(ctx, t, c, id)
	sig := func(a api.Actor) *api.Signature {
		return &api.Signature{User: a.User, Role: a.Role, Meaning: "approved", Reason: "short run from the local pool", At: time.Now()}
	}
	refused := []struct {
		name string
		cmd  api.Command
		by   api.Actor
	}{
		{"operator", api.Command{Name: api.CmdStart}, operator},
		{"operator override", api.Command{Name: api.CmdStart, Override: true, Signature: sig(operator)}, operator},
		{"supervisor override without signature", api.Command{Name: api.CmdStart, Override: true}, supervisor},
		{"signature of another user", api.Command{Name: api.CmdStart, Override: true, Signature: sig(api.Actor{User: "eve", Role: "supervisor"})}, supervisor},
	}
	for _, r := range refused {
		if err := c.Command(ctx, id, r.cmd, r.by); !errors.Is(err, api.ErrRefused) {
			t.Fatalf("%s: err %v, want ErrRefused", r.name, err)
		}
	}

	// A record left in the printer from elsewhere: line clearance fails, and
	// the supervisor's override does not change that.
	pc := l.Config.Devices.Printer
	var names []string
	fields := map[string]string{}
	for k := range pc.Fields {
		names = append(names, k)
		fields[k] = "X"
	}
	other, err := tij.New(tij.Options{Addr: l.Printer.Addr(), Job: pc.Job, Fields: names, IDField: pc.IDField})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Enqueue(ctx, printer.Record{ID: "LEFTOVER1", Fields: fields}); err != nil {
		t.Fatal(err)
	}
	_ = other.Close(ctx)
	err = c.Command(ctx, id, api.Command{Name: api.CmdStart, Override: true, Signature: sig(supervisor)}, supervisor)
	if !errors.Is(err, api.ErrRefused) || !strings.Contains(err.Error(), "printer queue") {
		t.Fatalf("override with a record in the printer: %v, want line clearance refused", err)
	}
	if ids := l.Printer.Discard(10); len(ids) != 1 {
		t.Fatalf("printer queue held %v", ids)
	}

	if err := c.Command(ctx, id, api.Command{Name: api.CmdStart, Reason: "short run", Override: true, Signature: sig(supervisor)}, supervisor); err != nil {
		t.Fatalf("supervisor override: %v", err)
	}
	waitState(t, l, 20*time.Second, packml.Execute, packml.Held)
	b, err := c.Batch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range b.History {
		found = found || h.By.User == supervisor.User && strings.Contains(h.Reason, "override e-signed by sam (supervisor, approved): 60 serial(s) available")
	}
	if !found {
		t.Fatalf("state history lacks the override: %+v", b.History)
	}
	var audits []journal.AuditEntry
	if err := l.Journal.Audit(ctx, journal.AuditFilter{Action: "batch.start.override"}, func(a journal.AuditEntry) error {
		audits = append(audits, a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(audits) != 1 || audits[0].Who != "sam" || audits[0].Role != "supervisor" || audits[0].Reason != "short run from the local pool" ||
		!strings.Contains(audits[0].Before, "below the start minimum 100") || !strings.Contains(audits[0].After, `"meaning":"approved"`) {
		t.Fatalf("override audit %+v", audits)
	}

	// The site server comes back: the batch completes and balances.
	l.Upstream.SetDown(false)
	runToComplete(t, l, id)
	rec, err := c.Reconciliation(ctx, id)
	if err != nil || !rec.Balanced {
		t.Fatalf("reconciliation %+v (%v)", rec, err)
	}
}

// TestUnholdNeedsThePLC: an Unhold while the PLC's Modbus server is down
// does not reach Execute with a conveyor the PLC never released: the
// unholding fails on the run outputs and the batch is Held again, saying
// so. With the PLC back, the next Unhold runs the batch to Complete.
func TestUnholdNeedsThePLC(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	startBatch(ctx, t, l, "UH1", "LUH1", 20)
	waitState(t, l, time.Minute, packml.Execute)
	if err := c.Command(ctx, "UH1", api.Command{Name: api.CmdHold, Reason: "jam"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, time.Minute, packml.Held)
	if err := l.PLC.SetOffline(true, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Command(ctx, "UH1", api.Command{Name: api.CmdUnhold}, operator); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed unholding back in Held", func() bool {
		b, err := c.Batch(ctx, "UH1")
		if err != nil || b.State != string(packml.Held) {
			return false
		}
		h := b.History[len(b.History)-1]
		return h.To == string(packml.Held) && h.By.User == "system"
	})
	b, err := c.Batch(ctx, "UH1")
	if err != nil {
		t.Fatal(err)
	}
	sawHolding := false
	for _, h := range b.History {
		sawHolding = sawHolding || h.To == string(packml.Holding) && strings.Contains(h.Reason, "PLC did not take the run outputs")
	}
	if !sawHolding {
		t.Fatalf("history %+v: want a hold saying the PLC did not take the run outputs", b.History)
	}
	if err := l.PLC.SetOffline(false, false); err != nil {
		t.Fatal(err)
	}
	runToComplete(t, l, "UH1")
}
