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

// newSim starts a sim serving Modbus TCP on a free loopback port.
func newSim(t testing.TB, o plcsim.Options) (*plcsim.Sim, string) {
	t.Helper()
	s, err := plcsim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.StartModbus("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, addr
}

func testConfig(addr string) modbus.Config {
	c := modbus.DefaultConfig(addr)
	c.PollInterval = time.Millisecond
	c.Timeout = 500 * time.Millisecond
	c.HeartbeatTimeout = time.Hour // heartbeat stall is tested on its own
	// no controller-heartbeat writes unless a test asks: they would race the
	// poller for one-shot injected faults
	c.HeartbeatInterval = time.Hour
	c.ConfirmPoll = time.Millisecond
	c.Backoff = devtest.FastBackoff()
	return c
}

func connect(t testing.TB, c modbus.Config) *modbus.Client {
	t.Helper()
	cl, err := modbus.New(c, modbus.Options{Logger: devtest.DebugLogger()})
	return devtest.Connect(t, cl, err)
}

// ctxT is the test's context: it ends with the test. Hangs are caught by
// go test -timeout, not by a wall-clock bound that a loaded machine can hit.
func ctxT(t testing.TB) context.Context { return t.Context() }

// waitFor and next are the helpers both PLC clients' tests share.
var waitFor = devtest.WaitFor

func next(t testing.TB, ctx context.Context, cl *modbus.Client) devices.Trigger {
	t.Helper()
	return devtest.Next(t, ctx, cl)
}

func TestTriggersInOrder(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	seqs := sim.Produce(5)
	for _, want := range seqs {
		tr := next(t, ctx, cl)
		if tr.Seq != want || tr.Missed != 0 {
			t.Fatalf("trigger %+v, want seq %d missed 0", tr, want)
		}
	}
}

func TestRejectConfirmed(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 3})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	sim.Produce(2)
	a, b := next(t, ctx, cl), next(t, ctx, cl)
	if err := cl.Decide(ctx, a.Seq, true); err != nil {
		t.Fatal(err)
	}
	if err := cl.Decide(ctx, b.Seq, false); err != nil {
		t.Fatal(err)
	}
	sim.Flush()
	ok, err := cl.Confirm(ctx, a.Seq)
	if !ok || err != nil {
		t.Fatalf("Confirm(reject) = %v, %v; want true, nil", ok, err)
	}
	ok, err = cl.Confirm(ctx, b.Seq)
	if ok || err != nil {
		t.Fatalf("Confirm(accept) = %v, %v; want false, nil", ok, err)
	}
	st := sim.Status()
	if st.Rejected != 1 || st.Passed != 1 || st.NoVerdict != 0 {
		t.Fatalf("sim status %+v", st)
	}
}

// Concurrent Connect calls (e.g. two supervisors retrying) start one
// heartbeat writer and one poller: every product is one trigger (two
// pollers would race on the trigger state, which -race reports, and
// double or lose triggers). Connect after Close is refused.
func TestConcurrentConnect(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	cl, err := modbus.New(testConfig(addr), modbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := cl.Connect(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	want := sim.Produce(5)
	got, missed := collect(t, ctx, cl, len(want))
	wantSeqs(t, got, want)
	if missed != 0 {
		t.Fatalf("missed %d", missed)
	}
	if err := cl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.Connect(ctx); !errors.Is(err, devices.ErrClosed) {
		t.Fatalf("Connect after Close: %v", err)
	}
}
