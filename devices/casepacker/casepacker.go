// Package casepacker simulates the end of a packaging line physically:
// the packs that passed the unit line's reject gate (plcsim.OnGate, joined
// with what the printer printed on each: printersim.OnPrint) fall into the
// case packer; every CaseSize packs close a case, which enters the case
// conveyor — a second simulated PLC (plcsim: its product counter is the
// case trigger, its gate the rework-lane divert) — passes under the
// aggregation camera (vision/casecam: one image of every pack's printed
// code), the print-and-apply labeller (printer/labelsim applies the next
// label in its buffer), the label scanner (decodes the applied label's
// GS1-128 for real and reports it over DMCC/Keyence), and the gate. Cases
// that pass go to the palletiser, whose scanner reads each case label; a
// complete pallet takes the next pallet label and the scanner reads it.
//
// The simulator keeps the ground truth (which pack is in which case, which
// case went to the rework lane or onto which pallet) for tests and the demo
// to hold the journal against.
package casepacker

import (
	"context"
	"errors"
	"image"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/labelsim"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/casecam"
)

// Options configure the simulated case line.
type Options struct {
	// CaseSize is the packs per case.
	CaseSize int
	// CaseLine is the case conveyor's PLC; its GateDistance is the pitches
	// from the camera to the rework-lane gate. Required.
	CaseLine *plcsim.Sim
	// Camera is the aggregation camera at the packer's exit. Required.
	Camera *casecam.Server
	// Labeller applies case labels at pitch LabellerAt, tracking: the label
	// carrying the case's product id (labelsim TrackField). Required.
	Labeller *labelsim.Server
	// Scanner reads the applied label at pitch ScannerAt. Required.
	Scanner *camerasim.Server
	// LabellerAt, ScannerAt: positions on the case conveyor (pitches after
	// the camera; ScannerAt > LabellerAt, both below the gate distance).
	LabellerAt, ScannerAt int
	// Pitch is how long the case conveyor takes per pitch (Run advances it).
	Pitch time.Duration
	// PalletSize is the cases per pallet (0 = no palletiser).
	PalletSize int
	// PalletScanner reads case labels and the pallet label at the palletiser.
	PalletScanner *camerasim.Server
	// PalletLabeller prints pallet labels; a complete pallet takes the next one.
	PalletLabeller *labelsim.Server
	// Logger (default: discard).
	Logger *slog.Logger
}

// Pack is one pack with what was printed on it.
type Pack struct {
	Seq    uint64 // unit line product id
	Data   string // element string printed ("" = blank)
	Serial string // its AI 21
	Image  image.Image
}

// Case is one case as it physically is.
type Case struct {
	Seq       uint64   // case line product id
	Serials   []string // serials of the packs in it
	Label     string   // the applied label's GS1-128 data ("" = none or unreadable)
	Passed    bool     // went on to the palletiser
	Reworked  bool     // diverted to the rework lane
	Pallet    int      // pallet number (1…, 0 = none)
	symbols   []image.Image
	label     *labelsim.Label
	pos       int
	gateKnown bool
}

// Pallet is one pallet as built.
type Pallet struct {
	Number int
	Cases  []uint64 // case seqs
	Label  string   // the pallet label's data once applied
}

// Truth is what physically happened.
type Truth struct {
	Cases   []Case
	Pallets []Pallet
	Loose   []Pack // packs in the packer, in no case on the conveyor yet
}

// Sim is the running case line.
type Sim struct {
	o   Options
	log *slog.Logger

	belt sync.Mutex // one conveyor movement at a time

	mu       sync.Mutex
	prints   map[uint64]printersim.Printed
	open     []Pack
	inflight []*Case
	cases    []*Case
	bySeq    map[uint64]*Case
	pallets  []*Pallet
	cur      *Pallet
	complete bool // the current pallet waits for its label
	toClose  [][]Pack
	wake     chan struct{}
}

