// Package devices holds what every PLC driver in Serialine shares: the
// trigger and output types, the sentinel errors (errors.go), the one
// reconnect/backoff wrapper (retry.go) and the pure time/counter logic the
// drivers build on (watch.go): the heartbeat watchdog and the product counter
// tracker that detects increments, wraps and missed counts.
//
// Protocol clients live in sub-packages (devices/modbus, devices/opcua) and
// share one contract, documented on each client's methods:
//
//	Connect(ctx) error
//	NextTrigger(ctx) (Trigger, error)
//	Decide(ctx, seq, reject) error
//	DecideBatch(ctx, []Verdict) error   // several verdicts, as few requests as the map allows
//	Confirm(ctx, seq) (confirmed bool, err error)
//	SetOutputs(ctx, Outputs) error
//	Close(ctx) error
//
// devices/plcsim is a simulated PLC speaking both protocols for real.
package devices

import (
	"fmt"
	"time"
)

// Trigger is one product event from the PLC: the product passed the trigger
// point (the print head) and needs a unit.
type Trigger struct {
	// Seq is the PLC's product sequence id (the id Decide and Confirm take).
	Seq uint64
	// Missed counts products the controller could not follow before this
	// one (counter jumped beyond what could be attributed to a sequence id,
	// or products counted while the PLC heartbeat was stalled). The PLC
	// rejects products without a verdict (fail-safe); the line accounts for
	// them as missed.
	Missed uint64
	// At is the earliest the product can have passed the trigger point
	// (client clock): a polling driver's previous successful read (the
	// product was counted after it, however long a reconnect took), an
	// event-driven driver's receipt of the change. Deadlines computed
	// from it err on the early side.
	At time.Time
}

// StackLight is the stack-light colour the controller asks for.
type StackLight uint8

// Stack-light states. The numeric values are the register/node values the
// PLC sees (0 off, 1 green, 2 amber, 3 red).
const (
	LightOff   StackLight = 0
	LightGreen StackLight = 1
	LightAmber StackLight = 2
	LightRed   StackLight = 3
)

func (l StackLight) String() string {
	switch l {
	case LightOff:
		return "off"
	case LightGreen:
		return "green"
	case LightAmber:
		return "amber"
	case LightRed:
		return "red"
	}
	return fmt.Sprintf("StackLight(%d)", uint8(l))
}

// Valid reports whether l is one of the defined states.
func (l StackLight) Valid() bool { return l <= LightRed }

// Outputs are the interlock outputs the controller drives on the PLC.
type Outputs struct {
	// LineStop asks the PLC to stop/hold the line (true = stop).
	LineStop bool
	// Light is the stack light / alarm beacon state.
	Light StackLight
	// Horn sounds the alarm horn.
	Horn bool
}

// Verdict codes written to the PLC per product (register/node values).
const (
	VerdictNone   = 0 // no verdict (yet): the gate rejects fail-safe
	VerdictAccept = 1 // let the product pass
	VerdictReject = 2 // push the product off
)

// Gate results the PLC reports per product once it has passed the gate
// (register/node values).
const (
	GatePending     = 0 // not at the gate yet
	GatePassed      = 1 // passed the gate, not pushed off (accepted)
	GateRejected    = 2 // pushed off and the confirmation sensor saw it
	GateUnconfirmed = 3 // reject fired but the confirmation sensor did not see it
)

// Verdict is one product's verdict for the reject gate, as written by
// DecideBatch.
type Verdict struct {
	// Seq is the PLC's product sequence id (Trigger.Seq).
	Seq uint64
	// Reject asks the gate to push the product off.
	Reject bool
}

// Code is the verdict's register/node value (VerdictAccept or
// VerdictReject).
func (v Verdict) Code() uint16 {
	if v.Reject {
		return VerdictReject
	}
	return VerdictAccept
}
