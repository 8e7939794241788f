package opcua_test

import (
	"errors"
	"testing"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/internal/devtest"
	"github.com/serialine/serialine/devices/plcsim"
)

func ptr(b bool) *bool { return &b }

// TestGateResultsEveryProduct: over OPC UA (monitored confirmation slot
// nodes) the client reads back, in order, what the simulated PLC's gate
// did to every product, including fail-safe pushes without a verdict and
// a reject the sensor missed.
func TestGateResultsEveryProduct(t *testing.T) {
	sim, ep := newSim(t, plcsim.Options{GateDistance: 8})
	cl := connect(t, testConfig(ep))
	devtest.CheckGateResults(t, t.Context(), sim, cl, []*bool{ptr(false), ptr(true), nil, ptr(false)},
		[]devtest.GateWant{{Result: devices.GatePassed}, {Result: devices.GateRejected},
			{Result: devices.GateRejected, NoVerdict: true}, {Result: devices.GatePassed}})
	sim.SetFaults(plcsim.Faults{MissConfirm: true})
	devtest.CheckGateResults(t, t.Context(), sim, cl, []*bool{ptr(true)}, []devtest.GateWant{{Result: devices.GateUnconfirmed}})
}

// TestGateResultsRejectsOnly: with gate_results "rejects" only the
// products given a reject verdict are reported.
func TestGateResultsRejectsOnly(t *testing.T) {
	sim, ep := newSim(t, plcsim.Options{GateDistance: 8})
	c := testConfig(ep)
	c.GateResults = devices.GateResultsRejects
	cl := connect(t, c)
	devtest.CheckGateResults(t, t.Context(), sim, cl, []*bool{ptr(false), ptr(true), nil, ptr(true)},
		[]devtest.GateWant{{Result: devices.GateRejected}, {Result: devices.GateRejected}})
}

// TestGateResultsNone: with gate_results "none" nothing is read back.
func TestGateResultsNone(t *testing.T) {
	_, ep := newSim(t, plcsim.Options{})
	c := testConfig(ep)
	c.GateResults = devices.GateResultsNone
	cl := connect(t, c)
	if _, err := cl.NextGateResult(t.Context()); !errors.Is(err, devices.ErrClosed) {
		t.Fatalf("NextGateResult with gate_results none: %v, want ErrClosed", err)
	}
}