// New checks o and wires the case line PLC's gate.
func New(o Options) (*Sim, error) {
	if o.CaseSize <= 0 || o.CaseLine == nil || o.Camera == nil || o.Labeller == nil || o.Scanner == nil {
		return nil, errors.New("casepacker: CaseSize, CaseLine, Camera, Labeller and Scanner are required")
	}
	if o.LabellerAt <= 0 || o.ScannerAt <= o.LabellerAt {
		return nil, errors.New("casepacker: want 0 < LabellerAt < ScannerAt")
	}
	if o.Pitch <= 0 {
		o.Pitch = 100 * time.Millisecond
	}
	if o.PalletSize > 0 && (o.PalletScanner == nil || o.PalletLabeller == nil) {
		return nil, errors.New("casepacker: a palletiser needs PalletScanner and PalletLabeller")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{o: o, log: o.Logger, prints: map[uint64]printersim.Printed{}, bySeq: map[uint64]*Case{}, wake: make(chan struct{}, 1)}
	o.CaseLine.OnGate(s.caseGate)
	if o.PalletLabeller != nil {
		o.PalletLabeller.OnLabel(func(labelsim.Label) { s.applyPalletLabel() })
	}
	return s, nil
}

// Print records what the printer printed on a product (wire it to
// printersim.OnPrint, before the camera's hook).
func (s *Sim) Print(p printersim.Printed) {
	s.mu.Lock()
	s.prints[p.Seq] = p
	s.mu.Unlock()
}

// Gate takes a product leaving the unit line's reject gate (wire it to
// plcsim.OnGate): a pack that passed falls into the packer.
func (s *Sim) Gate(r plcsim.GateResult) {
	s.mu.Lock()
	p, ok := s.prints[r.Seq]
	delete(s.prints, r.Seq)
	if r.PushedOff {
		s.mu.Unlock()
		return
	}
	pk := Pack{Seq: r.Seq}
	if ok {
		pk.Data, pk.Image = p.Data, p.Image
		if m, err := gs1.ParseRaw(p.Data); err == nil {
			pk.Serial, _ = m.Value("21")
		}
	}
	s.open = append(s.open, pk)
	if len(s.open) >= s.o.CaseSize {
		s.toClose = append(s.toClose, s.open)
		s.open = nil
		s.signal()
	}
	s.mu.Unlock()
}

func (s *Sim) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// FlushPartial closes the packs in the packer as a (partial) case now: the
// operator's button at batch end. It returns how many packs it held.
func (s *Sim) FlushPartial() int {
	s.mu.Lock()
	n := len(s.open)
	if n > 0 {
		s.toClose = append(s.toClose, s.open)
		s.open = nil
		s.signal()
	}
	s.mu.Unlock()
	return n
}

// closeCase puts a case on the conveyor under the camera.
func (s *Sim) closeCase(packs []Pack) {
	c := &Case{}
	for _, p := range packs {
		c.Serials = append(c.Serials, p.Serial)
		c.symbols = append(c.symbols, p.Image)
	}
	s.belt.Lock()
	defer s.belt.Unlock()
	s.shiftLocked()
	seq := s.o.CaseLine.Produce(1)[0]
	c.Seq = seq
	s.mu.Lock()
	s.inflight = append(s.inflight, c)
	s.cases = append(s.cases, c)
	s.bySeq[seq] = c
	s.toClose = s.toClose[1:]
	s.mu.Unlock()
	s.o.Camera.Shoot(c.symbols)
}

// shiftLocked moves every case one pitch and runs the labeller and the
// scanner on the case at their positions (the caller then moves the PLC's
// belt the same pitch). s.belt is held.
func (s *Sim) shiftLocked() {
	s.mu.Lock()
	var atLabeller, atScanner []*Case
	for _, c := range s.inflight {
		c.pos++
		switch c.pos {
		case s.o.LabellerAt:
			atLabeller = append(atLabeller, c)
		case s.o.ScannerAt:
			atScanner = append(atScanner, c)
		}
	}
	s.mu.Unlock()
	for _, c := range atLabeller {
		if l, ok := s.o.Labeller.ApplyTo(c.Seq); ok {
			s.mu.Lock()
			c.label = &l
			s.mu.Unlock()
		}
	}
	for _, c := range atScanner {
		s.mu.Lock()
		l := c.label
		s.mu.Unlock()
		r := readLabel(l)
		if !r.NoRead {
			s.mu.Lock()
			c.Label = strings.Trim(r.Data, "\x1d")
			s.mu.Unlock()
		}
		s.o.Scanner.Send(r)
	}
}

// readLabel is what a label scanner reports for a label (none: no-read).
func readLabel(l *labelsim.Label) vision.Result {
	if l == nil {
		return vision.Result{NoRead: true}
	}
	d, sym, err := casecam.DecodeLinear(l.Image)
	if err != nil {
		return vision.Result{NoRead: true}
	}
	return vision.Result{Data: d, SymbologyID: sym}
}

// Run closes the cases the packer filled and moves the case conveyor one
// pitch every Pitch, until ctx ends.
func (s *Sim) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Pitch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			for {
				s.mu.Lock()
				if len(s.toClose) == 0 {
					s.mu.Unlock()
					break
				}
				packs := s.toClose[0] // popped by closeCase once on the conveyor
				s.mu.Unlock()
				s.closeCase(packs)
			}
			continue
		case <-t.C:
		}
		s.belt.Lock()
		s.mu.Lock()
		busy := len(s.inflight) > 0
		s.mu.Unlock()
		if busy {
			s.shiftLocked()
			s.o.CaseLine.Advance(1)
		}
		s.belt.Unlock()
	}
}

