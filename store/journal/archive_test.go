package journal

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var sam = Actor{User: "sam", Role: "supervisor"}

// closedBatch runs batch B1 of n units to Complete: commissioned, rejected
// (one by a person), sampled, returned; its EPCIS document is sent
// (acknowledged) and its reconciliation signed. It returns the serials.
func closedBatch(t testing.TB, j *Journal, n int) []string {
	t.Helper()
	out := closedUnsignedBatch(t, j, n)
	sign(t, j, "B1")
	return out
}

// closedUnsignedBatch is closedBatch without the signature.
func closedUnsignedBatch(t testing.TB, j *Journal, n int) []string {
	t.Helper()
	ctx := context.Background()
	setup(t, j, n+5)
	us, err := j.Draw(ctx, "B1", n)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, u := range us {
		out = append(out, u.Serial)
		switch i % 5 {
		case 0, 1, 2:
			commission(t, j, u.Serial, uint64(100+i))
		case 3:
			mustApply(t, j, Change{Serial: u.Serial, To: Queued}, Change{Serial: u.Serial, To: Printed, Seq: uint64(100 + i)},
				Change{Serial: u.Serial, To: Rejected, Reason: ReasonNoRead, Actor: ActorCamera})
		case 4:
			mustApply(t, j, Change{Serial: u.Serial, To: Returned, Reason: ReasonBatchEnd})
		}
	}
	mustApply(t, j, Change{Serial: us[0].Serial, To: Sampled, Reason: ReasonQASample, Detail: "retain", Actor: sam})
	for _, s := range []string{"Execute", "Completing", "Complete"} {
		if err := j.SetBatchState(ctx, "B1", s, ActorSystem, "test"); err != nil {
			t.Fatal(err)
		}
	}
	id, err := j.OutboxPutBatch(ctx, "B1", "epcis", []byte(`{"type":"EPCISDocument","batch":"B1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.OutboxAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	return out
}

func sign(t testing.TB, j *Journal, batch string) {
	t.Helper()
	if err := j.AppendAudit(context.Background(), AuditEntry{Who: sam.User, Role: sam.Role, Action: AuditActionSign,
		Reason: "approved: test", Before: batch, After: `{"user":"sam","meaning":"approved"}`}); err != nil {
		t.Fatal(err)
	}
}

func TestArchiveBatch(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	ctx := context.Background()
	ser := closedBatch(t, j, 20)
	before, err := j.Unit(ser[0])
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := j.Archivable(); len(l) != 1 || l[0] != "B1" {
		t.Fatalf("Archivable = %v", l)
	}
	info, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir, Line: "line-1", By: sam, ChunkSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	if info.State != "archived" || info.Units != 20 || info.SHA256 == "" || !strings.HasSuffix(info.File, ArchiveExt) {
		t.Fatalf("info %+v", info)
	}
	// FMD: expiry 2028-12-31 + 1 year < batch end + 5 years.
	if want := time.Date(2031, 11, 26, 8, 0, 0, 0, time.UTC); info.RetainUntil.Year() != want.Year() || info.RetainUntil.Month() != want.Month() {
		t.Errorf("retain until %s, want about %s", info.RetainUntil, want)
	}
	path := filepath.Join(dir, info.File)
	rep, err := j.VerifyArchive(ctx, path)
	if err != nil {
		t.Fatalf("VerifyArchive: %v %v", err, rep.Problems)
	}
	if !rep.CrossChecked || rep.Units != 20 || rep.Outbox != 1 || rep.Audit < 3 || rep.ByState.Commissioned != 11 || rep.ByState.Sampled != 1 {
		t.Fatalf("report %+v", rep)
	}
	h := rep.Header
	if h.Batch.ID != "B1" || h.Batch.State != "Complete" || len(h.Signatures) != 1 || h.Line != "line-1" || h.JournalFormat != formatVersion {
		t.Fatalf("header %+v", h)
	}

	// The live journal: batch gone, serials tombstoned, lookups go to the file.
	if bs, _ := j.Batches(); len(bs) != 0 {
		t.Fatalf("batches left: %v", bs)
	}
	after, err := j.Unit(ser[0])
	if err != nil {
		t.Fatal(err)
	}
	if after.Archive != info.File || after.State != Sampled || len(after.History) != len(before.History) || after.Batch != "B1" {
		t.Fatalf("archived unit %+v", after)
	}
	b, err := j.Batch("B1")
	if err != nil || b.Archive != info.File || b.Counters.Total() != 20 || b.State != "Complete" {
		t.Fatalf("archived batch %+v, %v", b, err)
	}
	wantErr(t, j.CreateBatch(ctx, BatchDef{ID: "B1", GTIN: testGTIN}, Actor{}), ErrExists)
	err = j.ImportPool(ctx, Pool{ID: "P9", GTIN: testGTIN, Serials: []string{ser[3], "NEW1"}})
	var pe *PoolError
	if !errors.As(err, &pe) || len(pe.Bad) != 1 || !strings.Contains(pe.Bad[0].Problem, "archived unit of batch B1") {
		t.Fatalf("import of an archived serial: %v", err)
	}
	vr, err := j.Verify(ctx)
	if err != nil || vr.Archived != 20 || vr.Archives != 1 || vr.SentItems != 0 {
		t.Fatalf("verify %+v %v", vr, err)
	}
	wantErr(t, func() error { _, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir}); return err }(), ErrExists)

	// Without the archive folder the unit is named, not read.
	r, err := Open(filepath.Join(t.TempDir(), "x.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	j.opt.ArchiveDir = ""
	_, err = j.Unit(ser[1])
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), info.File) {
		t.Fatalf("lookup without archive folder: %v", err)
	}
}

func TestArchiveRefusals(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, nil)
	ctx := context.Background()
	setup(t, j, 10)
	us, _ := j.Draw(ctx, "B1", 3)
	arch := func() error { _, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir}); return err }
	wantErrText(t, arch(), ErrInvalid, "only a Complete, Stopped or Aborted batch")
	if err := j.SetBatchState(ctx, "B1", "Aborted", sam, "test"); err != nil {
		t.Fatal(err)
	}
	wantErrText(t, arch(), ErrInvalid, "3 unit(s) in flight")
	for _, u := range us {
		mustApply(t, j, Change{Serial: u.Serial, To: Returned, Reason: ReasonBatchEnd})
	}
	wantErrText(t, arch(), ErrInvalid, "not signed")
	sign(t, j, "B1")
	if _, err := j.OutboxPutBatch(ctx, "B1", "epcis", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	wantErrText(t, arch(), ErrInvalid, "1 outbox item(s) not yet sent")
	items, _ := j.OutboxPending(ctx, 0)
	if err := j.OutboxAck(ctx, items[0].ID); err != nil {
		t.Fatal(err)
	}
	wantErrText(t, func() error { _, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{}); return err }(), ErrInvalid, "archive folder not set")
	if err := arch(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.OutboxPutBatch(ctx, "B1", "epcis", []byte("{}")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("outbox item for an archived batch: %v", err)
	}
	if n, _ := os.ReadDir(dir); len(n) != 1 {
		t.Fatalf("archive folder holds %d files, want 1 (no temporary left)", len(n))
	}
}

func wantErrText(t testing.TB, err, target error, text string) {
	t.Helper()
	if !errors.Is(err, target) || !strings.Contains(err.Error(), text) {
		t.Fatalf("error %v, want %v containing %q", err, target, text)
	}
}

// An archive interrupted after some units moved out (a crash) leaves the
// journal consistent; the batch stays locked; ArchiveBatch resumes it.
func TestArchiveResume(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	ctx := context.Background()
	ser := closedBatch(t, j, 12)
	j2, _ := interruptArchive(t, j, ArchiveOptions{Dir: dir, ChunkSize: 5, stopAfterChunks: 1})
	as, _ := j2.Archives()
	if len(as) != 1 || as[0].State != "archiving" {
		t.Fatalf("archives %+v", as)
	}
	for _, s := range []string{ser[0], ser[11]} { // moved, and still live
		if u, err := j2.Unit(s); err != nil || u.Batch != "B1" {
			t.Fatalf("unit %s mid-archive: %+v %v", s, u, err)
		}
	}
	err := j2.Apply(ctx, Change{Serial: ser[10], To: Rejected, Reason: ReasonManual, Actor: sam})
	if !errors.Is(err, ErrIllegalTransition) || !strings.Contains(err.Error(), "archived") {
		t.Fatalf("change to a unit of a batch being archived: %v", err)
	}
	if l, _ := j2.Archivable(); len(l) != 1 {
		t.Fatalf("archivable (resume) = %v", l)
	}
	info, err := j2.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir})
	if err != nil || info.State != "archived" {
		t.Fatalf("resume: %+v %v", info, err)
	}
	if _, err := j2.VerifyArchive(ctx, filepath.Join(dir, info.File)); err != nil {
		t.Fatal(err)
	}
}

// interruptArchive archives batch B1 with o until o.stopAfterChunks (as a
// crash would stop it), reopens the journal (closed and verified at the
// end of the test) and returns it with its Verify report, which must be
// clean mid-archive.
func interruptArchive(t *testing.T, j *Journal, o ArchiveOptions) (*Journal, VerifyReport) {
	t.Helper()
	ctx := context.Background()
	if _, err := j.ArchiveBatch(ctx, "B1", o); !errors.Is(err, errArchiveStopped) {
		t.Fatalf("interrupted archive: %v", err)
	}
	j.Close()
	j2, err := Open(j.Path(), &Options{ArchiveDir: o.Dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndVerify(t, j2) })
	rep, err := j2.Verify(ctx)
	if err != nil {
		t.Fatalf("verify mid-archive: %v %v", err, rep.Problems)
	}
	return j2, rep
}

// rewriteArchive decompresses an archive, applies edit to its lines and
// compresses it again.
func rewriteArchive(t *testing.T, path string, edit func(lines [][]byte) [][]byte) {
	rewriteArchiveLevel(t, path, gzip.DefaultCompression, edit)
}

func rewriteArchiveLevel(t *testing.T, path string, level int, edit func(lines [][]byte) [][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	f.Close()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, level)
	for _, l := range edit(lines) {
		zw.Write(append(l, '\n'))
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestArchiveTamperDetected(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	ctx := context.Background()
	closedBatch(t, j, 10)
	info, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, info.File)
	orig, _ := os.ReadFile(path)
	cases := []struct {
		name string
		edit func([][]byte) [][]byte
		want string
	}{
		{"unit state changed", func(ls [][]byte) [][]byte {
			ls[3] = bytes.Replace(ls[3], []byte(`"state":"commissioned"`), []byte(`"state":"rejected"`), 1)
			return ls
		}, "content SHA-256"},
		{"unit dropped", func(ls [][]byte) [][]byte { return append(ls[:2:2], ls[3:]...) }, "index"},
		{"audit entry edited", func(ls [][]byte) [][]byte {
			for i, l := range ls {
				if bytes.Contains(l, []byte(`"type":"audit"`)) {
					ls[i] = bytes.Replace(l, []byte(`"who":"ann"`), []byte(`"who":"eve"`), 1)
					break
				}
			}
			return ls
		}, "hash mismatch"},
		{"truncated", func(ls [][]byte) [][]byte { return ls[:len(ls)-1] }, "without its trailer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rewriteArchive(t, path, tc.edit)
			defer os.WriteFile(path, orig, 0o640)
			rep, err := VerifyArchive(ctx, path)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Fatalf("VerifyArchive: %v\n%v", err, rep.Problems)
			}
		})
	}
	// Recompressed unchanged: the content checks pass on their own, the
	// journal's record of the file's SHA-256 does not.
	rewriteArchiveLevel(t, path, gzip.BestCompression, func(ls [][]byte) [][]byte { return ls })
	if _, err := VerifyArchive(ctx, path); err != nil {
		t.Fatalf("recompressed archive: %v", err)
	}
	if rep, err := j.VerifyArchive(ctx, path); !errors.Is(err, ErrCorrupt) || !strings.Contains(rep.Problems[0], "file SHA-256") {
		t.Fatalf("cross-check of a replaced file: %v %v", err, rep.Problems)
	}
}

func TestRetentionRules(t *testing.T) {
	ended := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		profile, expiry string
		want            time.Time
	}{
		{"eu-fmd", "280331", time.Date(2031, 3, 2, 10, 0, 0, 0, time.UTC)},    // 5 years after the end
		{"eu-fmd-de", "351130", time.Date(2036, 12, 1, 0, 0, 0, 0, time.UTC)}, // 1 year after expiry
		{"eu-fmd", "351100", time.Date(2036, 12, 1, 0, 0, 0, 0, time.UTC)},    // day 00: end of month
		{"us-dscsa", "351130", time.Date(2032, 3, 2, 10, 0, 0, 0, time.UTC)},  // 6 years
		{"other", "", time.Date(2032, 3, 2, 10, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := RetentionFor(c.profile, nil).Until(c.expiry, ended); !got.Equal(c.want) {
			t.Errorf("%s %s: until %s, want %s", c.profile, c.expiry, got, c.want)
		}
	}
	own := map[string]Retention{"eu-fmd": {AfterExpiry: 2, Minimum: 10}}
	if got := RetentionFor("eu-fmd-fr", own); got != (Retention{2, 10}) {
		t.Errorf("configured rule %+v", got)
	}
}

func TestDeleteArchiveOnlyAfterRetention(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	ctx := context.Background()
	ser := closedBatch(t, j, 5)
	info, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	early := info.RetainUntil.Add(-time.Hour)
	if _, err := j.DeleteArchive(ctx, dir, "B1", early, sam); !errors.Is(err, ErrRetention) {
		t.Fatalf("early delete: %v", err)
	}
	if d, err := j.DeleteExpiredArchives(ctx, dir, early, sam); err != nil || len(d) != 0 {
		t.Fatalf("expired before the end: %v %v", d, err)
	}
	if _, err := os.Stat(filepath.Join(dir, info.File)); err != nil {
		t.Fatalf("archive gone before its retention ended: %v", err)
	}
	d, err := j.DeleteExpiredArchives(ctx, dir, info.RetainUntil, sam)
	if err != nil || len(d) != 1 || d[0].State != "deleted" {
		t.Fatalf("delete after retention: %+v %v", d, err)
	}
	if _, err := os.Stat(filepath.Join(dir, info.File)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("archive file still there: %v", err)
	}
	if _, err := j.Unit(ser[0]); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "deleted after its retention") {
		t.Fatalf("lookup of a deleted archive's unit: %v", err)
	}
	if err := j.ImportPool(ctx, Pool{ID: "P2", GTIN: testGTIN, Serials: []string{ser[0]}}); !errors.Is(err, ErrPoolRefused) {
		t.Fatalf("a serial of a deleted archive imported again: %v", err)
	}
	var n int
	_ = j.Audit(ctx, AuditFilter{Action: "journal.archive*"}, func(AuditEntry) error { n++; return nil })
	if n != 2 {
		t.Fatalf("%d journal.archive* audit entries, want 2", n)
	}
}
