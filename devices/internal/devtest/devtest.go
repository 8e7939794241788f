// Package devtest holds the test helpers the PLC protocol clients' tests
// share (devices/modbus, devices/opcua).
package devtest

import (
	"context"
	"errors"
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
