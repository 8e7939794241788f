package line_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/fsstat"
	"github.com/serialine/serialine/store/fsstat/fsstattest"
	"github.com/serialine/serialine/store/journal"
)

func activeAlarms(c *line.Controller, source string) []api.Alarm {
	as, _ := c.Alarms(context.Background(), true)
	var out []api.Alarm
	for _, a := range as {
		if a.Source == source && a.Active {
			out = append(out, a)
		}
	}
	return out
}

// Start with an unsynchronised system clock is refused; a supervisor's
// e-signed override starts it, and the override names the clock.
func TestClockUnsyncedStartNeedsOverride(t *testing.T) {
	cfg := demoConfig(t)
	cfg.Clock.RequireSync = true
	l := startLine(t, linesim.Options{Rate: 60, Config: &cfg, Controller: func(o *line.Options) {
		o.ClockSync = func() line.ClockSync { return line.ClockSync{Known: true, Detail: "adjtimex: STA_UNSYNC"} }
	}})
	c := l.Controller
	ctx := context.Background()
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "CK1", GTIN: testGTIN, Lot: "LCK", Expiry: "281231", Profile: "eu-fmd", Target: 20}, operator); err != nil {
		t.Fatal(err)
	}
	confirmClearance(ctx, t, c, "CK1")
	err := c.Command(ctx, "CK1", api.Command{Name: api.CmdStart}, operator)
	if !errors.Is(err, line.ErrClockUnsynced) || !errors.Is(err, api.ErrRefused) {
		t.Fatalf("start with an unsynchronised clock: %v", err)
	}
	sig := &api.Signature{User: supervisor.User, Role: supervisor.Role, Meaning: "approved", Reason: "NTP server down, clock checked by hand", At: time.Now()}
	if err := c.Command(ctx, "CK1", api.Command{Name: api.CmdStart, Override: true, Signature: sig}, supervisor); err != nil {
		t.Fatalf("override: %v", err)
	}
	var audits []journal.AuditEntry
	_ = l.Journal.Audit(ctx, journal.AuditFilter{Action: "batch.start.override"}, func(e journal.AuditEntry) error {
		audits = append(audits, e)
		return nil
	})
	if len(audits) != 1 || !strings.Contains(audits[0].Before, "system clock not synchronised (adjtimex: STA_UNSYNC)") {
		t.Fatalf("override audit %+v", audits)
	}
	runToComplete(t, l, "CK1")
}

