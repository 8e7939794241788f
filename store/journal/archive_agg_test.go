package journal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// aggBatch is batch B1 built by aggregatedBatch.
type aggBatch struct {
	units                      []string
	c1, c2, c3, c4, c5, pallet Parent
}

func (b aggBatch) codes() []string {
	return []string{b.c1.Code, b.c2.Code, b.c3.Code, b.c4.Code, b.c5.Code, b.pallet.Code}
}

// aggregatedBatch runs batch B1 of 11 commissioned units through
// aggregation: case c1 full (units 0-3); case c2 full (4-7), then unpacked
// in rework (code decommissioned); case c3 full with the same units 4-7;
// case c4 closed partial by a supervisor (8-10); case c5 voided before its
// first close; a pallet of c1, c3, c4. Every event is reported upstream and
// acknowledged, the batch Complete and signed. Parents are left open when
// leaveOpen.
func aggregatedBatch(t *testing.T, j *Journal, leaveOpen bool) aggBatch {
	t.Helper()
	ctx := context.Background()
	var b aggBatch
	b.units = aggSetup(t, j, 11)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	full := func(units []string) Parent {
		t.Helper()
		p := mustOpen(t, j, caseSpec(4))
		must(j.AddChildren(ctx, p.Code, units, Actor{}))
		must(j.CloseParent(ctx, p.Code, false, "", Actor{}))
		return p
	}
	b.c1 = full(b.units[:4])
	b.c2 = full(b.units[4:8])
	must(j.Unpack(ctx, b.c2.Code, "rework: label smeared", supervisor))
	b.c3 = full(b.units[4:8])
	b.c4 = mustOpen(t, j, caseSpec(4))
	must(j.AddChildren(ctx, b.c4.Code, b.units[8:], Actor{}))
	b.c5 = mustOpen(t, j, caseSpec(4))
	must(j.Aggregate(ctx, func(a *AggTx) error { return a.Void(b.c5.Code, "label failed", supervisor) }))
	b.pallet = mustOpen(t, j, palletSpec(3))
	must(j.AddChildren(ctx, b.pallet.Code, []string{b.c1.Code, b.c3.Code}, Actor{}))
	if !leaveOpen {
		must(j.CloseParent(ctx, b.c4.Code, true, "batch end", supervisor))
		must(j.AddChildren(ctx, b.pallet.Code, []string{b.c4.Code}, Actor{}))
		must(j.CloseParent(ctx, b.pallet.Code, false, "", Actor{}))
		reportAndAck(t, j)
	}
	must(j.SetBatchState(ctx, "B1", "Complete", ActorSystem, "test"))
	sign(t, j, "B1")
	return b
}

