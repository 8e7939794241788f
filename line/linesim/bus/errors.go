package bus

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrBadMessage: a line that is not a valid message of its type (not
	// one JSON object, unknown keys, a missing or out-of-range field, too
	// long). A subscriber skips it and reads on.
	ErrBadMessage = errors.New("bus: bad message")

	// ErrUnknownType: a well-formed message of a type this version does
	// not know (a newer publisher). A subscriber skips it.
	ErrUnknownType = errors.New("bus: unknown message type")

	// ErrWrongBus: the publisher's hello names another bus than the one
	// the subscriber was pointed at, or a wire format version it does not
	// speak (miswired: retrying will not help).
	ErrWrongBus = errors.New("bus: wrong bus")

	// ErrDisconnected: the connection to the publisher ended (closed, I/O
	// error, no hello in time, a line longer than MaxLine). Connect again.
	ErrDisconnected = errors.New("bus: disconnected")

	// ErrClosed: the publisher was closed.
	ErrClosed = errors.New("bus: closed")
)
