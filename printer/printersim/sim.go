// Package printersim is a simulated CLARiTY-class TIJ printer speaking the
// text protocol over TCP (and ZPL II on a second listener), in the manner
// of net/http/httptest: Start listens on 127.0.0.1:0 and reports the
// address. It keeps a bounded record queue, prints on Print (the photo-eye:
// the demo wires it to plcsim.OnProduct) or on its own timer, renders each
// printed record as the real DataMatrix symbol with optional print defects
// and hands it to OnPrint (the camera simulator consumes it), and can
// inject every fault the line must survive: ink low/out, cartridge
// missing, head fault, jet stopped, queue underrun per the no-data policy,
// disconnects, late and duplicate acknowledgements, wrong records.
package printersim

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/printer/tij"
)

// NoData policies: what the printer does when triggered with an empty queue.
const (
	NoDataWarn   = "warn"   // report ERS|W|NODATA| and keep running
	NoDataIgnore = "ignore" // say nothing
	NoDataFail   = "fail"   // report ERS|F|NODATA| and stop (fault)
)

// Fault kinds the simulator can inject (their ERS codes).
const (
	FaultInkLow           = "INKLOW"  // warning
	FaultInkOut           = "INKOUT"  // fault
	FaultCartridgeMissing = "NOCART"  // fault
	FaultHead             = "HEAD"    // fault
	FaultJetStopped       = "JETSTOP" // fault
	FaultNoData           = "NODATA"  // fault under NoDataFail, warning under NoDataWarn
)

// Defect kinds applied to printed images.
const (
	DefectContrast    = "contrast"
	DefectMissingDots = "missing-dots"
	DefectSmear       = "smear"
)

// Defect is one print defect on a printed symbol.
type Defect struct {
	Kind     string  // DefectContrast, DefectMissingDots or DefectSmear
	Severity float64 // 0 (none) .. 1 (unreadable)
}

// Printed is one printed record as it leaves the printer.
type Printed struct {
	// Seq is the trigger's product sequence (Print(seq)); 0 for the own timer.
	Seq uint64
	// At is when the product reached the print head (PrintAt's time; the
	// photo-eye's moment for Print and the own timer): the print's start.
	At time.Time
	// RecordID is the record printed ("" if the record had no ID field).
	RecordID string
	// Data is the element string printed (the DataField's value).
	Data string
	// Image is the rendered symbol with defects applied (nil when the
	// record has no data or no renderer is set).
	Image image.Image
	// Defects applied to Image.
	Defects []Defect
	// Counter is the print counter after this print.
	Counter uint64
	// Fields are all the record's fields.
	Fields map[string]string
	// Seed is the defect pattern's seed: ApplyDefects(render(Data),
	// Defects, Seed) reproduces Image (a camera in another process renders
	// the print this way, from the line bus).
	Seed uint64
}

