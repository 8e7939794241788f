package devices

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/serialine/serialine/configs"
)

// Backoff is an exponential reconnect/retry policy. It is plain config
// (yaml) and validated like every other config struct. The zero value is
// not usable; start from DefaultBackoff.
type Backoff struct {
	// Initial is the wait before the first retry.
	Initial time.Duration `yaml:"initial"`
	// Max caps the wait between retries.
	Max time.Duration `yaml:"max"`
	// Multiplier grows the wait after each failed attempt (>= 1).
	Multiplier float64 `yaml:"multiplier"`
	// Jitter randomises each wait by +-Jitter*wait (0 <= Jitter < 1), so
	// many clients do not reconnect in lockstep. 0 = deterministic.
	Jitter float64 `yaml:"jitter"`
	// MaxAttempts bounds the attempts (first try included); 0 = until the
	// context ends.
	MaxAttempts int `yaml:"max_attempts"`
}

// DefaultBackoff is 100ms doubling up to 5s with 20% jitter, unlimited.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// Validate reports every mistake (paths relative to the backoff block).
func (b Backoff) Validate() configs.Problems {
	var p configs.Problems
	if b.Initial <= 0 {
		p.Add("initial", "must be > 0")
	}
	if b.Max < b.Initial {
		p.Add("max", "must be >= initial (%s)", b.Initial)
	}
	if b.Multiplier < 1 {
		p.Add("multiplier", "must be >= 1")
	}
	if b.Jitter < 0 || b.Jitter >= 1 {
		p.Add("jitter", "must be in [0, 1)")
	}
	if b.MaxAttempts < 0 {
		p.Add("max_attempts", "must be >= 0 (0 = unlimited)")
	}
	return p
}

// Delay is the wait after failed attempt number attempt (1-based), before
// jitter: Initial*Multiplier^(attempt-1), capped at Max.
func (b Backoff) Delay(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(b.Initial)
	for i := 1; i < attempt; i++ {
		d *= b.Multiplier
		if d >= float64(b.Max) {
			return b.Max
		}
	}
	if d > float64(b.Max) {
		return b.Max
	}
	return time.Duration(d)
}

// jittered applies Jitter to d.
func (b Backoff) jittered(d time.Duration) time.Duration {
	if b.Jitter <= 0 {
		return d
	}
	f := 1 + b.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: Retry returns it (unwrapped)
// at once. Use it for configuration mistakes, authentication refusals and
// the like.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// RetryNotify is called after each failed attempt with the attempt number
// (1-based), its error and the wait before the next attempt.
type RetryNotify func(attempt int, err error, wait time.Duration)

// Retry runs op until it succeeds, returns a Permanent error, the policy's
// MaxAttempts is used up, or ctx ends; between attempts it waits per b.
// It returns nil on success, the permanent error (unwrapped), the last
// error after MaxAttempts, or ctx.Err() joined with the last error when the
// context ends. notify may be nil. This is the one reconnect wrapper every
// driver uses (Connect, or any idempotent operation).
func Retry(ctx context.Context, b Backoff, op func(context.Context) error, notify RetryNotify) error {
	var last error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return errors.Join(err, last)
		}
		err := op(ctx)
		if err == nil {
			return nil
		}
		var p *permanentError
		if errors.As(err, &p) {
			return p.err
		}
		last = err
		if b.MaxAttempts > 0 && attempt >= b.MaxAttempts {
			return last
		}
		wait := b.jittered(b.Delay(attempt))
		if notify != nil {
			notify(attempt, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), last)
		case <-t.C:
		}
	}
}

// Gate rate-limits reconnect attempts made from calls that must not block
// for long (Decide, Confirm, SetOutputs): Allow says whether a new attempt
// may be made now; Failed/Succeeded advance or reset the backoff. Not safe
// for concurrent use; drivers hold their own lock.
type Gate struct {
	// Backoff is the policy.
	Backoff Backoff
	// Now is the clock (default time.Now).
	Now func() time.Time

	failures int
	next     time.Time
}

func (g *Gate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Allow reports whether an attempt may be made now, and otherwise how long
// to wait.
func (g *Gate) Allow() (bool, time.Duration) {
	if g.failures == 0 {
		return true, 0
	}
	if d := g.next.Sub(g.now()); d > 0 {
		return false, d
	}
	return true, 0
}

// Failed records a failed attempt.
func (g *Gate) Failed() {
	g.failures++
	g.next = g.now().Add(g.Backoff.jittered(g.Backoff.Delay(g.failures)))
}

// Succeeded resets the backoff.
func (g *Gate) Succeeded() { g.failures = 0 }

// Failures is the number of consecutive failed attempts.
func (g *Gate) Failures() int { return g.failures }
