// Package bus is the line bus: the physical connections between simulator
// processes when each simulator runs on its own (serialine sim …), so a
// split deployment behaves like the in-process line of line/linesim. The
// PLC simulator's bus carries what its conveyor does (a product reaching
// the print head, a product leaving the reject gate); the printer
// simulator's bus carries what it printed on which product. The printer's
// photo-eye, the camera's view of each print and the gate log's join are
// subscribers.
//
// # Wire format
//
// JSON lines over TCP, UTF-8, one object per line ending in "\n", at most
// MaxLine bytes. The publisher listens; each subscriber connects and only
// reads (anything it sends is ignored). Every object has a "type"; unknown
// keys are errors. The publisher's first line on every connection is its
// hello; then each message as it happens, in order:
//
//	{"type":"hello","bus":"plc","version":1}
//	{"type":"product","seq":41,"at":"2026-03-02T10:00:00.1Z"}
//	{"type":"printed","seq":41,"at":"2026-03-02T10:00:00.1Z","record":"R17","data":"0109501101530003\u001d21S0000017","defects":[{"kind":"smear","severity":0.25}],"seed":"1469598103934665603"}
//	{"type":"gate","seq":33,"verdict":"pass","pushed":false,"result":"passed"}
//
// The types:
//
//   - hello: bus names the publisher ("plc" or "printer"); version is the
//     wire format's version (Version). A subscriber refuses a bus or
//     version it does not expect.
//   - product (PLC bus): product seq (the PLC's sequence id, > 0) reached
//     the print head at at (RFC 3339 with nanoseconds, the conveyor's
//     schedule: the printer judges from it whether its head is still
//     busy).
//   - printed (printer bus): the printer printed record on product seq (0:
//     its own timer photo-eye, no PLC product) starting at at; data is the
//     element string printed (GS1 raw form: GS-separated, no leading
//     FNC1; "" when the record had none); defects are the print defects
//     (kind contrast, missing-dots or smear, severity 0..1); seed (a
//     decimal string: a uint64 does not survive every JSON reader)
//     reproduces the defect pattern:
//     printersim.ApplyDefects(printersim.DefaultRender(data), defects,
//     seed) is the printed image. A product that passes the head unprinted
//     has no message.
//   - gate (PLC bus): product seq left the reject gate: verdict is what
//     the gate found ("pass", "reject", or "none": no verdict had
//     arrived), pushed whether the gate pushed it off, result what the
//     confirmation read-back reports ("passed"; "rejected": pushed and
//     seen by the sensor; "unconfirmed": pushed, not seen). pushed is true
//     exactly when result is not "passed".
//
// There is no replay: a subscriber gets what is published while it is
// connected. A subscriber that falls Buffer messages behind is dropped
// (the publisher never waits for it) and reconnects.
package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Version is the wire format's version, sent in every hello.
const Version = 1

// MaxLine is the longest line (message plus "\n") on the bus.
const MaxLine = 64 << 10

// Bus names (Hello.Bus).
const (
	BusPLC     = "plc"
	BusPrinter = "printer"
)

// Message is one line on the bus: a Hello, Product, Printed or Gate.
type Message interface {
	// Type is the message's "type" on the wire.
	Type() string
	validate() error
}

// Hello is the publisher's first line on every connection.
type Hello struct {
	// Bus names the publisher (BusPLC, BusPrinter).
	Bus string `json:"bus"`
	// Version is the wire format's version (Version).
	Version int `json:"version"`
}

// Product is a product reaching the print head (PLC bus).
type Product struct {
	// Seq is the PLC's product sequence id (> 0).
	Seq uint64 `json:"seq"`
	// At is when the product reached the print head.
	At time.Time `json:"at"`
}

// Printed is a product the printer printed (printer bus).
type Printed struct {
	// Seq is the product's sequence id (0: the printer's own timer).
	Seq uint64 `json:"seq"`
	// At is when the print started (the product reached the head).
	At time.Time `json:"at"`
	// Record is the printed record's id.
	Record string `json:"record"`
	// Data is the element string printed (GS-separated raw form).
	Data string `json:"data"`
	// Defects are the print defects applied.
	Defects []Defect `json:"defects,omitempty"`
	// Seed reproduces the defect pattern (a decimal string on the wire).
	Seed uint64 `json:"seed,string"`
}

// Defect is one print defect.
type Defect struct {
	// Kind is contrast, missing-dots or smear (printersim.Defect*).
	Kind string `json:"kind"`
	// Severity is 0 (none) .. 1 (unreadable).
	Severity float64 `json:"severity"`
}

// Gate is a product leaving the reject gate (PLC bus).
type Gate struct {
	// Seq is the product's sequence id (> 0).
	Seq uint64 `json:"seq"`
	// Verdict is the verdict the gate found: VerdictPass, VerdictReject or
	// VerdictNone.
	Verdict string `json:"verdict"`
	// Pushed: the gate pushed the product off.
	Pushed bool `json:"pushed"`
	// Result is the confirmation read-back: ResultPassed, ResultRejected
	// or ResultUnconfirmed.
	Result string `json:"result"`
}

// Gate verdicts and results on the wire.
const (
	VerdictPass   = "pass"
	VerdictReject = "reject"
	VerdictNone   = "none"

	ResultPassed      = "passed"
	ResultRejected    = "rejected"
	ResultUnconfirmed = "unconfirmed"
)

