package line

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/store/journal"
)

func activeAlarms(c *Controller, source string) []api.Alarm {
	as, _ := c.AlarmBook.Alarms(context.Background(), true)
	var out []api.Alarm
	for _, a := range as {
		if a.Source == source && a.Active {
			out = append(out, a)
		}
	}
	return out
}

// A wall-clock jump backwards, or forwards by more than clock.max_step,
// against the monotonic clock raises an alarm and is journaled; drift
// within the limits is not. Injected wall clock, synctest time.
func TestClockJump(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var offset atomic.Int64
		wall := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		start := time.Now()
		j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Options{Now: wall})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		cfg := config.Defaults()
		c := &Controller{cfg: cfg, j: j, log: slog.New(slog.DiscardHandler), now: wall, holds: make(chan string, 16),
			o: Options{Mono: func() time.Duration { return time.Since(start) }}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.hostLoop(ctx); close(done) }()

		step := func(d time.Duration) {
			offset.Add(int64(d))
			time.Sleep(cfg.Clock.CheckInterval)
			synctest.Wait()
		}
		step(0)
		step(50 * time.Millisecond)  // NTP slew-sized: nothing
		step(-80 * time.Millisecond) // within max_back (100ms): nothing
		if a := activeAlarms(c, "clock"); len(a) != 0 {
			t.Fatalf("alarms for drift within limits: %+v", a)
		}
		step(-5 * time.Second)
		step(10 * time.Second)
		step(time.Second) // within max_step (2s)
		cancel()
		<-done
		a := activeAlarms(c, "clock")
		texts := ""
		for _, x := range a {
			texts += x.Detail + "\n"
		}
		if len(a) != 2 || !strings.Contains(texts, "jumped back 5s (expected") || !strings.Contains(texts, "jumped forward 10s (expected") {
			t.Fatalf("clock alarms %+v", a)
		}
		var audits []journal.AuditEntry
		_ = j.Audit(context.Background(), journal.AuditFilter{Action: "clock.jump"}, func(e journal.AuditEntry) error {
			audits = append(audits, e)
			return nil
		})
		if len(audits) != 2 || audits[0].Reason != "wall clock jumped back 5s" || audits[1].Reason != "wall clock jumped forward 10s" {
			t.Fatalf("clock.jump audit entries %+v", audits)
		}
		if rep, err := j.Verify(context.Background()); err != nil {
			t.Fatalf("journal verify: %v %v", err, rep.Problems)
		}
	})
}
