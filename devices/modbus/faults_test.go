package modbus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/internal/devtest"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/plcsim"
)

// collect reads n triggers, following reconnects, and returns their seqs
// and the total Missed.
func collect(t *testing.T, ctx context.Context, cl *modbus.Client, n int) ([]uint64, uint64) {
	t.Helper()
	return devtest.Collect(t, ctx, cl, n)
}

var wantSeqs = devtest.WantSeqs

func TestNoVerdictIsRejectedFailSafe(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 2})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	sim.Produce(1)
	tr := next(t, ctx, cl)
	sim.Flush() // no Decide: the gate pushes it off anyway
	ok, err := cl.Confirm(ctx, tr.Seq)
	if !ok || err != nil {
		t.Fatalf("Confirm = %v, %v; want pushed off", ok, err)
	}
	if st := sim.Status(); st.NoVerdict != 1 || st.Rejected != 1 {
		t.Fatalf("status %+v, want 1 no-verdict reject", st)
	}
}

func TestMissedConfirmation(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 1})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	sim.SetFaults(plcsim.Faults{MissConfirm: true})
	sim.Produce(1)
	tr := next(t, ctx, cl)
	if err := cl.Decide(ctx, tr.Seq, true); err != nil {
		t.Fatal(err)
	}
	sim.Flush()
	ok, err := cl.Confirm(ctx, tr.Seq)
	if ok || !errors.Is(err, devices.ErrNotConfirmed) {
		t.Fatalf("Confirm = %v, %v; want ErrNotConfirmed", ok, err)
	}
	if st := sim.Status(); st.ConfirmMissed != 1 {
		t.Fatalf("sim ConfirmMissed %d", st.ConfirmMissed)
	}
}

func TestConfirmWindowExpires(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 4})
	c := testConfig(addr)
	c.ConfirmWindow = 30 * time.Millisecond
	cl := connect(t, c)
	ctx := ctxT(t)
	sim.Produce(1)
	tr := next(t, ctx, cl)
	if err := cl.Decide(ctx, tr.Seq, true); err != nil {
		t.Fatal(err)
	}
	// the conveyor does not move: the product never reaches the gate
	ok, err := cl.Confirm(ctx, tr.Seq)
	if ok || !errors.Is(err, devices.ErrNotConfirmed) {
		t.Fatalf("Confirm = %v, %v; want ErrNotConfirmed", ok, err)
	}
}

func TestExceptionReconnectsWithoutLoss(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	first := sim.Produce(3)
	sim.SetFaults(plcsim.Faults{ModbusException: 4, ExceptionCount: 1})
	_, err := cl.NextTrigger(ctx)
	code, isExc := modbus.ExceptionCode(err)
	if !errors.Is(err, devices.ErrDisconnected) || !isExc || code != 4 {
		t.Fatalf("NextTrigger err = %v (exception %d %v), want ErrDisconnected with exception 4", err, code, isExc)
	}
	second := sim.Produce(3)
	got, missed := collect(t, ctx, cl, 6)
	wantSeqs(t, got, append(first, second...))
	if missed != 0 {
		t.Fatalf("missed %d", missed)
	}
	if s := cl.Stats(); s.Reconnects != 1 || s.Errors != 1 {
		t.Fatalf("stats %+v, want 1 reconnect after 1 error", s)
	}
}

func TestExceptionOnDecide(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	sim.SetFaults(plcsim.Faults{ModbusException: 2})
	err := cl.Decide(ctx, 1, true)
	if code, ok := modbus.ExceptionCode(err); !ok || code != 2 || !errors.Is(err, devices.ErrDisconnected) {
		t.Fatalf("Decide err = %v, want exception 2", err)
	}
	sim.SetFaults(plcsim.Faults{})
	// the next call reconnects once the backoff allows
	waitFor(t, "Decide succeeding after the fault cleared", func() bool {
		err = cl.Decide(ctx, 1, true)
		return err == nil
	})
	if err != nil {
		t.Fatalf("Decide after fault cleared: %v", err)
	}
	if v, ok := sim.Verdict(1); !ok || v != devices.VerdictReject {
		t.Fatalf("sim verdict %d %v", v, ok)
	}
}

// TestLateReplyIsNotTakenForTheNext: a reply slower than the client timeout
// stays in the socket (goburrow's trap). The client must close the
// connection, so later requests read their own replies.
func TestLateReplyIsNotTakenForTheNext(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	c := testConfig(addr)
	c.Timeout = 50 * time.Millisecond
	cl := connect(t, c)
	ctx := ctxT(t)
	sim.Produce(2)
	sim.SetFaults(plcsim.Faults{ModbusDelay: 150 * time.Millisecond, DelayCount: 1})
	if _, err := cl.NextTrigger(ctx); !errors.Is(err, devices.ErrDisconnected) {
		t.Fatalf("slow reply: err %v, want ErrDisconnected (timeout)", err)
	}
	more := sim.Produce(3)
	got, missed := collect(t, ctx, cl, 5)
	wantSeqs(t, got, append([]uint64{1, 2}, more...))
	if missed != 0 {
		t.Fatalf("missed %d", missed)
	}
	// outputs and verdicts land where they should (a stale reply would
	// have been taken as the answer to these)
	if err := cl.SetOutputs(ctx, devices.Outputs{LineStop: true, Light: devices.LightRed, Horn: true}); err != nil {
		t.Fatal(err)
	}
	if o := sim.Status().Outputs; o != (devices.Outputs{LineStop: true, Light: devices.LightRed, Horn: true}) {
		t.Fatalf("outputs %+v", o)
	}
}

