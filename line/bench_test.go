package line_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// BenchmarkLine runs the whole line over loopback (site server over HTTP,
// PLC over Modbus TCP, printer over its TCP text protocol, camera over
// DMCC with real DataMatrix rendering and decoding, the journal fsyncing)
// with the simulators' realistic device timing (printer reply latency
// 2–10 ms pipelined, print time from the conveyor speed, camera latency
// 5 ms, the reject gate half a second of travel downstream), each rate
// once with no fault and once with faults on (print defects, wrong
// records, duplicate acknowledgements, and the demo's camera, PLC, site
// server and ink faults with the simulated operator resuming the line).
// A batch of about five seconds of production each.
//
// Metrics: units/min commissioned between 10% and 90% of the batch
// (holds included with faults on), missed prints in that window, the
// controller-added latency per unit (verdict inputs in → journal commit →
// verdict written to the PLC) p50/p99, late verdicts (units rejected
// because their verdict could not reach the PLC before their product
// reached the gate), and the gate truth: the journal checked against the
// simulators' record of every product at the gate. A run whose truth
// check fails is a failed benchmark: a speed figure counts only with it.
func BenchmarkLine(b *testing.B) {
	rates := []int{3000, 30000, 60000} // units/min
	if os.Getenv("SERIALINE_BENCH_RATES") != "" {
		rates = splitInts(os.Getenv("SERIALINE_BENCH_RATES"))
	}
	for _, perMin := range rates {
		b.Run(fmt.Sprintf("rate=%d", perMin), func(b *testing.B) {
			for _, faults := range []bool{false, true} {
				name := "faults=off"
				if faults {
					name = "faults=on"
				}
				b.Run(name, func(b *testing.B) {
					for range b.N {
						benchOnce(b, perMin, faults)
					}
				})
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

func benchOnce(b *testing.B, perMin int, faults bool) {
	perSec := float64(perMin) / 60
	units := max(300, int(perSec*5))
	cfg, err := linesim.DemoConfig()
	if err != nil {
		b.Fatal(err)
	}
	cfg.Cycle.DrawAhead = 1024
	cfg.Cycle.DrawGroup = 256
	cfg.Pools.RequestSize = units + 2000
	cfg.Pools.LowWater = units + 1000
	cfg.Devices.PLC.Modbus.PollInterval = time.Millisecond
	// Verdicts over their own connection: never behind a trigger poll.
	cfg.Devices.PLC.Modbus.GateConnection = os.Getenv("SERIALINE_BENCH_ONE_CONN") == ""
	o := linesim.Options{Dir: b.TempDir(), Rate: perSec, Realistic: true, Config: &cfg}
	if faults {
		o.Faults = linesim.PrinterFaults{DefectRate: 0.02, MaxDefectSeverity: 0.9, WrongRecordRate: 0.002, DuplicateAckRate: 0.005}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := linesim.Start(ctx, o)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := l.Controller
	id := "BENCH"
	// Window: from 10% to 90% of the target commissioned.
	var t0, t1 time.Time
	var n0, n1 int
	var m0, m1 uint64
	var wg sync.WaitGroup
	wg.Add(1)
	mctx, mcancel := context.WithCancel(ctx)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-mctx.Done():
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
	rep, err := linesim.RunDemo(wctx, l, linesim.DemoOptions{Units: units, BatchID: id, Faults: faults, OperatorDelay: 50 * time.Millisecond})
	mcancel()
	wg.Wait()
	lat := c.Latencies()
	if err != nil {
		b.Fatalf("batch did not complete: %v", err)
	}
	if err := rep.Err(); err != nil {
		b.Fatalf("not balanced: %v", err)
	}
	truth, err := linesim.CheckTruth(l.Journal, id, l.GateLog())
	if err != nil {
		b.Fatal(err)
	}
	if !truth.OK() {
		b.Fatalf("gate truth: %s: %v", truth, truth.Violations)
	}
	if t1.IsZero() {
		b.Fatal("no measurement window")
	}
	late := 0
	if err := l.Journal.Units(id, func(u journal.Unit) error {
		for _, s := range u.History {
			if s.Reason == journal.ReasonLateVerdict {
				late++
				break
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	rate := float64(n1-n0) / t1.Sub(t0).Minutes()
	slices.Sort(lat)
	pct := func(q int) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, len(lat)*q/100)]) / 1e6
	}
	b.ReportMetric(rate, "units/min")
	b.ReportMetric(float64(m1-m0), "missed-prints")
	b.ReportMetric(pct(50), "p50-ms")
	b.ReportMetric(pct(99), "p99-ms")
	b.ReportMetric(float64(late), "late-verdicts")
	b.ReportMetric(float64(rep.Counts.Rejected+rep.Counts.Uncertain), "rejected+uncertain")
	b.ReportMetric(float64(truth.Products), "products-checked")
	b.ReportMetric(float64(len(truth.Violations)), "truth-violations")
}
