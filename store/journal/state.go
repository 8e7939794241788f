package journal

import (
	"fmt"
)

// State is where a unit (one drawn serial) is in its life. See doc.go for the
// diagram. The zero value is not a valid state.
type State uint8

// Unit states.
const (
	Drawn        State = iota + 1 // taken from the pool for a batch; not yet sent anywhere
	Queued                        // durable before its data is sent to the printer
	Printed                       // the printer reported it printed
	Verified                      // the camera read it back: content matches and grade passes
	Commissioned                  // accepted: it left the line as a saleable unit
	Rejected                      // pushed off the line (Reason says why)
	Sampled                       // pulled by QA
	Returned                      // returned unused: never printed, never to be re-issued
	Uncertain                     // fate unknown after a fault: never reusable, must be decommissioned
	numStates                     // 1 + the last state (implicit iota + 1)
)

var stateNames = [...]string{
	"invalid", "drawn", "queued", "printed", "verified", "commissioned",
	"rejected", "sampled", "returned", "uncertain",
}

// States lists every valid state in order.
func States() []State {
	return []State{Drawn, Queued, Printed, Verified, Commissioned, Rejected, Sampled, Returned, Uncertain}
}

func (s State) String() string {
	if s.Valid() {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool { return s >= Drawn && s < numStates }

// Terminal reports whether no automatic transition leaves s (Commissioned
// may still go to Sampled or Rejected by a person).
func (s State) Terminal() bool { return s >= Commissioned }

// InFlight reports whether a unit in s is still on its way (drawn, queued,
// printed or verified): recovery resolves these on Open.
func (s State) InFlight() bool { return s >= Drawn && s <= Verified }

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("%w: unit state %d", ErrInvalid, uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseState parses a state name ("commissioned").
func ParseState(name string) (State, error) {
	for i := Drawn; i < numStates; i++ {
		if stateNames[i] == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown unit state %q", ErrInvalid, name)
}

// legal[from] is the set of states a unit may move to from `from`.
var legal = [numStates][numStates]bool{
	Drawn:        {Queued: true, Returned: true},
	Queued:       {Printed: true, Rejected: true, Returned: true, Uncertain: true},
	Printed:      {Verified: true, Rejected: true, Uncertain: true},
	Verified:     {Commissioned: true, Rejected: true, Uncertain: true},
	Commissioned: {Sampled: true, Rejected: true},
	// Rejected -> Uncertain only when the gate reports that the product
	// passed although its verdict was reject (reason gate-mismatch, by the
	// system): see GateMismatch.
	Rejected: {Uncertain: true},
}

// CanTransition reports whether the state machine allows from -> to
// (without looking at reason or actor; see Change for those rules).
func CanTransition(from, to State) bool {
	if !from.Valid() || !to.Valid() {
		return false
	}
	return legal[from][to]
}

// Reason says why a unit was rejected, returned or became uncertain.
type Reason uint8

// Reasons.
const (
	ReasonNone               Reason = iota // no reason (normal progress)
	ReasonNoRead                           // the camera could not decode the code
	ReasonMismatch                         // decoded content differs from what was printed (Detail names the field)
	ReasonLowGrade                         // print quality below policy (Grade/Detail name the failing parameter)
	ReasonMissedPrint                      // the product passed the printer without this print
	ReasonRejectNotConfirmed               // a reject was decided but the gate's sensor did not confirm it
	ReasonManual                           // a person decided (Actor says who, Detail why)
	ReasonPrinterFault                     // printer fault / queue lost
	ReasonQueueCleared                     // the printer confirmed the queued record was cleared unprinted
	ReasonRecovery                         // set by recovery on Open
	ReasonBatchEnd                         // unused at batch end
	ReasonQASample                         // QA sample pull
	ReasonFault                            // any other device or controller fault
	ReasonOther                            // anything else (Detail says what)
	ReasonLateVerdict                      // the verdict could not reach the PLC before the product reached the gate: sent as reject, the gate pushes it off
	ReasonGateMismatch                     // the gate's read-back contradicts the journal's verdict (pass pushed off, or reject passed)
	ReasonGateUnknown                      // the gate result of the product could not be read back
	numReasons
)

var reasonNames = [...]string{
	"", "no-read", "mismatch", "low-grade", "missed-print", "reject-not-confirmed", "manual",
	"printer-fault", "queue-cleared", "recovery", "batch-end", "qa-sample", "fault", "other",
	"late-verdict", "gate-mismatch", "gate-unknown",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Valid reports whether r is a defined reason (ReasonNone included).
func (r Reason) Valid() bool { return r < numReasons }

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("%w: reason %d", ErrInvalid, uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Reason) UnmarshalText(b []byte) error {
	v, err := ParseReason(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseReason parses a reason name ("low-grade"); "" is ReasonNone.
func ParseReason(name string) (Reason, error) {
	for i := ReasonNone; i < numReasons; i++ {
		if reasonNames[i] == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown reason %q", ErrInvalid, name)
}

// Actor is who made a change: a person (User + Role) or one of the system
// actors. The zero Actor means ActorSystem.
type Actor struct {
	User string `json:"user"`
	Role string `json:"role,omitempty"`
}

// System actors.
var (
	ActorSystem   = Actor{User: "system", Role: "system"}
	ActorPLC      = Actor{User: "plc", Role: "system"}
	ActorPrinter  = Actor{User: "printer", Role: "system"}
	ActorCamera   = Actor{User: "camera", Role: "system"}
	ActorUpstream = Actor{User: "upstream", Role: "system"}
)

// systemActors are encoded as one byte; index = code.
var systemActors = [...]Actor{ActorSystem, ActorPLC, ActorPrinter, ActorCamera, ActorUpstream}

// IsSystem reports whether a is one of the system actors (or the zero Actor).
func (a Actor) IsSystem() bool {
	if a == (Actor{}) {
		return true
	}
	for _, s := range systemActors {
		if a == s {
			return true
		}
	}
	return false
}

func (a Actor) orSystem() Actor {
	if a == (Actor{}) {
		return ActorSystem
	}
	return a
}

func (a Actor) String() string {
	a = a.orSystem()
	if a.Role == "" {
		return a.User
	}
	return a.User + "(" + a.Role + ")"
}

// IsAnnotation reports whether a change from a unit in state from, whose
// last step had reason prev, is the one allowed annotation: Rejected ->
// Rejected with reason reject-not-confirmed, by a system actor, once, after
// the original reject reason (the gate's sensor did not confirm the reject).
// It is not a transition: the state and the counters do not change; the
// step records the fact in the unit's history.
func IsAnnotation(from State, prev Reason, c Change) bool {
	return from == Rejected && c.To == Rejected && c.Reason == ReasonRejectNotConfirmed &&
		c.Actor.IsSystem() && prev != ReasonRejectNotConfirmed
}

// GateMismatch reports whether c, applied to a unit in state from, is the
// one step out of Rejected: Rejected -> Uncertain with reason gate-mismatch
// by a system actor, written when the PLC's gate read-back says the product
// passed the gate although its verdict was reject. The journal then no
// longer claims the pack was pushed off.
func GateMismatch(from State, c Change) bool {
	return from == Rejected && c.To == Uncertain && c.Reason == ReasonGateMismatch && c.Actor.IsSystem()
}

// checkChange applies the rules beyond the transition table: which targets
// need a reason and which need a person. prev is the reason of the unit's
// last step.
func checkChange(from State, prev Reason, c Change) error {
	if from == Rejected && c.To == Rejected {
		if IsAnnotation(from, prev, c) {
			return nil
		}
		return &TransitionError{Serial: c.Serial, From: from, To: c.To,
			Msg: "only annotation allowed is reject-not-confirmed, once, by the system"}
	}
	if !CanTransition(from, c.To) {
		return &TransitionError{Serial: c.Serial, From: from, To: c.To, Msg: "not allowed by the state machine"}
	}
	if from == Rejected && !GateMismatch(from, c) {
		return &TransitionError{Serial: c.Serial, From: from, To: c.To,
			Msg: "a rejected unit becomes uncertain only when the gate reports it passed (gate-mismatch, by the system)"}
	}
	if !c.Reason.Valid() {
		return &TransitionError{Serial: c.Serial, From: from, To: c.To, Msg: fmt.Sprintf("unknown reason %d", c.Reason)}
	}
	switch c.To {
	case Rejected, Returned, Uncertain:
		if c.Reason == ReasonNone {
			return &TransitionError{Serial: c.Serial, From: from, To: c.To, Msg: "a reason is required"}
		}
	}
	if from == Commissioned && c.Actor.IsSystem() {
		return &TransitionError{Serial: c.Serial, From: from, To: c.To, Msg: "only a person may change a commissioned unit"}
	}
	if c.Reason == ReasonManual && c.Actor.IsSystem() {
		return &TransitionError{Serial: c.Serial, From: from, To: c.To, Msg: "a manual change needs a person as actor"}
	}
	if c.Reason == ReasonLowGrade && c.Grade == nil && c.Detail == "" {
		return &TransitionError{Serial: c.Serial, From: from, To: c.To, Msg: "low grade needs the failing parameter (Grade or Detail)"}
	}
	return nil
}

// TransitionError is returned (wrapping ErrIllegalTransition) when a Change
// breaks the state machine; nothing of the Apply call was written.
type TransitionError struct {
	Serial   string
	From, To State
	Msg      string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("journal: unit %q: %s -> %s: %s", e.Serial, e.From, e.To, e.Msg)
}

// Unwrap returns ErrIllegalTransition.
func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }
