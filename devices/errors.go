package devices

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by every PLC driver. Drivers wrap them with %w and
// context (which device, which register/node), so test with errors.Is.
var (
	// ErrNotConfirmed: the reject gate's confirmation sensor did not report
	// the product pushed off within the configured window (or reported it
	// missing). The line marks the unit rejected-unconfirmed, stops the line
	// and raises an alarm.
	ErrNotConfirmed = errors.New("devices: reject not confirmed")

	// ErrHeartbeatStalled: the PLC's heartbeat value has not changed within
	// the configured timeout. The controller accepts no triggers while it
	// lasts; products counted meanwhile are reported as Trigger.Missed once
	// the heartbeat resumes.
	ErrHeartbeatStalled = errors.New("devices: PLC heartbeat stalled")

	// ErrDisconnected: the connection to the device failed (I/O error,
	// timeout, protocol error, Modbus exception). The driver has closed it
	// and reconnects itself with backoff: call again (NextTrigger waits for
	// the reconnect; other calls try one reconnect when the backoff
	// allows).
	ErrDisconnected = errors.New("devices: disconnected")

	// ErrNotConnected: a method was called before Connect succeeded.
	ErrNotConnected = errors.New("devices: not connected")

	// ErrClosed: the client was closed.
	ErrClosed = errors.New("devices: closed")

	// ErrBadValue: the device returned a value that cannot be decoded
	// (wrong type, out of range, malformed register contents).
	ErrBadValue = errors.New("devices: bad value from device")

	// ErrUntrustedServer: an OPC UA server presented a certificate that is
	// not among the configured trusted server certificates. Connect
	// returns it as a permanent error (retrying does not help): an
	// engineer checks the server and adds its certificate to the trust
	// list.
	ErrUntrustedServer = errors.New("devices: server certificate not trusted")
)

// VerdictError is DecideBatch's error when some verdicts are not known to
// have reached the PLC. Verdicts not listed in Undelivered were
// acknowledged by the PLC. The driver has already retried the undelivered
// ones once on a fresh connection; the caller treats each as a failed
// Decide (the gate rejects a product without verdict fail-safe, so an
// undelivered pass verdict makes the unit rejected). Err wraps
// ErrDisconnected and the cause (Modbus exception, OPC UA status, I/O).
type VerdictError struct {
	// Undelivered are the sequence ids whose verdict write failed, in the
	// order they were given.
	Undelivered []uint64
	// Err is the last failure.
	Err error
}

func (e *VerdictError) Error() string {
	return fmt.Sprintf("%d verdict(s) not delivered (first product %d): %v", len(e.Undelivered), first(e.Undelivered), e.Err)
}

func (e *VerdictError) Unwrap() error { return e.Err }

func first(s []uint64) uint64 {
	if len(s) == 0 {
		return 0
	}
	return s[0]
}
