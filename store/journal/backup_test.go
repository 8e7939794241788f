package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A backup taken while units are being committed is a consistent journal
// (verify clean, the batch's counters = its units); restoring it puts it in
// place of the journal, keeping the replaced file.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, nil)
	ctx := context.Background()
	setup(t, j, 400)
	us, err := j.Draw(ctx, "B1", 400)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			<-start
			for i := w; i < len(us); i += 4 {
				for _, c := range lifecycle {
					c.Serial = us[i].Serial
					if err := j.Apply(ctx, c); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	close(start)
	var backups []string
	for i := range 3 {
		p := filepath.Join(dir, "backup-"+string(rune('a'+i))+".db")
		if _, err := j.BackupFile(ctx, p); err != nil {
			t.Fatal(err)
		}
		backups = append(backups, p)
	}
	wg.Wait()
	for _, p := range backups {
		b, err := Open(p, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := b.Verify(ctx)
		b.Close()
		if err != nil || rep.Units != 400 {
			t.Fatalf("backup %s: %+v %v", p, rep, err)
		}
	}
	if _, err := j.BackupFile(ctx, backups[0]); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}

	// Restore the last backup over a (closed) journal.
	live := filepath.Join(dir, "live.db")
	lj, err := Open(live, nil)
	if err != nil {
		t.Fatal(err)
	}
	lj.Close()
	rr, err := Restore(ctx, backups[2], live, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Previous == "" || rr.Verify.Units != 400 {
		t.Fatalf("restore report %+v", rr)
	}
	if _, err := os.Stat(rr.Previous); err != nil {
		t.Fatalf("replaced file not kept: %v", err)
	}
	r, err := Open(live, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := r.Counters("B1")
	if err != nil || c.Total() != 400 || c.InFlight() != 0 {
		t.Fatalf("restored counters %+v %v (recovery resolves what was in flight)", c, err)
	}
	if rep, err := r.Verify(ctx); err != nil {
		t.Fatalf("restored journal: %v %v", err, rep.Problems)
	}
}

func TestRestoreRefusals(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	j := openTest(t, nil)
	setup(t, j, 10)
	good := filepath.Join(dir, "good.db")
	if _, err := j.BackupFile(ctx, good); err != nil {
		t.Fatal(err)
	}
	// In use: the journal is open.
	if _, err := Restore(ctx, good, j.Path(), nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore over a journal in use: %v", err)
	}
	// A corrupt backup: one record changed.
	bad := filepath.Join(dir, "bad.db")
	data, _ := os.ReadFile(good)
	i := strings.Index(string(data), "S000003")
	if i < 0 {
		t.Fatal("serial not found in the backup")
	}
	data[i+len("S000003")+3] ^= 0xFF
	os.WriteFile(bad, data, 0o600)
	target := filepath.Join(dir, "target.db")
	os.WriteFile(target, []byte("keep me"), 0o600)
	if _, err := Restore(ctx, bad, target, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "restore: backup") {
		t.Fatalf("restore of a corrupt backup: %v", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "keep me" {
		t.Fatal("target changed by a refused restore")
	}
}

// After archiving, Compact gives the space back and keeps everything.
func TestCompactAfterArchive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := Open(path, &Options{Now: newFakeClock().Now, ArchiveDir: dir, NoSync: true, InitialMmapSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ser := closedBatch(t, j, 3000)
	if _, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if _, err := Compact(ctx, path, false, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := Compact(ctx, path, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.After > rep.Before || rep.Previous == "" {
		t.Fatalf("compact %+v", rep)
	}
	r, err := Open(path, &Options{ArchiveDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if vr, err := r.Verify(ctx); err != nil || vr.Archived != 3000 {
		t.Fatalf("verify after compact: %+v %v", vr, err)
	}
	if u, err := r.Unit(ser[42]); err != nil || u.Archive == "" {
		t.Fatalf("archived unit after compact: %+v %v", u, err)
	}
}
