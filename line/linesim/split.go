package linesim

import (
	"time"

	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/line/config"
)

// A split deployment runs each simulator as its own process (serialine sim
// plc|printer|camera|upstream, wired by the line bus, line/linesim/bus) and
// the controller under serialine run. Its config must describe the same
// line as the simulators: FitSplit does for a config what Start does for
// the in-process line.

// FitSplit fits cfg to a simulated PLC running rate products/s with its
// reject gate gateDistance products downstream (serialine sim plc --rate,
// --gate-distance): cycle.gate_travel, line.design_speed, the decision
// deadline, printer depth and draw-ahead as the in-process line has them,
// and, when the PLC speaks Modbus, the gate tables sized for the products
// in flight (GateSlots at the config's confirm_poll; pass their Slots to
// serialine sim plc --slots).
func FitSplit(cfg *config.Config, rate float64, gateDistance int) {
	fitLine(cfg, Options{Rate: rate, GateDistance: gateDistance})
	if mb := cfg.Devices.PLC.Modbus; mb != nil {
		m := *mb
		m.Registers = GateTables(m.Registers, GateSlots(gateDistance, rate, m.ConfirmPoll))
		cfg.Devices.PLC.Modbus = &m
	}
}

// GateSlots is how many verdict and confirmation slots a PLC with its gate
// distance products downstream at rate products/s, read every poll,
// needs: room for the products on their way to the gate and those passing
// it in a second without a read (a reconnect), so no result is
// overwritten before it is read (at most 2000).
func GateSlots(distance int, rate float64, poll time.Duration) int {
	return min(2000, distance+int(rate*(poll.Seconds()*2+1))+8)
}

// GateTables returns m with at least slots verdict and confirmation slots:
// m itself when it has enough; otherwise both tables move above the
// demo map's registers, decisions at 1000 and confirmations right after
// them (1000 + 3·slots; one more with 1-based addressing). serialine sim
// plc --slots serves the same map.
func GateTables(m modbus.RegisterMap, slots int) modbus.RegisterMap {
	if slots <= m.Slots {
		return m
	}
	m.Slots = slots
	base := uint16(1000)
	if m.Addressing == modbus.OneBased {
		base++
	}
	m.Decisions = base
	m.Confirmations = base + uint16(3*slots)
	return m
}
