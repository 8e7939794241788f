package modbus_test

import (
	"strings"
	"testing"
	"time"

	gb "github.com/goburrow/modbus"

	"github.com/serialine/serialine/devices/plcsim"
)

// TestSimReproducesLateReplyTrap shows the fault the client guards
// against, with goburrow/modbus used naively (no close after the timeout):
// the late reply stays in the socket and the next request reads it and
// fails. The Client closes the handler after any error instead
// (TestLateReplyIsNotTakenForTheNext).
func TestSimReproducesLateReplyTrap(t *testing.T) {
	sim, addr := newSim(t, plcsim.Options{})
	h := gb.NewTCPClientHandler(addr)
	h.Timeout = 50 * time.Millisecond
	h.IdleTimeout = 0
	defer h.Close()
	mb := gb.NewClient(h)
	if _, err := mb.ReadHoldingRegisters(0, 2); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(plcsim.Faults{ModbusDelay: 150 * time.Millisecond, DelayCount: 1})
	if _, err := mb.ReadHoldingRegisters(0, 2); err == nil {
		t.Fatal("slow reply did not time out")
	}
	h.Timeout = 5 * time.Second // patient enough to receive the late reply
	_, err := mb.ReadHoldingRegisters(100, 4)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("next request: err %v, want a transaction id mismatch (the late reply)", err)
	}
}
