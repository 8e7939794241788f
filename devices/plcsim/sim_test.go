package plcsim

import (
	"context"
	"errors"
	"io"
	"log"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	sv "github.com/simonvetter/modbus"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/opcua"
)

func TestMain(m *testing.M) {
	log.SetOutput(io.Discard) // gopcua's server prints with the std logger
	os.Exit(m.Run())
}

func newTestSim(t *testing.T, o Options) *Sim {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestShiftRegisterCarriesProductsToTheGate(t *testing.T) {
	s := newTestSim(t, Options{GateDistance: 3})
	var hooked []uint64
	s.OnProduct(func(seq uint64) { hooked = append(hooked, seq) })
	var atGate []GateResult
	s.OnGate(func(r GateResult) { atGate = append(atGate, r) })
	seqs := s.Produce(3)
	if len(hooked) != 3 || hooked[0] != seqs[0] || hooked[2] != seqs[2] {
		t.Fatalf("OnProduct saw %v, want %v", hooked, seqs)
	}
	if st := s.Status(); st.InFlight != 3 || st.Passed+st.Rejected != 0 {
		t.Fatalf("status %+v, want 3 in flight, none at the gate", st)
	}
	h := &handler{s: s}
	m := s.regs
	write := func(seq uint64, v uint16) {
		slot := modbus.EncodeSlot(uint32(seq), v, m.WordOrder)
		if _, err := h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: m.SlotPDU(m.Decisions, seq), Quantity: 3, IsWrite: true, Args: slot[:]}); err != nil {
			t.Fatal(err)
		}
	}
	write(seqs[0], devices.VerdictReject)
	write(seqs[1], devices.VerdictAccept)
	s.Advance(1) // seqs[0] reaches the gate
	res := s.Results()
	if len(res) != 1 || res[0].Seq != seqs[0] || !res[0].PushedOff || res[0].Result != devices.GateRejected {
		t.Fatalf("after 1 pitch results %+v", res)
	}
	s.Flush()
	res = s.Results()
	if len(res) != 3 || res[1].Result != devices.GatePassed || res[2].Verdict != devices.VerdictNone || res[2].Result != devices.GateRejected {
		t.Fatalf("results %+v", res)
	}
	st := s.Status()
	if st.Rejected != 2 || st.Passed != 1 || st.NoVerdict != 1 || st.InFlight != 0 {
		t.Fatalf("status %+v", st)
	}
	if len(atGate) != 3 || atGate[0] != res[0] || atGate[1] != res[1] || atGate[2] != res[2] {
		t.Fatalf("OnGate saw %+v, want the gate results %+v", atGate, res)
	}
	// the confirmation slot of seqs[1] reads back "passed"
	r, err := h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: m.SlotPDU(m.Confirmations, seqs[1]), Quantity: 3})
	if err != nil {
		t.Fatal(err)
	}
	seq, code, err := modbus.DecodeSlot(r, m.WordOrder, devices.GateUnconfirmed)
	if err != nil || uint64(seq) != seqs[1] || code != devices.GatePassed {
		t.Fatalf("confirmation slot %v %d %v", seq, code, err)
	}
}

func TestModbusHandlerRejectsBadWrites(t *testing.T) {
	s := newTestSim(t, Options{})
	h := &handler{s: s}
	m := s.regs
	for _, tc := range []struct {
		name string
		addr uint16
		args []uint16
		want error
	}{
		{"counter is read-only", m.PDU(m.Counter), []uint16{1}, sv.ErrIllegalDataAddress},
		{"light out of range", m.PDU(m.Light), []uint16{9}, sv.ErrIllegalDataValue},
		{"line stop not boolean", m.PDU(m.LineStop), []uint16{2}, sv.ErrIllegalDataValue},
		{"verdict out of range", m.PDU(m.Decisions), []uint16{0, 1, 7}, sv.ErrIllegalDataValue},
		{"write past a table", m.PDU(m.Horn), []uint16{1, 1}, sv.ErrIllegalDataAddress},
	} {
		_, err := h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: tc.addr, Quantity: uint16(len(tc.args)), IsWrite: true, Args: tc.args})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := h.HandleCoils(&sv.CoilsRequest{}); err != sv.ErrIllegalFunction {
		t.Errorf("coils: %v", err)
	}
}

func TestInjectedExceptions(t *testing.T) {
	s := newTestSim(t, Options{})
	h := &handler{s: s}
	s.SetFaults(Faults{ModbusException: 6, ExceptionCount: 2})
	for i := range 3 {
		_, err := h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: 0, Quantity: 2})
		want := error(sv.ErrServerDeviceBusy)
		if i == 2 {
			want = nil
		}
		if err != want {
			t.Fatalf("request %d: err %v, want %v", i, err, want)
		}
	}
}

// TestControllerWatchdog runs in a synctest bubble: the simulated PLC stops
// the line when the controller heartbeat stays unchanged for longer than
// ControllerTimeout, and Run stops producing.
func TestControllerWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Options{Rate: 1000, ControllerTimeout: 100 * time.Millisecond, HeartbeatPeriod: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		h := &handler{s: s}
		beat := func(v uint16) {
			if _, err := h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: s.regs.PDU(s.regs.ControllerHeartbeat), Quantity: 1, IsWrite: true, Args: []uint16{v}}); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		for i := range 10 { // controller alive for 500ms
			beat(uint16(i))
			time.Sleep(50 * time.Millisecond)
		}
		st := s.Status()
		if st.ControllerStalled || !st.LineRunning || st.Produced < 400 {
			t.Fatalf("alive controller: %+v", st)
		}
		if st.Heartbeat < 40 {
			t.Fatalf("PLC heartbeat %d after 500ms at 10ms", st.Heartbeat)
		}
		time.Sleep(200 * time.Millisecond) // controller silent
		synctest.Wait()
		st = s.Status()
		if !st.ControllerStalled || st.LineRunning {
			t.Fatalf("silent controller: %+v", st)
		}
		produced := st.Produced
		time.Sleep(100 * time.Millisecond)
		if got := s.Status().Produced; got != produced {
			t.Fatalf("line kept producing while stopped: %d -> %d", produced, got)
		}
		beat(100) // controller back
		time.Sleep(100 * time.Millisecond)
		if st := s.Status(); st.ControllerStalled || st.Produced <= produced {
			t.Fatalf("controller back: %+v", st)
		}
		cancel()
		<-done
	})
}

