// Package devtest holds the test helpers the PLC protocol clients' tests
// share (devices/modbus, devices/opcua).
package devtest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
)

// WaitFor polls cond until it holds. It has no wall-clock bound of its
// own: a condition that never comes fails when the test's context ends
// (go test -timeout), so a slow, loaded machine cannot fail it.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: never happened", what)
		case <-tick.C:
		}
	}
}

// TriggerSource is the part of a PLC client Next needs.
type TriggerSource interface {
	NextTrigger(ctx context.Context) (devices.Trigger, error)
}

// Next returns the next trigger, calling again after ErrDisconnected (the
// client reconnects within the next call); any other error fails the test.
func Next(t testing.TB, ctx context.Context, src TriggerSource) devices.Trigger {
	t.Helper()
	for {
		tr, err := src.NextTrigger(ctx)
		if err == nil {
			return tr
		}
		if errors.Is(err, devices.ErrDisconnected) {
			continue
		}
		t.Fatalf("NextTrigger: %v", err)
	}
}

// Collect reads n triggers with Next and returns their sequence ids and the
// total Missed.
func Collect(t testing.TB, ctx context.Context, src TriggerSource, n int) ([]uint64, uint64) {
	t.Helper()
	var seqs []uint64
	var missed uint64
	for len(seqs) < n {
		tr := Next(t, ctx, src)
		seqs = append(seqs, tr.Seq)
		missed += tr.Missed
	}
	return seqs, missed
}

// WantSeqs fails the test unless got equals want.
func WantSeqs(t testing.TB, got, want []uint64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("seqs %v, want %v", got, want)
	}
}

// FastBackoff is the reconnect policy the client tests use: 1ms doubling
// to 20ms.
func FastBackoff() devices.Backoff {
	return devices.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2}
}

// DebugLogger is a debug-level stderr logger when PLC_DEBUG is set, else
// nil (the client's default: discard).
func DebugLogger() *slog.Logger {
	if os.Getenv("PLC_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Client is the part of a PLC client Connect needs.
type Client interface {
	Connect(ctx context.Context) error
	Close(ctx context.Context) error
}

// Connect fails the test on newErr (the client constructor's error), else
// connects cl and closes it when the test ends.
func Connect[C Client](t testing.TB, cl C, newErr error) C {
	t.Helper()
	if newErr != nil {
		t.Fatal(newErr)
	}
	if err := cl.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(context.Background()) })
	return cl
}

// Verdicts are the verdicts for seqs: every third product rejected.
func Verdicts(seqs []uint64) []devices.Verdict {
	vs := make([]devices.Verdict, len(seqs))
	for i, s := range seqs {
		vs[i] = devices.Verdict{Seq: s, Reject: i%3 == 2}
	}
	return vs
}

// VerdictTable is the part of the PLC simulator WantVerdicts reads.
type VerdictTable interface {
	Verdict(seq uint64) (int, bool)
}

// WantVerdicts fails the test unless the PLC holds each of vs's verdicts.
func WantVerdicts(t testing.TB, sim VerdictTable, vs []devices.Verdict) {
	t.Helper()
	for _, v := range vs {
		if got, ok := sim.Verdict(v.Seq); !ok || got != int(v.Code()) {
			t.Fatalf("product %d: sim verdict %d %v, want %d", v.Seq, got, ok, v.Code())
		}
	}
}

// Lifecycle is the part of a PLC client CheckLifecycle drives.
type Lifecycle interface {
	Client
	TriggerSource
	Decide(ctx context.Context, seq uint64, reject bool) error
	Confirm(ctx context.Context, seq uint64) (bool, error)
}

// CheckLifecycle drives an unconnected client through Connect and Close:
// before Connect, NextTrigger and Decide return ErrNotConnected; after
// Close, NextTrigger, Confirm and Decide return ErrClosed, and a second
// Close returns nil.
func CheckLifecycle(t testing.TB, ctx context.Context, cl Lifecycle) {
	t.Helper()
	if _, err := cl.NextTrigger(ctx); !errors.Is(err, devices.ErrNotConnected) {
		t.Fatalf("NextTrigger before Connect: %v", err)
	}
	if err := cl.Decide(ctx, 1, true); !errors.Is(err, devices.ErrNotConnected) {
		t.Fatalf("Decide before Connect: %v", err)
	}
	if err := cl.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close(ctx)
	if _, err := cl.NextTrigger(ctx); !errors.Is(err, devices.ErrClosed) {
		t.Fatalf("NextTrigger after Close: %v", err)
	}
	if _, err := cl.Confirm(ctx, 1); !errors.Is(err, devices.ErrClosed) {
		t.Fatalf("Confirm after Close: %v", err)
	}
	if err := cl.Decide(ctx, 1, true); !errors.Is(err, devices.ErrClosed) {
		t.Fatalf("Decide after Close: %v", err)
	}
	if err := cl.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// GatePLC is the part of a PLC client CheckGateResults drives.
type GatePLC interface {
	TriggerSource
	DecideBatch(ctx context.Context, vs []devices.Verdict) error
	NextGateResult(ctx context.Context) (devices.GateResult, error)
}

// GateSim is the part of the PLC simulator CheckGateResults drives.
type GateSim interface {
	Produce(n int) []uint64
	Flush()
}

// GateWant is one expected gate result.
type GateWant struct {
	Result    int
	NoVerdict bool
}

// CheckGateResults lets len(verdicts) products enter, writes verdicts[i]
// for product i (nil = none: it reaches the gate without one), moves them
// all through the gate and checks that cl reports want (in order, one
// result per product in mode "every"; want lists only those reported).
// NextTrigger keeps being called meanwhile, as the line does.
func CheckGateResults(t testing.TB, ctx context.Context, sim GateSim, cl GatePLC, verdicts []*bool, want []GateWant) {
	t.Helper()
	seqs := sim.Produce(len(verdicts))
	got, _ := Collect(t, ctx, cl, len(seqs))
	WantSeqs(t, got, seqs)
	var vs []devices.Verdict
	for i, v := range verdicts {
		if v != nil {
			vs = append(vs, devices.Verdict{Seq: seqs[i], Reject: *v})
		}
	}
	if err := cl.DecideBatch(ctx, vs); err != nil {
		t.Fatal(err)
	}
	sim.Flush()
	// An OPC UA client takes its notifications while NextTrigger runs:
	// keep calling it (no trigger comes) until the results are read.
	tctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for tctx.Err() == nil {
			cl.NextTrigger(tctx)
		}
	}()
	defer func() { stop(); <-done }()
	k := 0
	for i := range seqs {
		if v := verdicts[i]; len(want) < len(seqs) && (v == nil || !*v) {
			continue // mode rejects: only the rejects are reported
		}
		r, err := cl.NextGateResult(ctx)
		if err != nil {
			t.Fatalf("NextGateResult: %v", err)
		}
		w := want[k]
		k++
		if r.Seq != seqs[i] || r.Result != w.Result || r.NoVerdict != w.NoVerdict || r.Missed != 0 {
			t.Fatalf("gate result %d: %+v, want product %d result %d no-verdict %v", k, r, seqs[i], w.Result, w.NoVerdict)
		}
	}
}
