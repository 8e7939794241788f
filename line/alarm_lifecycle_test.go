package line_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/store/journal"
)

// TestAlarmLifecycleOnTheLine: on the real controller, ink out raises one
// PRN-INK-OUT alarm in plain language and holds; the operator acknowledges
// it; after the refill the Unhold clears it (the INKOUT alarm no longer
// stays active after a refill). Raise, acknowledgement and clear are in the
// journal's audit trail, and a restarted controller reads the history back.
func TestAlarmLifecycleOnTheLine(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "line.db")
	ctx := context.Background()
	rctx, cancel := context.WithCancel(ctx)
	l, err := linesim.Start(rctx, linesim.Options{DBPath: db, Rate: 60})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := l.Controller
	startBatch(ctx, t, l, "ALM1", "LA1", 100000)
	waitState(t, l, time.Minute, packml.Execute)
	l.Printer.InjectFault(printersim.FaultInkOut)
	waitState(t, l, time.Minute, packml.Held)
	as, _ := c.AlarmView(ctx, api.AlarmQuery{View: api.ViewActive})
	var ink *api.Alarm
	for i := range as {
		if as[i].Code == "PRN-INK-OUT" {
			ink = &as[i]
		}
	}
	if ink == nil || ink.Batch != "ALM1" || !strings.Contains(ink.Text, "new cartridge") || !strings.Contains(ink.Detail, "INKOUT") {
		t.Fatalf("ink alarm: %+v (active: %+v)", ink, as)
	}
	if _, err := c.AckAlarm(ctx, ink.ID, operator); err != nil {
		t.Fatal(err)
	}
	l.Printer.Refill()
	if err := c.Command(ctx, "ALM1", api.Command{Name: api.CmdUnhold}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, time.Minute, packml.Execute)
	hist, _ := c.AlarmView(ctx, api.AlarmQuery{View: api.ViewHistory, Batch: "ALM1"})
	var after api.Alarm
	for _, a := range hist {
		if a.ID == ink.ID {
			after = a
		}
	}
	if after.Active || after.ClearedBy == "" || after.Cleared.IsZero() || after.AckedBy != operator.User {
		t.Fatalf("ink alarm after refill and unhold: %+v", after)
	}
	if err := c.Command(ctx, "ALM1", api.Command{Name: api.CmdStop, Reason: "test end"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, time.Minute, packml.Stopped)
	cancel()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	j, err := journal.Open(db, &journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	j.Audit(ctx, journal.AuditFilter{Action: "alarm.*"}, func(e journal.AuditEntry) error {
		if e.Reason == "PRN-INK-OUT" {
			acts = append(acts, e.Action+" "+e.Who)
		}
		return nil
	})
	rep, verr := j.Verify(ctx)
	j.Close()
	if got := strings.Join(acts, ", "); got != "alarm.raise system, alarm.ack olga, alarm.clear system" {
		t.Fatalf("journaled ink alarm: %s", got)
	}
	if verr != nil || !rep.OK() {
		t.Fatalf("journal verify: %v %v", verr, rep.Problems)
	}

	// a restarted controller has the history
	l2 := startLine(t, linesim.Options{DBPath: db, Rate: 60})
	hist, _ = l2.Controller.AlarmView(ctx, api.AlarmQuery{View: api.ViewHistory, Batch: "ALM1"})
	found := false
	for _, a := range hist {
		found = found || a.ID == ink.ID && a.Code == "PRN-INK-OUT" && a.AckedBy == operator.User && !a.Active
	}
	if !found {
		t.Fatalf("alarm history after restart: %+v", hist)
	}
}
