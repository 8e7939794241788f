// Package plcsim is a simulated packaging-line PLC: a conveyor model
// served over Modbus TCP (simonvetter/modbus server) and OPC UA (gopcua's
// server package), for tests and the demo, in-process or standalone
// (serialine sim plc).
//
// Model: products enter at the trigger point (by hand with Produce, or at
// Options.Rate with Run). Each product advances the product counter, gets
// the next sequence id (written to the sequence-id ring) and moves the
// encoder one pitch; an encoder-driven shift register carries each product
// GateDistance pitches to the reject gate. At the gate the product is
// pushed off when its verdict is reject or — fail-safe — missing (counted as
// NoVerdict); the confirmation sensor result goes to the product's
// confirmation slot. Heartbeats both ways: the PLC heartbeat changes every
// HeartbeatPeriod, and the controller's heartbeat is watched
// (ControllerTimeout): when it stalls the simulated PLC stops the line.
//
// Fault injection (SetFaults, DropConnections, SetOffline): Modbus exception
// codes, slow or dropped Modbus responses, connection loss on both
// protocols, missed confirmations, stalled PLC heartbeat.
package plcsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/opcua"
)

// Options configure a Sim.
type Options struct {
	// Logger receives server events (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rate is products per second produced by Run; 0 = only by hand.
	Rate float64
	// GateDistance is the number of encoder pitches from the trigger point
	// to the reject gate (default 8).
	GateDistance int
	// StartStopped powers the PLC up with the line stopped (line_stop = 1),
	// as a line's PLC program does: the conveyor runs only once the
	// controller writes line_stop = 0. False: the line runs from power-up
	// until a line stop is written (device tests that drive the PLC alone).
	StartStopped bool
	// FirstSeq is the first product sequence id (default 1).
	FirstSeq uint64
	// InitialCounter is the product counter's start value (wrap tests).
	InitialCounter uint64
	// HeartbeatPeriod is how often Run changes the PLC heartbeat
	// (default 100ms).
	HeartbeatPeriod time.Duration
	// ControllerTimeout: when the controller heartbeat stays unchanged this
	// long (after it was first seen) the PLC stops the line. 0 = 1s.
	ControllerTimeout time.Duration
	// Registers is the Modbus register map served (default
	// modbus.DefaultRegisterMap()).
	Registers *modbus.RegisterMap
	// SecureEndpoints additionally offers Basic256Sha256 (Sign and
	// SignAndEncrypt) with an ephemeral self-signed server certificate.
	// Experimental: gopcua v0.8.0's server implements policy None only
	// (see devices/opcua tests).
	SecureEndpoints bool
	// Nodes is the OPC UA node map served (default opcua.DefaultNodeMap());
	// node ids must be in namespace 1.
	Nodes *opcua.NodeMap
}

// Faults are injected faults; the zero value is a healthy PLC.
type Faults struct {
	// ModbusException, when non-zero, answers Modbus requests with this
	// exception code (1 illegal function, 2 illegal data address, 3 illegal
	// data value, 4 server device failure, 6 busy, …).
	ModbusException byte
	// ExceptionCount limits ModbusException to that many requests (0 =
	// until cleared).
	ExceptionCount int
	// ExceptionOnVerdicts limits ModbusException to write requests touching
	// the decision table (trigger polls, heartbeats and outputs are served
	// normally).
	ExceptionOnVerdicts bool
	// ExceptionAfter serves that many requests ModbusException applies to
	// normally before the exceptions start (e.g. 1 with
	// ExceptionOnVerdicts: the second verdict write fails).
	ExceptionAfter int
	// RefuseVerdicts makes the OPC UA server answer that many writes of
	// decision slot nodes with BadDeviceFailure (the verdict is not stored);
	// the other nodes of the same Write request are served normally.
	RefuseVerdicts int
	// RefuseVerdictsAfter accepts that many decision node writes before the
	// refusals start.
	RefuseVerdictsAfter int
	// ModbusDelay delays every Modbus response (slow PLC). A delay longer
	// than the client's timeout leaves a late reply in the socket.
	ModbusDelay time.Duration
	// DelayCount limits ModbusDelay to that many requests (0 = until
	// cleared).
	DelayCount int
	// ModbusDrop holds Modbus responses back until the fault is cleared or
	// the connection is dropped (a PLC that stops answering).
	ModbusDrop bool
	// MissConfirm makes the confirmation sensor miss every reject.
	MissConfirm bool
	// MissConfirmCount limits MissConfirm to that many rejects (0 = until
	// cleared).
	MissConfirmCount int
	// StallHeartbeat freezes the PLC heartbeat.
	StallHeartbeat bool
}

