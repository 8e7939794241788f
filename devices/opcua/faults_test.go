package opcua_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/internal/devtest"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/devices/plcsim"
)

// collect reads n triggers, following reconnects, and returns their seqs
// and the total Missed.
func collect(t *testing.T, ctx context.Context, cl *opcua.Client, n int) ([]uint64, uint64) {
	t.Helper()
	return devtest.Collect(t, ctx, cl, n)
}

var wantSeqs = devtest.WantSeqs

func TestRejectGate(t *testing.T) {
	sim, ep := sharedSim(t)
	before := sim.Status()
	cl := connect(t, testConfig(ep))
	ctx := ctxT(t)
	sim.Produce(3)
	a, b, c := next(t, ctx, cl), next(t, ctx, cl), next(t, ctx, cl)
	if err := cl.Decide(ctx, a.Seq, true); err != nil {
		t.Fatal(err)
	}
	if err := cl.Decide(ctx, b.Seq, false); err != nil {
		t.Fatal(err)
	}
	// c gets no verdict: pushed off fail-safe
	sim.Flush()
	for _, tc := range []struct {
		seq  uint64
		want bool
	}{{a.Seq, true}, {b.Seq, false}, {c.Seq, true}} {
		ok, err := cl.Confirm(ctx, tc.seq)
		if ok != tc.want || err != nil {
			t.Fatalf("Confirm(%d) = %v, %v; want %v, nil", tc.seq, ok, err, tc.want)
		}
	}
	if st := sim.Status(); st.Rejected-before.Rejected != 2 || st.Passed-before.Passed != 1 || st.NoVerdict-before.NoVerdict != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestMissedConfirmationAndWindow(t *testing.T) {
	sim, ep := sharedSim(t)
	c := testConfig(ep)
	c.ConfirmWindow = 30 * time.Millisecond
	cl := connect(t, c)
	ctx := ctxT(t)
	sim.SetFaults(plcsim.Faults{MissConfirm: true})
	sim.Produce(1)
	tr := next(t, ctx, cl)
	if err := cl.Decide(ctx, tr.Seq, true); err != nil {
		t.Fatal(err)
	}
	// not at the gate yet: the window runs out
	if ok, err := cl.Confirm(ctx, tr.Seq); ok || !errors.Is(err, devices.ErrNotConfirmed) {
		t.Fatalf("Confirm before gate = %v, %v", ok, err)
	}
	sim.Flush()
	if ok, err := cl.Confirm(ctx, tr.Seq); ok || !errors.Is(err, devices.ErrNotConfirmed) {
		t.Fatalf("Confirm with sensor missing = %v, %v", ok, err)
	}
}

func TestConnectionLossResumes(t *testing.T) {
	sim, ep := sharedSim(t)
	cl := connect(t, testConfig(ep))
	ctx := ctxT(t)
	a := sim.Produce(2)
	got, _ := collect(t, ctx, cl, 2)
	wantSeqs(t, got, a)
	if err := sim.SetOffline(true, true); err != nil {
		t.Fatal(err)
	}
	b := sim.Produce(4) // counted by the PLC while the server is down
	if err := sim.SetOffline(false, false); err != nil {
		t.Fatal(err)
	}
	c := sim.Produce(1)
	got, missed := collect(t, ctx, cl, 5)
	wantSeqs(t, got, append(b, c...))
	if missed != 0 || cl.Stats().Reconnects == 0 {
		t.Fatalf("missed %d stats %+v", missed, cl.Stats())
	}
}

func TestHeartbeatStall(t *testing.T) {
	sim, ep := sharedSim(t)
	c := testConfig(ep)
	// long enough that a loaded machine does not see a second stall between
	// the Beat below and the product's notification
	c.HeartbeatTimeout = 250 * time.Millisecond
	cl := connect(t, c)
	ctx := ctxT(t)
	sim.Beat() // prime the watchdog
	for {
		_, err := cl.NextTrigger(ctx)
		if errors.Is(err, devices.ErrHeartbeatStalled) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	n0 := cl.Stats().Notifications
	sim.Produce(3)
	for cl.Stats().Notifications == n0 {
		// the stall keeps being reported until the heartbeat moves; the
		// products seen meanwhile are not accepted
		_, err := cl.NextTrigger(ctx)
		if !errors.Is(err, devices.ErrHeartbeatStalled) {
			t.Fatalf("err %v, want stalled", err)
		}
	}
	// The PLC beats again, and keeps beating as a live PLC does (a loaded
	// machine could otherwise see a second stall before the next product).
	sim.Beat()
	bctx, stopBeating := context.WithCancel(ctx)
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		tk := time.NewTicker(c.HeartbeatTimeout / 5)
		defer tk.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-tk.C:
				sim.Beat()
			}
		}
	}()
	defer func() { stopBeating(); <-beating }()
	d := sim.Produce(1)
	var missed uint64
	for {
		tr := next(t, ctx, cl)
		missed += tr.Missed
		if tr.Seq == d[0] {
			break
		}
	}
	if missed != 3 {
		t.Fatalf("missed %d, want the 3 products seen during the stall", missed)
	}
}

