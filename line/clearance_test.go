package line_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/store/journal"
)

// TestStartNeedsLineClearance: the controller itself refuses Start without
// a confirmed line clearance (whoever calls it, no override), nothing is
// drawn; a clearance with an item left out, of another batch or after the
// start is refused; the confirmed one is in the audit trail (signed by
// the person) and Start proceeds.
func TestStartNeedsLineClearance(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	if len(c.ClearanceChecklist()) != 5 {
		t.Fatalf("checklist %+v, want the 5 default items", c.ClearanceChecklist())
	}
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "LC1", GTIN: testGTIN, Lot: "L1", Expiry: "281231", Profile: "eu-fmd", Target: 20}, operator); err != nil {
		t.Fatal(err)
	}
	sig := &api.Signature{User: supervisor.User, Role: supervisor.Role, Meaning: api.MeaningApproved, Reason: "x", At: time.Now()}
	for _, cmd := range []api.Command{{Name: api.CmdStart}, {Name: api.CmdStart, Override: true, Signature: sig}} {
		by := operator
		if cmd.Override {
			by = supervisor
		}
		err := c.Command(ctx, "LC1", cmd, by)
		if !errors.Is(err, api.ErrRefused) || !errors.Is(err, line.ErrClearance) || !strings.Contains(err.Error(), "line clearance not confirmed") {
			t.Fatalf("start (override %t) without line clearance: %v", cmd.Override, err)
		}
	}
	if b, _ := c.Batch(ctx, "LC1"); b.State != "Idle" || b.Counters.Drawn != 0 {
		t.Fatalf("after the refusals: %s, %d drawn", b.State, b.Counters.Drawn)
	}
	signer := records.Signer{User: operator.User, FullName: "Olga Operator", Role: operator.Role, Meaning: api.MeaningPerformed, At: time.Now()}
	var items []records.CheckItem
	for _, it := range c.ClearanceChecklist() {
		items = append(items, records.CheckItem{ID: it.ID, Text: it.Text})
	}
	bad := []struct {
		name string
		cl   records.Clearance
		want error
	}{
		{"an item left out", records.Clearance{Batch: "LC1", Items: items[1:], Signer: signer}, api.ErrBadRequest},
		{"unsigned", records.Clearance{Batch: "LC1", Items: items}, api.ErrBadRequest},
		{"unknown batch", records.Clearance{Batch: "NOPE", Items: items, Signer: signer}, api.ErrNotFound},
	}
	for _, b := range bad {
		if err := c.ConfirmClearance(ctx, b.cl); !errors.Is(err, b.want) {
			t.Errorf("%s: %v, want %v", b.name, err, b.want)
		}
	}
	if err := c.ConfirmClearance(ctx, records.Clearance{Batch: "LC1", Items: items, Note: "done", Signer: signer}); err != nil {
		t.Fatal(err)
	}
	if cl, ok := c.Records().Clearance("LC1"); !ok || cl.Signer.FullName != "Olga Operator" || len(cl.Items) != 5 {
		t.Fatalf("recorded clearance %+v %t", cl, ok)
	}
	if err := c.Command(ctx, "LC1", api.Command{Name: api.CmdStart}, operator); err != nil {
		t.Fatalf("start after the line clearance: %v", err)
	}
	waitState(t, l, 10*time.Second, packml.Execute, packml.Complete)
	if err := c.ConfirmClearance(ctx, records.Clearance{Batch: "LC1", Items: items, Signer: signer}); !errors.Is(err, api.ErrInvalidState) {
		t.Fatalf("clearance after the start: %v", err)
	}
	var audit []string
	_ = l.Journal.Audit(ctx, journal.AuditFilter{Action: records.ActionClearance}, func(e journal.AuditEntry) error {
		audit = append(audit, e.Who+" "+e.Before)
		return nil
	})
	if len(audit) != 1 || audit[0] != "olga LC1" {
		t.Fatalf("clearance audit entries %v", audit)
	}
	waitState(t, l, 30*time.Second, packml.Complete)
}
