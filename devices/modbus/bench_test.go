package modbus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/serialine/serialine/devices/internal/benchutil"
	"github.com/serialine/serialine/devices/plcsim"
)

// BenchmarkTriggers follows a simulated line at a fixed product rate over
// Modbus TCP on loopback (counter + 32-entry sequence-id ring polled every
// 1ms) and reports the rate followed, missed counts (must be 0) and the
// product-to-trigger latency p50/p99.
func BenchmarkTriggers(b *testing.B) {
	for _, rate := range []float64{2000, 5000, 10000} {
		b.Run(fmt.Sprintf("rate=%.0f", rate), func(b *testing.B) {
			sim, addr := newSim(b, plcsim.Options{GateDistance: 1})
			c := testConfig(addr)
			cl := connect(b, c)
			p := benchutil.NewProducer(sim, b.N+100000)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			pctx, stop := context.WithCancel(ctx)
			var st benchutil.Stats
			var missed uint64
			b.ResetTimer()
			start := time.Now()
			done := p.Run(pctx, rate)
			for i := 0; i < b.N; i++ {
				tr := next(b, ctx, cl)
				missed += tr.Missed
				if d, ok := p.Latency(tr); ok {
					st.Add(d)
				}
			}
			el := time.Since(start)
			b.StopTimer()
			stop()
			<-done
			b.ReportMetric(float64(b.N)/el.Seconds(), "triggers/s")
			b.ReportMetric(float64(missed), "missed")
			b.ReportMetric(float64(st.Percentile(0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(st.Percentile(0.99).Microseconds()), "p99-µs")
		})
	}
}