func TestOutputsAndControllerHeartbeat(t *testing.T) {
	sim, ep := sharedSim(t)
	c := testConfig(ep)
	c.HeartbeatInterval = time.Millisecond
	cl := connect(t, c)
	ctx := ctxT(t)
	o := devices.Outputs{LineStop: true, Light: devices.LightRed, Horn: true}
	if err := cl.SetOutputs(ctx, o); err != nil {
		t.Fatal(err)
	}
	if got := sim.Status().Outputs; got != o {
		t.Fatalf("outputs %+v, want %+v", got, o)
	}
	waitFor(t, "controller heartbeat reaching the PLC", func() bool { return sim.Status().ControllerHeartbeat >= 3 })
}

// TestSixteenBitSim: one simulator with a 16-bit sequence id starting
// just below the wrap, shared by a counter-mode and an edge-mode client.
func TestSixteenBitSim(t *testing.T) {
	m := opcua.DefaultNodeMap()
	m.SeqWidth = 16
	sim, ep := newSim(t, plcsim.Options{Nodes: &m, FirstSeq: 65533})
	t.Run("counter wraps", func(t *testing.T) {
		c := testConfig(ep)
		c.Nodes = m
		cl := connect(t, c)
		ctx := ctxT(t)
		sim.Produce(6) // 65533..65538: wraps on the wire
		got, missed := collect(t, ctx, cl, 6)
		wantSeqs(t, got, []uint64{65533, 65534, 65535, 65536, 65537, 65538})
		if missed != 0 {
			t.Fatalf("missed %d", missed)
		}
	})
	t.Run("edge", func(t *testing.T) {
		em := m
		em.Trigger = opcua.TriggerEdge
		c := testConfig(ep)
		c.Nodes = em
		cl := connect(t, c)
		ctx := ctxT(t)
		sim.Advance(1) // product sensor off
		a := sim.Produce(1)
		// a client that connects after the wrap knows only the 16-bit id
		tr := next(t, ctx, cl)
		if tr.Seq != a[0]&0xffff {
			t.Fatalf("first edge %+v, want seq %d", tr, a[0]&0xffff)
		}
		// edges may coalesce at the server; the sequence id accounts for
		// every product: triggers + missed = produced
		b := sim.Produce(5)
		var n, missed uint64
		for {
			tr := next(t, ctx, cl)
			n++
			missed += tr.Missed
			if tr.Seq == b[len(b)-1]&0xffff {
				break
			}
		}
		if n+missed != 5 {
			t.Fatalf("%d triggers + %d missed, want 5 products accounted", n, missed)
		}
	})
}

func TestUsernameAuth(t *testing.T) {
	sim, ep := sharedSim(t)
	c := testConfig(ep)
	c.Auth, c.Username, c.Password = opcua.AuthUsername, "line1", "secret"
	cl := connect(t, c)
	ctx := ctxT(t)
	a := sim.Produce(1)
	if tr := next(t, ctx, cl); tr.Seq != a[0] {
		t.Fatalf("trigger %+v", tr)
	}
}

// TestBasic256Sha256Unavailable: the simulator (gopcua's server) only
// implements security policy None, so a Basic256Sha256 client must fail
// with a clear, permanent error instead of retrying forever.
func TestBasic256Sha256Unavailable(t *testing.T) {
	_, ep := sharedSim(t)
	c := testConfig(ep)
	c.SecurityPolicy, c.SecurityMode = opcua.PolicyBasic256Sha256, "SignAndEncrypt"
	cl, err := opcua.New(c, opcua.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(context.Background())
	err = cl.Connect(ctxT(t))
	if !errors.Is(err, devices.ErrDisconnected) || !devices.IsPermanent(err) {
		t.Fatalf("Connect = %v, want permanent ErrDisconnected (no such endpoint)", err)
	}
}

func TestLifecycleErrors(t *testing.T) {
	_, ep := sharedSim(t)
	ctx := ctxT(t)
	cl, err := opcua.New(testConfig(ep), opcua.Options{})
	if err != nil {
		t.Fatal(err)
	}
	devtest.CheckLifecycle(t, ctx, cl)
}
