package printer

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by all printer drivers. Drivers wrap them with %w.
var (
	// ErrQueueFull: the printer refused a record because its queue is full.
	// The record is not in the printer.
	ErrQueueFull = errors.New("printer: queue full")
	// ErrRefused: the printer answered a command with an error reply.
	ErrRefused = errors.New("printer: command refused")
	// ErrNotConnected: a method was called before Connect succeeded.
	ErrNotConnected = errors.New("printer: not connected")
	// ErrDisconnected: the connection dropped; the caller reconnects.
	ErrDisconnected = errors.New("printer: disconnected")
	// ErrTimeout: no reply came within the configured time. The driver
	// closes the connection after it (a late reply would desynchronise
	// the protocol); the caller reconnects.
	ErrTimeout = errors.New("printer: reply timeout")
	// ErrProtocol: the printer sent something the driver cannot parse.
	ErrProtocol = errors.New("printer: protocol error")
	// ErrClosed: the driver was closed.
	ErrClosed = errors.New("printer: closed")
	// ErrRunning: Queue.Run was called while another Run of the same
	// queue is running.
	ErrRunning = errors.New("printer: Queue.Run already running")
)

// ReplyError is an error reply from the printer to a command.
type ReplyError struct {
	Command string // the command refused, e.g. "JDI"
	Code    string // the printer's error code
	Text    string // the printer's message
	Full    bool   // the code means "queue full"
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("printer: %s refused: code %s: %s", e.Command, e.Code, e.Text)
}

// Is makes errors.Is(err, ErrRefused) true, and ErrQueueFull when Full.
func (e *ReplyError) Is(target error) bool {
	return target == ErrRefused || (e.Full && target == ErrQueueFull)
}
