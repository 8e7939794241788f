// Package printer holds what every printer driver in Serialine shares: the
// record sent to a printer, the events a printer reports, the Driver contract
// the line codes against, and the controller-side queue manager (Queue) that
// keeps a printer's record queue filled a few units ahead while accounting
// for every serial it sends.
//
// Drivers live in sub-packages: printer/tij (CLARiTY-class text protocol,
// the primary one) and printer/zpl (Zebra ZPL II over raw TCP 9100).
// printer/printersim is a protocol-faithful simulated printer.
package printer

import (
	"context"
	"fmt"
	"time"
)

// Record is one unit's print data, queued to the printer ahead of the unit.
type Record struct {
	// ID identifies the record: the unit's serial number (GS1 AI 21).
	ID string
	// Fields maps the job/template's variable field names to their values,
	// e.g. {"GS1": <element string>, "SN": "ABC123", "EXP": "261231"}.
	Fields map[string]string
}

// EventKind says what a printer Event reports.
type EventKind int

// Event kinds.
const (
	// PrintStart: the printer started printing a record (RecordID, Counter).
	PrintStart EventKind = iota + 1
	// PrintComplete: the printer finished printing a record (RecordID, Counter).
	PrintComplete
	// Fault: a fault stopped or will stop printing (Code, Text).
	Fault
	// Warning: a condition needing attention soon, printing continues (Code, Text).
	Warning
	// Status: the printer's state changed (Code = state, Text).
	Status
	// QueueCleared: the printer emptied its record queue by itself.
	QueueCleared
	// Missed: the printer was triggered with an empty queue; a product
	// passed without a code (Counter may carry the printer's trigger count).
	Missed
)

var kindNames = [...]string{"", "print-start", "print-complete", "fault", "warning", "status", "queue-cleared", "missed"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing the printer reported.
type Event struct {
	Kind EventKind
	// RecordID is the record printed (PrintStart, PrintComplete); "" when the
	// printer's protocol does not carry it (the queue manager then matches
	// by queue order).
	RecordID string
	// Counter is the printer's print counter after this print (0 if unknown).
	Counter uint64
	// Code is the printer's fault/warning code or state name.
	Code string
	// Text is the printer's human-readable message.
	Text string
	// Empty (Missed): the printer says its queue was empty (no data), not
	// merely busy or stopped.
	Empty bool
	// At is when the driver received the event.
	At time.Time
}

func (e Event) String() string {
	s := e.Kind.String()
	if e.RecordID != "" {
		s += " record=" + e.RecordID
	}
	if e.Counter != 0 {
		s += fmt.Sprintf(" counter=%d", e.Counter)
	}
	if e.Code != "" {
		s += " code=" + e.Code
	}
	if e.Text != "" {
		s += " text=" + fmt.Sprintf("%q", e.Text)
	}
	return s
}

// Driver is the contract of a printer driver (tij.Client, zpl.Client). It is
// transport independent (TCP or RS-232). A Driver is safe for one goroutine
// calling Next while another calls the other methods.
//
// Reconnection is the caller's job, done once by wrapping (package devices'
// retry wrapper), never inside a driver: after ErrDisconnected the caller
// calls Connect again.
type Driver interface {
	// Connect opens the transport, selects the configured job/template with
	// its field names and switches the asynchronous messages on. An error
	// means the printer is not usable; the caller may retry with backoff.
	// Connect on a connected driver reconnects.
	Connect(ctx context.Context) error
	// Enqueue sends one record to the printer's queue and waits for the
	// printer's acknowledgement. nil: the printer holds the record.
	// ErrQueueFull (or another *ReplyError): the printer refused it and does
	// not hold it. ErrNotConnected / ErrClosed: nothing was sent (a driver
	// returns them only before writing anything). ErrTimeout /
	// ErrDisconnected / ctx errors / any other error: unknown whether the
	// printer holds it (the connection is closed; the caller reconnects).
	Enqueue(ctx context.Context, r Record) error
	// Next blocks until the printer reports an event, in the order the
	// printer sent them. Events already received are returned even when ctx
	// is done (so a caller can drain them with a cancelled context); then
	// the ctx error. ErrDisconnected: the connection is gone and its events
	// are all delivered (the caller reconnects).
	Next(ctx context.Context) (Event, error)
	// QueueDepth asks the printer how many records its queue holds.
	QueueDepth(ctx context.Context) (int, error)
	// Clear empties the printer's record queue. nil: the queue is empty.
	Clear(ctx context.Context) error
	// Close closes the connection; Next returns ErrClosed afterwards.
	Close(ctx context.Context) error
}

// BatchEnqueuer is implemented by drivers that can send several records
// before the first acknowledgement comes back (tij.Client: pipelined
// commands). The Queue uses it when it has more than one record to send:
// a group then costs one reply latency instead of one per record.
// errs[i] is record i's result with Driver.Enqueue's meaning.
type BatchEnqueuer interface {
	EnqueueBatch(ctx context.Context, rs []Record) (errs []error)
}
