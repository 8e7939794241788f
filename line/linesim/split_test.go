package linesim_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/line/linesim"
)

// configs/demo.yaml already describes the line `serialine sim plc` runs
// with its defaults (5 products/s, the gate 8 products downstream): a
// split deployment with the default flags runs on it unchanged.
func TestDemoConfigFitsSimPLCDefaults(t *testing.T) {
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	fitted := cfg
	linesim.FitSplit(&fitted, 5, 8)
	if !reflect.DeepEqual(fitted.Cycle, cfg.Cycle) || !reflect.DeepEqual(fitted.Line, cfg.Line) ||
		!reflect.DeepEqual(fitted.Devices.PLC.Modbus.Registers, cfg.Devices.PLC.Modbus.Registers) {
		t.Fatalf("demo.yaml differs from the line sim plc runs by default:\ncycle %+v\nfitted %+v\nregisters %+v\nfitted %+v",
			cfg.Cycle, fitted.Cycle, cfg.Devices.PLC.Modbus.Registers, fitted.Devices.PLC.Modbus.Registers)
	}
}

// FitSplit sizes the Modbus gate tables for a fast line and moves them
// where they do not overlap; the result validates, and the gate travel and
// design speed are the simulated PLC's.
func TestFitSplit(t *testing.T) {
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	shared := cfg.Devices.PLC.Modbus // a copy of cfg may share it
	linesim.FitSplit(&cfg, 500, 250)
	m := cfg.Devices.PLC.Modbus.Registers
	want := linesim.GateSlots(250, 500, cfg.Devices.PLC.Modbus.ConfirmPoll)
	if m.Slots != want || m.Decisions != 1000 || m.Confirmations != 1000+3*uint16(want) {
		t.Fatalf("registers %+v, want %d slots at 1000 and %d", m, want, 1000+3*want)
	}
	if shared.Registers.Slots != 41 {
		t.Fatalf("FitSplit changed the Modbus config in place (copies of the config share it): %+v", shared.Registers)
	}
	if err := cfg.Validate().Err(); err != nil {
		t.Fatal(err)
	}
	if cfg.Cycle.GateTravel.Products != 250 || cfg.Line.DesignSpeed != 30000 {
		t.Fatalf("gate travel %v, design speed %v", cfg.Cycle.GateTravel, cfg.Line.DesignSpeed)
	}
	if got := linesim.GateSlots(8, 5, 5*time.Millisecond); got != 21 {
		t.Fatalf("GateSlots(8, 5/s, 5ms) = %d, want 8 + 5 + 8", got)
	}
	one := modbus.DefaultRegisterMap()
	one.Addressing = modbus.OneBased
	one.Counter, one.PLCHeartbeat, one.SeqRing, one.ControllerHeartbeat = 1, 3, 5, 101
	one.LineStop, one.Light, one.Horn, one.Decisions, one.Confirmations = 102, 103, 104, 201, 401
	if err := one.Validate().Err(); err != nil {
		t.Fatal(err)
	}
	if g := linesim.GateTables(one, 100); g.Decisions != 1001 || g.Confirmations != 1301 || g.Validate().Err() != nil {
		t.Fatalf("1-based: %+v (%v)", g, g.Validate().Err())
	}
	if g := linesim.GateTables(one, 30); !reflect.DeepEqual(g, one) {
		t.Fatalf("enough slots already: %+v", g)
	}
}