// GateResult is one product's outcome at the reject gate.
type GateResult struct {
	// Seq is the product's sequence id.
	Seq uint64
	// Verdict is the verdict found at the gate (devices.Verdict*; None when
	// the controller's verdict had not arrived).
	Verdict int
	// PushedOff: the gate fired (reject verdict, or none: fail-safe).
	PushedOff bool
	// Result is what the confirmation slot reports (devices.Gate*).
	Result int
}

// Status is a snapshot of the simulated PLC.
type Status struct {
	Produced      uint64 // products that entered
	Counter       uint64 // product counter (wraps)
	LastSeq       uint64 // last sequence id given
	Heartbeat     uint16 // PLC heartbeat
	Passed        uint64 // products that passed the gate
	Rejected      uint64 // pushed off and confirmed
	NoVerdict     uint64 // pushed off fail-safe because no verdict had arrived
	ConfirmMissed uint64 // rejects the sensor did not see
	InFlight      int    // products between trigger point and gate
	Outputs       devices.Outputs
	// ControllerHeartbeat is the last value the controller wrote.
	ControllerHeartbeat uint16
	// ControllerStalled: the controller heartbeat stalled (line stopped).
	ControllerStalled bool
	// LineRunning: Run produces products (no line stop, no stall).
	LineRunning bool
	// ModbusRequests served (including faulted ones).
	ModbusRequests uint64
}

type beltSlot struct {
	seq uint64
	ok  bool
}

// Sim is one simulated PLC. All methods are safe for concurrent use.
type Sim struct {
	o     Options
	log   *slog.Logger
	now   func() time.Time
	regs  modbus.RegisterMap
	nodes opcua.NodeMap

	mu         sync.Mutex
	bank       []uint16 // holding registers by PDU address
	st         Status
	seq        uint64
	belt       []beltSlot
	mbVerdicts []verdictSlot     // the Modbus decision table
	uaVerdicts []verdictSlot     // the OPC UA decision slot nodes
	confirmUA  map[uint64]uint64 // opc ua confirmation slot -> packed value
	present    bool
	faults     Faults
	dropGen    chan struct{} // closed to release dropped responses
	ctlSeen    bool
	ctlChange  time.Time
	results    []GateResult
	hooks      []func(seq uint64, at time.Time)
	gateHooks  []func(GateResult)
	gateOut    []GateResult // results of the current step, handed to gateHooks outside the lock

	mbSrv *modbusServer
	uaSrv *uaServer

	closeOnce sync.Once
}

