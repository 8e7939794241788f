package devices_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/serialine/serialine/devices"
)

func TestBackoffDelay(t *testing.T) {
	b := devices.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{
		{0, 100 * time.Millisecond}, {1, 100 * time.Millisecond}, {2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {50, time.Second},
	} {
		if got := b.Delay(tc.attempt); got != tc.want {
			t.Errorf("Delay(%d) = %s, want %s", tc.attempt, got, tc.want)
		}
	}
}

func TestBackoffValidate(t *testing.T) {
	p := devices.Backoff{Initial: 0, Max: -1, Multiplier: 0.5, Jitter: 1, MaxAttempts: -1}.Validate()
	want := []string{"initial", "max", "multiplier", "jitter", "max_attempts"}
	if len(p) != len(want) {
		t.Fatalf("problems %v, want one per field %v", p, want)
	}
	for i, w := range want {
		if p[i].Path != w {
			t.Errorf("problem %d path %q, want %q", i, p[i].Path, w)
		}
	}
	if p := devices.DefaultBackoff().Validate(); len(p) != 0 {
		t.Fatalf("default backoff invalid: %v", p)
	}
}

// TestRetryWaitsPerPolicy runs in a synctest bubble: the fake clock shows
// exactly the waits the policy prescribes.
func TestRetryWaitsPerPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := devices.Backoff{Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond, Multiplier: 2}
		start := time.Now()
		var at []time.Duration
		var waits []time.Duration
		err := devices.Retry(context.Background(), b, func(context.Context) error {
			at = append(at, time.Since(start))
			if len(at) < 5 {
				return errors.New("refused")
			}
			return nil
		}, func(n int, err error, wait time.Duration) { waits = append(waits, wait) })
		if err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("attempt times %v, want %v", at, want)
			}
		}
		if len(waits) != 4 || waits[3] != 300*time.Millisecond {
			t.Fatalf("notified waits %v", waits)
		}
	})
}

func TestRetryPermanentAndMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := errors.New("bad credentials")
		n := 0
		err := devices.Retry(context.Background(), devices.DefaultBackoff(), func(context.Context) error {
			n++
			return devices.Permanent(bad)
		}, nil)
		if err != bad || n != 1 {
			t.Fatalf("permanent: err %v after %d attempts, want %v after 1", err, n, bad)
		}
		b := devices.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1, MaxAttempts: 3}
		n = 0
		err = devices.Retry(context.Background(), b, func(context.Context) error { n++; return devices.ErrDisconnected }, nil)
		if !errors.Is(err, devices.ErrDisconnected) || n != 3 {
			t.Fatalf("max attempts: err %v after %d attempts", err, n)
		}
	})
}

func TestRetryStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		b := devices.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 1}
		n := 0
		err := devices.Retry(ctx, b, func(context.Context) error { n++; return devices.ErrDisconnected }, nil)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, devices.ErrDisconnected) {
			t.Fatalf("err = %v, want deadline joined with the last error", err)
		}
		if n != 3 { // t=0, 100ms, 200ms
			t.Fatalf("%d attempts, want 3", n)
		}
	})
}

func TestGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := devices.Gate{Backoff: devices.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}}
		if ok, _ := g.Allow(); !ok {
			t.Fatal("fresh gate must allow")
		}
		g.Failed()
		if ok, wait := g.Allow(); ok || wait != 100*time.Millisecond {
			t.Fatalf("after 1 failure: ok %v wait %s", ok, wait)
		}
		time.Sleep(100 * time.Millisecond)
		if ok, _ := g.Allow(); !ok {
			t.Fatal("gate must allow after the delay")
		}
		g.Failed()
		if _, wait := g.Allow(); wait != 200*time.Millisecond {
			t.Fatalf("after 2 failures wait %s, want 200ms", wait)
		}
		g.Succeeded()
		if ok, _ := g.Allow(); !ok || g.Failures() != 0 {
			t.Fatal("success must reset the gate")
		}
	})
}

