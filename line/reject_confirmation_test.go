package line_test

import (
	"context"
	"errors"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"

	"strings"

	"github.com/serialine/serialine/store/journal"
)

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
		for _, g := range l.GateLog() {
			t.Logf("gate %+v", g)
		}
		t.Logf("printer %+v", l.Printer.Stats())
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

// TestRejectNotConfirmedRecorded: the PLC's confirmation sensor misses a
// reject; the unit stays Rejected and its journal record gets the
// annotation reject-not-confirmed (by the PLC, after the original reason
// no-read); unit lookup, the reject list and the reconciliation show it;
// the line held; journal verify passes (startLine's cleanup).
func TestRejectNotConfirmedRecorded(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	// The first product's read is a no-read: the only reject of the batch.
	missConfirmFirstReject(l)
	startBatch(ctx, t, l, "RNC", "LRNC", 20)
	runToComplete(t, l, "RNC")

	rejects, err := c.Units(ctx, "RNC", api.UnitQuery{States: []string{"rejected"}})
	if err != nil {
		t.Fatal(err)
	}
	var annotated []api.Unit
	for _, u := range rejects {
		if u.Reason == "reject-not-confirmed" {
			annotated = append(annotated, u)
		}
	}
	if len(annotated) != 1 {
		t.Fatalf("reject list %+v: want exactly one unit with reason reject-not-confirmed", rejects)
	}
	u, err := c.Unit(ctx, annotated[0].Serial)
	if err != nil {
		t.Fatal(err)
	}
	n := len(u.History)
	if u.State != "rejected" || n < 3 || u.History[n-2].State != "rejected" || !strings.HasPrefix(u.History[n-2].Reason, "no-read") ||
		u.History[n-1].State != "rejected" || !strings.HasPrefix(u.History[n-1].Reason, "reject-not-confirmed: after no-read") || u.History[n-1].By != "plc(system)" {
		t.Fatalf("unit history %+v", u.History)
	}
	ju, err := l.Journal.Unit(u.Serial)
	if err != nil || ju.Reason != journal.ReasonRejectNotConfirmed {
		t.Fatalf("journal unit %+v, %v", ju, err)
	}
	rec, err := c.Reconciliation(ctx, "RNC")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Balanced || rec.RejectedBy["reject-not-confirmed"] != 1 || rec.RejectedBy["no-read"] != 0 {
		t.Fatalf("reconciliation %+v", rec)
	}
	rep, err := c.ReconcileReport(ctx, "RNC")
	if err != nil || rep.RejectsByReason["reject-not-confirmed"] != 1 {
		t.Fatalf("report rejects by reason %v (%v)", rep.RejectsByReason, err)
	}
	b, err := c.Batch(ctx, "RNC")
	if err != nil {
		t.Fatal(err)
	}
	held := false
	for _, h := range b.History {
		held = held || (h.To == "Held" || h.To == "Holding") && strings.Contains(h.Reason, "reject not confirmed")
	}
	if !held {
		t.Fatalf("the line did not hold on the unconfirmed reject: %+v", b.History)
	}
}
