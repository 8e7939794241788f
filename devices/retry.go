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

type retryAfterError struct {
	err  error
	wait time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable no earlier than wait from now: Retry
// waits exactly wait before its next attempt instead of its own schedule.
// A driver's Connect returns it while the driver's Gate does not allow a
// new attempt yet (its last connection failed before a valid reply), so a
// caller that restarts Retry after every lost connection still follows the
// driver's one backoff.
func RetryAfter(err error, wait time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, wait: max(wait, 0)}
}

// RetryWait reports the wait carried by a RetryAfter error in err's chain.
func RetryWait(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.wait, true
	}
	return 0, false
}

// Sleep waits d or until ctx ends, and reports whether the whole wait
// passed (false: ctx ended).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retry runs op until it succeeds, returns a Permanent error, the policy's
// MaxAttempts is used up, or ctx ends; between attempts it waits per b, or
// exactly the wait of a RetryAfter error. It returns nil on success, the
// permanent error (unwrapped), the last error after MaxAttempts, or
// ctx.Err() joined with the last error when the context ends. notify may be
// nil. This is the one reconnect wrapper every driver uses (Connect, or any
// idempotent operation).
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
		wait, ok := RetryWait(err)
		if !ok {
			wait = b.jittered(b.Delay(attempt))
		}
		if notify != nil {
			notify(attempt, err, wait)
		}
		if !Sleep(ctx, wait) {
			return errors.Join(ctx.Err(), last)
		}
	}
}

// Gate is the backoff state of one device connection across reconnects,
// and rate-limits the attempts: Allow says whether a new attempt may be
// made now; Failed, Connected, Succeeded and Dropped record what happened.
//
// The backoff resets only after a valid protocol reply (Succeeded), never
// because a transport connection opened: a port that accepts connections
// and answers garbage (or nothing) keeps the backoff growing, one attempt
// per connection, instead of being reconnected at the rate of its failures.
// The rules:
//
//   - Failed: a dial failed, or the device sent something that is not its
//     protocol (garbage): the next attempt waits the next backoff step.
//   - Connected: a transport connection opened; it is an attempt still to
//     be judged.
//   - Succeeded: a valid protocol reply arrived (an error reply of the
//     protocol, such as a Modbus exception, counts: the device is there):
//     the backoff resets.
//   - Dropped: the connection ended (timeout, EOF, I/O error). It counts as
//     a failed attempt only when no valid reply came on it since
//     Connected; a connection that worked may be reopened at once.
//
// Not safe for concurrent use; drivers hold their own lock.
type Gate struct {
	// Backoff is the policy.
	Backoff Backoff
	// Now is the clock (default time.Now).
	Now func() time.Time

	failures int
	next     time.Time
	pending  bool // connected, no valid reply yet
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

// Failed records a failed attempt: a dial that failed, or garbage from the
// device.
func (g *Gate) Failed() {
	g.pending = false
	g.failures++
	g.next = g.now().Add(g.Backoff.jittered(g.Backoff.Delay(g.failures)))
}

// Connected records that a transport connection opened. It does not reset
// the backoff: only a valid reply on it does (Succeeded).
func (g *Gate) Connected() { g.pending = true }

// Succeeded records a valid protocol reply: the backoff resets.
func (g *Gate) Succeeded() {
	g.pending = false
	g.failures = 0
}

// Dropped records that the connection ended. Without a valid reply since
// Connected it is a failed attempt (the backoff grows); after one, the next
// attempt may be made at once.
func (g *Gate) Dropped() {
	if g.pending {
		g.Failed()
	}
}

// Failures is the number of consecutive failed attempts.
func (g *Gate) Failures() int { return g.failures }
