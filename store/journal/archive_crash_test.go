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
// every step durable), one of them aggregated (cases, a pallet, a rework),
// and is SIGKILLed at random moments, again and again. After every kill the
// journal verifies (an archive in progress and the hierarchy included),
// every batch the child reported archived has its archive recorded and its
// file verifies against the journal, and units (a sample) and every case
// and pallet are still found — live or in their archive. The last run
// archives what is left.

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
	if err := j.ImportPool(ctx, Pool{ID: "PK", GTIN: testGTIN, Serials: serials("K", batches*per)}); err != nil {
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
	agg := aggregatedBatch(t, j, false) // batch B1
	for _, u := range agg.units {
		all[u] = "B1"
	}
	j.Close()

	reported := map[string]bool{}
	aggKilled := 0 // kills that left B1 (aggregated) half archived (logged)
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
			if lines++; lines == killAt && run < 30 && !done {
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
		state := checkArchivedJournal(t, run, path, arch, reported, all, agg.codes())
		if state["B1"].State == "archiving" {
			aggKilled++
		}
		if done {
			// how many kills hit B1's archiving depends on how far the
			// child got past the line read (TestArchiveAggregatedResume
			// stops it at every phase deterministically)
			t.Logf("%d kill(s) left the aggregated batch half archived", aggKilled)
			archived := 0 // a batch finished just before a kill was never reported: count the journal's
			for _, a := range state {
				if a.State == "archived" {
					archived++
				}
			}
			if archived != batches+1 {
				t.Fatalf("done with %d of %d batches archived: %+v", archived, batches+1, state)
			}
			t.Logf("all %d batches archived after %d runs", batches+1, run+1)
			return
		}
	}
}

// checkArchivedJournal: verify clean, reported archives recorded and their
// files verify, every unit (a sample) and parent of batch B1 found. It
// returns the archives by batch.
func checkArchivedJournal(t *testing.T, run int, path, arch string, reported map[string]bool, all map[string]string, parents []string) map[string]ArchiveInfo {
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
	for _, code := range parents {
		if p, err := r.Parent(code); err != nil || p.Batch != "B1" {
			t.Fatalf("run %d: parent %s of B1: %+v %v", run, code, p, err)
		}
	}
	if entries, _ := os.ReadDir(arch); len(entries) > len(as) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Logf("run %d: archive folder holds %v (a temporary file of an interrupted write is overwritten on resume)", run, names)
	}
	return state
}
