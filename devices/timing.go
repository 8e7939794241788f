package devices

import (
	"time"

	"github.com/serialine/serialine/configs"
)

// Timing is the heartbeat, gate-confirmation and reconnect timing every
// PLC client config shares. Embed it with `yaml:",inline"` so its keys
// stay at the top level of the client's block.
type Timing struct {
	// HeartbeatInterval is how often the controller heartbeat is written.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// HeartbeatTimeout is how long the PLC heartbeat may stay unchanged
	// before NextTrigger returns ErrHeartbeatStalled.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// ConfirmWindow is how long Confirm waits for the gate result.
	ConfirmWindow time.Duration `yaml:"confirm_window"`
	// ConfirmPoll is how often Confirm reads the gate result.
	ConfirmPoll time.Duration `yaml:"confirm_poll"`
	// Backoff is the reconnect policy.
	Backoff Backoff `yaml:"backoff"`
	// GateResults says what the PLC reports back about the products at
	// its reject gate (NextGateResult): "every" (default when empty):
	// every product's result, and a unit is commissioned only once the
	// gate reports its product passed; "rejects": only reject
	// confirmations, each awaited for ConfirmWindow after the verdict
	// write; "none": nothing. See GateResultsEvery.
	GateResults string `yaml:"gate_results"`
}

// GateMode is GateResults with the default applied.
func (t Timing) GateMode() string {
	if t.GateResults == "" {
		return GateResultsEvery
	}
	return t.GateResults
}

// DefaultTiming is the timing of the default PLC configs: heartbeat every
// 250ms, stalled after 1.5s (so a stalled PLC is found within the line's
// 2s hang bound, line/config.MaxHangDetection, with either protocol),
// confirmation within 2s polled every 10ms, DefaultBackoff.
func DefaultTiming() Timing {
	return Timing{
		HeartbeatInterval: 250 * time.Millisecond, HeartbeatTimeout: 1500 * time.Millisecond,
		ConfirmWindow: 2 * time.Second, ConfirmPoll: 10 * time.Millisecond,
		Backoff: DefaultBackoff(),
	}
}

// MinInterval is the shortest polling or writing interval a PLC config
// may set (poll_interval, heartbeat_interval, confirm_poll): 1ms already
// reads a PLC a thousand times a second; shorter only loads the PLC and
// the line PC.
const MinInterval = time.Millisecond

// ValidateDurations reports every duration that is not > 0, and the
// intervals (heartbeat_interval, confirm_poll) below MinInterval. Backoff
// is left for the caller to merge under "backoff" (Backoff.Validate), so
// it can keep its place among the caller's own problems.
func (t Timing) ValidateDurations() configs.Problems {
	var p configs.Problems
	for _, d := range []struct {
		name     string
		d        time.Duration
		interval bool
	}{
		{"heartbeat_interval", t.HeartbeatInterval, true},
		{"heartbeat_timeout", t.HeartbeatTimeout, false},
		{"confirm_window", t.ConfirmWindow, false},
		{"confirm_poll", t.ConfirmPoll, true},
	} {
		switch {
		case d.d <= 0:
			p.Add(d.name, "must be > 0")
		case d.interval:
			CheckInterval(&p, d.name, d.d)
		}
	}
	switch t.GateResults {
	case "", GateResultsEvery, GateResultsRejects, GateResultsNone:
	default:
		p.Add("gate_results", "must be %q, %q or %q, got %q", GateResultsEvery, GateResultsRejects, GateResultsNone, t.GateResults)
	}
	return p
}

// CheckInterval reports an interval below MinInterval.
func CheckInterval(p *configs.Problems, name string, d time.Duration) {
	if d > 0 && d < MinInterval {
		p.Add(name, "must be >= %s (got %s: a shorter interval only loads the PLC and the line PC)", MinInterval, d)
	}
}
