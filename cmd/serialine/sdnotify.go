package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// systemd's service notification protocol (sd_notify(3)): datagrams of
// "KEY=VALUE" lines to the unix socket in $NOTIFY_SOCKET. The unit
// (packaging/serialine.service) is Type=notify with WatchdogSec: the
// controller says READY=1 once its loops run, then WATCHDOG=1 every half
// watchdog period — only after line.Controller.Alive proved the cycle
// loop, the verdict pipeline and the journal's committer are taking work.
// A hung controller stops pinging, systemd kills it (SIGABRT, then
// SIGKILL) and starts it again, and journal recovery runs on that start.

// notifier sends service notifications ("READY=1", "WATCHDOG=1\nSTATUS=…").
type notifier interface{ Notify(state string) error }

// sdNotifier sends notifications to systemd.
type sdNotifier struct{ addr *net.UnixAddr }

// newSDNotifier returns systemd's notifier; nil when not started by systemd
// (no $NOTIFY_SOCKET).
func newSDNotifier() notifier {
	s := os.Getenv("NOTIFY_SOCKET")
	if s == "" {
		return nil
	}
	return &sdNotifier{addr: &net.UnixAddr{Name: s, Net: "unixgram"}} // "@…" is Linux's abstract namespace
}

// Notify sends one notification.
func (n *sdNotifier) Notify(state string) error {
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// watchdogPeriod is systemd's WatchdogSec for this process (0: none).
func watchdogPeriod() time.Duration {
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

// supervision is how superviseService watches the controller.
type supervision struct {
	notify notifier      // systemd (nil: none)
	period time.Duration // systemd's watchdog period, or the self-watchdog's (run --self-watchdog)
	// hung is called when alive has failed for a whole period and no
	// systemd watchdog would act (Windows): it ends the process so the
	// service manager's recovery action restarts it.
	hung func(error)
}

// superviseService tells systemd READY=1 once alive passes, then pings the
// watchdog every half period while alive keeps passing (each check gets
// half a period), until ctx ends; then STOPPING=1. Without systemd, a
// self-watchdog (s.hung) fires when alive has failed for a whole period.
// It returns when ctx ends.
func superviseService(ctx context.Context, s supervision, alive func(context.Context) error, status func() string, log *slog.Logger) {
	n, wd := s.notify, s.period
	if n == nil && (s.hung == nil || wd <= 0) {
		return
	}
	var failingSince time.Time
	check := wd / 2
	if check <= 0 {
		check = 5 * time.Second
	}
	send := func(msg string) {
		if n == nil {
			return
		}
		if err := n.Notify(msg); err != nil {
			log.Warn("sd_notify", "err", err)
		}
	}
	ready := false
	t := time.NewTicker(min(check, time.Second))
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, check)
		err := alive(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			send("STOPPING=1\nSTATUS=stopping")
			return
		case err != nil && ready:
			log.Error("controller not alive: watchdog not pinged (the service is restarted if this lasts)", "err", err)
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if n == nil && s.hung != nil && time.Since(failingSince) >= wd {
				s.hung(err)
				return
			}
		case err == nil:
			failingSince = time.Time{}
			msg := "STATUS=" + status()
			if !ready {
				ready = true
				msg = "READY=1\n" + msg
				t.Reset(check)
			}
			if wd > 0 && n != nil {
				msg = "WATCHDOG=1\n" + msg
			}
			send(msg)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}