// The journal's disk on a small tmpfs. Below journal.min_free_mb the line
// holds with an alarm and Unhold is refused; once room is freed the alarm
// clears and the batch goes on. With the early hold off, a full disk makes
// the verdict commits fail: no verdict leaves without its commit (the PLC's
// accept verdicts are exactly the journal's commissioned units), nothing
// committed is lost, and the line resumes once room is freed.
func TestDiskFull(t *testing.T) {
	dir := fsstattest.Mount(t, 48<<20)
	cfg := demoConfig(t)
	cfg.Journal.MinFreeMB = 8
	cfg.Clock.CheckInterval = 20 * time.Millisecond
	var early atomic.Bool
	early.Store(true)
	l := startLine(t, linesim.Options{Rate: 100, DBPath: filepath.Join(dir, "line.db"), Config: &cfg, Controller: func(o *line.Options) {
		o.DiskFree = func(path string) (fsstat.Usage, error) {
			u, err := fsstat.Of(path)
			if !early.Load() {
				u.Free = 1 << 40
			}
			return u, err
		}
	}})
	c := l.Controller
	ctx := context.Background()
	startBatch(ctx, t, l, "DF1", "LDF", 2000)
	waitState(t, l, 20*time.Second, packml.Execute)
	waitFor(t, "units commissioned", func() bool { ctr, _ := l.Journal.Counters("DF1"); return ctr.Commissioned >= 20 })

	// 1. Below the threshold: hold, alarm, Unhold refused; room freed: go on.
	filler := fsstattest.Fill(t, dir, 4<<20)
	waitState(t, l, 20*time.Second, packml.Held)
	if a := activeAlarms(c, "disk"); len(a) != 1 || !strings.Contains(a[0].Detail, "below journal.min_free_mb 8 MiB") {
		t.Fatalf("disk alarms %+v", a)
	}
	if err := c.Command(ctx, "DF1", api.Command{Name: api.CmdUnhold}, operator); !errors.Is(err, line.ErrDiskLow) || !errors.Is(err, api.ErrRefused) {
		t.Fatalf("unhold on a nearly full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "disk alarm cleared", func() bool { return len(activeAlarms(c, "disk")) == 0 })
	if err := c.Command(ctx, "DF1", api.Command{Name: api.CmdUnhold}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 20*time.Second, packml.Execute)

	// 2. Early hold off, disk full: commits fail, no verdict without them.
	// An online backup holds a read transaction open meanwhile, so bbolt
	// cannot reuse freed pages and every commit needs new room.
	early.Store(false)
	before, _ := l.Journal.Counters("DF1")
	release := fillPinned(t, l, dir)
	waitFor(t, "a journal commit failing", func() bool { return diskFullFailures(c) > 0 })
	release()
	// The line resumes: units are commissioned again (an operator unholds
	// whatever held it meanwhile), then the batch is stopped.
	mid, _ := l.Journal.Counters("DF1")
	waitFor(t, "units commissioned after room was freed", func() bool {
		if _, st := c.State(); st == packml.Held {
			_ = c.Command(ctx, "DF1", api.Command{Name: api.CmdUnhold}, operator)
		}
		ctr, _ := l.Journal.Counters("DF1")
		return ctr.Commissioned >= mid.Commissioned+20
	})
	if err := c.Command(ctx, "DF1", api.Command{Name: api.CmdStop, Reason: "test end"}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 60*time.Second, packml.Stopped)
	rec, err := c.Reconciliation(ctx, "DF1")
	if err != nil || !rec.Balanced {
		t.Fatalf("reconciliation %+v %v", rec, err)
	}
	waitFor(t, "the batch's commissioning events at the site server", func() bool {
		n := 0
		upstreamEvents(t, l, func(_ []byte, e epcis.ObjectEvent) {
			if e.BizStep == "commissioning" {
				n += len(e.EPCList)
			}
		})
		return n == rec.Commissioned
	})
	after, _ := l.Journal.Counters("DF1")
	if after.Commissioned < before.Commissioned {
		t.Fatalf("commissioned units lost: %d before the disk filled, %d after", before.Commissioned, after.Commissioned)
	}
	accepted := map[uint64]bool{}
	for _, r := range l.PLC.Results() {
		if r.Verdict == devices.VerdictAccept {
			accepted[r.Seq] = true
		}
	}
	err = l.Journal.Units("DF1", func(u journal.Unit) error {
		if u.State != journal.Commissioned && u.Seq != 0 && accepted[u.Seq] {
			t.Errorf("unit %s is %s (%s) but its product %d passed with an accept verdict", u.Serial, u.State, u.Reason, u.Seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// diskFullFailures counts the journal commits that failed on a full disk
// (the repeats of the active journal alarm).
func diskFullFailures(c *line.Controller) int {
	n := 0
	for _, a := range activeAlarms(c, "journal") {
		if strings.Contains(a.Detail, "disk full") {
			n += a.Count
		}
	}
	return n
}

// fillPinned fills the journal's file system while an online backup holds
// a read transaction open (bbolt then cannot reuse freed pages, so every
// commit needs new room); release frees the room and ends the backup.
func fillPinned(t *testing.T, l *linesim.Line, dir string) (release func()) {
	t.Helper()
	pr, pw := io.Pipe()
	backupDone := make(chan error, 1)
	go func() {
		_, err := l.Journal.Backup(context.Background(), pw)
		pw.CloseWithError(err)
		backupDone <- err
	}()
	if _, err := io.ReadFull(pr, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	filler := fsstattest.Fill(t, dir, 0)
	return func() {
		t.Helper()
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, pr); err != nil {
			t.Fatal(err)
		}
		if err := <-backupDone; err != nil {
			t.Fatal(err)
		}
	}
}

func demoConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Alive answers on a running line: idle, and in the middle of a batch.
func TestAlive(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound, not a speed check
	defer cancel()
	waitFor(t, "the controller running", func() bool { return c.Alive(ctx) == nil })
	startBatch(ctx, t, l, "AL1", "LAL", 40)
	waitState(t, l, 20*time.Second, packml.Execute)
	if err := c.Alive(ctx); err != nil {
		t.Fatalf("alive during a batch: %v", err)
	}
	runToComplete(t, l, "AL1")
	if err := c.Alive(ctx); err != nil {
		t.Fatalf("alive after the batch: %v", err)
	}
}
