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
