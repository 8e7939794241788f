package printer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/printer/tij"
)

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// benchLine runs the queue manager against the simulator over loopback
// TCP: every print-complete triggers the next product, two products are
// always on their way, so the printer queue is kept full. A trigger func,
// if given, paces the products instead; it must return once stop is closed.
func benchLine(b *testing.B, so printersim.Options, depth int, units int, trigger func(stop <-chan struct{}, s *printersim.Server, seq uint64)) (elapsed time.Duration, st printersim.Stats, lat []time.Duration, qs printer.QueueStats) {
	sim, err := printersim.Start(so)
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	drv, err := tij.New(tij.Options{Addr: sim.Addr(), Job: "CARTON", Fields: []string{"ID", "GS1"}, IDField: "ID"})
	if err != nil {
		b.Fatal(err)
	}
	// No wall-clock limit: a stalled line is reported by go test -timeout.
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	if err := drv.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	defer drv.Close(ctx)
	var next atomic.Int64
	var printed atomic.Int64
	var seq atomic.Uint64
	done := make(chan struct{})
	var once sync.Once
	q, err := printer.NewQueue(drv, printer.QueueOptions{
		Depth: depth,
		Feed: func(ctx context.Context, n int) ([]printer.Record, error) {
			recs := make([]printer.Record, 0, n)
			for range n {
				i := next.Add(1)
				id := fmt.Sprintf("SN%09d", i)
				recs = append(recs, printer.Record{ID: id, Fields: map[string]string{"GS1": "0109501101530003\x1d21" + id}})
			}
			return recs, nil
		},
		MarkQueued: func(ctx context.Context, serials []string) error { return nil },
		OnOutcome: func(ctx context.Context, outs []printer.Outcome) error {
			for _, o := range outs {
				if o.Result == printer.ResultPrinted {
					if int(printed.Add(1)) >= units {
						once.Do(func() { close(done) })
					} else if trigger == nil {
						sim.Print(seq.Add(1))
					}
				} else if o.Alarm != printer.AlarmNone {
					b.Errorf("alarm: %v", o)
				}
			}
			return nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- q.Run(ctx) }()
	if err := sim.Wait(ctx, func(s printersim.Snapshot) bool { return s.QueueLen == depth }); err != nil {
		b.Fatal(err)
	}
	q.Latencies()
	start := time.Now()
	var triggers sync.WaitGroup
	if trigger == nil {
		sim.Print(seq.Add(1))
		sim.Print(seq.Add(1))
	} else {
		triggers.Add(1)
		go func() {
			defer triggers.Done()
			for i := uint64(1); ; i++ {
				select {
				case <-done:
					return
				default:
				}
				trigger(done, sim, i)
			}
		}()
	}
	<-done
	triggers.Wait()
	elapsed = time.Since(start)
	lat = q.Latencies()
	st = sim.Stats()
	qs = q.Stats()
	cancel()
	<-runErr
	return
}

// Records per second through queue manager, driver and simulator with
// the printer queue kept full (zero simulated delays: the protocol path).
func BenchmarkQueueThroughput(b *testing.B) {
	b.ReportAllocs()
	elapsed, st, lat, _ := benchLine(b, printersim.Options{QueueCap: 16, NoData: printersim.NoDataIgnore}, 4, max(b.N, 2), nil)
	b.ReportMetric(float64(max(b.N, 2))/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(st.Missed), "missed")
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "enq-to-printed-p50-µs")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "enq-to-printed-p99-µs")
}

// Enqueue-to-ACK latency of the text-protocol driver against the simulator.
func BenchmarkEnqueueAck(b *testing.B) {
	sim, err := printersim.Start(printersim.Options{QueueCap: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	drv, err := tij.New(tij.Options{Addr: sim.Addr(), Job: "CARTON", IDField: "ID"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := drv.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	defer drv.Close(ctx)
	lat := make([]time.Duration, 0, b.N)
	rec := printer.Record{Fields: map[string]string{"GS1": "0109501101530003\x1d17261231\x1d10LOT42\x1d21"}}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		rec.ID = fmt.Sprintf("SN%09d", i)
		t0 := time.Now()
		if err := drv.Enqueue(ctx, rec); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "ack-p50-µs")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "ack-p99-µs")
}

// A line at 1,200 units/min (one product every 50 ms) against a printer
// answering in 5–50 ms and printing in 10–15 ms: the queue must never be
// starved (missed = 0). Runs 60 units (3 s) per iteration.
func BenchmarkLine1200PerMin(b *testing.B) {
	so := printersim.Options{
		QueueCap: 16, AckDelay: 5 * time.Millisecond, AckJitter: 45 * time.Millisecond,
		PrintTime: 10 * time.Millisecond, NoData: printersim.NoDataWarn,
	}
	var missed uint64
	var lat []time.Duration
	for range b.N {
		tick := time.NewTicker(50 * time.Millisecond)
		_, st, l, _ := benchLine(b, so, 4, 60, func(stop <-chan struct{}, s *printersim.Server, seq uint64) {
			select {
			case <-tick.C:
				s.Print(seq)
			case <-stop:
			}
		})
		tick.Stop()
		missed += st.Missed
		lat = append(lat, l...)
	}
	b.ReportMetric(float64(missed), "missed")
	b.ReportMetric(float64(percentile(lat, 0.5).Milliseconds()), "enq-to-printed-p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Milliseconds()), "enq-to-printed-p99-ms")
}