// Options configure a Server. Durations are zero (instant) by default, so
// tests are deterministic; the demo sets realistic ones.
type Options struct {
	// Addr is the text-protocol listen address (default "127.0.0.1:0").
	Addr string
	// ZPLAddr, if set, also serves ZPL II on this address ("127.0.0.1:0").
	ZPLAddr string
	// QueueCap bounds the record queue; records beyond it are refused
	// with ERR|QFULL| (default 16).
	QueueCap int
	// AckDelay and AckJitter are the reply latency: each reply leaves
	// AckDelay + [0, AckJitter) after its command arrived, in command order
	// (commands are executed on arrival; a client may send several before
	// reading the replies, as the TIJ driver's pipelined enqueue does).
	AckDelay, AckJitter time.Duration
	// PrintTime is how long a code takes to pass under the print head: the
	// code's width divided by the conveyor speed (see PrintTimeAt). The
	// head prints from the trigger (PRS) to PrintTime later (PRC); a
	// product that arrives while it is still printing passes unprinted
	// (a missed print, reported as ERS|W|OVERLAP). 0 = instantaneous.
	PrintTime time.Duration
	// PhotoEye, if > 0, triggers a print every PhotoEye on its own.
	PhotoEye time.Duration
	// NoData is the policy for a trigger with an empty queue: "warn"
	// (default), "ignore" or "fail".
	NoData string
	// IDField is the job field whose value is the record ID reported in
	// PRS/PRC (default "ID").
	IDField string
	// DataField is the job field holding the element string to render
	// (default "GS1").
	DataField string
	// ZPLIDField and ZPLDataField are the ^FN numbers carrying the record ID
	// and the element string in ZPL labels (defaults 1 and 2).
	ZPLIDField, ZPLDataField int
	// Layout is where PRS/PRC put the counter and record ID (default
	// tij.DefaultLayout()); -1 drops a field.
	Layout *tij.Layout
	// InkCapacity is how many prints a full cartridge makes (0 = endless);
	// InkLowAt is the remaining prints at which INKLOW is warned.
	InkCapacity, InkLowAt uint64
	// FaultClearsQueue empties the queue when a fault occurs.
	FaultClearsQueue bool
	// WrongRecordRate is the probability of printing the second record in
	// the queue instead of the first (reported honestly in PRC).
	WrongRecordRate float64
	// DuplicateAckRate is the probability of reporting a print twice
	// (its print-start and its print-complete each sent again).
	DuplicateAckRate float64
	// LateAckRate is the probability of delaying a reply by LateAckDelay
	// (beyond the driver's reply timeout).
	LateAckRate  float64
	LateAckDelay time.Duration
	// DefectRate is the probability that a print gets a defect; the kind is
	// drawn from DefectKinds (default all three), the severity uniformly
	// from [0, MaxDefectSeverity] (default 0.5).
	DefectRate        float64
	DefectKinds       []string
	MaxDefectSeverity float64
	// Render turns an element string into the printed symbol at the
	// printer's resolution (default: printer/datamatrix GS1 DataMatrix,
	// see DefaultRender). Only called when an OnPrint callback is set.
	Render func(data string) (image.Image, error)
	// Seed seeds the random source (jitter, rates, defects); 0 = 1.
	Seed uint64
	// Logger (default: discard).
	Logger *slog.Logger
}

// Stats are the simulator's counters.
type Stats struct {
	Accepted   uint64 // records taken into the queue (JDI/SLI, ZPL labels)
	Refused    uint64 // records refused with ERR|QFULL|
	Printed    uint64 // records printed
	Missed     uint64 // triggers that printed nothing (empty queue, head still printing, printer stopped)
	Overlaps   uint64 // of Missed: the head was still printing the previous code
	Duplicates uint64 // print-completes sent twice (DuplicateAckRate)
	Wrong      uint64 // prints of the second record instead of the head (WrongRecordRate)
	Cleared    uint64 // records dropped by CQI, ~JA or a fault with FaultClearsQueue
}

type record struct {
	id     string
	fields map[string]string
	data   string      // element string to render
	img    image.Image // a received bitmap (ZPL ^GF) instead of data
}

// Server is a running simulated printer.
type Server struct {
	o      Options
	layout tij.Layout
	ln     net.Listener
	zln    net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	later  chan delayed // messages due later (print-completes), in order
	render chan Printed // prints on their way to the OnPrint callbacks

	mu        sync.Mutex
	busyUntil time.Time // the head prints until then
	stalled   bool      // asynchronous messages held back (StallReports)
	held      [][]byte  // the messages held back, in order
	rnd       *rand.Rand
	conns     map[*simConn]struct{} // text-protocol connections
	zconns    map[*simConn]struct{} // ZPL connections
	job       string
	jobFields map[string]string
	queue     []record
	counter   uint64
	ink       uint64
	inkWarned bool
	faults    []tij.Fault
	warnings  []tij.Fault
	state     string
	onPrint   []func(Printed)
	stats     Stats
	formats   map[string]string // ZPL stored formats
	zplPaused bool
	zplFlags  zplFlags
	changed   chan struct{} // closed and replaced on every state change
}

// Snapshot is the simulator's state at one moment.
type Snapshot struct {
	QueueLen int    // records queued
	Counter  uint64 // print counter
	State    string // RUNNING, OFFLINE or FAULT
	Stats    Stats  // counters
	Conns    int    // text-protocol connections
}

func (s *Server) snapshotLocked() Snapshot {
	return Snapshot{QueueLen: len(s.queue), Counter: s.counter, State: s.state, Stats: s.stats, Conns: len(s.conns)}
}

