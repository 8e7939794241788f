package line

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/serialine/serialine/store/journal"
)

// TestApplyStepsKeepsFacts: the steps due after a verdict reached the PLC
// (Commissioned, gate results) are facts. A commit that fails keeps them
// for the next commit; a step the journal refuses as illegal (the unit was
// resolved otherwise meanwhile) is dropped alone, the others are committed.
func TestApplyStepsKeepsFacts(t *testing.T) {
	ctx := context.Background()
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const gtin = "09501101530003"
	if err := j.ImportPool(ctx, journal.Pool{ID: "P1", GTIN: gtin, Serials: []string{"SA1", "SB2", "SC3", "SD4"}}); err != nil {
		t.Fatal(err)
	}
	if err := j.CreateBatch(ctx, journal.BatchDef{ID: "B", GTIN: gtin, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 4},
		journal.Actor{User: "op", Role: "operator"}); err != nil {
		t.Fatal(err)
	}
	us, err := j.Draw(ctx, "B", 4)
	if err != nil {
		t.Fatal(err)
	}
	s := func(i int) string { return us[i].Serial }
	var ch []journal.Change
	for i := range 4 {
		ch = append(ch, journal.Change{Serial: s(i), To: journal.Queued})
		if i < 3 {
			ch = append(ch, journal.Change{Serial: s(i), To: journal.Printed, Seq: uint64(i + 1)}, journal.Change{Serial: s(i), To: journal.Verified})
		}
	}
	// unit 2 was made uncertain meanwhile (batch end, drain timed out)
	ch = append(ch, journal.Change{Serial: s(2), To: journal.Uncertain, Reason: journal.ReasonFault, Detail: "test"})
	if err := j.Apply(ctx, ch...); err != nil {
		t.Fatal(err)
	}
	c := &Controller{j: j, log: slog.New(slog.DiscardHandler), now: time.Now, comm: pendingSteps{kick: make(chan struct{}, 1)}}
	c.open.Store(3)
	comm := func(i int) journal.Change {
		return journal.Change{Serial: s(i), To: journal.Commissioned, Actor: journal.ActorPLC}
	}
	c.applySteps(ctx, []journal.Change{comm(0), comm(2), comm(1)})
	for i, want := range []journal.State{journal.Commissioned, journal.Commissioned, journal.Uncertain} {
		if u, err := j.Unit(s(i)); err != nil || u.State != want {
			t.Errorf("unit %d: %s %v, want %s", i, u.State, err, want)
		}
	}
	if n := c.commissioned.Load(); n != 2 {
		t.Errorf("commissioned counter %d, want 2", n)
	}
	if as, _ := c.Alarms(ctx, true); len(as) != 1 {
		t.Errorf("alarms %+v, want one for the refused step", as)
	}
	if left, _ := c.comm.take(); len(left) != 0 {
		t.Errorf("steps left pending: %+v", left)
	}

	// A failed group: no verdict sent, its unit rejected (fault) through the
	// pending steps. Then the journal fails: the steps stay pending.
	c.failGroup(&group{items: []commitItem{{u: &unit{serial: s(3)}, seq: 4}, {blank: true, seq: 5}}}, context.Canceled)
	if rep, err := j.Verify(ctx); err != nil || !rep.OK() {
		t.Errorf("journal verify: %v %v", err, rep.Problems)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	steps, _ := c.comm.take()
	c.applySteps(ctx, steps)
	left, _ := c.comm.take()
	if len(left) != 1 || left[0].Serial != s(3) || left[0].To != journal.Rejected || left[0].Reason != journal.ReasonFault {
		t.Errorf("after a failed commit, pending steps %+v, want the group's reject of %s kept", left, s(3))
	}
}
