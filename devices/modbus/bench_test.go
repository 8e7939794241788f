package modbus_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/internal/benchutil"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/plcsim"
)

// BenchmarkTriggers follows a simulated line at a fixed product rate over
// Modbus TCP on loopback (counter + sequence-id ring polled every 1ms; the
// default 32-entry ring and the longest, 58) and reports the rate followed,
// missed counts (must be 0) and the product-to-trigger latency p50/p99.
// A poll gap longer than ring/rate overflows the ring (reported as missed).
func BenchmarkTriggers(b *testing.B) {
	for _, bc := range []struct {
		rate float64
		ring int
	}{{2000, 32}, {2000, 58}, {5000, 32}, {5000, 58}, {10000, 58}} {
		rate := bc.rate
		b.Run(fmt.Sprintf("rate=%.0f/ring=%d", rate, bc.ring), func(b *testing.B) {
			m := modbus.DefaultRegisterMap()
			m.SeqRingLen = bc.ring // 4..119 at 58: move the outputs out of its way
			m.ControllerHeartbeat, m.LineStop, m.Light, m.Horn = 150, 151, 152, 153
			sim, addr := newSim(b, plcsim.Options{GateDistance: 1, Registers: &m})
			c := testConfig(addr)
			c.Registers = m
			cl := connect(b, c)
			p := benchutil.NewProducer(sim, b.N+100000)
			p.Measure(b, rate, func(ctx context.Context) devices.Trigger { return next(b, ctx, cl) })
		})
	}
}

// BenchmarkVerdicts writes groups of k verdicts for consecutive products
// while the trigger poller runs (1 ms) on the same client, the way the
// line's decider does: one Decide per product, or one DecideBatch, on the
// main connection or the gate connection. Reports the time until the last
// verdict of a group was acknowledged, p50/p99 (ns/op is per group).
func BenchmarkVerdicts(b *testing.B) {
	for _, bc := range []struct {
		k     int
		batch bool
		gate  bool
	}{{1, false, false}, {1, false, true}, {8, false, false}, {8, true, false}, {8, true, true}, {32, false, false}, {32, true, false}, {32, true, true}} {
		name := fmt.Sprintf("group=%d/decide", bc.k)
		if bc.batch {
			name = fmt.Sprintf("group=%d/batch", bc.k)
		}
		if bc.gate {
			name += "/gate_connection"
		}
		b.Run(name, func(b *testing.B) {
			sim, addr := newSim(b, plcsim.Options{GateDistance: 1})
			c := testConfig(addr)
			c.GateConnection = bc.gate
			cl := connect(b, c)
			ctx := b.Context()
			go func() { // keep the poller's queue drained
				for ctx.Err() == nil {
					cl.NextTrigger(ctx)
				}
			}()
			// products keep coming: the poller has work
			benchutil.MeasureVerdicts(b, cl, bc.k, bc.batch, 1000, func() { sim.Produce(1) })
		})
	}
}
