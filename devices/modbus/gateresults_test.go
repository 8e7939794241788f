package modbus_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/internal/devtest"
	"github.com/serialine/serialine/devices/plcsim"
)

func ptr(b bool) *bool { return &b }

// TestGateResultsEveryProduct: over Modbus TCP the client reads back, in
// order, what the simulated PLC's gate did to every product: passed with
// an accept verdict, pushed off with a reject, pushed off fail-safe
// without any verdict (flag NoVerdict), and a reject the sensor missed.
func TestGateResultsEveryProduct(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 8})
	cl := connect(t, testConfig(addr))
	ctx := ctxT(t)
	devtest.CheckGateResults(t, ctx, sim, cl,
		[]*bool{ptr(false), ptr(true), nil, ptr(false), nil},
		[]devtest.GateWant{{Result: devices.GatePassed}, {Result: devices.GateRejected},
			{Result: devices.GateRejected, NoVerdict: true}, {Result: devices.GatePassed}, {Result: devices.GateRejected, NoVerdict: true}})
	sim.SetFaults(plcsim.Faults{MissConfirm: true})
	devtest.CheckGateResults(t, ctx, sim, cl, []*bool{ptr(true), ptr(false)},
		[]devtest.GateWant{{Result: devices.GateUnconfirmed}, {Result: devices.GatePassed}})
}

// TestGateResultsRejectsOnly: with gate_results "rejects" only the
// products given a reject verdict are reported.
func TestGateResultsRejectsOnly(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 8})
	c := testConfig(addr)
	c.GateResults = devices.GateResultsRejects
	cl := connect(t, c)
	devtest.CheckGateResults(t, ctxT(t), sim, cl, []*bool{ptr(false), ptr(true), nil, ptr(true)},
		[]devtest.GateWant{{Result: devices.GateRejected}, {Result: devices.GateRejected}})
}

// TestGateResultsNone: with gate_results "none" nothing is read back.
func TestGateResultsNone(t *testing.T) {
	_, addr := newSim(t, plcsim.Options{})
	c := testConfig(addr)
	c.GateResults = devices.GateResultsNone
	cl := connect(t, c)
	if _, err := cl.NextGateResult(ctxT(t)); !errors.Is(err, devices.ErrClosed) {
		t.Fatalf("NextGateResult with gate_results none: %v, want ErrClosed", err)
	}
}

// TestGateResultsRejectsInProductOrder: with gate_results "rejects" the
// results of several rejects must come from NextGateResult in product
// order, as in mode "every": the line's gate loop takes a result for
// product n as the end of every product before n (their results were
// overwritten: reject not confirmed, pass unknown) and a result for an
// earlier product than the last as a PLC restart (every product waiting
// is settled as lost). Ten rejects whose results are all in the PLC's
// table when the poller reads it: today the poller reads one waiting
// product's slot at a time, in the random order of a Go map, and queues
// each result as it reads it, so they come out shuffled (the line then
// records confirmed rejects as not confirmed and holds).
func TestGateResultsRejectsInProductOrder(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{GateDistance: 12})
	c := testConfig(addr)
	c.GateResults = devices.GateResultsRejects
	cl := connect(t, c)
	ctx := ctxT(t)
	seqs := sim.Produce(10)
	got, _ := devtest.Collect(t, ctx, cl, len(seqs))
	devtest.WantSeqs(t, got, seqs)
	vs := make([]devices.Verdict, len(seqs))
	for i, s := range seqs {
		vs[i] = devices.Verdict{Seq: s, Reject: true}
	}
	if err := cl.DecideBatch(ctx, vs); err != nil {
		t.Fatal(err)
	}
	sim.Flush() // all ten reach the gate at once: pushed off, confirmed
	var order []uint64
	for range seqs {
		r, err := cl.NextGateResult(ctx)
		if err != nil {
			t.Fatalf("NextGateResult: %v", err)
		}
		if r.Result != devices.GateRejected {
			t.Errorf("product %d: result %d, want %d (pushed off, confirmed)", r.Seq, r.Result, devices.GateRejected)
		}
		order = append(order, r.Seq)
	}
	if !slices.Equal(order, seqs) {
		t.Fatalf("gate results in the order %v, want product order %v", order, seqs)
	}
}
