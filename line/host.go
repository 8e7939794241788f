package line

// Faults of the line PC itself: the journal's disk filling up and the wall
// clock jumping or running unsynchronised. hostLoop checks both every
// clock.check_interval; Start and Unhold ask diskRefusal and clockRefusal.
//
// Time: audit entries, unit steps and EPCIS events carry the wall clock
// (Options.Now); the order of events is the journal's sequence and the
// durations the controller measures are monotonic (time.Now's monotonic
// reading, Options.Mono here), so a clock jump never reorders anything, it
// only makes the time stamps lie — which is why it is an alarm and an audit
// entry ("clock.jump") the reconciliation and the auditors can see.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/store/fsstat"
	"github.com/serialine/serialine/store/journal"
)

// ClockSync is what the system says about its clock.
type ClockSync struct {
	// Known is false when the system cannot tell (then nothing is refused).
	Known bool
	// Synced: the clock is disciplined by a time source (NTP, PTP).
	Synced bool
	// Detail says how it was found out ("adjtimex: TIME_ERROR, STA_UNSYNC").
	Detail string
}

// ErrDiskLow is returned (with api.ErrRefused) by Start and Unhold while
// the journal's file system has less room than journal.min_free_mb.
var ErrDiskLow = errors.New("journal disk nearly full")

// ErrClockUnsynced is returned (with api.ErrRefused) by Start while the
// system reports its clock unsynchronised; a supervisor may override it.
var ErrClockUnsynced = errors.New("system clock not synchronised")

// hostState is the last host check, read by Start/Unhold and the status.
type hostState struct {
	diskLow atomic.Bool
}

// hostLoop checks the wall clock against the monotonic clock and the
// journal's free space every clock.check_interval.
func (c *Controller) hostLoop(ctx context.Context) {
	if c.o.DiskFree == nil && c.o.Mono == nil {
		return
	}
	t := time.NewTicker(c.cfg.Clock.CheckInterval)
	defer t.Stop()
	var prevWall time.Time
	var prevMono time.Duration
	for {
		if c.o.Mono != nil {
			wall, mono := c.now().Round(0), c.o.Mono() // Round(0): the wall reading alone
			if !prevWall.IsZero() {
				c.checkClockStep(ctx, prevWall, wall, mono-prevMono)
			}
			prevWall, prevMono = wall, mono
		}
		if c.o.DiskFree != nil {
			c.checkDisk()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkClockStep compares the wall clock's advance with the monotonic
// clock's over one check interval.
func (c *Controller) checkClockStep(ctx context.Context, prev, wall time.Time, elapsed time.Duration) {
	step := wall.Sub(prev) - elapsed
	var what string
	switch {
	case step < -c.cfg.Clock.MaxBack:
		what = fmt.Sprintf("wall clock jumped back %s", (-step).Round(time.Millisecond))
	case step > c.cfg.Clock.MaxStep:
		what = fmt.Sprintf("wall clock jumped forward %s", step.Round(time.Millisecond))
	default:
		return
	}
	want := prev.Add(elapsed)
	msg := fmt.Sprintf("%s (expected %s, now %s): audit and EPCIS times around it are off by that much",
		what, want.UTC().Format(time.RFC3339Nano), wall.UTC().Format(time.RFC3339Nano))
	c.log.Error("clock jump", "step", step, "expected", want, "wall", wall)
	c.Raise(api.SeverityWarning, "clock", msg, "system")
	if err := c.j.AppendAudit(ctx, journal.AuditEntry{Who: journal.ActorSystem.User, Role: journal.ActorSystem.Role,
		Action: "clock.jump", Reason: what, Before: "expected " + want.UTC().Format(time.RFC3339Nano),
		After: "wall " + wall.UTC().Format(time.RFC3339Nano), At: wall}); err != nil && ctx.Err() == nil {
		c.log.Error("audit of a clock jump", "err", err)
	}
}

// checkDisk holds the line (with an alarm) when the journal's file system
// has less room than journal.min_free_mb, and clears the alarm once it has
// again (an operator unholds).
func (c *Controller) checkDisk() {
	low, msg := c.diskLow()
	was := c.host.diskLow.Swap(low)
	switch {
	case low && !was:
		c.log.Error("journal disk nearly full: holding the line", "detail", msg)
		c.alarm(api.SeverityFault, "disk", msg)
		c.requestHold(msg)
	case !low && was:
		c.log.Info("journal disk has room again", "detail", msg)
		c.Clear("disk")
	}
}

// diskLow asks for the free space now.
func (c *Controller) diskLow() (bool, string) {
	min := uint64(c.cfg.Journal.MinFreeMB) << 20
	if c.o.DiskFree == nil || min == 0 {
		return false, ""
	}
	u, err := c.o.DiskFree(c.j.Path())
	if err != nil {
		c.log.Warn("journal disk: free space unknown", "err", err)
		return false, ""
	}
	msg := fmt.Sprintf("journal disk %s: %s", c.j.Path(), u)
	if u.Free < min {
		return true, fmt.Sprintf("%s, below journal.min_free_mb %d MiB", msg, c.cfg.Journal.MinFreeMB)
	}
	return false, msg
}

// diskRefusal refuses Start and Unhold on a nearly full disk.
func (c *Controller) diskRefusal() error {
	if low, msg := c.diskLow(); low {
		c.host.diskLow.Store(true)
		return fmt.Errorf("%w: %s; free room first: %w", ErrDiskLow, msg, api.ErrRefused)
	}
	return nil
}

// clockRefusal says why Start needs an override because of the clock ("" =
// it does not).
func (c *Controller) clockRefusal() string {
	if !c.cfg.Clock.RequireSync || c.o.ClockSync == nil {
		return ""
	}
	s := c.o.ClockSync()
	if !s.Known || s.Synced {
		return ""
	}
	return "system clock not synchronised (" + s.Detail + "): audit and EPCIS times may be wrong"
}

// DiskUsage is fsstat.Of, the default Options.DiskFree of `serialine run`.
func DiskUsage(path string) (fsstat.Usage, error) { return fsstat.Of(path) }