// New builds a sim; nothing listens until StartModbus / StartOPCUA.
func New(o Options) (*Sim, error) {
	s := &Sim{o: o, log: o.Logger, now: o.Now, confirmUA: map[uint64]uint64{}, dropGen: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if o.GateDistance <= 0 {
		s.o.GateDistance = 8
	}
	if o.FirstSeq == 0 {
		s.o.FirstSeq = 1
	}
	if o.HeartbeatPeriod <= 0 {
		s.o.HeartbeatPeriod = 100 * time.Millisecond
	}
	if o.ControllerTimeout <= 0 {
		s.o.ControllerTimeout = time.Second
	}
	s.regs = modbus.DefaultRegisterMap()
	if o.Registers != nil {
		s.regs = *o.Registers
	}
	if err := s.regs.Validate().Err(); err != nil {
		return nil, fmt.Errorf("plcsim: registers: %w", err)
	}
	s.nodes = opcua.DefaultNodeMap()
	if o.Nodes != nil {
		s.nodes = *o.Nodes
	}
	if err := s.nodes.Validate().Err(); err != nil {
		return nil, fmt.Errorf("plcsim: nodes: %w", err)
	}
	if err := checkNamespace(s.nodes); err != nil {
		return nil, err
	}
	s.bank = make([]uint16, 65536)
	s.mbVerdicts = make([]verdictSlot, s.regs.Slots)
	s.uaVerdicts = make([]verdictSlot, s.nodes.Slots)
	s.belt = make([]beltSlot, s.o.GateDistance)
	s.seq = s.o.FirstSeq - 1
	s.st.Counter = o.InitialCounter & s.counterMask()
	s.st.LastSeq = s.seq
	s.writeCounterLocked()
	if o.StartStopped {
		s.st.Outputs.LineStop = true
		s.bank[s.regs.PDU(s.regs.LineStop)] = 1
	}
	return s, nil
}

func (s *Sim) counterMask() uint64 {
	if s.regs.CounterWidth == 16 {
		return 0xffff
	}
	return 0xffffffff
}

// OnProduct registers fn to be called (synchronously, outside the sim's
// lock, in the producing goroutine) for every product entering at the
// trigger point, with its sequence id. The demo wires the printer sim's
// photo-eye to it.
func (s *Sim) OnProduct(fn func(seq uint64)) {
	s.OnProductAt(func(seq uint64, _ time.Time) { fn(seq) })
}

// OnProductAt is OnProduct with the moment the product reached the trigger
// point: with Run, the conveyor's schedule (products evenly spaced at
// Options.Rate), not the moment the simulator got round to it; with
// Produce, the call.
func (s *Sim) OnProductAt(fn func(seq uint64, at time.Time)) {
	s.mu.Lock()
	s.hooks = append(s.hooks, fn)
	s.mu.Unlock()
}

// OnGate registers fn to be called (synchronously, outside the sim's lock,
// in the goroutine that moved the conveyor) for every product leaving the
// reject gate, in gate order, with what the gate did to it. Downstream
// machines (a case packer taking the products that passed) wire here.
func (s *Sim) OnGate(fn func(GateResult)) {
	s.mu.Lock()
	s.gateHooks = append(s.gateHooks, fn)
	s.mu.Unlock()
}

// takeGateOutLocked returns the gate results collected since the last call
// and the hooks to hand them to.
func (s *Sim) takeGateOutLocked() ([]GateResult, []func(GateResult)) {
	out := s.gateOut
	s.gateOut = nil
	if len(s.gateHooks) == 0 {
		return nil, nil
	}
	return out, s.gateHooks
}

func runGateHooks(out []GateResult, hooks []func(GateResult)) {
	for _, r := range out {
		for _, h := range hooks {
			h(r)
		}
	}
}

func (s *Sim) put32Locked(pduAddr uint16, v uint32) {
	w0, w1 := modbus.Split32(v, s.regs.WordOrder)
	s.bank[pduAddr] = w0
	s.bank[pduAddr+1] = w1
}

func (s *Sim) writeCounterLocked() {
	a := s.regs.PDU(s.regs.Counter)
	if s.regs.CounterWidth == 32 {
		s.put32Locked(a, uint32(s.st.Counter))
	} else {
		s.bank[a] = uint16(s.st.Counter)
	}
}

// Produce lets n products enter at the trigger point, one encoder pitch
// each, and returns their sequence ids. Products reaching the gate are
// processed before Produce returns.
func (s *Sim) Produce(n int) []uint64 { return s.produce(n, nil) }

// produce is Produce with each product's arrival time at (nil: now).
func (s *Sim) produce(n int, at func(i int) time.Time) []uint64 {
	now := s.now()
	if at == nil {
		at = func(int) time.Time { return now }
	}
	seqs := make([]uint64, 0, n)
	s.mu.Lock()
	hooks := s.hooks
	var dirty []string
	for range n {
		s.seq++
		seq := s.seq
		s.st.Produced++
		s.st.LastSeq = seq
		s.st.Counter = (s.st.Counter + 1) & s.counterMask()
		s.writeCounterLocked()
		if s.regs.SeqRingLen > 0 {
			i := s.st.Counter % uint64(s.regs.SeqRingLen)
			s.put32Locked(s.regs.PDU(s.regs.SeqRing)+uint16(2*i), uint32(seq))
		}
		s.present = true
		dirty = append(dirty, s.stepLocked(beltSlot{seq: seq, ok: true})...)
		seqs = append(seqs, seq)
	}
	dirty = append(dirty, s.nodes.ProductSeq, s.nodes.ProductPresent)
	gout, ghooks := s.takeGateOutLocked()
	s.mu.Unlock()
	s.notify(dirty...)
	for i, seq := range seqs {
		t := at(i)
		for _, h := range hooks {
			h(seq, t)
		}
	}
	runGateHooks(gout, ghooks)
	return seqs
}

// Advance moves the conveyor n pitches with no product entering (pushes
// the products in flight towards and through the gate).
func (s *Sim) Advance(n int) {
	s.mu.Lock()
	var dirty []string
	for range n {
		s.present = false
		dirty = append(dirty, s.stepLocked(beltSlot{})...)
	}
	dirty = append(dirty, s.nodes.ProductPresent)
	gout, ghooks := s.takeGateOutLocked()
	s.mu.Unlock()
	s.notify(dirty...)
	runGateHooks(gout, ghooks)
}

// Flush advances the conveyor until every product in flight has passed the
// gate.
func (s *Sim) Flush() { s.Advance(len(s.belt)) }

// stepLocked shifts the belt one pitch, inserting in, and processes the
// product falling off the end at the gate. Returns OPC UA keys changed.
func (s *Sim) stepLocked(in beltSlot) []string {
	out := s.belt[len(s.belt)-1]
	copy(s.belt[1:], s.belt[:len(s.belt)-1])
	s.belt[0] = in
	if !out.ok {
		return nil
	}
	v, ok := s.verdictLocked(out.seq)
	if !ok {
		v = devices.VerdictNone
	}
	r := GateResult{Seq: out.seq, Verdict: v}
	switch v {
	case devices.VerdictAccept:
		r.Result = devices.GatePassed
		s.st.Passed++
	default:
		if v == devices.VerdictNone {
			s.st.NoVerdict++
		}
		r.PushedOff = true
		if s.faults.MissConfirm {
			r.Result = devices.GateUnconfirmed
			s.st.ConfirmMissed++
			if s.faults.MissConfirmCount > 0 {
				if s.faults.MissConfirmCount--; s.faults.MissConfirmCount == 0 {
					s.faults.MissConfirm = false
				}
			}
		} else {
			r.Result = devices.GateRejected
			s.st.Rejected++
		}
	}
	if len(s.results) < 1<<16 {
		s.results = append(s.results, r)
	}
	if len(s.gateHooks) > 0 {
		s.gateOut = append(s.gateOut, r)
	}
	code := devices.EncodeGateResult(r.Result, v == devices.VerdictNone)
	slot := modbus.EncodeSlot(uint32(out.seq), code, s.regs.WordOrder)
	a := s.regs.SlotPDU(s.regs.Confirmations, out.seq)
	copy(s.bank[a:a+3], slot[:])
	ui := out.seq % uint64(s.nodes.Slots)
	s.confirmUA[ui] = opcua.PackSlot(out.seq, uint8(code))
	return []string{fmt.Sprintf(s.nodes.Confirmations, ui)}
}

// RestartPLC simulates a PLC restart: the product counter starts again
// from zero (sequence ids continue). Controllers see the counter jump
// backwards.
func (s *Sim) RestartPLC() {
	s.mu.Lock()
	s.st.Counter = 0
	s.writeCounterLocked()
	s.mu.Unlock()
}

// Beat changes the PLC heartbeat once (unless StallHeartbeat is set).
func (s *Sim) Beat() {
	s.mu.Lock()
	if s.faults.StallHeartbeat {
		s.mu.Unlock()
		return
	}
	s.st.Heartbeat++
	s.bank[s.regs.PDU(s.regs.PLCHeartbeat)] = s.st.Heartbeat
	s.mu.Unlock()
	s.notify(s.nodes.PLCHeartbeat)
}

// SetFaults replaces the injected faults. Clearing ModbusDrop releases the
// held responses.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	if s.faults.ModbusDrop && !f.ModbusDrop {
		close(s.dropGen)
		s.dropGen = make(chan struct{})
	}
	s.faults = f
	s.mu.Unlock()
}

