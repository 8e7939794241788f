package opcua_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/internal/devtest"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/devices/plcsim"
)

// verdicts and checkVerdicts are the helpers both PLC clients' tests share.
var (
	verdicts      = devtest.Verdicts
	checkVerdicts = devtest.WantVerdicts
)

func TestDecideBatchOneWriteRequest(t *testing.T) {
	sim, ep := sharedSim(t)
	cl := connect(t, testConfig(ep))
	ctx := ctxT(t)
	vs := verdicts(sim.Produce(3))
	before := cl.Stats()
	if err := cl.DecideBatch(ctx, vs); err != nil {
		t.Fatal(err)
	}
	if s := cl.Stats(); s.VerdictRequests-before.VerdictRequests != 1 {
		t.Fatalf("%d write requests for 3 verdicts, want 1", s.VerdictRequests-before.VerdictRequests)
	}
	checkVerdicts(t, sim, vs)
	sim.Flush()
	res := sim.Results()
	for i, r := range res[len(res)-3:] {
		if r.Seq != vs[i].Seq || r.PushedOff != vs[i].Reject {
			t.Fatalf("gate %+v for %+v", r, vs[i])
		}
	}
}

// TestDecideBatchRefusedNodesRetried: the server refuses two nodes in the
// middle of the Write request; the client reconnects and re-sends just
// those: every verdict arrives once.
func TestDecideBatchRefusedNodesRetried(t *testing.T) {
	sim, ep := newSim(t, plcsim.Options{GateDistance: 20})
	cl := connect(t, testConfig(ep))
	ctx := ctxT(t)
	vs := verdicts(sim.Produce(8))
	sim.SetFaults(plcsim.Faults{RefuseVerdicts: 2, RefuseVerdictsAfter: 3})
	before := cl.Stats()
	if err := cl.DecideBatch(ctx, vs); err != nil {
		t.Fatalf("DecideBatch with 2 refused nodes: %v", err)
	}
	s := cl.Stats()
	if s.VerdictRequests-before.VerdictRequests != 2 || s.VerdictRetries-before.VerdictRetries != 1 {
		t.Fatalf("stats %+v -> %+v: want 2 requests, 1 retry", before, s)
	}
	checkVerdicts(t, sim, vs)
}

// TestDecideBatchPersistentRefusal: the refusals go on; the verdicts the
// server acknowledged are stored, exactly the others are reported
// undelivered with the OPC UA status reachable.
func TestDecideBatchPersistentRefusal(t *testing.T) {
	sim, ep := newSim(t, plcsim.Options{GateDistance: 20})
	cl := connect(t, testConfig(ep))
	ctx := ctxT(t)
	seqs := sim.Produce(6)
	vs := verdicts(seqs)
	sim.SetFaults(plcsim.Faults{RefuseVerdicts: 1000, RefuseVerdictsAfter: 4})
	err := cl.DecideBatch(ctx, vs)
	var ve *devices.VerdictError
	var sc ua.StatusCode
	if !errors.As(err, &ve) || !errors.Is(err, devices.ErrDisconnected) || !errors.As(err, &sc) || sc != ua.StatusBadDeviceFailure {
		t.Fatalf("err %v, want *devices.VerdictError wrapping ErrDisconnected and BadDeviceFailure", err)
	}
	if !slices.Equal(ve.Undelivered, seqs[4:]) {
		t.Fatalf("undelivered %v, want %v", ve.Undelivered, seqs[4:])
	}
	checkVerdicts(t, sim, vs[:4])
	for _, s := range seqs[4:] {
		if v, ok := sim.Verdict(s); ok {
			t.Fatalf("product %d: verdict %d stored though reported undelivered", s, v)
		}
	}
}

func TestDecideBatchNotConnected(t *testing.T) {
	cl, err := opcua.New(testConfig("opc.tcp://127.0.0.1:1"), opcua.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ve *devices.VerdictError
	if err := cl.DecideBatch(context.Background(), []devices.Verdict{{Seq: 1}}); !errors.Is(err, devices.ErrNotConnected) || !errors.As(err, &ve) {
		t.Fatalf("before Connect: %v", err)
	}
}
