package opcua_test

import (
	"context"
	"fmt"
	"testing"
	"time"

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
			ctx := b.Context()
			vs := make([]devices.Verdict, bc.k)
			var st benchutil.Stats
			seq := uint64(1 << 20)
			b.ResetTimer()
			for range b.N {
				for i := range vs {
					vs[i] = devices.Verdict{Seq: seq, Reject: i%5 == 0}
					seq++
				}
				t0 := time.Now()
				if bc.batch {
					if err := cl.DecideBatch(ctx, vs); err != nil {
						b.Fatal(err)
					}
				} else {
					for _, v := range vs {
						if err := cl.Decide(ctx, v.Seq, v.Reject); err != nil {
							b.Fatal(err)
						}
					}
				}
				st.Add(time.Since(t0))
			}
			b.StopTimer()
			b.ReportMetric(float64(st.Percentile(0.50))/1e3, "p50-µs")
			b.ReportMetric(float64(st.Percentile(0.99))/1e3, "p99-µs")
		})
	}
}
