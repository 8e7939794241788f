package journal

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testGTIN has a valid check digit.
const testGTIN = "09501101530003"

// fakeClock is a deterministic clock advancing 1ms per call.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// openTest opens a fresh journal in t.TempDir(). In t.Cleanup it closes the
// journal, reopens the file read-only and runs Verify: every test ends with
// journal verify.
func openTest(t testing.TB, o *Options) *Journal {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.db")
	if o == nil {
		o = &Options{}
	}
	if o.Now == nil {
		o.Now = newFakeClock().Now
	}
	j, err := Open(path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeAndVerify(t, j) })
	return j
}

func closeAndVerify(t testing.TB, j *Journal) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	r, err := Open(j.Path(), &Options{ReadOnly: true})
	if err != nil {
		t.Errorf("reopen for verify: %v", err)
		return
	}
	defer r.Close()
	rep, err := r.Verify(context.Background())
	if err != nil {
		t.Errorf("journal verify: %v\n%v", err, rep.Problems)
	}
}

// serials returns n distinct valid serials with a prefix.
func serials(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06d", prefix, i)
	}
	return out
}

// setup imports a pool of n serials and creates batch "B1".
func setup(t testing.TB, j *Journal, n int) {
	t.Helper()
	ctx := context.Background()
	if err := j.ImportPool(ctx, Pool{ID: "P1", GTIN: testGTIN, Serials: serials("S", n)}); err != nil {
		t.Fatalf("ImportPool: %v", err)
	}
	if err := j.CreateBatch(ctx, BatchDef{ID: "B1", GTIN: testGTIN, Lot: "L1", Expiry: "281231", Profile: "eu-fmd", Target: n}, Actor{User: "ann", Role: "operator"}); err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
}

func mustApply(t testing.TB, j *Journal, cs ...Change) {
	t.Helper()
	if err := j.Apply(context.Background(), cs...); err != nil {
		t.Fatalf("Apply %+v: %v", cs, err)
	}
}

// commission moves a drawn unit all the way to Commissioned.
func commission(t testing.TB, j *Journal, serial string, seq uint64) {
	t.Helper()
	mustApply(t, j, Change{Serial: serial, To: Queued})
	mustApply(t, j, Change{Serial: serial, To: Printed, Seq: seq, Actor: ActorPrinter})
	mustApply(t, j, Change{Serial: serial, To: Verified, Grade: &Grade{Overall: 3.5}, Actor: ActorCamera})
	mustApply(t, j, Change{Serial: serial, To: Commissioned})
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