// caseGate takes a case leaving the case line's gate.
func (s *Sim) caseGate(r plcsim.GateResult) {
	s.mu.Lock()
	c := s.bySeq[r.Seq]
	if c == nil {
		s.mu.Unlock()
		return
	}
	for i, f := range s.inflight {
		if f == c {
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			break
		}
	}
	c.gateKnown = true
	if r.PushedOff {
		c.Reworked = true
		s.mu.Unlock()
		return
	}
	c.Passed = true
	if s.o.PalletSize == 0 {
		s.mu.Unlock()
		return
	}
	if s.cur == nil {
		s.cur = &Pallet{Number: len(s.pallets) + 1}
		s.pallets = append(s.pallets, s.cur)
	}
	s.cur.Cases = append(s.cur.Cases, c.Seq)
	c.Pallet = s.cur.Number
	full := len(s.cur.Cases) >= s.o.PalletSize
	if full {
		s.complete = true
	}
	label := c.Label
	s.mu.Unlock()
	// the palletiser's scanner reads the case label (decoded once at the label scanner)
	read := vision.Result{NoRead: true}
	if label != "" {
		read = vision.Result{Data: label, SymbologyID: "]C1"}
	}
	s.o.PalletScanner.Send(read)
	if full {
		s.applyPalletLabel()
	}
}

// ReleasePallet completes the pallet being built as it is (batch end).
func (s *Sim) ReleasePallet() int {
	s.mu.Lock()
	n := 0
	if s.cur != nil {
		n = len(s.cur.Cases)
		s.complete = n > 0
	}
	s.mu.Unlock()
	s.applyPalletLabel()
	return n
}

// applyPalletLabel applies the next pallet label to a complete pallet and
// has the scanner read it.
func (s *Sim) applyPalletLabel() {
	s.mu.Lock()
	if !s.complete || s.cur == nil {
		s.mu.Unlock()
		return
	}
	l, ok := s.o.PalletLabeller.Apply()
	if !ok {
		s.mu.Unlock()
		return
	}
	p := s.cur
	s.cur, s.complete = nil, false
	res := readLabel(&l)
	p.Label = res.Data
	s.mu.Unlock()
	s.o.PalletScanner.Send(res)
}

// Truth returns what physically happened so far.
func (s *Sim) Truth() Truth {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t Truth
	for _, c := range s.cases {
		cc := *c
		cc.Serials = append([]string(nil), c.Serials...)
		cc.symbols, cc.label = nil, nil
		t.Cases = append(t.Cases, cc)
	}
	for _, p := range s.pallets {
		pp := *p
		pp.Cases = append([]uint64(nil), p.Cases...)
		t.Pallets = append(t.Pallets, pp)
	}
	for _, q := range s.toClose {
		t.Loose = append(t.Loose, q...) // filled, not yet on the conveyor
	}
	t.Loose = append(t.Loose, s.open...)
	return t
}

// InFlight is the number of cases on the conveyor.
func (s *Sim) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}
