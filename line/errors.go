package line

import "errors"

// Sentinel errors. Errors returned through the api.Controller methods also
// wrap the matching line/api sentinel so the HTTP layer maps them.
var (
	// ErrClearance: Start refused because line clearance failed (no
	// confirmed line clearance checklist, units of the batch still in
	// flight, the printer queue not empty).
	ErrClearance = errors.New("line: line clearance failed")
	// ErrPoolLow: Start refused (or the batch held) because the local serial
	// pool cannot cover the configured minimum.
	ErrPoolLow = errors.New("line: serial pool too low")
	// ErrNoBatch: no batch is defined.
	ErrNoBatch = errors.New("line: no batch")
	// ErrBatchActive: a batch is running; finish it before defining another.
	ErrBatchActive = errors.New("line: another batch is active")
	// ErrBatchFinal: a command would reopen a batch that reached a final
	// state (Complete, Stopped, Aborted); define a new batch instead.
	ErrBatchFinal = errors.New("line: batch is final")
	// ErrNotRunning: the controller's Run has not started or has ended.
	ErrNotRunning = errors.New("line: controller not running")
)