// Faults returns the current faults (counts decrease as they are used).
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Status returns a snapshot.
func (s *Sim) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	for _, b := range s.belt {
		if b.ok {
			st.InFlight++
		}
	}
	st.LineRunning = !st.Outputs.LineStop && !st.ControllerStalled
	return st
}

// Results returns the gate outcomes so far, in gate order.
func (s *Sim) Results() []GateResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]GateResult(nil), s.results...)
}

// Verdict returns the verdict currently stored for product seq (for
// products not yet at the gate).
func (s *Sim) Verdict(seq uint64) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.verdictLocked(seq)
}

// verdictSlot is one decision slot as a PLC holds it: the product it was
// written for and its verdict. A later product's verdict in the same slot
// (seq mod slots) replaces it, as in a real PLC's table.
type verdictSlot struct {
	seq uint64 // as the protocol carries it (32 bits Modbus, 56 bits OPC UA)
	v   int
}

// verdictLocked is the verdict in product seq's decision slot, if the
// slot holds that product (written over either protocol).
func (s *Sim) verdictLocked(seq uint64) (int, bool) {
	if len(s.mbVerdicts) > 0 {
		if sl := s.mbVerdicts[seq%uint64(len(s.mbVerdicts))]; sl.v != 0 && sl.seq == seq&0xffffffff {
			return sl.v, true
		}
	}
	if len(s.uaVerdicts) > 0 {
		if sl := s.uaVerdicts[seq%uint64(len(s.uaVerdicts))]; sl.v != 0 && sl.seq == seq&(1<<56-1) {
			return sl.v, true
		}
	}
	return 0, false
}

