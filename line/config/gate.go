package config

import (
	"math"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/opcua"
)

// ProductsAt is the number of products between the trigger point and the
// gate at line speed perMin units/min (the Products itself when given as
// products, rounded up from the time otherwise; 0 when neither is known).
func (g GateTravel) ProductsAt(perMin float64) int {
	if g.Products > 0 {
		return g.Products
	}
	if perMin <= 0 {
		return 0
	}
	return int(math.Ceil(g.Time.Seconds() * perMin / 60))
}

// gateProblems checks the gate travel against the PLC's map and timing:
// the products in flight between trigger and gate must fit the PLC's
// decision and confirmation slots, the verdict margin must cover the
// controller's trigger latency, a rejects-only read-back's confirm window
// must outlast the travel, and a read-back needs the PLC's product seq.
func (c Config) gateProblems() configs.Problems {
	var p configs.Problems
	cy, pl := c.Cycle, c.Devices.PLC
	var (
		prefix, slotsKey, latencyKey string
		slots                        int
		latency                      time.Duration
		timing                       devices.Timing
	)
	switch {
	case pl.Protocol == "modbus" && pl.Modbus != nil:
		prefix, slotsKey, latencyKey = "devices.plc.modbus", "devices.plc.modbus.registers.slots", "devices.plc.modbus.poll_interval"
		slots, latency, timing = pl.Modbus.Registers.Slots, pl.Modbus.PollInterval, pl.Modbus.Timing
	case pl.Protocol == "opcua" && pl.OPCUA != nil:
		prefix, slotsKey, latencyKey = "devices.plc.opcua", "devices.plc.opcua.nodes.slots", "devices.plc.opcua.publish_interval"
		slots, latency, timing = pl.OPCUA.Nodes.Slots, pl.OPCUA.PublishInterval, pl.OPCUA.Timing
		if pl.OPCUA.Nodes.Trigger == opcua.TriggerEdge && pl.OPCUA.Nodes.ProductSeq == "" && timing.GateMode() != devices.GateResultsNone {
			p.Add(prefix+".nodes.product_seq", "must be set with trigger %q and gate_results %q: a gate result names its product by the PLC's product seq, which a locally counted edge cannot match",
				opcua.TriggerEdge, timing.GateMode())
		}
	default:
		return nil // the PLC block reports its own problems
	}
	if cy.GateTravel.IsZero() {
		return p
	}
	if n := cy.GateTravel.ProductsAt(c.Line.DesignSpeed); slots > 0 && n >= slots {
		p.Add("cycle.gate_travel", "%s is %d products between the trigger point and the gate at %.0f units/min, but %s is %d: a product's verdict and gate result would be overwritten by a later product's before it passes the gate (want more slots than products in flight)",
			cy.GateTravel, n, c.Line.DesignSpeed, slotsKey, slots)
	}
	if cy.VerdictMargin > 0 && cy.VerdictMargin < latency {
		p.Add("cycle.verdict_margin", "%s is shorter than %s (%s): the controller sees a trigger up to that long after the PLC counted the product, so a verdict acknowledged within the margin may reach the PLC after its product passed the gate",
			cy.VerdictMargin, latencyKey, latency)
	}
	if timing.GateMode() == devices.GateResultsRejects {
		if travel := cy.GateTravel.TimeAt(c.Line.DesignSpeed); travel > 0 && timing.ConfirmWindow < travel+timing.ConfirmPoll {
			p.Add(prefix+".confirm_window", "%s must be at least the gate travel (cycle.gate_travel %s = %s at %.0f units/min) plus confirm_poll %s: the window starts at the verdict write and must still be open when the product reaches the gate and its confirmation is read",
				timing.ConfirmWindow, cy.GateTravel, travel.Round(time.Millisecond), c.Line.DesignSpeed, timing.ConfirmPoll)
		}
	}
	return p
}
