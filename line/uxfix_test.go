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

// TestRejectNotConfirmedNeedsDeviation: a batch with a reject the gate did
// not confirm balances, but lists that unit among the differences, counts
// it as a deviation, and cannot be signed plain "approved".
func TestRejectNotConfirmedNeedsDeviation(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	missConfirmFirstReject(l)
	startBatch(ctx, t, l, "DEV", "LDEV", 20)
	runToComplete(t, l, "DEV")
	rec, err := c.Reconciliation(ctx, "DEV")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Balanced || rec.Deviations != 1 || len(rec.Differences) != 1 || rec.Differences[0].Serial == "" {
		t.Fatalf("reconciliation %+v: want balanced with one deviation listed", rec)
	}
	u, err := c.Unit(ctx, rec.Differences[0].Serial)
	if err != nil || u.Reason != "reject-not-confirmed" || u.Saleable {
		t.Fatalf("deviation unit %+v (%v)", u, err)
	}
	for _, m := range []string{api.MeaningApproved, api.MeaningReviewed} {
		if _, err := c.SignReconciliation(ctx, "DEV", api.Signature{User: "sam", Role: "supervisor", Meaning: m, Reason: "ok"}); !errors.Is(err, api.ErrRefused) {
			t.Fatalf("sign %q with an unconfirmed reject: err = %v, want ErrRefused", m, err)
		}
	}
	rec, err = c.SignReconciliation(ctx, "DEV", api.Signature{User: "sam", Role: "supervisor", Meaning: api.MeaningApprovedWithDeviation, Reason: "pack found and removed downstream"})
	if err != nil || rec.Signed == nil {
		t.Fatalf("sign with deviation: %+v (%v)", rec, err)
	}
}