// unlock wakes Wait callers and unlocks s.mu.
func (s *Server) unlock() {
	s.notifyLocked()
	s.mu.Unlock()
}

// notifyLocked wakes Wait callers.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait blocks until cond holds for the simulator's state or ctx ends: the
// way tests synchronise with the printer without sleeping.
func (s *Server) Wait(ctx context.Context, cond func(Snapshot) bool) error {
	for {
		s.mu.Lock()
		ok := cond(s.snapshotLocked())
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			snap := s.snapshotLocked()
			s.mu.Unlock()
			return fmt.Errorf("printersim: wait: %w (state %+v)", ctx.Err(), snap)
		}
	}
}

// Start validates o, listens and serves until Close.
func Start(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.QueueCap < 0 {
		return nil, fmt.Errorf("%w: QueueCap %d: must be >= 0 (0 = 16)", ErrBadOptions, o.QueueCap)
	}
	if o.QueueCap == 0 {
		o.QueueCap = 16
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"AckDelay", o.AckDelay}, {"AckJitter", o.AckJitter}, {"PrintTime", o.PrintTime},
		{"PhotoEye", o.PhotoEye}, {"LateAckDelay", o.LateAckDelay}} {
		if d.v < 0 {
			return nil, fmt.Errorf("%w: %s %v: must be >= 0", ErrBadOptions, d.name, d.v)
		}
	}
	if o.NoData == "" {
		o.NoData = NoDataWarn
	}
	switch o.NoData {
	case NoDataWarn, NoDataIgnore, NoDataFail:
	default:
		return nil, fmt.Errorf("%w: NoData %q: want warn, ignore or fail", ErrBadOptions, o.NoData)
	}
	if o.IDField == "" {
		o.IDField = "ID"
	}
	if o.DataField == "" {
		o.DataField = "GS1"
	}
	if o.ZPLIDField == 0 {
		o.ZPLIDField = 1
	}
	if o.ZPLDataField == 0 {
		o.ZPLDataField = 2
	}
	if o.MaxDefectSeverity <= 0 {
		o.MaxDefectSeverity = 0.5
	}
	if len(o.DefectKinds) == 0 {
		o.DefectKinds = []string{DefectContrast, DefectMissingDots, DefectSmear}
	}
	for _, r := range []float64{o.WrongRecordRate, o.DuplicateAckRate, o.LateAckRate, o.DefectRate} {
		if r < 0 || r > 1 {
			return nil, fmt.Errorf("%w: rates must be in [0, 1]", ErrBadOptions)
		}
	}
	if o.LateAckRate > 0 && o.LateAckDelay <= 0 {
		return nil, fmt.Errorf("%w: LateAckRate needs LateAckDelay > 0", ErrBadOptions)
	}
	if o.Render == nil {
		o.Render = DefaultRender
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	s := &Server{
		o: o, layout: tij.DefaultLayout(),
		later:   make(chan delayed, 1<<16),
		render:  make(chan Printed, 1<<16),
		rnd:     rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		conns:   map[*simConn]struct{}{},
		zconns:  map[*simConn]struct{}{},
		state:   "RUNNING",
		ink:     o.InkCapacity,
		formats: map[string]string{},
		changed: make(chan struct{}),
	}
	if o.Layout != nil {
		s.layout = *o.Layout
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("printersim: listen %s: %w", o.Addr, err)
	}
	s.ln = ln
	if o.ZPLAddr != "" {
		zln, err := net.Listen("tcp", o.ZPLAddr)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("printersim: listen ZPL %s: %w", o.ZPLAddr, err)
		}
		s.zln = zln
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(3)
	go s.accept(ln, s.conns, s.serveTIJ)
	go s.delayer()
	go s.renderer()
	if s.zln != nil {
		s.wg.Add(1)
		go s.accept(s.zln, s.zconns, s.serveZPL)
	}
	if o.PhotoEye > 0 {
		s.wg.Add(1)
		go s.photoEye()
	}
	return s, nil
}

// Addr is the text-protocol address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// ZPLAddr is the ZPL address, "" when not serving ZPL.
func (s *Server) ZPLAddr() string {
	if s.zln == nil {
		return ""
	}
	return s.zln.Addr().String()
}