// reportAndAck reports B1's aggregation events (one document) and
// acknowledges every outbox item.
func reportAndAck(t *testing.T, j *Journal) {
	t.Helper()
	ctx := context.Background()
	_, err := j.ReportAgg(ctx, "B1", func(evs []AggEvent) ([]OutboxEntry, error) {
		data, err := json.Marshal(map[string]any{"type": "EPCISDocument", "events": evs})
		return []OutboxEntry{{Kind: "epcis-agg", Payload: data}}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	items, err := j.OutboxPending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := j.OutboxAck(ctx, it.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// archiveLines reads every line of an archive file.
func archiveLines(t *testing.T, path string) []archiveLine {
	t.Helper()
	var out []archiveLine
	if err := readArchiveFile(path, func(l archiveLine) error { out = append(out, l); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestArchiveAggregatedBatch(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	ctx := context.Background()
	b := aggregatedBatch(t, j, false)
	var before []Parent
	if err := j.Parents("B1", func(p Parent) error { before = append(before, p); return nil }); err != nil {
		t.Fatal(err)
	}
	events, err := j.AggEvents("B1")
	if err != nil || len(before) != 6 || len(events) == 0 {
		t.Fatalf("before archiving: %d parents, %d events, %v", len(before), len(events), err)
	}
	if l, _ := j.Archivable(); !slices.Equal(l, []string{"B1"}) {
		t.Fatalf("Archivable = %v", l)
	}
	info, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir, ChunkSize: 3, By: sam})
	if err != nil {
		t.Fatal(err)
	}

	// The live journal: verifies, nothing of the batch's aggregation left,
	// every parent code tombstoned.
	vr, err := j.Verify(ctx)
	if err != nil || vr.ArchivedParents != 6 || len(vr.Parents) != 0 || vr.AggEvents != 0 || vr.Archived != 11 {
		t.Fatalf("verify after archiving: %+v %v", vr, err)
	}
	err = j.view(func(tx *bolt.Tx) error {
		for _, top := range [][]byte{bktAggBatch, bktAggEvents} {
			if tx.Bucket(top).Bucket([]byte("B1")) != nil {
				t.Errorf("%s/B1 left in the live journal", top)
			}
		}
		if tx.Bucket(bktAggRep).Get([]byte("B1")) != nil {
			t.Error("aggrep/B1 left in the live journal")
		}
		if n := tx.Bucket(bktChildOf).Stats().KeyN; n != 0 {
			t.Errorf("%d child index entries left", n)
		}
		for _, code := range b.codes() {
			if idx, ok, err := archivedCode(tx, code); !ok || err != nil || idx != info.Index {
				t.Errorf("code %s: archived %v in %d (%v), want archive %d", code, ok, idx, err, info.Index)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := j.ParentOf(b.units[0], true); in != "" {
		t.Fatalf("ParentOf an archived unit = %q", in)
	}
	if rep, pending, _ := j.AggReporting("B1"); rep || pending != 0 {
		t.Fatalf("AggReporting after archiving: %v %d", rep, pending)
	}

	// A parent code stays known: never imported, drawn or aggregated again.
	err = j.ImportIDPool(ctx, IDPool{ID: "L9", Kind: IDSSCC, Codes: []string{b.pallet.Code[2:]}})
	var pe *PoolError
	if !errors.As(err, &pe) || len(pe.Bad) != 1 || !strings.Contains(pe.Bad[0].Problem, "archived with batch B1 in "+info.File) {
		t.Fatalf("import of an archived SSCC: %v", err)
	}
	if err := j.CreateBatch(ctx, BatchDef{ID: "B2", GTIN: testGTIN, Lot: "L2", Expiry: "281231", Profile: "eu-fmd"}, Actor{}); err != nil {
		t.Fatal(err)
	}
	p2, err := j.OpenParent(ctx, ParentSpec{Batch: "B2", Level: "pallet", ChildLevel: "case", Capacity: 2, Kind: IDSSCC}, Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(b.codes(), p2.Code) {
		t.Fatalf("new parent drew archived code %s", p2.Code)
	}
	wantRefused(t, j.AddChildren(ctx, p2.Code, []string{b.c1.Code}, Actor{}), "archived with batch B1")
	if _, err := j.Unit(b.units[0]); err != nil {
		t.Fatal(err)
	}
	err = j.Aggregate(ctx, func(a *AggTx) error { return a.Unpack(b.pallet.Code, "x", supervisor) })
	wantErrText(t, err, ErrNotFound, "archived with batch B1")

	// Lookups read the archive: parents with their children and history,
	// a pallet's contents down to the units, a unit's chain.
	for _, want := range before {
		got, err := j.Parent(want.Code)
		if err != nil {
			t.Fatal(err)
		}
		if got.Archive != info.File {
			t.Fatalf("parent %s: archive %q", want.Code, got.Archive)
		}
		got.Archive = ""
		if !reflect.DeepEqual(jsonOf(t, got), jsonOf(t, want)) || got.Kind != IDSSCC {
			t.Fatalf("archived parent\n%s\nwant\n%s", jsonOf(t, got), jsonOf(t, want))
		}
	}
	tree, err := j.Contents(b.pallet.Code)
	if err != nil || tree.UnitCount() != 11 || len(tree.Parents) != 3 || tree.Parents[2].Code != b.c4.Code {
		t.Fatalf("archived pallet contents: %d units, %v", tree.UnitCount(), err)
	}
	if u := tree.Parents[0].Units[0]; u.Serial != b.units[0] || u.State != Commissioned || u.Archive != info.File {
		t.Fatalf("archived case's first unit %+v", u)
	}
	chain, err := j.Chain(b.units[9])
	if err != nil || len(chain) != 2 || chain[0].Code != b.c4.Code || chain[1].Code != b.pallet.Code || chain[0].Archive != info.File {
		t.Fatalf("chain of an archived unit: %+v %v", chain, err)
	}
	if c2, err := j.Parent(b.c2.Code); err != nil || c2.State != ParentUnpacked || len(c2.Children) != 0 {
		t.Fatalf("archived unpacked case: %+v %v", c2, err)
	}

	// The archive file: format 2, every parent and event, the aggregation
	// document sent upstream; it verifies alone and against the journal.
	path := filepath.Join(dir, info.File)
	rep, err := j.VerifyArchive(ctx, path)
	if err != nil || !rep.CrossChecked || rep.Parents != 6 || rep.AggEvents != len(events) || rep.Header.Format != archiveFormat {
		t.Fatalf("VerifyArchive: %+v %v", rep, err)
	}
	var parents []Parent
	var evs []AggEvent
	aggDoc := false
	for _, l := range archiveLines(t, path) {
		switch {
		case l.Parent != nil:
			parents = append(parents, *l.Parent)
		case l.AggEvent != nil:
			evs = append(evs, *l.AggEvent)
		case l.Outbox != nil && l.Outbox.Kind == "epcis-agg":
			aggDoc = true
		}
	}
	if !reflect.DeepEqual(jsonOf(t, parents), jsonOf(t, before)) || !reflect.DeepEqual(jsonOf(t, evs), jsonOf(t, events)) || !aggDoc {
		t.Fatalf("archive holds parents %s\nevents %s\naggregation document %v", jsonOf(t, parents), jsonOf(t, evs), aggDoc)
	}

	// A child index entry left pointing at an archived case is found.
	dangling := childKey(true, b.units[0])
	if err := j.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bktChildOf).Put(dangling, []byte(b.c1.Code)) }); err != nil {
		t.Fatal(err)
	}
	vr, err = j.Verify(ctx)
	want := "child index: unit " + b.units[0] + " is in " + b.c1.Code + ", which is not a parent of the live journal (dangling)"
	if !errors.Is(err, ErrCorrupt) || !slices.Contains(vr.Problems, want) {
		t.Fatalf("verify of a dangling child index entry: %v", vr.Problems)
	}
	if err := j.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bktChildOf).Delete(dangling) }); err != nil {
		t.Fatal(err)
	}

	// Without the archive folder the parent is named, not read.
	j.opt.ArchiveDir = ""
	if _, err := j.Contents(b.c1.Code); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), info.File) {
		t.Fatalf("lookup without archive folder: %v", err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A batch without aggregation is archived as format 1, which every release
// reading archives reads; this one reads both.
func TestArchiveWithoutAggregationIsFormat1(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	closedBatch(t, j, 5)
	info, err := j.ArchiveBatch(context.Background(), "B1", ArchiveOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := j.VerifyArchive(context.Background(), filepath.Join(dir, info.File))
	if err != nil || rep.Header.Format != archiveFormatUnits || rep.Parents != 0 {
		t.Fatalf("archive without aggregation: format %d, %d parents, %v", rep.Header.Format, rep.Parents, err)
	}
}

// An aggregated batch is archived only once no parent is open and every
// aggregation event was reported (and its document acknowledged).
func TestArchiveAggregatedRefusals(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	ctx := context.Background()
	b := aggregatedBatch(t, j, true)
	arch := func() error { _, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir}); return err }
	wantErrText(t, arch(), ErrInvalid, `batch "B1" has 2 aggregation parent(s) still open: case `+b.c4.Code+" (3 of 4), pallet "+b.pallet.Code+" (2 of 3)")
	if l, _ := j.Archivable(); len(l) != 0 {
		t.Fatalf("archivable with open parents: %v", l)
	}
	if err := j.CloseParent(ctx, b.c4.Code, true, "batch end", supervisor); err != nil {
		t.Fatal(err)
	}
	if err := j.CloseParent(ctx, b.pallet.Code, true, "batch end", supervisor); err != nil {
		t.Fatal(err)
	}
	_, pending, _ := j.AggReporting("B1")
	wantErrText(t, arch(), ErrInvalid, `batch "B1" has `+strconv.Itoa(pending)+" aggregation event(s) not yet reported upstream")
	if _, err := j.ReportAgg(ctx, "B1", func(evs []AggEvent) ([]OutboxEntry, error) {
		return []OutboxEntry{{Kind: "epcis-agg", Payload: []byte(`{}`)}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	wantErrText(t, arch(), ErrInvalid, "1 outbox item(s) not yet sent upstream")
	reportAndAck(t, j)
	if err := arch(); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 1 {
		t.Fatalf("archive folder: %v", files)
	}
}

// AggOpen names a batch's open parents (as the archive refusal does) and
// AggOpenParents lists the batches with any, until they are closed.
func TestAggOpen(t *testing.T) {
	j := openTest(t, nil)
	ctx := context.Background()
	b := aggregatedBatch(t, j, true)
	err := j.AggOpen("B1")
	err0 := err
	var op *OpenParentsError
	if !errors.As(err, &op) || op.Batch != "B1" || len(op.Open) != 2 {
		t.Fatalf("AggOpen with a case and a pallet open: %v", err)
	}
	if want := `batch "B1" has 2 aggregation parent(s) still open: case ` + b.c4.Code + " (3 of 4), pallet " + b.pallet.Code +
		" (2 of 3); close (or unpack) them first"; err.Error() != want {
		t.Errorf("AggOpen:\n got %s\nwant %s", err, want)
	}
	if errors.Is(err, ErrInvalid) {
		t.Error("open parents are a state, not invalid input")
	}
	if ops, err := j.AggOpenParents(); err != nil || len(ops) != 1 || ops[0].Batch != "B1" || ops[0].Error() != err0.Error() {
		t.Fatalf("AggOpenParents = %v, %v", ops, err)
	}
	if err := j.AggOpen("B-never"); err != nil {
		t.Errorf("AggOpen of a batch without aggregation: %v", err)
	}
	for _, code := range []string{b.c4.Code, b.pallet.Code} {
		if err := j.CloseParent(ctx, code, true, "batch end", supervisor); err != nil {
			t.Fatal(err)
		}
		if code == b.c4.Code {
			if err := j.AggOpen("B1"); !errors.As(err, &op) || len(op.Open) != 1 {
				t.Fatalf("AggOpen with the pallet open: %v", err)
			}
		}
	}
	if err := j.AggOpen("B1"); err != nil {
		t.Errorf("AggOpen once all are closed: %v", err)
	}
	if ops, err := j.AggOpenParents(); err != nil || len(ops) != 0 {
		t.Errorf("AggOpenParents once all are closed = %v, %v", ops, err)
	}
}

// resealArchive rewrites the trailer's content SHA-256 after an edit, as a
// forger would: only the hierarchy checks can catch what was changed.
func resealArchive(t *testing.T, lines [][]byte) [][]byte {
	t.Helper()
	h := sha256.New()
	for _, l := range lines[:len(lines)-1] {
		h.Write(append(bytes.Clone(l), '\n'))
	}
	var end archiveLine
	if err := json.Unmarshal(lines[len(lines)-1], &end); err != nil || end.End == nil {
		t.Fatalf("trailer: %v", err)
	}
	end.End.SHA256 = hex.EncodeToString(h.Sum(nil))
	lines[len(lines)-1] = []byte(jsonOf(t, end))
	return lines
}

// editLine rewrites the first line of type typ for which edit returns true.
func editLine(t *testing.T, lines [][]byte, edit func(l *archiveLine) bool) [][]byte {
	t.Helper()
	for i, raw := range lines {
		var l archiveLine
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatal(err)
		}
		if edit(&l) {
			lines[i] = []byte(jsonOf(t, l))
			return lines
		}
	}
	t.Fatal("no line edited")
	return nil
}

func TestArchiveAggregatedTamperDetected(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	ctx := context.Background()
	b := aggregatedBatch(t, j, false)
	info, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, info.File)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func([][]byte) [][]byte
		want string
	}{
		{"child moved into a second parent", func(ls [][]byte) [][]byte {
			return editLine(t, ls, func(l *archiveLine) bool {
				if l.Parent == nil || l.Parent.Code != b.c4.Code {
					return false
				}
				l.Parent.Children = append(l.Parent.Children, b.units[0])
				return true
			})
		}, "parent " + b.c4.Code + ": child " + b.units[0] + ", but its first parent in the archive is \"" + b.c1.Code + "\" (child in two parents?)"},
		{"pack event dropped", func(ls [][]byte) [][]byte {
			for i, raw := range ls {
				if bytes.Contains(raw, []byte(`"op":"pack"`)) && bytes.Contains(raw, []byte(b.c2.Code)) {
					return append(ls[:i:i], ls[i+1:]...)
				}
			}
			t.Fatal("no pack event of c2")
			return nil
		}, "unpack without a pack"},
		{"unit of the case not commissioned", func(ls [][]byte) [][]byte {
			return editLine(t, ls, func(l *archiveLine) bool {
				if l.Parent == nil || l.Parent.Code != b.c3.Code {
					return false
				}
				l.Parent.Children[0] = "NOT-A-UNIT"
				return true
			})
		}, "child NOT-A-UNIT is not a unit of the archive"},
		{"case count edited", func(ls [][]byte) [][]byte {
			return editLine(t, ls, func(l *archiveLine) bool {
				if l.Parent == nil || l.Parent.Code != b.c1.Code {
					return false
				}
				l.Parent.Capacity = 5
				return true
			})
		}, "closed full with 4 children, capacity 5 (counts do not match)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rewriteArchive(t, path, func(ls [][]byte) [][]byte { return resealArchive(t, tc.edit(ls)) })
			defer os.WriteFile(path, orig, 0o640)
			rep, err := VerifyArchive(ctx, path)
			if !errors.Is(err, ErrCorrupt) || !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Fatalf("VerifyArchive: %v\nproblems:\n%s\nwant one containing %q", err, strings.Join(rep.Problems, "\n"), tc.want)
			}
			if slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, "SHA-256") }) {
				t.Fatalf("resealed archive fails its SHA check: %v", rep.Problems)
			}
		})
	}
	if _, err := j.VerifyArchive(ctx, path); err != nil {
		t.Fatalf("restored archive: %v", err)
	}
}