func TestStalledHeartbeatFault(t *testing.T) {
	s := newTestSim(t, Options{})
	s.Beat()
	s.SetFaults(Faults{StallHeartbeat: true})
	s.Beat()
	s.Beat()
	if hb := s.Status().Heartbeat; hb != 1 {
		t.Fatalf("heartbeat %d, want frozen at 1", hb)
	}
	s.SetFaults(Faults{})
	s.Beat()
	if hb := s.Status().Heartbeat; hb != 2 {
		t.Fatalf("heartbeat %d after clearing", hb)
	}
}

func TestLineStopStopsProduction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := New(Options{Rate: 100})
		h := &handler{s: s}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		if _, err := h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: s.regs.PDU(s.regs.LineStop), Quantity: 1, IsWrite: true, Args: []uint16{1}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if p := s.Status().Produced; p != 0 {
			t.Fatalf("produced %d with line stop set", p)
		}
		h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: s.regs.PDU(s.regs.LineStop), Quantity: 1, IsWrite: true, Args: []uint16{0}})
		time.Sleep(time.Second + time.Millisecond)
		if p := s.Status().Produced; p < 99 || p > 101 {
			t.Fatalf("produced %d in 1s at 100/s", p)
		}
		cancel()
		<-done
	})
}

// TestStartStoppedWaitsForTheController: a PLC that powers up stopped
// produces nothing, and shows line_stop = 1 in its register, until the
// controller writes line_stop = 0.
func TestStartStoppedWaitsForTheController(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := New(Options{Rate: 100, StartStopped: true})
		h := &handler{s: s}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		time.Sleep(time.Second)
		if st := s.Status(); st.Produced != 0 || st.LineRunning || !st.Outputs.LineStop {
			t.Fatalf("powered up stopped: status %+v", st)
		}
		regs, err := h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: s.regs.PDU(s.regs.LineStop), Quantity: 1})
		if err != nil || len(regs) != 1 || regs[0] != 1 {
			t.Fatalf("line_stop register %v (%v), want [1]", regs, err)
		}
		h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: s.regs.PDU(s.regs.LineStop), Quantity: 1, IsWrite: true, Args: []uint16{0}})
		time.Sleep(time.Second + time.Millisecond)
		if p := s.Status().Produced; p < 99 || p > 101 {
			t.Fatalf("produced %d in 1s at 100/s once released", p)
		}
		cancel()
		<-done
	})
}

func TestOptionsValidated(t *testing.T) {
	bad := modbus.DefaultRegisterMap()
	bad.Addressing = ""
	if _, err := New(Options{Registers: &bad}); err == nil {
		t.Fatal("bad register map accepted")
	}
}

func TestNodeMapMustBeNamespaceOne(t *testing.T) {
	m := opcua.DefaultNodeMap()
	m.Light = "ns=2;s=Interlock.Light"
	if _, err := New(Options{Nodes: &m}); err == nil || !strings.Contains(err.Error(), "namespace 1") {
		t.Fatalf("ns=2 node: %v", err)
	}
}

// TestVerdictSlotOverwrittenBeforeTheGate: the PLC's decision table has
// `slots` slots (product seq in slot seq mod slots), so a verdict written
// for product n+slots overwrites product n's. A PLC that finds another
// product's seq in the slot when product n reaches the gate has no verdict
// for it and pushes it off (fail-safe), as the package doc says. With the
// gate 50 products downstream and 41 slots, product 1's accept is
// overwritten by product 42's before product 1 reaches the gate. Today the
// simulator keeps every verdict in a map by seq, so product 1 passes with
// a verdict a real PLC no longer holds: tests and the demo never see what
// a gate travel longer than the table does on a real line.
func TestVerdictSlotOverwrittenBeforeTheGate(t *testing.T) {
	s := newTestSim(t, Options{GateDistance: 50})
	h := &handler{s: s}
	m := s.regs
	if m.Slots >= 50 {
		t.Fatalf("default map has %d slots; the case needs fewer than the gate distance", m.Slots)
	}
	write := func(seq uint64, v uint16) {
		slot := modbus.EncodeSlot(uint32(seq), v, m.WordOrder)
		if _, err := h.HandleHoldingRegisters(&sv.HoldingRegistersRequest{Addr: m.SlotPDU(m.Decisions, seq), Quantity: 3, IsWrite: true, Args: slot[:]}); err != nil {
			t.Fatal(err)
		}
	}
	seqs := s.Produce(m.Slots + 1)
	first, later := seqs[0], seqs[m.Slots]
	write(first, devices.VerdictAccept)
	write(later, devices.VerdictAccept) // same slot: product `first`'s verdict is gone
	s.Flush()
	for _, r := range s.Results() {
		if r.Seq != first {
			continue
		}
		if !r.PushedOff || r.Verdict != devices.VerdictNone {
			t.Fatalf("product %d at the gate: %+v; its slot holds product %d's verdict, want pushed off without a verdict", first, r, later)
		}
		return
	}
	t.Fatalf("product %d never reached the gate", first)
}
