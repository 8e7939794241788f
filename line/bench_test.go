package line_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
)

// BenchmarkLine runs the whole line over loopback (site server over HTTP,
// PLC over Modbus TCP, printer over its TCP text protocol, camera over
// DMCC with real DataMatrix rendering and decoding, the journal fsyncing)
// at rising line speeds, each for a batch of about five seconds of
// production. Metrics: units/min achieved between 10% and 90% of the
// batch, printer missed prints in that window (products that passed the
// print head with an empty printer queue), and the controller-added
// latency per unit (camera result received → journal commit → verdict
// written to the PLC) p50/p99. Every verdict is durable before it is sent
// (the cycle's ordering; the batch is checked to balance).
func BenchmarkLine(b *testing.B) {
	rates := []int{1000, 6000, 20000, 30000, 40000, 60000}
	if os.Getenv("SERIALINE_BENCH_RATES") != "" {
		rates = nil
		for _, f := range splitInts(os.Getenv("SERIALINE_BENCH_RATES")) {
			rates = append(rates, f)
		}
	}
	for _, perMin := range rates {
		b.Run(fmt.Sprintf("rate=%d/min", perMin), func(b *testing.B) {
			for range b.N {
				benchOnce(b, perMin)
			}
		})
	}
}

func splitInts(s string) []int {
	var out []int
	n, in := 0, false
	for _, c := range s + "," {
		if c >= '0' && c <= '9' {
			n, in = n*10+int(c-'0'), true
			continue
		}
		if in {
			out = append(out, n)
		}
		n, in = 0, false
	}
	return out
}

func benchOnce(b *testing.B, perMin int) {
	perSec := float64(perMin) / 60
	units := max(300, int(perSec*5))
	cfg, err := linesim.DemoConfig()
	if err != nil {
		b.Fatal(err)
	}
	cfg.Cycle.PrinterDepth = 64
	cfg.Cycle.DrawAhead = 1024
	cfg.Cycle.DrawGroup = 256
	cfg.Pools.RequestSize = units + 2000
	cfg.Pools.LowWater = units + 1000
	cfg.Devices.PLC.Modbus.PollInterval = time.Millisecond
	// Verdicts over their own connection: never behind a trigger poll.
	cfg.Devices.PLC.Modbus.GateConnection = os.Getenv("SERIALINE_BENCH_ONE_CONN") == ""
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := linesim.Start(ctx, linesim.Options{Dir: b.TempDir(), Rate: perSec, GateDistance: 40, Config: &cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := l.Controller
	id := "BENCH"
	startBatch(ctx, b, l, id, "B1", units)
	// Window: from 10% to 90% of the target commissioned.
	var t0, t1 time.Time
	var n0, n1 int
	var m0, m1 uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			ctr, err := l.Journal.Counters(id)
			if err != nil {
				continue
			}
			if t0.IsZero() && ctr.Commissioned >= units/10 {
				t0, n0, m0 = time.Now(), ctr.Commissioned, l.Printer.Stats().Missed
				c.Latencies() // drop the start-up
			}
			if !t0.IsZero() && ctr.Commissioned >= units*9/10 {
				t1, n1, m1 = time.Now(), ctr.Commissioned, l.Printer.Stats().Missed
				return
			}
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer wcancel()
	st, err := c.WaitState(wctx, packml.Complete, packml.Held)
	<-done
	latRead := c.ReadLatencies()
	lat := c.Latencies()
	if err != nil || st != packml.Complete {
		b.Fatalf("batch did not complete: %s %v", st, err)
	}
	rec, err := c.Reconciliation(ctx, id)
	if err != nil || !rec.Balanced {
		b.Fatalf("not balanced: %+v %v", rec, err)
	}
	if t1.IsZero() {
		b.Fatal("no measurement window")
	}
	rate := float64(n1-n0) / t1.Sub(t0).Minutes()
	slices.Sort(lat)
	slices.Sort(latRead)
	pct := func(lat []time.Duration, q int) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, len(lat)*q/100)]) / 1e6
	}
	p := func(q int) float64 { return pct(lat, q) }
	b.ReportMetric(rate, "units/min")
	b.ReportMetric(float64(m1-m0), "missed-prints")
	b.ReportMetric(p(50), "p50-ms")
	b.ReportMetric(p(99), "p99-ms")
	b.ReportMetric(pct(latRead, 50), "read-p50-ms")
	b.ReportMetric(pct(latRead, 99), "read-p99-ms")
	b.ReportMetric(float64(rec.Rejected+rec.Uncertain), "rejected+uncertain")
}