// An archive of an aggregated batch interrupted at any point (a crash: in
// the middle of moving its parents out, or its units) leaves a journal that
// verifies, with the batch's live parents closed to any step; ArchiveBatch
// resumes it and the archive verifies against the journal.
func TestArchiveAggregatedResume(t *testing.T) {
	for _, stop := range []int{1, 2, 4, 7} {
		t.Run("after chunk "+strconv.Itoa(stop), func(t *testing.T) {
			dir := t.TempDir()
			j := openTest(t, &Options{ArchiveDir: dir})
			ctx := context.Background()
			b := aggregatedBatch(t, j, false)
			j2, vr := interruptArchive(t, j, ArchiveOptions{Dir: dir, ChunkSize: 2, stopAfterChunks: stop})
			if vr.ArchivedParents == 0 {
				t.Fatal("no parent moved out yet")
			}
			// Every parent is found, moved out or not; none takes a step.
			for _, code := range b.codes() {
				if _, err := j2.Parent(code); err != nil {
					t.Fatalf("parent %s mid-archive: %v", code, err)
				}
			}
			live := ""
			_ = j2.Parents("B1", func(p Parent) error { live = p.Code; return nil })
			if live != "" {
				err := j2.Aggregate(ctx, func(a *AggTx) error { return a.Unpack(live, "rework", supervisor) })
				wantRefused(t, err, "being archived")
			}
			_, err := j2.OpenParent(ctx, caseSpec(4), Actor{})
			wantRefused(t, err, "being archived")
			info, err := j2.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir, ChunkSize: 2})
			if err != nil || info.State != "archived" {
				t.Fatalf("resume: %+v %v", info, err)
			}
			if rep, err := j2.VerifyArchive(ctx, filepath.Join(dir, info.File)); err != nil || rep.Parents != 6 {
				t.Fatalf("VerifyArchive after resume: %+v %v", rep, err)
			}
			if vr, err := j2.Verify(ctx); err != nil || vr.ArchivedParents != 6 {
				t.Fatalf("verify after resume: %+v %v", vr, err)
			}
		})
	}
}