func TestDroppedResponses(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	c := testConfig(addr)
	c.Timeout = 30 * time.Millisecond
	cl := connect(t, c)
	ctx := ctxT(t)
	sim.SetFaults(plcsim.Faults{ModbusDrop: true})
	sim.Produce(1)
	if _, err := cl.NextTrigger(ctx); !errors.Is(err, devices.ErrDisconnected) {
		t.Fatalf("dropped reply: err %v, want ErrDisconnected", err)
	}
	sim.SetFaults(plcsim.Faults{})
	more := sim.Produce(2)
	got, _ := collect(t, ctx, cl, 3)
	wantSeqs(t, got, append([]uint64{1}, more...))
}

func TestConnectionLossResumesFromLastCounter(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	a := sim.Produce(2)
	got, _ := collect(t, ctx, cl, 2)
	wantSeqs(t, got, a)
	if err := sim.SetOffline(true, true); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.NextTrigger(ctx); !errors.Is(err, devices.ErrDisconnected) {
		t.Fatalf("err %v, want ErrDisconnected", err)
	}
	b := sim.Produce(4) // counted by the PLC while we are cut off
	if err := sim.SetOffline(false, false); err != nil {
		t.Fatal(err)
	}
	got, missed := collect(t, ctx, cl, 4)
	wantSeqs(t, got, b)
	if missed != 0 || cl.Stats().Reconnects == 0 {
		t.Fatalf("missed %d stats %+v", missed, cl.Stats())
	}
	// and nothing is counted twice: the next trigger is the next product
	c := sim.Produce(1)
	got, _ = collect(t, ctx, cl, 1)
	wantSeqs(t, got, c)
}

func TestDropConnections(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	a := sim.Produce(1)
	if err := sim.DropConnections(); err != nil {
		t.Fatal(err)
	}
	b := sim.Produce(1)
	got, _ := collect(t, ctx, cl, 2)
	wantSeqs(t, got, append(a, b...))
}

func TestHeartbeatStall(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	c := testConfig(addr)
	c.HeartbeatTimeout = 20 * time.Millisecond
	cl := connect(t, c)
	ctx := ctxT(t)
	// nobody beats the PLC heartbeat: the watchdog trips
	for {
		_, err := cl.NextTrigger(ctx)
		if errors.Is(err, devices.ErrHeartbeatStalled) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sim.Produce(3) // counted while stalled: not accepted as triggers
	p0 := cl.Stats().Polls
	for cl.Stats().Polls < p0+2 { // a whole poll has seen them
		if _, err := cl.NextTrigger(ctx); !errors.Is(err, devices.ErrHeartbeatStalled) {
			t.Fatalf("err %v, want still stalled", err)
		}
	}
	sim.Beat()
	d := sim.Produce(1)
	tr := next(t, ctx, cl)
	if tr.Seq != d[0] || tr.Missed != 3 {
		t.Fatalf("after stall: %+v, want seq %d missed 3", tr, d[0])
	}
}

func TestControllerHeartbeatReachesPLC(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	c := testConfig(addr)
	c.HeartbeatInterval = time.Millisecond
	connect(t, c)
	waitFor(t, "controller heartbeat reaching the PLC", func() bool { return sim.Status().ControllerHeartbeat >= 3 })
}

func TestOutputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    func(*modbus.RegisterMap)
	}{
		{"consecutive", func(*modbus.RegisterMap) {}},
		{"scattered", func(m *modbus.RegisterMap) { m.LineStop, m.Light, m.Horn = 110, 105, 120 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := modbus.DefaultRegisterMap()
			tc.m(&m)
			sim, addr := newSim(t, plcsim.Options{Registers: &m})
			c := testConfig(addr)
			c.Registers = m
			cl := connect(t, c)
			ctx := ctxT(t)
			for _, o := range []devices.Outputs{
				{LineStop: true, Light: devices.LightRed, Horn: true},
				{Light: devices.LightAmber},
				{Light: devices.LightGreen},
			} {
				if err := cl.SetOutputs(ctx, o); err != nil {
					t.Fatal(err)
				}
				if got := sim.Status().Outputs; got != o {
					t.Fatalf("PLC outputs %+v, want %+v", got, o)
				}
			}
			if err := cl.SetOutputs(ctx, devices.Outputs{Light: 7}); !errors.Is(err, devices.ErrBadValue) {
				t.Fatalf("bad light: %v", err)
			}
		})
	}
}