// Close stops listening, drops every connection and waits for the
// server's goroutines.
func (s *Server) Close() error {
	s.cancel()
	s.ln.Close()
	if s.zln != nil {
		s.zln.Close()
	}
	s.Disconnect()
	s.wg.Wait()
	return nil
}

// OnPrint registers fn to receive every printed record, in print order,
// from the printer's output goroutine (after rendering, which never delays
// the printing itself; fn must not block for long).
func (s *Server) OnPrint(fn func(Printed)) {
	s.mu.Lock()
	s.onPrint = append(s.onPrint, fn)
	s.unlock()
}

// Print is the photo-eye: product seq passes the print head now. The
// printer prints the next queued record on it, or — when it cannot (empty
// queue, head still printing the previous code, printer stopped) — the
// product passes unprinted and the printer reports a missed print. A
// record is never printed late on a later product. Print never blocks on
// the clients or the renderer.
func (s *Server) Print(seq uint64) { s.printOne(seq, time.Now()) }

// PrintAt is Print for a product that reached the print head at at (the
// conveyor's schedule): whether the head is still busy is judged at that
// moment.
func (s *Server) PrintAt(seq uint64, at time.Time) { s.printOne(seq, at) }

// PrintTimeAt is the time a code codeWidthMM wide takes to pass under the
// head of a conveyor moving speedMMs (Options.PrintTime).
func PrintTimeAt(codeWidthMM, speedMMs float64) time.Duration {
	if speedMMs <= 0 {
		return 0
	}
	return time.Duration(codeWidthMM / speedMMs * float64(time.Second))
}

// StallReports holds the printer's asynchronous messages (print-start,
// print-complete, missed prints, errors) back while it keeps printing —
// a printer whose reporting stalls (a busy network, a hung task) with the
// connection open; ResumeReports sends them, in order.
func (s *Server) StallReports() {
	s.mu.Lock()
	s.stalled = true
	s.unlock()
}

// ResumeReports sends the messages held back by StallReports, in order,
// and reports as usual again.
func (s *Server) ResumeReports() {
	s.mu.Lock()
	defer s.unlock()
	s.stalled = false
	held := s.held
	s.held = nil
	for _, line := range held {
		for c := range s.conns {
			if c.async {
				c.write(line)
			}
		}
	}
}

// Disconnect drops every client connection (the printer keeps its queue).
func (s *Server) Disconnect() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns)+len(s.zconns))
	for c := range s.conns {
		conns = append(conns, c.nc)
	}
	for c := range s.zconns {
		conns = append(conns, c.nc)
	}
	s.unlock()
	for _, c := range conns {
		c.Close()
	}
}

// SetLateAck changes the late-reply behaviour at run time: with
// probability rate a reply comes delay late.
func (s *Server) SetLateAck(rate float64, delay time.Duration) {
	s.mu.Lock()
	s.o.LateAckRate, s.o.LateAckDelay = rate, delay
	s.unlock()
}

// Discard silently drops up to n records from the head of the queue, as if
// printed with their messages lost; it returns their IDs.
func (s *Server) Discard(n int) []string {
	s.mu.Lock()
	defer s.unlock()
	n = min(n, len(s.queue))
	ids := make([]string, n)
	for i := range n {
		ids[i] = s.queue[i].id
	}
	s.queue = append(s.queue[:0], s.queue[n:]...)
	return ids
}

// QueueLen is how many records the queue holds.
func (s *Server) QueueLen() int {
	s.mu.Lock()
	defer s.unlock()
	return len(s.queue)
}

// QueueIDs returns the queued record IDs, next to print first.
func (s *Server) QueueIDs() []string {
	s.mu.Lock()
	defer s.unlock()
	ids := make([]string, len(s.queue))
	for i, r := range s.queue {
		ids[i] = r.id
	}
	return ids
}

// Counter is the print counter.
func (s *Server) Counter() uint64 {
	s.mu.Lock()
	defer s.unlock()
	return s.counter
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.unlock()
	return s.stats
}

// State is the printer state: RUNNING, OFFLINE or FAULT.
func (s *Server) State() string {
	s.mu.Lock()
	defer s.unlock()
	return s.state
}

