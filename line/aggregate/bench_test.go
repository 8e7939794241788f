package aggregate_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
)

// BenchmarkLineAggregation runs the whole line with the end of line on
// (case packer, case conveyor PLC, aggregation camera decoding every case
// image, case labeller, label scanner, palletiser), cases of 40, pallets
// of 30, at 60,000 units/min by default (SERIALINE_BENCH_RATES=a,b,…
// per minute). Metrics: units/min between 10% and 90% of the batch,
// missed prints, the unit cycle's controller-added latency p50/p99 (the
// targets of the unit cycle must hold with aggregation running), cases
// closed and sent to rework, and whether every case that passed to the
// palletiser is closed in the journal with exactly its packs.
func BenchmarkLineAggregation(b *testing.B) {
	rates := []int{60000}
	if v := os.Getenv("SERIALINE_BENCH_RATES"); v != "" {
		rates = nil
		for _, f := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
				rates = append(rates, n)
			}
		}
	}
	for _, perMin := range rates {
		b.Run(fmt.Sprintf("rate=%d/min", perMin), func(b *testing.B) {
			for range b.N {
				benchAggOnce(b, perMin)
			}
		})
	}
}

func benchAggOnce(b *testing.B, perMin int) {
	perSec := float64(perMin) / 60
	units := max(400, int(perSec*5)/40*40)
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
	cfg.Devices.PLC.Modbus.GateConnection = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := linesim.Start(ctx, linesim.Options{Dir: b.TempDir(), Rate: perSec, GateDistance: 40, Config: &cfg,
		Aggregate: &linesim.AggregateOptions{CaseSize: 40, PalletSize: 30, Pitch: 20 * time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := l.Controller
	id := "BENCH"
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: id, GTIN: testGTIN, Lot: "B1", Expiry: "281231", Profile: "eu-fmd", Target: units}, operator); err != nil {
		b.Fatal(err)
	}
	if err := linesim.ConfirmClearance(ctx, c, id, operator, nil); err != nil {
		b.Fatal(err)
	}
	if err := c.Command(ctx, id, api.Command{Name: api.CmdStart}, operator); err != nil {
		b.Fatal(err)
	}
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
				c.Latencies()
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
	lat := c.Latencies()
	if err != nil || st != packml.Complete || t1.IsZero() {
		b.Fatalf("batch did not complete: %s %v", st, err)
	}
	// Every case on the conveyor decided; the journal holds what passed.
	l.PLC.Flush()
	deadline := time.Now().Add(time.Minute)
	for l.Cases.Packer.InFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	tr := l.Cases.Packer.Truth()
	byCode := map[string]journal.Parent{}
	_ = l.Journal.Parents(id, func(p journal.Parent) error { byCode[p.Code] = p; return nil })
	packed, reworked, wrong := 0, 0, 0
	for _, cs := range tr.Cases {
		switch {
		case cs.Reworked:
			reworked++
		case cs.Passed:
			packed++
			p := byCode[cs.Label]
			if p.State != journal.ParentClosed || !slices.Equal(slices.Sorted(slices.Values(p.Children)), slices.Sorted(slices.Values(cs.Serials))) {
				wrong++
				b.Logf("case %d label %q: journal %s %d children, physically %d packs %v", cs.Seq, cs.Label, p.State, len(p.Children), len(cs.Serials), cs.Serials)
			}
		}
	}
	slices.Sort(lat)
	q := func(p int) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, len(lat)*p/100)]) / 1e6
	}
	b.ReportMetric(float64(n1-n0)/t1.Sub(t0).Minutes(), "units/min")
	b.ReportMetric(float64(m1-m0), "missed-prints")
	b.ReportMetric(q(50), "p50-ms")
	b.ReportMetric(q(99), "p99-ms")
	b.ReportMetric(float64(packed), "cases-packed")
	b.ReportMetric(float64(reworked), "cases-rework")
	b.ReportMetric(float64(wrong), "cases-journal-differs")
	if wrong > 0 {
		b.Errorf("%d cases passed to the palletiser differ from the journal", wrong)
	}
}