// Format 3 holds archived parent codes, which format 2 cannot decode: the
// downgrade is refused, naming them, and the journal is unchanged.
func TestDowngradeRefusedWithArchivedParents(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	aggregatedBatch(t, j, false)
	if _, err := j.ArchiveBatch(context.Background(), "B1", ArchiveOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	_, err := Downgrade(j.Path(), 2, nil)
	if err == nil || !strings.Contains(err.Error(), "6 parent code(s) (cases, pallets) archived") {
		t.Fatalf("downgrade with archived parents: %v", err)
	}
	r, err := Open(j.Path(), &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if vr, err := r.Verify(context.Background()); err != nil || vr.ArchivedParents != 6 {
		t.Fatalf("journal after a refused downgrade: %+v %v", vr, err)
	}
}

// Format 2 kept the aggregation reporting cursor of an archived batch (the
// line reports every closed batch); migrating to format 3 removes it, and
// Verify names one left behind.
func TestMigrateV3RemovesStaleReportingCursor(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	ctx := context.Background()
	closedBatch(t, j, 5)
	if _, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	path := j.Path()
	j.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktAggRep).Put([]byte("B1"), u64key(0)) // as format 2 left it
	}); err != nil {
		t.Fatal(err)
	}
	var rep VerifyReport
	db.View(func(tx *bolt.Tx) error { rep = verifyTx(ctx, tx, nil); return nil })
	db.Close()
	if !slices.Contains(rep.Problems, "aggregation reporting cursor of batch B1, which is not in the live journal") {
		t.Fatalf("verify of a stale cursor: %v", rep.Problems)
	}
	setVersion(t, path, 2)
	j2, err := Open(path, &Options{ArchiveDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndVerify(t, j2) })
	if from, _ := j2.Migrated(); from != 2 {
		t.Fatalf("migrated from %d", from)
	}
	if rep, err := j2.Verify(ctx); err != nil {
		t.Fatalf("verify after migration: %v %v", err, rep.Problems)
	}
}