// setVerdictLocked records a verdict write into slot idx of a protocol's
// decision table.
func (s *Sim) setVerdictLocked(table []verdictSlot, idx, seq uint64, v int) error {
	if v != devices.VerdictAccept && v != devices.VerdictReject {
		return fmt.Errorf("verdict %d out of range", v)
	}
	if idx >= uint64(len(table)) {
		return fmt.Errorf("decision slot %d out of range 0..%d", idx, len(table)-1)
	}
	table[idx] = verdictSlot{seq: seq, v: v}
	return nil
}

// controllerBeatLocked records a controller heartbeat write.
func (s *Sim) controllerBeatLocked(v uint16) {
	if !s.ctlSeen || v != s.st.ControllerHeartbeat {
		s.ctlChange = s.now()
		if s.st.ControllerStalled {
			s.log.Info("controller heartbeat resumed")
		}
		s.st.ControllerStalled = false
	}
	s.ctlSeen = true
	s.st.ControllerHeartbeat = v
}

// CheckController evaluates the controller-heartbeat watchdog now (Run
// does it every tick) and reports whether it is stalled.
func (s *Sim) CheckController() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctlSeen && !s.st.ControllerStalled && s.now().Sub(s.ctlChange) > s.o.ControllerTimeout {
		s.st.ControllerStalled = true
		s.log.Warn("controller heartbeat stalled; line stopped")
	}
	return s.st.ControllerStalled
}

// Run drives the line until ctx ends: products at Options.Rate while the
// line runs (no line stop requested, controller heartbeat alive), the PLC
// heartbeat every HeartbeatPeriod, and the controller watchdog.
func (s *Sim) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := s.now()
	var made float64
	lastBeat := start
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := s.now()
		if now.Sub(lastBeat) >= s.o.HeartbeatPeriod {
			lastBeat = now
			s.Beat()
		}
		stalled := s.CheckController()
		s.mu.Lock()
		stop := s.st.Outputs.LineStop
		s.mu.Unlock()
		if s.o.Rate <= 0 {
			continue
		}
		if stop || stalled {
			start, made = now, 0 // conveyor stopped
			continue
		}
		due := now.Sub(start).Seconds()*s.o.Rate - made
		if due >= 1 {
			n := int(due)
			first := made
			made += float64(n)
			// evenly spaced on the belt, whenever this loop got round to them
			s.produce(n, func(i int) time.Time {
				return start.Add(time.Duration((first + float64(i) + 1) / s.o.Rate * float64(time.Second)))
			})
		}
	}
}

// notify queues OPC UA change notifications (no-op without a server).
func (s *Sim) notify(keys ...string) {
	s.mu.Lock()
	u := s.uaSrv
	s.mu.Unlock()
	if u != nil {
		u.changed(keys...)
	}
}

// Close stops both servers and releases held responses.
func (s *Sim) Close() error {
	var errs []error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		mb, u := s.mbSrv, s.uaSrv
		s.mbSrv, s.uaSrv = nil, nil
		if s.faults.ModbusDrop {
			s.faults.ModbusDrop = false
			close(s.dropGen)
			s.dropGen = make(chan struct{})
		}
		s.mu.Unlock()
		if mb != nil {
			errs = append(errs, mb.stop())
		}
		if u != nil {
			errs = append(errs, u.stop())
		}
	})
	return errors.Join(errs...)
}
