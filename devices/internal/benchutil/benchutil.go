// Package benchutil drives the PLC simulator at a paced product rate for
// the protocol clients' benchmarks and records trigger latencies.
package benchutil

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/plcsim"
)

// Producer produces products on a sim at a fixed rate and remembers when
// each one entered (OnProduct hook), so trigger latency can be measured.
type Producer struct {
	sim   *plcsim.Sim
	first uint64
	at    []atomic.Int64
}

// NewProducer hooks into sim; capacity bounds the products tracked.
func NewProducer(sim *plcsim.Sim, capacity int) *Producer {
	p := &Producer{sim: sim, first: sim.Status().LastSeq + 1, at: make([]atomic.Int64, capacity)}
	sim.OnProduct(func(seq uint64) {
		if i := seq - p.first; i < uint64(len(p.at)) {
			p.at[i].Store(time.Now().UnixNano())
		}
	})
	return p
}

// Run produces at rate products/s (in 1ms batches) until ctx ends. The
// caller waits on the returned WaitGroup-like done channel.
func (p *Producer) Run(ctx context.Context, rate float64) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		start := time.Now()
		var made float64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			due := time.Since(start).Seconds()*rate - made
			if due >= 1 {
				n := int(due)
				made += float64(n)
				p.sim.Produce(n)
			}
		}
	}()
	return done
}

// Latency returns the time from production to tr.At for a trigger.
func (p *Producer) Latency(tr devices.Trigger) (time.Duration, bool) {
	i := tr.Seq - p.first
	if i >= uint64(len(p.at)) {
		return 0, false
	}
	ns := p.at[i].Load()
	if ns == 0 {
		return 0, false
	}
	return tr.At.Sub(time.Unix(0, ns)), true
}

// Stats summarises latencies.
type Stats struct {
	mu  sync.Mutex
	lat []time.Duration
}

// Add records one latency.
func (s *Stats) Add(d time.Duration) {
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
}

// Percentile returns the q-quantile (0..1).
func (s *Stats) Percentile(q float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lat) == 0 {
		return 0
	}
	l := slices.Clone(s.lat)
	slices.Sort(l)
	return l[min(len(l)-1, int(q*float64(len(l))))]
}

// Measure is the body of the protocol clients' trigger benchmarks: it
// produces at rate on the Producer's sim while reading b.N triggers with
// next, then reports triggers/s, the missed count (must be 0) and the
// product-to-trigger latency p50/p99.
func (p *Producer) Measure(b *testing.B, rate float64, next func(context.Context) devices.Trigger) {
	ctx := b.Context()
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var st Stats
	var missed uint64
	b.ResetTimer()
	start := time.Now()
	done := p.Run(pctx, rate)
	for i := 0; i < b.N; i++ {
		tr := next(ctx)
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
}

// Decider is the verdict side of a PLC client.
type Decider interface {
	Decide(ctx context.Context, seq uint64, reject bool) error
	DecideBatch(ctx context.Context, vs []devices.Verdict) error
}

// MeasureVerdicts is the body of the protocol clients' verdict benchmarks:
// b.N groups of k verdicts for consecutive products from seq on (every
// fifth a reject), written one Decide each or as one DecideBatch, calling
// before (when not nil) ahead of each group. Reports the time until the
// last verdict of a group was acknowledged, p50/p99.
func MeasureVerdicts(b *testing.B, cl Decider, k int, batch bool, seq uint64, before func()) {
	ctx := b.Context()
	vs := make([]devices.Verdict, k)
	var st Stats
	b.ResetTimer()
	for range b.N {
		if before != nil {
			before()
		}
		for i := range vs {
			vs[i] = devices.Verdict{Seq: seq, Reject: i%5 == 0}
			seq++
		}
		t0 := time.Now()
		if batch {
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
}
