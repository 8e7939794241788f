package opcua_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/internal/benchutil"
)

// BenchmarkTriggers follows a simulated line at a fixed product rate over
// OPC UA on loopback (monitored product sequence id, 1ms publishing
// interval) and reports the rate followed, missed counts (must be 0) and
// the product-to-trigger latency p50/p99.
func BenchmarkTriggers(b *testing.B) {
	for _, rate := range []float64{2000, 5000, 10000} {
		b.Run(fmt.Sprintf("rate=%.0f", rate), func(b *testing.B) {
			sim, ep := sharedSim(b)
			c := testConfig(ep)
			c.MaxBacklog = 1 << 16 // measure what the protocol delivers, not the backlog policy
			cl := connect(b, c)
			p := benchutil.NewProducer(sim, b.N+100000)
			p.Measure(b, rate, func(ctx context.Context) devices.Trigger { return next(b, ctx, cl) })
		})
	}
}

// BenchmarkVerdicts writes groups of k verdicts for consecutive products,
// one Decide (Write request) per product or one DecideBatch (one Write
// request with k nodes), and reports the time until the last verdict of a
// group was acknowledged, p50/p99 (ns/op is per group).
func BenchmarkVerdicts(b *testing.B) {
	for _, bc := range []struct {
		k     int
		batch bool
	}{{1, false}, {8, false}, {8, true}, {32, false}, {32, true}} {
		name := fmt.Sprintf("group=%d/decide", bc.k)
		if bc.batch {
			name = fmt.Sprintf("group=%d/batch", bc.k)
		}
		b.Run(name, func(b *testing.B) {
			_, ep := sharedSim(b)
			cl := connect(b, testConfig(ep))
			benchutil.MeasureVerdicts(b, cl, bc.k, bc.batch, 1<<20, nil)
		})
	}
}