// Message types on the wire.
const (
	TypeHello   = "hello"
	TypeProduct = "product"
	TypePrinted = "printed"
	TypeGate    = "gate"
)

func (Hello) Type() string   { return TypeHello }
func (Product) Type() string { return TypeProduct }
func (Printed) Type() string { return TypePrinted }
func (Gate) Type() string    { return TypeGate }

func (h Hello) validate() error {
	if h.Bus == "" {
		return fmt.Errorf("%w: hello: bus: must be set", ErrBadMessage)
	}
	if h.Version < 1 {
		return fmt.Errorf("%w: hello: version %d: must be >= 1", ErrBadMessage, h.Version)
	}
	return nil
}

func (p Product) validate() error {
	if p.Seq == 0 {
		return fmt.Errorf("%w: product: seq: must be > 0", ErrBadMessage)
	}
	if p.At.IsZero() {
		return fmt.Errorf("%w: product %d: at: must be set", ErrBadMessage, p.Seq)
	}
	return nil
}

func (p Printed) validate() error {
	if p.At.IsZero() {
		return fmt.Errorf("%w: printed %d: at: must be set", ErrBadMessage, p.Seq)
	}
	for i, d := range p.Defects {
		switch d.Kind {
		case "contrast", "missing-dots", "smear":
		default:
			return fmt.Errorf("%w: printed %d: defects[%d].kind %q: want contrast, missing-dots or smear", ErrBadMessage, p.Seq, i, d.Kind)
		}
		if !(d.Severity >= 0 && d.Severity <= 1) {
			return fmt.Errorf("%w: printed %d: defects[%d].severity %v: want 0..1", ErrBadMessage, p.Seq, i, d.Severity)
		}
	}
	return nil
}

func (g Gate) validate() error {
	if g.Seq == 0 {
		return fmt.Errorf("%w: gate: seq: must be > 0", ErrBadMessage)
	}
	switch g.Verdict {
	case VerdictPass, VerdictReject, VerdictNone:
	default:
		return fmt.Errorf("%w: gate %d: verdict %q: want pass, reject or none", ErrBadMessage, g.Seq, g.Verdict)
	}
	switch g.Result {
	case ResultPassed, ResultRejected, ResultUnconfirmed:
	default:
		return fmt.Errorf("%w: gate %d: result %q: want passed, rejected or unconfirmed", ErrBadMessage, g.Seq, g.Result)
	}
	if g.Pushed != (g.Result != ResultPassed) {
		return fmt.Errorf("%w: gate %d: pushed %v with result %q", ErrBadMessage, g.Seq, g.Pushed, g.Result)
	}
	return nil
}

// Encode returns m as one wire line (with its "\n"). It refuses a message
// that would not decode (ErrBadMessage) or is longer than MaxLine.
func Encode(m Message) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil message", ErrBadMessage)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	var v any
	switch m := m.(type) {
	case Hello:
		v = struct {
			Type string `json:"type"`
			Hello
		}{TypeHello, m}
	case Product:
		v = struct {
			Type string `json:"type"`
			Product
		}{TypeProduct, m}
	case Printed:
		v = struct {
			Type string `json:"type"`
			Printed
		}{TypePrinted, m}
	case Gate:
		v = struct {
			Type string `json:"type"`
			Gate
		}{TypeGate, m}
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnknownType, m)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // one line, "\n" included
		return nil, fmt.Errorf("%w: %s: %w", ErrBadMessage, m.Type(), err)
	}
	if b.Len() > MaxLine {
		return nil, fmt.Errorf("%w: %s message of %d bytes: longer than %d", ErrBadMessage, m.Type(), b.Len(), MaxLine)
	}
	return b.Bytes(), nil
}

// Decode parses one wire line (a trailing "\n" or "\r\n" is allowed). A
// line that is not one JSON object, has unknown keys, lacks a field its
// type needs or holds a value out of range is ErrBadMessage; a well-formed
// line of a type this version does not know is ErrUnknownType (a newer
// publisher: skip it).
func Decode(line []byte) (Message, error) {
	line = bytes.TrimRight(line, "\r\n")
	if len(line)+1 > MaxLine {
		return nil, fmt.Errorf("%w: line of %d bytes: longer than %d", ErrBadMessage, len(line)+1, MaxLine)
	}
	var head struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	if head.Type == nil {
		return nil, fmt.Errorf("%w: no \"type\"", ErrBadMessage)
	}
	var m Message
	var err error
	switch *head.Type {
	case TypeHello:
		var v struct {
			Type string `json:"type"`
			Hello
		}
		err = strict(line, &v)
		m = v.Hello
	case TypeProduct:
		var v struct {
			Type string `json:"type"`
			Product
		}
		err = strict(line, &v)
		m = v.Product
	case TypePrinted:
		var v struct {
			Type string `json:"type"`
			Printed
		}
		err = strict(line, &v)
		m = v.Printed
	case TypeGate:
		var v struct {
			Type string `json:"type"`
			Gate
		}
		err = strict(line, &v)
		m = v.Gate
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnknownType, strconv.Quote(*head.Type))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadMessage, *head.Type, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// strict decodes exactly one JSON object with no unknown keys.
func strict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return errors.New("data after the object")
	}
	return nil
}