// InjectFault raises a fault (FaultInkOut, FaultCartridgeMissing,
// FaultHead, FaultJetStopped…) or, for FaultInkLow, a warning, and
// announces it (ERS) to every client with async messages on.
func (s *Server) InjectFault(code string) {
	s.mu.Lock()
	defer s.unlock()
	if code == FaultInkLow {
		s.warnLocked(code, "ink low")
		return
	}
	s.faultLocked(code, faultText[code])
}

var faultText = map[string]string{
	FaultInkOut:           "ink out",
	FaultCartridgeMissing: "cartridge missing",
	FaultHead:             "print head fault",
	FaultJetStopped:       "jet stopped",
	FaultNoData:           "no data: triggered with an empty queue",
}

// Refill puts in a full cartridge (ink out becomes clearable with CAF).
func (s *Server) Refill() {
	s.mu.Lock()
	s.ink = s.o.InkCapacity
	s.inkWarned = false
	s.unlock()
}

// SetZPLFlags sets the ZPL host-status conditions (paper/ribbon out, head
// open, paused); any of the first three stops printing like a fault.
func (s *Server) SetZPLFlags(paperOut, ribbonOut, headOpen, paused bool) {
	s.mu.Lock()
	s.zplFlags = zplFlags{paperOut: paperOut, ribbonOut: ribbonOut, headOpen: headOpen}
	s.zplPaused = paused
	s.unlock()
}

func (s *Server) warnLocked(code, text string) {
	s.warnings = append(s.warnings, tij.Fault{Code: code, Text: text})
	s.broadcastLocked(tij.Message{Name: tij.AsyncError, Fields: []string{"W", code, text}})
}

func (s *Server) faultLocked(code, text string) {
	s.faults = append(s.faults, tij.Fault{Code: code, Text: text})
	s.broadcastLocked(tij.Message{Name: tij.AsyncError, Fields: []string{"F", code, text}})
	if s.state != "FAULT" {
		s.state = "FAULT"
		s.broadcastLocked(tij.Message{Name: tij.AsyncStatus, Fields: []string{"FAULT", text}})
	}
	if s.o.FaultClearsQueue && len(s.queue) > 0 {
		s.stats.Cleared += uint64(len(s.queue))
		s.queue = nil
	}
}

// broadcastLocked sends an async message to every connection with EAN on.
func (s *Server) broadcastLocked(m tij.Message) {
	line := []byte(m.String() + "\r")
	if s.stalled {
		s.held = append(s.held, line)
		return
	}
	for c := range s.conns {
		if c.async {
			c.write(line)
		}
	}
}

func (s *Server) jitter(base, j time.Duration) time.Duration {
	if j <= 0 {
		return base
	}
	s.mu.Lock()
	defer s.unlock()
	return base + time.Duration(s.rnd.Int64N(int64(j)))
}

func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// accept serves every connection of ln on its own goroutine, listed in set
// (under s.mu) while it is served and closed when it ends or the server
// stops.
func (s *Server) accept(ln net.Listener, set map[*simConn]struct{}, serve func(*simConn)) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.o.Logger.Warn("printersim: accept", "err", err)
			continue
		}
		c := &simConn{nc: nc}
		s.mu.Lock()
		set[c] = struct{}{}
		s.unlock()
		stop := context.AfterFunc(s.ctx, func() { nc.Close() }) // unblock reads on Close
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				stop()
				s.mu.Lock()
				delete(set, c)
				s.unlock()
				nc.Close()
			}()
			serve(c)
		}()
	}
}

func (s *Server) photoEye() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.PhotoEye)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.Print(0)
		}
	}
}

func (s *Server) layoutFields(counter uint64, id string) []string {
	n := max(s.layout.Counter, s.layout.RecordID) + 1
	f := make([]string, n)
	if s.layout.Counter >= 0 {
		f[s.layout.Counter] = strconv.FormatUint(counter, 10)
	}
	if s.layout.RecordID >= 0 {
		f[s.layout.RecordID] = id
	}
	return f
}

// missLocked reports a product that passed the head unprinted.
func (s *Server) missLocked(code, text string) {
	s.stats.Missed++
	s.broadcastLocked(tij.Message{Name: tij.AsyncError, Fields: []string{"W", code, text}})
}