// A connection that opens and ends without a valid reply is a failed
// attempt; one that produced a valid reply may be reopened at once; only a
// valid reply resets the backoff.
func TestGateResetsOnlyOnValidReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := devices.Gate{Backoff: devices.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}}
		for i, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
			g.Connected() // the port accepts ...
			g.Dropped()   // ... and the connection ends without a valid reply
			ok, wait := g.Allow()
			if ok || wait != want*time.Millisecond || g.Failures() != i+1 {
				t.Fatalf("garbage connection %d: allow %v wait %s failures %d, want wait %s", i+1, ok, wait, g.Failures(), want*time.Millisecond)
			}
			time.Sleep(wait)
		}
		g.Connected()
		g.Failed() // garbage on the connection
		g.Dropped()
		if g.Failures() != 7 {
			t.Fatalf("Failed then Dropped counted %d failures, want 7 (once)", g.Failures())
		}
		time.Sleep(time.Second)
		g.Connected()
		g.Succeeded()
		g.Dropped()
		if ok, _ := g.Allow(); !ok || g.Failures() != 0 {
			t.Fatalf("after a valid reply: allow %v failures %d", ok, g.Failures())
		}
		// A proven connection that later gets garbage: back off again.
		g.Connected()
		g.Succeeded()
		g.Failed()
		if ok, wait := g.Allow(); ok || wait != 100*time.Millisecond {
			t.Fatalf("garbage after a valid reply: allow %v wait %s", ok, wait)
		}
	})
}

// Retry waits exactly the wait a RetryAfter error carries.
func TestRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := devices.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}
		start := time.Now()
		var at []time.Duration
		var notified []time.Duration
		err := devices.Retry(context.Background(), b, func(context.Context) error {
			at = append(at, time.Since(start))
			if len(at) < 3 {
				return devices.RetryAfter(fmt.Errorf("backing off: %w", devices.ErrDisconnected), 700*time.Millisecond)
			}
			return nil
		}, func(_ int, err error, wait time.Duration) {
			notified = append(notified, wait)
			if !errors.Is(err, devices.ErrDisconnected) {
				t.Errorf("RetryAfter hides the cause: %v", err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []time.Duration{0, 700 * time.Millisecond, 1400 * time.Millisecond}; !slices.Equal(at, want) {
			t.Fatalf("attempts at %v, want %v", at, want)
		}
		if want := []time.Duration{700 * time.Millisecond, 700 * time.Millisecond}; !slices.Equal(notified, want) {
			t.Fatalf("notified waits %v, want %v", notified, want)
		}
		if d, ok := devices.RetryWait(fmt.Errorf("x: %w", devices.RetryAfter(devices.ErrDisconnected, time.Second))); !ok || d != time.Second {
			t.Fatalf("RetryWait through wrapping: %s %v", d, ok)
		}
		if devices.RetryAfter(nil, time.Second) != nil {
			t.Fatal("RetryAfter(nil) must be nil")
		}
	})
}

func TestWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := devices.Watchdog{Timeout: time.Second}
		if w.Check(time.Now()) {
			t.Fatal("unprimed watchdog must not be stalled")
		}
		w.Observe(7, time.Now())
		time.Sleep(time.Second)
		if w.Observe(7, time.Now()) {
			t.Fatal("exactly Timeout unchanged is not yet stalled")
		}
		time.Sleep(time.Millisecond)
		if !w.Observe(7, time.Now()) || !w.Check(time.Now()) {
			t.Fatal("unchanged for more than Timeout must be stalled")
		}
		if w.Observe(8, time.Now()) {
			t.Fatal("a change ends the stall")
		}
		time.Sleep(999 * time.Millisecond)
		if w.Check(time.Now()) {
			t.Fatal("stalled too early after a change")
		}
		w.Reset()
		if w.Check(time.Now().Add(time.Hour)) {
			t.Fatal("reset watchdog must not be stalled")
		}
	})
}

