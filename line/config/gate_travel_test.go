package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/line/config"
)

// TestGateTravelFitsThePLC: `run --check` must refuse settings under which
// a verdict or a gate result cannot do its job for the configured gate
// travel, naming the setting. Each case starts from configs/demo.yaml
// (valid: Modbus, 41 slots, poll 2ms, verdict margin 5ms, confirm window
// 3s, gate 8 products at 300 units/min) and changes one thing; today
// every one of them is accepted.
func TestGateTravelFitsThePLC(t *testing.T) {
	for _, tc := range []struct {
		name string
		// why the config cannot work
		why    string
		change func(c *config.Config)
		// a problem whose path contains one of these is wanted
		paths []string
	}{{
		name: "modbus-travel-beyond-slots",
		why: "60 products between trigger and gate, 41 decision slots: the verdict for product n+41 overwrites the slot of " +
			"product n before n reaches the gate (no verdict: pushed off; or, on a PLC that does not check the seq, the " +
			"wrong product's verdict), and the confirmation slot of n is overwritten before it can be read",
		change: func(c *config.Config) { c.Cycle.GateTravel = config.GateTravel{Products: 60} },
		paths:  []string{"cycle.gate_travel", "registers.slots"},
	}, {
		name: "modbus-travel-time-beyond-slots",
		why:  "2 s of gate travel at 3,000 units/min is 100 products in flight for 41 slots",
		change: func(c *config.Config) {
			c.Line.DesignSpeed = 3000
			c.Cycle.GateTravel = config.GateTravel{Time: 2 * time.Second}
		},
		paths: []string{"cycle.gate_travel", "registers.slots"},
	}, {
		name: "opcua-travel-beyond-slots",
		why:  "100 products between trigger and gate, 64 decision nodes",
		change: func(c *config.Config) {
			ua := opcua.DefaultConfig("opc.tcp://127.0.0.1:4840")
			c.Devices.PLC = config.PLC{Protocol: "opcua", OPCUA: &ua}
			c.Cycle.GateTravel = config.GateTravel{Products: 100}
		},
		paths: []string{"cycle.gate_travel", "nodes.slots"},
	}, {
		name: "verdict-margin-below-trigger-latency",
		why: "the controller sees a trigger up to poll_interval (20ms) after the PLC counted the product and dates it " +
			"then, so a pass verdict acknowledged 5ms before the deadline it computes from that date (400ms gate " +
			"travel) may reach the PLC up to 15ms after the product passed the gate; with gate_results rejects that " +
			"unit is Commissioned while its pack was pushed off",
		change: func(c *config.Config) {
			c.Cycle.GateTravel = config.GateTravel{Time: 400 * time.Millisecond}
			c.Cycle.DecisionDeadline = 200 * time.Millisecond
			mb := *c.Devices.PLC.Modbus
			mb.PollInterval = 20 * time.Millisecond
			mb.GateResults = devices.GateResultsRejects
			c.Devices.PLC.Modbus = &mb
		},
		paths: []string{"cycle.verdict_margin", "poll_interval"},
	}, {
		name: "confirm-window-shorter-than-gate-travel",
		why: "with gate_results rejects the confirm window starts at the verdict write; 500ms ends before the product " +
			"travels the 1.6s to the gate, so every reject is reported unconfirmed (alarm, hold, deviation close-out) " +
			"and an unknown pass is settled as pushed off",
		change: func(c *config.Config) {
			mb := *c.Devices.PLC.Modbus
			mb.ConfirmWindow = 500 * time.Millisecond
			mb.GateResults = devices.GateResultsRejects
			c.Devices.PLC.Modbus = &mb
		},
		paths: []string{"confirm_window", "cycle.gate_travel"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := configs.Files.ReadFile("demo.yaml")
			if err != nil {
				t.Fatal(err)
			}
			c, err := config.Parse("demo.yaml", data)
			if err != nil {
				t.Fatal(err)
			}
			tc.change(&c)
			ps := c.Validate()
			for _, p := range ps {
				for _, want := range tc.paths {
					if strings.Contains(p.Path, want) {
						t.Logf("refused: %s", p)
						return
					}
				}
			}
			t.Errorf("accepted (problems: %v), but %s; want a problem at %s", ps, tc.why, strings.Join(tc.paths, " or "))
		})
	}
}