func TestCounterWrap(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    func(*modbus.RegisterMap)
		init uint64
	}{
		{"16-bit no ring", func(m *modbus.RegisterMap) { m.CounterWidth, m.SeqRingLen = 16, 0 }, 65533},
		{"16-bit ring", func(m *modbus.RegisterMap) { m.CounterWidth = 16 }, 65533},
		{"32-bit ring low word first", func(m *modbus.RegisterMap) { m.WordOrder = modbus.LowWordFirst }, 0xffff_fffd},
		{"1-based addressing", func(m *modbus.RegisterMap) {
			m.Addressing = modbus.OneBased
			m.Counter, m.PLCHeartbeat, m.SeqRing = 1, 3, 5
		}, 0xffff_fffd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := modbus.DefaultRegisterMap()
			tc.m(&m)
			sim, addr := newSim(t, plcsim.Options{Registers: &m, InitialCounter: tc.init, FirstSeq: 1000})
			c := testConfig(addr)
			c.Registers = m
			cl := connect(t, c)
			ctx := ctxT(t)
			want := sim.Produce(6)
			got, missed := collect(t, ctx, cl, 6)
			if m.SeqRingLen > 0 {
				wantSeqs(t, got, want)
			} else {
				// without a ring the sequence id is the (extended) counter
				for i := 1; i < len(got); i++ {
					if got[i] != got[i-1]+1 {
						t.Fatalf("seqs %v not consecutive", got)
					}
				}
			}
			if missed != 0 || cl.Stats().Wraps != 1 {
				t.Fatalf("missed %d stats %+v, want 1 wrap", missed, cl.Stats())
			}
		})
	}
}

func TestBacklogBeyondRingIsMissed(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	all := sim.Produce(100) // far more than the 32-entry ring between two polls
	got, missed := collect(t, ctx, cl, 32)
	wantSeqs(t, got, all[68:])
	if missed != 68 {
		t.Fatalf("missed %d, want 68", missed)
	}
}

func TestLifecycleErrors(t *testing.T) {
	_, addr := newSim(t, plcsim.Options{})
	ctx := ctxT(t)
	cl, err := modbus.New(testConfig(addr), modbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	devtest.CheckLifecycle(t, ctx, cl)

	// nothing listening
	sim2, addr2 := newSim(t, plcsim.Options{})
	sim2.Close()
	cl2, _ := modbus.New(testConfig(addr2), modbus.Options{})
	if err := cl2.Connect(ctx); !errors.Is(err, devices.ErrDisconnected) {
		t.Fatalf("Connect to closed port: %v", err)
	}
}

func TestPLCRestartResynchronises(t *testing.T) {
	m := modbus.DefaultRegisterMap()
	m.SeqRingLen = 0 // seq = counter value
	m.CounterWidth = 16
	sim2, addr := newSim(t, plcsim.Options{InitialCounter: 5000, Registers: &m})
	c := testConfig(addr)
	c.Registers = m
	cl := connect(t, c)
	ctx := ctxT(t)
	sim2.Produce(2)
	got, _ := collect(t, ctx, cl, 2)
	wantSeqs(t, got, []uint64{5001, 5002})
	sim2.RestartPLC() // counter 5002 -> 0: backwards
	sim2.Produce(2)   // counter 2: two products since the restart
	tr := next(t, ctx, cl)
	if tr2 := next(t, ctx, cl); tr2.Seq != 2 {
		t.Fatalf("second product after restart %+v", tr2)
	}
	if cl.Stats().Resets != 1 {
		t.Fatalf("stats %+v, want 1 reset", cl.Stats())
	}
	if tr.Seq != 1 {
		t.Fatalf("after restart %+v, want seq 1 (the counter value)", tr)
	}
}

// The sim's watchdog runs on a hand-moved clock, so a controller
// descheduled on a loaded machine cannot look stalled.
func TestControllerStallSeenByPLC(t *testing.T) {
	var clockMu sync.Mutex
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	advance := func(d time.Duration) { clockMu.Lock(); clock = clock.Add(d); clockMu.Unlock() }
	sim, addr := newSim(t, plcsim.Options{ControllerTimeout: 30 * time.Millisecond, Now: now})
	c := testConfig(addr)
	c.HeartbeatInterval = time.Millisecond
	cl := connect(t, c)
	waitFor(t, "controller heartbeat", func() bool { return sim.Status().ControllerHeartbeat != 0 })
	advance(30 * time.Millisecond) // exactly the timeout: not yet stalled
	if sim.CheckController() {
		t.Fatal("stalled while the controller beats")
	}
	cl.Close(context.Background()) // the controller goes away (Close waits for its heartbeat writer)
	advance(31 * time.Millisecond)
	if !sim.CheckController() {
		t.Fatal("PLC did not see the controller heartbeat stall")
	}
	if sim.Status().LineRunning {
		t.Fatal("line still running with the controller gone")
	}
}