func (s *Server) printOne(seq uint64, now time.Time) {
	s.mu.Lock()
	switch {
	case s.ctx.Err() != nil:
		s.unlock()
		return
	case s.state != "RUNNING" || s.zplFlags.stopped() || s.zplPaused:
		// A stopped printer prints nothing; the product passes blank.
		s.missLocked("NOPRINT", "printer not running: product not printed")
		s.unlock()
		return
	case now.Before(s.busyUntil):
		s.stats.Overlaps++
		s.missLocked("OVERLAP", "print go while printing: product not printed")
		s.unlock()
		return
	case len(s.queue) == 0:
		switch s.o.NoData {
		case NoDataWarn:
			s.missLocked(FaultNoData, "no data")
		case NoDataFail:
			s.stats.Missed++
			s.faultLocked(FaultNoData, faultText[FaultNoData])
		default:
			s.stats.Missed++
		}
		s.unlock()
		return
	}
	idx := 0
	if len(s.queue) > 1 && s.o.WrongRecordRate > 0 && s.rnd.Float64() < s.o.WrongRecordRate {
		idx = 1
		s.stats.Wrong++
	}
	r := s.queue[idx]
	s.queue = append(s.queue[:idx], s.queue[idx+1:]...)
	s.counter++
	counter := s.counter
	s.stats.Printed++
	s.busyUntil = now.Add(s.o.PrintTime)
	prs := tij.Message{Name: tij.AsyncPrintStart, Fields: s.layoutFields(counter, r.id)}
	s.broadcastLocked(prs)
	dup := s.o.DuplicateAckRate > 0 && s.rnd.Float64() < s.o.DuplicateAckRate
	if dup {
		s.broadcastLocked(prs) // the print-start re-sent as well
	}
	var defects []Defect
	if s.o.DefectRate > 0 && s.rnd.Float64() < s.o.DefectRate {
		defects = append(defects, Defect{
			Kind:     s.o.DefectKinds[s.rnd.IntN(len(s.o.DefectKinds))],
			Severity: s.rnd.Float64() * s.o.MaxDefectSeverity,
		})
	}
	if s.o.InkCapacity > 0 {
		if s.ink > 0 {
			s.ink--
		}
		switch {
		case s.ink == 0:
			s.faultLocked(FaultInkOut, faultText[FaultInkOut])
		case s.ink <= s.o.InkLowAt && !s.inkWarned:
			s.inkWarned = true
			s.warnLocked(FaultInkLow, "ink low")
		}
	}
	seed := s.rnd.Uint64()
	out := len(s.onPrint) > 0
	if s.o.PrintTime <= 0 {
		s.completeLocked(counter, r.id, dup)
	}
	s.unlock()
	if s.o.PrintTime > 0 {
		s.schedule(now.Add(s.o.PrintTime), func() {
			s.mu.Lock()
			s.completeLocked(counter, r.id, dup)
			s.unlock()
		})
	}
	if out {
		p := Printed{Seq: seq, RecordID: r.id, Data: r.data, Counter: counter, Fields: r.fields, Defects: defects, Image: r.img, Seed: seed, At: now}
		select {
		case s.render <- p:
		case <-s.ctx.Done():
		}
	}
}

// completeLocked sends the print-complete (twice for a duplicate ack).
func (s *Server) completeLocked(counter uint64, id string, dup bool) {
	prc := tij.Message{Name: tij.AsyncPrintComplete, Fields: s.layoutFields(counter, id)}
	s.broadcastLocked(prc)
	if dup {
		s.stats.Duplicates++
		s.broadcastLocked(prc)
	}
}

// delayed is a function due at a time (print-complete at the end of a
// print).
type delayed struct {
	due time.Time
	fn  func()
}

// schedule runs fn at due on the delayer goroutine (in the order
// scheduled; callers schedule in due order).
func (s *Server) schedule(due time.Time, fn func()) {
	select {
	case s.later <- delayed{due: due, fn: fn}:
	case <-s.ctx.Done():
	}
}

func (s *Server) delayer() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case d := <-s.later:
			if !s.sleep(time.Until(d.due)) {
				return
			}
			d.fn()
		}
	}
}

