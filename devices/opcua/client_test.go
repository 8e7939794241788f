package opcua_test

import (
	"context"
	"io"
	"log"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/internal/devtest"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/devices/plcsim"
)

func TestMain(m *testing.M) {
	// gopcua prints a few lines with the standard logger (server start,
	// unsupported policies): keep test output readable.
	log.SetOutput(io.Discard)
	code := m.Run()
	if shared.sim != nil {
		shared.sim.Close()
	}
	os.Exit(code)
}

// Building a gopcua server is expensive (it imports the standard nodeset;
// seconds under -race), so tests share simulators: sharedSim serves the
// default maps; each test starts from a flushed belt and healthy faults and
// compares gate counters as deltas.
var shared struct {
	once sync.Once
	sim  *plcsim.Sim
	ep   string
	err  error
}

func sharedSim(t testing.TB) (*plcsim.Sim, string) {
	t.Helper()
	shared.once.Do(func() {
		shared.sim, shared.err = plcsim.New(plcsim.Options{GateDistance: 3})
		if shared.err == nil {
			shared.ep, shared.err = shared.sim.StartOPCUA("127.0.0.1:0")
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	s := shared.sim
	s.SetFaults(plcsim.Faults{})
	s.Flush()
	t.Cleanup(func() { s.SetFaults(plcsim.Faults{}); s.Flush() })
	return s, shared.ep
}

func newSim(t testing.TB, o plcsim.Options) (*plcsim.Sim, string) {
	t.Helper()
	s, err := plcsim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.StartOPCUA("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ep
}

func testConfig(ep string) opcua.Config {
	c := opcua.DefaultConfig(ep)
	c.PublishInterval = time.Millisecond
	c.Timeout = 250 * time.Millisecond
	c.HeartbeatTimeout = time.Hour
	c.ConfirmPoll = time.Millisecond
	c.Backoff = devtest.FastBackoff()
	return c
}

func connect(t testing.TB, c opcua.Config) *opcua.Client {
	t.Helper()
	cl, err := opcua.New(c, opcua.Options{Logger: devtest.DebugLogger()})
	return devtest.Connect(t, cl, err)
}

// ctxT is the test's context: it ends with the test. Hangs are caught by
// go test -timeout, not by a wall-clock bound that a loaded machine can hit.
func ctxT(t testing.TB) context.Context { return t.Context() }

// waitFor and next are the helpers both PLC clients' tests share.
var waitFor = devtest.WaitFor

func next(t testing.TB, ctx context.Context, cl *opcua.Client) devices.Trigger {
	t.Helper()
	return devtest.Next(t, ctx, cl)
}

func TestTriggersInOrder(t *testing.T) {
	sim, ep := sharedSim(t)
	cl := connect(t, testConfig(ep))
	ctx := ctxT(t)
	seqs := sim.Produce(5)
	for _, want := range seqs {
		tr := next(t, ctx, cl)
		if tr.Seq != want || tr.Missed != 0 {
			t.Fatalf("trigger %+v, want seq %d missed 0", tr, want)
		}
	}
}
