package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/serialine/serialine/store/fsstat/fsstattest"
)

// On a full file system a commit fails with ErrDiskFull: that write is not
// in the journal, everything acknowledged before is, journal verify is
// clean, and writes succeed again once room is freed.
func TestDiskFull(t *testing.T) {
	dir := fsstattest.Mount(t, 8<<20)
	path := filepath.Join(dir, "journal.db")
	j, err := Open(path, &Options{Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndVerify(t, j) })
	ctx := context.Background()
	setup(t, j, 100)
	us, err := j.Draw(ctx, "B1", 50)
	if err != nil {
		t.Fatal(err)
	}
	filler := fsstattest.Fill(t, dir, 64<<10)

	// Write until the disk refuses: new pools make the file grow.
	acked := 0
	var full error
	for i := 0; i < 10_000 && full == nil; i++ {
		err := j.ImportPool(ctx, Pool{ID: fmt.Sprintf("F%d", i), GTIN: testGTIN, Serials: serials(fmt.Sprintf("F%dx", i), 200)})
		switch {
		case err == nil:
			acked++
		case errors.Is(err, ErrDiskFull):
			full = err
		default:
			t.Fatalf("import %d: %v", i, err)
		}
	}
	if full == nil {
		t.Fatal("the file system never filled up")
	}
	t.Logf("disk full after %d pools: %v", acked, full)
	// The unit step that fails is not written; earlier ones are.
	var stepErr error
	n := 0
	for _, u := range us {
		if stepErr = j.Apply(ctx, Change{Serial: u.Serial, To: Queued}); stepErr != nil {
			break
		}
		n++
	}
	pools, err := j.Pools()
	if err != nil || len(pools) != 1+acked {
		t.Fatalf("pools after disk full: %d (want %d), %v", len(pools), 1+acked, err)
	}
	if rep, err := j.Verify(ctx); err != nil {
		t.Fatalf("verify on a full disk: %v %v", err, rep.Problems)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if stepErr != nil {
		if !errors.Is(stepErr, ErrDiskFull) {
			t.Fatalf("unit step on a full disk: %v", stepErr)
		}
		if u, _ := j.Unit(us[n].Serial); u.State != Drawn {
			t.Fatalf("failed step written: %s", u.State)
		}
	}
	for _, u := range us[n:] {
		mustApply(t, j, Change{Serial: u.Serial, To: Queued})
	}
	if err := j.ImportPool(ctx, Pool{ID: "after", GTIN: testGTIN, Serials: serials("AFT", 100)}); err != nil {
		t.Fatalf("import after room was freed: %v", err)
	}
}
