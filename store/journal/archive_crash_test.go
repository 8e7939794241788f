package journal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestArchiveKill9: a child process archives closed batches (small chunks,
// every step durable) and is SIGKILLed at random moments, again and again.
// After every kill the journal verifies (an archive in progress included),
// every batch the child reported archived has its archive recorded and its
// file verifies against the journal, and units (a sample) are still
// found — live or in their archive. The last run archives what is left.

const archiveChildEnv = "SERIALINE_JOURNAL_ARCHIVE_CHILD"

// archiveChild: arg is "JOURNAL|ARCHIVE DIR". It prints "moved N" after
// each chunk and "archived B" after each batch, then "done".
func archiveChild(arg string) error {
	path, dir, _ := strings.Cut(arg, "|")
	j, err := Open(path, &Options{ArchiveDir: dir})
	if err != nil {
		return err
	}
	defer j.Close()
	ctx := context.Background()
	ids, err := j.Archivable()
	if err != nil {
		return err
	}
	for _, id := range ids {
		o := ArchiveOptions{Dir: dir, ChunkSize: 40, progress: func(n int) { fmt.Printf("moved %d\n", n) }}
		if _, err := j.ArchiveBatch(ctx, id, o); err != nil {
			return err
		}
		fmt.Printf("archived %s\n", id)
	}
	fmt.Println("done")
	return nil
}

func TestArchiveKill9(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "archive")
	path := filepath.Join(dir, "j.db")
	j, err := Open(path, &Options{NoSync: true, Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const batches, per = 5, 300
	all := map[string]string{} // serial -> batch
	if err := j.ImportPool(ctx, Pool{ID: "P1", GTIN: testGTIN, Serials: serials("K", batches*per)}); err != nil {
		t.Fatal(err)
	}
	for b := range batches {
		id := fmt.Sprintf("K%d", b)
		if err := j.CreateBatch(ctx, BatchDef{ID: id, GTIN: testGTIN, Expiry: "281231", Profile: "eu-fmd"}, Actor{}); err != nil {
			t.Fatal(err)
		}
		us, err := j.Draw(ctx, id, per)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range lifecycle {
			g := make([]Change, 0, per)
			for _, u := range us {
				c := step
				c.Serial = u.Serial
				g = append(g, c)
				all[u.Serial] = id
			}
			if err := j.Apply(ctx, g...); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.SetBatchState(ctx, id, "Complete", Actor{}, "test"); err != nil {
			t.Fatal(err)
		}
		sign(t, j, id)
	}
	j.Close()

	reported := map[string]bool{}
	rng := rand.New(rand.NewPCG(7, 11))
	for run := 0; ; run++ {
		cmd, sc, stderr := startChild(t, archiveChildEnv, path+"|"+arch)
		killAt := 1 + rng.IntN(12)
		lines, done := 0, false
		for sc.Scan() {
			line := sc.Text()
			if b, ok := strings.CutPrefix(line, "archived "); ok {
				reported[b] = true
			}
			done = done || line == "done"
			if lines++; lines == killAt && run < 30 {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		werr := cmd.Wait()
		if done && werr != nil {
			t.Fatalf("run %d: child: %v\n%s", run, werr, stderr)
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && !ws.Signaled() && werr != nil {
			t.Fatalf("run %d: child failed: %v\n%s", run, werr, stderr)
		}
		checkArchivedJournal(t, run, path, arch, reported, all)
		if done {
			if len(reported) != batches {
				t.Fatalf("done with %d of %d batches archived", len(reported), batches)
			}
			t.Logf("all %d batches archived after %d runs", batches, run+1)
			return
		}
	}
}

// checkArchivedJournal: verify clean, reported archives recorded and their
// files verify, every unit found.
func checkArchivedJournal(t *testing.T, run int, path, arch string, reported map[string]bool, all map[string]string) {
	t.Helper()
	ctx := context.Background()
	r, err := Open(path, &Options{ReadOnly: true, ArchiveDir: arch})
	if err != nil {
		t.Fatalf("run %d: reopen: %v", run, err)
	}
	defer r.Close()
	if rep, err := r.Verify(ctx); err != nil {
		t.Fatalf("run %d: verify after kill: %v %v", run, err, rep.Problems)
	}
	as, err := r.Archives()
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]ArchiveInfo{}
	for _, a := range as {
		state[a.Batch] = a
		if a.State == "archived" {
			if _, err := r.VerifyArchive(ctx, filepath.Join(arch, a.File)); err != nil {
				t.Fatalf("run %d: archive %s: %v", run, a.File, err)
			}
		}
	}
	for b := range reported {
		if state[b].State != "archived" {
			t.Fatalf("run %d: batch %s reported archived, journal says %+v", run, b, state[b])
		}
	}
	i := 0
	for serial, b := range all {
		if i++; i%25 != 0 { // a sample: each archived lookup reads its file
			continue
		}
		u, err := r.Unit(serial)
		if err != nil || u.Batch != b || u.State != Commissioned {
			t.Fatalf("run %d: unit %s of %s: %+v %v", run, serial, b, u, err)
		}
	}
	if entries, _ := os.ReadDir(arch); len(entries) > len(as) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Logf("run %d: archive folder holds %v (a temporary file of an interrupted write is overwritten on resume)", run, names)
	}
}
