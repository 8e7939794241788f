package tij

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/serialine/serialine/printer"
)

// Wire format of the CLARiTY-class text protocol as this package speaks it:
// ASCII lines ending in CR (a LF after the CR is tolerated on input),
// fields separated by '|'. Commands are NAME|arg|arg|CR (the trailing '|'
// can be switched off); the printer answers ACK, an error reply
// ERR|code|text| (NAK is accepted too), or a query reply that repeats the
// command name: QSZ|n|, GST|state|text|, GFT|n|code|text|…, GWN|…, GPC|n|.
// Asynchronous messages (after EAN|1|): PRS|counter|id|, PRC|counter|id|
// (layout configurable), STS|state|text|, ERS|F or W|code|text|.

// Command names.
const (
	CmdSelect          = "SEL" // select job, fields in order
	CmdSelectNamed     = "SLA" // select job, named fields
	CmdUpdate          = "JDU" // update current job's fields
	CmdUpdateNamed     = "JDA"
	CmdSelectAllocate  = "SLI" // select job with allocation (queued record)
	CmdUpdateAllocate  = "JDI" // update current job with allocation (queued record)
	CmdQueueSize       = "QSZ"
	CmdClearQueueItem  = "CQI"
	CmdGetState        = "GST"
	CmdSetState        = "SST"
	CmdGetFaults       = "GFT"
	CmdGetWarnings     = "GWN"
	CmdClearFaults     = "CAF"
	CmdClearMessages   = "CEM"
	CmdGetPrintCount   = "GPC"
	CmdSetPrintCount   = "SPC"
	CmdAsyncNotify     = "EAN"
	ReplyACK           = "ACK"
	ReplyERR           = "ERR"
	ReplyNAK           = "NAK"
	AsyncPrintStart    = "PRS"
	AsyncPrintComplete = "PRC"
	AsyncStatus        = "STS"
	AsyncError         = "ERS"
)

// MaxLine is the longest line either side accepts.
const MaxLine = 8192

// Command is one host-to-printer command.
type Command struct {
	Name string
	Args []string
}

// Append encodes c onto dst: NAME|a|b|CR (no trailing '|' before CR when
// noTrailing). Arguments holding '|', CR or LF are refused.
func (c Command) Append(dst []byte, noTrailing bool) ([]byte, error) {
	if len(c.Name) != 3 || strings.ToUpper(c.Name) != c.Name {
		return dst, fmt.Errorf("tij: command name %q: must be 3 upper-case letters", c.Name)
	}
	dst = append(dst, c.Name...)
	for i, a := range c.Args {
		if strings.ContainsAny(a, "|\r\n") {
			return dst, fmt.Errorf("tij: %s argument %d %q: contains '|', CR or LF", c.Name, i+1, a)
		}
		dst = append(dst, '|')
		dst = append(dst, a...)
	}
	if !noTrailing {
		dst = append(dst, '|')
	}
	return append(dst, '\r'), nil
}

// Encode is Append onto a new slice.
func (c Command) Encode(noTrailing bool) ([]byte, error) { return c.Append(nil, noTrailing) }

// Message is one printer-to-host line: its name (first field) and the rest.
type Message struct {
	Name   string
	Fields []string
}

// String renders m back in wire form without the CR.
func (m Message) String() string {
	if len(m.Fields) == 0 {
		return m.Name
	}
	return m.Name + "|" + strings.Join(m.Fields, "|") + "|"
}

// IsAsync reports whether m is an asynchronous message rather than a reply.
func (m Message) IsAsync() bool {
	switch m.Name {
	case AsyncPrintStart, AsyncPrintComplete, AsyncStatus, AsyncError:
		return true
	}
	return false
}

// ParseMessage parses one line (CR, LF already stripped or not). A trailing
// '|' is optional. The name must be 3 upper-case ASCII letters; fields must
// be printable ASCII (GS 0x1D allowed).
func ParseMessage(line []byte) (Message, error) {
	line = bytes.TrimRight(line, "\r\n")
	line = bytes.TrimLeft(line, "\n")
	if len(line) == 0 {
		return Message{}, fmt.Errorf("%w: empty line", printer.ErrProtocol)
	}
	if len(line) > MaxLine {
		return Message{}, fmt.Errorf("%w: line of %d bytes exceeds %d", printer.ErrProtocol, len(line), MaxLine)
	}
	for i, c := range line {
		if (c < 0x20 && c != 0x1d) || c > 0x7e {
			return Message{}, fmt.Errorf("%w: byte 0x%02x at %d in %q", printer.ErrProtocol, c, i, line)
		}
	}
	s := string(line)
	s = strings.TrimSuffix(s, "|")
	parts := strings.Split(s, "|")
	name := parts[0]
	if len(name) != 3 {
		return Message{}, fmt.Errorf("%w: message name %q in %q: want 3 letters", printer.ErrProtocol, name, s)
	}
	for _, c := range name {
		if c < 'A' || c > 'Z' {
			return Message{}, fmt.Errorf("%w: message name %q in %q: want upper-case letters", printer.ErrProtocol, name, s)
		}
	}
	m := Message{Name: name}
	if len(parts) > 1 {
		m.Fields = parts[1:]
	}
	return m, nil
}

// field returns field i or "".
func (m Message) field(i int) string {
	if i >= 0 && i < len(m.Fields) {
		return m.Fields[i]
	}
	return ""
}

