package devices

import (
	"context"
	"time"
)

// Counter tracks a free-running PLC product counter of Width bits and turns
// successive raw readings into increments. It is pure logic (no I/O, no
// clock) so the drivers' counting is testable on its own.
type Counter struct {
	// Width is the counter width in bits: 16, 32 or 64.
	Width uint

	primed bool
	last   uint64
	wraps  uint64
	resets uint64
}

func (c *Counter) mask() uint64 {
	if c.Width == 0 || c.Width >= 64 {
		return ^uint64(0)
	}
	return 1<<c.Width - 1
}

// Observe takes one raw reading and returns how many counts happened since
// the previous one (0 on the first reading, which only primes the
// tracker). A step of more than half the counter range is taken as a PLC
// counter reset (it went backwards): the tracker resynchronises to raw,
// returns reset=true and delta 0. A step through the top of the range is a
// wrap (Wraps counts them) and yields the true delta.
func (c *Counter) Observe(raw uint64) (delta uint64, reset bool) {
	m := c.mask()
	raw &= m
	if !c.primed {
		c.primed, c.last = true, raw
		return 0, false
	}
	delta = (raw - c.last) & m
	if delta > m/2 {
		c.last = raw
		c.resets++
		return 0, true
	}
	if raw < c.last {
		c.wraps++
	}
	c.last = raw
	return delta, false
}

// Primed reports whether a first reading was taken.
func (c *Counter) Primed() bool { return c.primed }

// Last is the last raw reading.
func (c *Counter) Last() uint64 { return c.last }

// Wraps counts wraps through the top of the range seen so far.
func (c *Counter) Wraps() uint64 { return c.wraps }

// Resets counts backwards jumps (PLC counter resets) seen so far.
func (c *Counter) Resets() uint64 { return c.resets }

// Watchdog watches a heartbeat value that the peer must keep changing. It
// is pure logic: the caller supplies the observation times (its injected
// clock), so it is testable with testing/synctest or plain values.
type Watchdog struct {
	// Timeout is how long the value may stay unchanged before it counts as
	// stalled.
	Timeout time.Duration

	primed     bool
	last       uint64
	lastChange time.Time
}

// Observe records value v seen at time at and reports whether the
// heartbeat is stalled (unchanged for longer than Timeout).
func (w *Watchdog) Observe(v uint64, at time.Time) (stalled bool) {
	if !w.primed || v != w.last {
		w.primed, w.last, w.lastChange = true, v, at
		return false
	}
	return at.Sub(w.lastChange) > w.Timeout
}

// Check reports whether, without a new observation, the heartbeat counts as
// stalled at time at.
func (w *Watchdog) Check(at time.Time) bool {
	return w.primed && at.Sub(w.lastChange) > w.Timeout
}

// Reset forgets the history (after a reconnect the first observation primes
// it again).
func (w *Watchdog) Reset() { w.primed = false }

// SeqExtender widens a PLC sequence id of Width bits (16 or 32) that wraps
// into a monotonic 64-bit id, assuming consecutive observations are less
// than half the range apart.
type SeqExtender struct {
	// Width is the wire width of the sequence id in bits (16, 32 or 64).
	Width uint

	primed bool
	last   uint64 // extended
}

// Extend returns the 64-bit id for wire value v.
func (s *SeqExtender) Extend(v uint64) uint64 {
	if s.Width == 0 || s.Width >= 64 {
		return v
	}
	m := uint64(1)<<s.Width - 1
	v &= m
	if !s.primed {
		s.primed, s.last = true, v
		return v
	}
	hi := s.last &^ m
	cand := hi | v
	half := (m + 1) / 2
	switch {
	case cand+half < s.last:
		cand += m + 1
	case cand > s.last+half && cand >= m+1:
		cand -= m + 1
	}
	if cand > s.last {
		s.last = cand
	}
	return cand
}

// PollWindow calls check every `every` until check reports done, the window
// (counted from the call, on clock now) runs out, or ctx ends. It returns
// done=true with check's final error when check finished; done=false with
// ctx.Err() when ctx ended first; done=false with check's last error (nil
// if none) when the window ran out. Confirm in both PLC drivers is built on
// it; it is pure timer logic, so the window is testable with
// testing/synctest.
func PollWindow(ctx context.Context, window, every time.Duration, now func() time.Time, check func() (done bool, err error)) (bool, error) {
	if now == nil {
		now = time.Now
	}
	deadline := now().Add(window)
	var lastErr error
	for {
		done, err := check()
		if done {
			return true, err
		}
		if err != nil {
			lastErr = err
		}
		left := deadline.Sub(now())
		if left <= 0 {
			return false, lastErr
		}
		t := time.NewTimer(min(left, every))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
	}
}
