package modbus_test

import (
	"errors"
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