// ParseUint parses field i of m as a decimal counter.
func (m Message) ParseUint(i int) (uint64, error) {
	f := m.field(i)
	n, err := strconv.ParseUint(f, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s field %d %q: not a number", printer.ErrProtocol, m.Name, i+1, f)
	}
	return n, nil
}

// Fault is one entry of a GFT/GWN reply.
type Fault struct{ Code, Text string }

// ParseFaultList parses GFT|n|code|text|code|text|… (also GWN).
func ParseFaultList(m Message) ([]Fault, error) {
	n, err := m.ParseUint(0)
	if err != nil {
		return nil, err
	}
	// Compared without multiplying n: a huge count must not overflow into
	// a match (and then into a huge allocation).
	carried := len(m.Fields) - 1
	if carried%2 != 0 || uint64(carried/2) != n {
		return nil, fmt.Errorf("%w: %s says %d entries but carries %d fields", printer.ErrProtocol, m.Name, n, carried)
	}
	out := make([]Fault, 0, n)
	for i := 1; i+1 < len(m.Fields); i += 2 {
		out = append(out, Fault{Code: m.Fields[i], Text: m.Fields[i+1]})
	}
	return out, nil
}

// Layout says where the async print messages carry the counter and the
// record ID (field indexes after the name, -1 = absent). Real printers
// differ; the manual we have is silent, so it is configuration.
type Layout struct {
	Counter  int
	RecordID int
}

// DefaultLayout is PRS|counter|id| and PRC|counter|id|.
func DefaultLayout() Layout { return Layout{Counter: 0, RecordID: 1} }

// Codes maps the printer's ERS codes to event kinds beyond fault/warning.
type Codes struct {
	// QueueFull are ERR codes meaning "queue full" (default "QFULL").
	QueueFull []string
	// Missed are ERS codes meaning a product passed the print head without
	// being printed: triggered with no data, or while the head was still
	// printing the previous code (default "NODATA", "OVERLAP", "NOPRINT").
	Missed []string
	// NoData are the Missed codes that say the printer's queue was empty
	// (default "NODATA"): a missed print with records in flight then means
	// the printer lost them, and the queue manager checks its depth.
	NoData []string
	// QueueCleared are ERS codes meaning "queue cleared" (default "QCLR").
	QueueCleared []string
}

func (c Codes) withDefaults() Codes {
	if c.QueueFull == nil {
		c.QueueFull = []string{"QFULL"}
	}
	if c.Missed == nil {
		c.Missed = []string{"NODATA", "OVERLAP", "NOPRINT"}
	}
	if c.NoData == nil {
		c.NoData = []string{"NODATA"}
	}
	if c.QueueCleared == nil {
		c.QueueCleared = []string{"QCLR"}
	}
	return c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParseEvent turns an asynchronous message into a printer.Event.
func ParseEvent(m Message, l Layout, codes Codes) (printer.Event, error) {
	codes = codes.withDefaults()
	var ev printer.Event
	switch m.Name {
	case AsyncPrintStart, AsyncPrintComplete:
		ev.Kind = printer.PrintStart
		if m.Name == AsyncPrintComplete {
			ev.Kind = printer.PrintComplete
		}
		if l.Counter >= 0 {
			n, err := m.ParseUint(l.Counter)
			if err != nil {
				return ev, err
			}
			ev.Counter = n
		}
		if l.RecordID >= 0 {
			ev.RecordID = m.field(l.RecordID)
		}
	case AsyncStatus:
		if len(m.Fields) == 0 || m.Fields[0] == "" {
			return ev, fmt.Errorf("%w: STS without a state", printer.ErrProtocol)
		}
		ev.Kind, ev.Code, ev.Text = printer.Status, m.Fields[0], m.field(1)
	case AsyncError:
		if len(m.Fields) < 2 || m.Fields[1] == "" {
			return ev, fmt.Errorf("%w: ERS %q: want ERS|F or W|code|text|", printer.ErrProtocol, m.String())
		}
		ev.Code, ev.Text = m.Fields[1], m.field(2)
		switch {
		case contains(codes.Missed, ev.Code) && m.Fields[0] != "F":
			// A no-data trigger under a "warn" policy; under "fail" (F)
			// the printer stopped: a fault.
			ev.Kind = printer.Missed
			ev.Empty = contains(codes.NoData, ev.Code)
		case contains(codes.QueueCleared, ev.Code):
			ev.Kind = printer.QueueCleared
		case m.Fields[0] == "F":
			ev.Kind = printer.Fault
		case m.Fields[0] == "W":
			ev.Kind = printer.Warning
		default:
			return ev, fmt.Errorf("%w: ERS severity %q: want F or W", printer.ErrProtocol, m.Fields[0])
		}
	default:
		return ev, fmt.Errorf("%w: %q is not an asynchronous message", printer.ErrProtocol, m.Name)
	}
	return ev, nil
}

// ReplyErr returns nil for ACK, a *printer.ReplyError for ERR/NAK, and
// ErrProtocol for anything else when an ACK was expected.
func ReplyErr(cmd string, m Message, codes Codes) error {
	codes = codes.withDefaults()
	switch m.Name {
	case ReplyACK:
		return nil
	case ReplyERR, ReplyNAK:
		code := m.field(0)
		return &printer.ReplyError{Command: cmd, Code: code, Text: m.field(1), Full: contains(codes.QueueFull, code)}
	}
	return fmt.Errorf("%w: %s: unexpected reply %q", printer.ErrProtocol, cmd, m.String())
}