// renderer renders each print (with its defects) and hands it to the
// OnPrint callbacks, in print order, off the printing path.
func (s *Server) renderer() {
	defer s.wg.Done()
	for {
		var p Printed
		select {
		case <-s.ctx.Done():
			return
		case p = <-s.render:
		}
		if p.Image != nil {
			p.Image = ApplyDefects(p.Image, p.Defects, p.Seed)
		} else if p.Data != "" {
			img, err := s.o.Render(p.Data)
			if err != nil {
				s.o.Logger.Warn("printersim: render", "record", p.RecordID, "err", err)
			} else {
				p.Image = ApplyDefects(img, p.Defects, p.Seed)
			}
		}
		s.mu.Lock()
		cbs := s.onPrint
		s.mu.Unlock()
		for _, fn := range cbs {
			fn(p)
		}
	}
}

// simConn is one client connection.
type simConn struct {
	nc    net.Conn
	wmu   sync.Mutex
	async bool // guarded by Server.mu
}

func (c *simConn) write(b []byte) {
	c.wmu.Lock()
	_, _ = c.nc.Write(b)
	c.wmu.Unlock()
}

// serveTIJ speaks the text protocol on one connection.
func (s *Server) serveTIJ(c *simConn) {
	nc := c.nc
	buf := make([]byte, 0, 4096)
	rb := make([]byte, 4096)
	// Replies leave after their latency, in command order, from their own
	// goroutine: commands keep being read and executed meanwhile.
	replies := make(chan delayed, 4096)
	done := make(chan struct{})
	defer func() { close(replies); <-done }()
	go func() {
		defer close(done)
		for d := range replies {
			if s.sleep(time.Until(d.due)) {
				d.fn()
			}
		}
	}()
	var last time.Time // due time of the last reply queued
	for {
		n, err := nc.Read(rb)
		if err != nil {
			return
		}
		buf = append(buf, rb[:n]...)
		for {
			i := indexCR(buf)
			if i < 0 {
				break
			}
			line := string(buf[:i])
			buf = buf[i+1:]
			if strings.TrimSpace(line) == "" {
				continue
			}
			now := time.Now()
			reply := []byte(s.handleTIJ(c, line).String() + "\r")
			d := s.jitter(s.o.AckDelay, s.o.AckJitter)
			s.mu.Lock()
			if s.o.LateAckRate > 0 && s.rnd.Float64() < s.o.LateAckRate {
				d += s.o.LateAckDelay // read under s.mu: SetLateAck changes it
			}
			s.unlock()
			due := now.Add(d)
			if due.Before(last) {
				due = last // replies never overtake each other
			}
			if d <= 0 && !last.After(now) {
				c.write(reply)
				continue
			}
			last = due
			select {
			case replies <- delayed{due: due, fn: func() { c.write(reply) }}:
			case <-s.ctx.Done():
				return
			}
		}
		if len(buf) > tij.MaxLine {
			c.write([]byte("ERR|TOOLONG|line too long|\r"))
			return
		}
	}
}

func indexCR(b []byte) int {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			return i
		}
	}
	return -1
}

func ack() tij.Message { return tij.Message{Name: tij.ReplyACK} }

func errReply(code, text string) tij.Message {
	return tij.Message{Name: tij.ReplyERR, Fields: []string{code, text}}
}