func TestCounter(t *testing.T) {
	type step struct {
		raw   uint64
		delta uint64
		reset bool
	}
	for _, tc := range []struct {
		name  string
		width uint
		steps []step
		wraps uint64
	}{
		{"16-bit counting", 16, []step{{10, 0, false}, {11, 1, false}, {15, 4, false}, {15, 0, false}}, 0},
		{"16-bit wrap", 16, []step{{65534, 0, false}, {65535, 1, false}, {2, 3, false}}, 1},
		{"16-bit reset", 16, []step{{5000, 0, false}, {3, 0, true}, {5, 2, false}}, 0},
		{"16-bit masks high bits", 16, []step{{0x1_0005, 0, false}, {0x2_0006, 1, false}}, 0},
		{"32-bit wrap", 32, []step{{0xffff_fffe, 0, false}, {1, 3, false}}, 1},
		{"32-bit big step", 32, []step{{0, 0, false}, {1 << 20, 1 << 20, false}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := devices.Counter{Width: tc.width}
			for i, s := range tc.steps {
				d, r := c.Observe(s.raw)
				if d != s.delta || r != s.reset {
					t.Fatalf("step %d Observe(%d) = %d,%v want %d,%v", i, s.raw, d, r, s.delta, s.reset)
				}
			}
			if c.Wraps() != tc.wraps {
				t.Fatalf("wraps %d, want %d", c.Wraps(), tc.wraps)
			}
		})
	}
}

func TestSeqExtender(t *testing.T) {
	e := devices.SeqExtender{Width: 16}
	in := []uint64{65530, 65535, 0, 1, 30000, 60000, 3}
	want := []uint64{65530, 65535, 65536, 65537, 95536, 125536, 131075}
	for i, v := range in {
		if got := e.Extend(v); got != want[i] {
			t.Fatalf("Extend(%d) #%d = %d, want %d", v, i, got, want[i])
		}
	}
	// a slightly older value (late duplicate) maps below, not a wrap ahead
	if got := e.Extend(65535); got != 131071 {
		t.Fatalf("late value extended to %d, want 131071", got)
	}
}

func FuzzCounter(f *testing.F) {
	f.Add(uint64(0), uint64(1), uint8(16))
	f.Add(uint64(65535), uint64(0), uint8(16))
	f.Add(uint64(0xffffffff), uint64(5), uint8(32))
	f.Fuzz(func(t *testing.T, a, b uint64, w uint8) {
		width := uint(16)
		if w%2 == 1 {
			width = 32
		}
		c := devices.Counter{Width: width}
		c.Observe(a)
		d, reset := c.Observe(b)
		m := uint64(1)<<width - 1
		if reset {
			if d != 0 {
				t.Fatal("reset must report delta 0")
			}
			return
		}
		if (a+d)&m != b&m {
			t.Fatalf("delta %d does not take %d to %d (width %d)", d, a&m, b&m, width)
		}
		if d > m/2 {
			t.Fatalf("delta %d beyond half range", d)
		}
	})
}

func TestStackLight(t *testing.T) {
	for l, s := range map[devices.StackLight]string{devices.LightOff: "off", devices.LightGreen: "green", devices.LightAmber: "amber", devices.LightRed: "red", 9: "StackLight(9)"} {
		if l.String() != s {
			t.Errorf("%d.String() = %q, want %q", l, l.String(), s)
		}
		if l.Valid() != (l <= devices.LightRed) {
			t.Errorf("%d.Valid() wrong", l)
		}
	}
}

// TestPollWindow: the confirm window's timing, in a synctest bubble.
func TestPollWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		// never done: the window runs out after exactly `window`, keeping
		// the last error
		start := time.Now()
		calls := 0
		boom := errors.New("read failed")
		done, err := devices.PollWindow(ctx, time.Second, 300*time.Millisecond, nil, func() (bool, error) {
			calls++
			if calls == 2 {
				return false, boom
			}
			return false, nil
		})
		if done || err != boom || time.Since(start) != time.Second || calls != 5 { // 0, .3, .6, .9, 1.0
			t.Fatalf("expired: done %v err %v after %s, %d calls", done, err, time.Since(start), calls)
		}
		// done on the third look
		start, calls = time.Now(), 0
		done, err = devices.PollWindow(ctx, time.Second, 100*time.Millisecond, nil, func() (bool, error) {
			calls++
			return calls == 3, nil
		})
		if !done || err != nil || time.Since(start) != 200*time.Millisecond {
			t.Fatalf("done: %v %v after %s", done, err, time.Since(start))
		}
		// ctx ends first
		cctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		defer cancel()
		done, err = devices.PollWindow(cctx, time.Hour, 100*time.Millisecond, nil, func() (bool, error) { return false, nil })
		if done || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ctx: %v %v", done, err)
		}
	})
}
