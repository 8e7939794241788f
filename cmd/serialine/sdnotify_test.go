package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The notifier speaks systemd's protocol: one datagram per notification on
// the unix socket named by $NOTIFY_SOCKET.
func TestSDNotifySocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	n := newSDNotifier()
	if n == nil {
		t.Fatal("no notifier with NOTIFY_SOCKET set")
	}
	if err := n.Notify("READY=1\nSTATUS=ok"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	k, err := l.Read(buf)
	if err != nil || string(buf[:k]) != "READY=1\nSTATUS=ok" {
		t.Fatalf("datagram %q %v", buf[:k], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if newSDNotifier() != nil {
		t.Fatal("notifier without NOTIFY_SOCKET")
	}
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", "1")
	if watchdogPeriod() != 0 {
		t.Fatal("watchdog of another process taken")
	}
	t.Setenv("WATCHDOG_PID", "")
	if watchdogPeriod() != 30*time.Second {
		t.Fatal("WATCHDOG_USEC not read")
	}
}

type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Notify(s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, s)
	return nil
}

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, prefix) {
			n++
		}
	}
	return n
}

// READY=1 once the controller is alive; WATCHDOG=1 only while it stays
// alive; STOPPING=1 at the end. Without systemd, the self-watchdog fires
// after a whole period of failed checks.
func TestSuperviseService(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	synctest.Test(t, func(t *testing.T) {
		var alive atomic.Bool
		check := func(ctx context.Context) error {
			if alive.Load() {
				return nil
			}
			<-ctx.Done() // a hung loop answers nothing
			return errors.New("cycle loop not answering")
		}
		r := &recorder{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			superviseService(ctx, supervision{notify: r, period: 10 * time.Second}, check, func() string { return "idle" }, log)
			close(done)
		}()
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if r.count("READY=1") != 0 || r.count("WATCHDOG=1") != 0 {
			t.Fatalf("notified before alive: %q", r.msgs)
		}
		alive.Store(true)
		time.Sleep(21 * time.Second) // 5 s checks
		synctest.Wait()
		ready, pings := r.count("READY=1"), r.count("WATCHDOG=1")
		if ready != 1 || pings < 4 {
			t.Fatalf("alive: READY %d, WATCHDOG %d: %q", ready, pings, r.msgs)
		}
		alive.Store(false)
		time.Sleep(60 * time.Second)
		synctest.Wait()
		if got := r.count("WATCHDOG=1"); got > pings+1 {
			t.Fatalf("watchdog pinged while hung: %d -> %d", pings, got)
		}
		cancel()
		<-done
		if r.count("STOPPING=1") != 1 {
			t.Fatalf("no STOPPING=1: %q", r.msgs)
		}

		// Self-watchdog (Windows): hung for a whole period ends it.
		var hung atomic.Bool
		alive.Store(true)
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		done2 := make(chan struct{})
		go func() {
			superviseService(ctx2, supervision{period: 10 * time.Second, hung: func(error) { hung.Store(true) }}, check, func() string { return "" }, log)
			close(done2)
		}()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if hung.Load() {
			t.Fatal("self-watchdog fired while alive")
		}
		alive.Store(false)
		<-done2
		if !hung.Load() {
			t.Fatal("self-watchdog did not fire")
		}
	})
}