// handleTIJ executes one command line and returns the reply.
func (s *Server) handleTIJ(c *simConn, line string) tij.Message {
	m, err := tij.ParseMessage([]byte(line))
	if err != nil {
		return errReply("SYNTAX", err.Error())
	}
	s.mu.Lock()
	defer s.unlock()
	switch m.Name {
	case tij.CmdSelect, tij.CmdSelectNamed:
		if len(m.Fields) == 0 || m.Fields[0] == "" {
			return errReply("NOJOB", "job name missing")
		}
		s.job = m.Fields[0]
		s.jobFields = map[string]string{}
		for i, f := range m.Fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if m.Name == tij.CmdSelect || !ok {
				k, v = strconv.Itoa(i+1), f
			}
			s.jobFields[k] = v
		}
		return ack()
	case tij.CmdUpdate, tij.CmdUpdateNamed:
		if s.job == "" {
			return errReply("NOJOB", "no job selected")
		}
		for _, f := range m.Fields {
			if k, v, ok := strings.Cut(f, "="); ok {
				s.jobFields[k] = v
			}
		}
		return ack()
	case tij.CmdSelectAllocate, tij.CmdUpdateAllocate:
		args := m.Fields
		if m.Name == tij.CmdSelectAllocate {
			if len(args) == 0 || args[0] == "" {
				return errReply("NOJOB", "job name missing")
			}
			s.job, args = args[0], args[1:]
		}
		if s.job == "" {
			return errReply("NOJOB", "no job selected")
		}
		if len(s.queue) >= s.o.QueueCap {
			s.stats.Refused++
			return errReply("QFULL", "queue full")
		}
		r := record{fields: make(map[string]string, len(args))}
		for _, f := range args {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return errReply("BADFIELD", "field "+strconv.Quote(f)+" is not name=value")
			}
			r.fields[k] = v
		}
		r.id = r.fields[s.o.IDField]
		r.data = r.fields[s.o.DataField]
		s.queue = append(s.queue, r)
		s.stats.Accepted++
		return ack()
	case tij.CmdQueueSize:
		return tij.Message{Name: tij.CmdQueueSize, Fields: []string{strconv.Itoa(len(s.queue)), strconv.Itoa(s.o.QueueCap)}}
	case tij.CmdClearQueueItem:
		n := len(s.queue)
		if len(m.Fields) > 0 && m.Fields[0] != "" {
			k, err := strconv.Atoi(m.Fields[0])
			if err != nil || k < 0 {
				return errReply("BADARG", "CQI count "+strconv.Quote(m.Fields[0]))
			}
			n = min(k, n)
		}
		s.queue = append(s.queue[:0], s.queue[n:]...)
		s.stats.Cleared += uint64(n)
		return ack()
	case tij.CmdGetState:
		return tij.Message{Name: tij.CmdGetState, Fields: []string{s.state, strings.ToLower(s.state)}}
	case tij.CmdSetState:
		switch st := strings.ToUpper(firstField(m)); st {
		case "RUNNING", "OFFLINE":
			if s.state == "FAULT" {
				return errReply("FAULTED", "clear faults first")
			}
			if s.state != st {
				s.state = st
				s.broadcastLocked(tij.Message{Name: tij.AsyncStatus, Fields: []string{st, strings.ToLower(st)}})
			}
			return ack()
		default:
			return errReply("BADARG", "state "+strconv.Quote(st))
		}
	case tij.CmdGetFaults, tij.CmdGetWarnings:
		list := s.faults
		if m.Name == tij.CmdGetWarnings {
			list = s.warnings
		}
		f := []string{strconv.Itoa(len(list))}
		for _, x := range list {
			f = append(f, x.Code, x.Text)
		}
		return tij.Message{Name: m.Name, Fields: f}
	case tij.CmdClearFaults:
		if s.o.InkCapacity > 0 && s.ink == 0 {
			return errReply(FaultInkOut, "ink out: replace the cartridge")
		}
		s.faults = nil
		if s.state == "FAULT" {
			s.state = "RUNNING"
			s.broadcastLocked(tij.Message{Name: tij.AsyncStatus, Fields: []string{"RUNNING", "running"}})
		}
		return ack()
	case tij.CmdClearMessages:
		s.warnings = nil
		return ack()
	case tij.CmdGetPrintCount:
		return tij.Message{Name: tij.CmdGetPrintCount, Fields: []string{strconv.FormatUint(s.counter, 10)}}
	case tij.CmdSetPrintCount:
		n, err := strconv.ParseUint(firstField(m), 10, 64)
		if err != nil {
			return errReply("BADARG", "SPC count "+strconv.Quote(firstField(m)))
		}
		s.counter = n
		return ack()
	case tij.CmdAsyncNotify:
		switch firstField(m) {
		case "1":
			c.async = true
		case "0":
			c.async = false
		default:
			return errReply("BADARG", "EAN wants 1 or 0")
		}
		return ack()
	}
	return errReply("BADCMD", "unknown command "+m.Name)
}

func firstField(m tij.Message) string {
	if len(m.Fields) == 0 {
		return ""
	}
	return m.Fields[0]
}
