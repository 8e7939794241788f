package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/store/journal"
)

// closedJournal writes a journal with batch B1 complete, reconciliation
// signed and its EPCIS document sent: ready to archive.
func closedJournal(t *testing.T) string {
	t.Helper()
	path := journalFixture(t) // A1 commissioned, A2 rejected, A3 drawn
	j, err := journal.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	// Recovery returned A3 (drawn) on that open.
	for _, s := range []string{"Execute", "Completing", "Complete"} {
		if err := j.SetBatchState(ctx, "B1", s, journal.ActorSystem, "test"); err != nil {
			t.Fatal(err)
		}
	}
	id, err := j.OutboxPutBatch(ctx, "B1", "epcis", []byte(`{"type":"EPCISDocument"}`))
	if err == nil {
		err = j.OutboxAck(ctx, id)
	}
	if err == nil {
		err = j.AppendAudit(ctx, journal.AuditEntry{Who: "sam", Role: "supervisor", Action: journal.AuditActionSign, Before: "B1", Reason: "approved: ok"})
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestJournalLifecycleCommands(t *testing.T) {
	db := closedJournal(t)
	dir := filepath.Join(t.TempDir(), "archive")
	code, out, errOut := runJournal(t, "archive", "--db", db, "--dir", dir)
	if code != exitOK || !strings.Contains(out, "batch B1: 3 units archived to") {
		t.Fatalf("archive: %d %q %q", code, out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*."+journal.ArchiveExt))
	if len(files) != 1 {
		t.Fatalf("archive files %v", files)
	}
	code, out, errOut = runJournal(t, "verify", "--archive", files[0], "--db", db)
	if code != exitOK || !strings.Contains(out, "units 3: commissioned 1, rejected 1, sampled 0, returned 1") ||
		!strings.Contains(out, "signed by sam (supervisor)") || !strings.Contains(out, "checked against the journal") || !strings.HasSuffix(out, "OK\n") {
		t.Fatalf("verify --archive: %d %q %q", code, out, errOut)
	}
	code, out, _ = runJournal(t, "verify", "--db", db)
	if code != exitOK || !strings.Contains(out, "archives 1 (3 units archived)") {
		t.Fatalf("verify: %d %q", code, out)
	}
	code, out, _ = runJournal(t, "archives", "--db", db)
	if code != exitOK || !strings.Contains(out, "B1") || !strings.Contains(out, "archived") {
		t.Fatalf("archives: %d %q", code, out)
	}
	code, out, errOut = runJournal(t, "prune", "--db", db, "--dir", dir, "--batch", "B1")
	if code != exitUsage || !strings.Contains(errOut, "must be kept until") {
		t.Fatalf("early prune: %d %q %q", code, out, errOut)
	}
	code, out, _ = runJournal(t, "archive", "--db", db, "--dir", dir)
	if code != exitOK || !strings.Contains(out, "no batch to archive") {
		t.Fatalf("second archive: %d %q", code, out)
	}

	// Backup, restore, compact.
	bk := filepath.Join(t.TempDir(), "b.db")
	if code, out, errOut := runJournal(t, "backup", "--db", db, "--out", bk); code != exitOK {
		t.Fatalf("backup: %d %q %q", code, out, errOut)
	}
	code, out, errOut = runJournal(t, "restore", "--db", db, "--from", bk)
	if code != exitOK || !strings.Contains(out, "verified") || !strings.Contains(out, "kept as") {
		t.Fatalf("restore: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := runJournal(t, "compact", "--db", db); code != exitOK || !strings.Contains(out, "compacted") {
		t.Fatalf("compact: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runJournal(t, "verify", "--db", db); code != exitOK {
		t.Fatalf("verify after restore and compact: %q", out)
	}
	// Tampered archive: verify fails.
	data, _ := os.ReadFile(files[0])
	data[len(data)/2] ^= 0xFF
	os.WriteFile(files[0], data, 0o640)
	if code, out, _ := runJournal(t, "verify", "--archive", files[0]); code != exitFailure || !strings.Contains(out, "FAIL") {
		t.Fatalf("tampered archive: %d %q", code, out)
	}
}

func TestJournalMigrateDowngradeCommands(t *testing.T) {
	data, err := os.ReadFile("../../store/journal/testdata/format-v1/journal.db")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "old.db")
	os.WriteFile(db, data, 0o600)
	code, out, errOut := runJournal(t, "verify", "--db", db)
	if code != exitFailure || !strings.Contains(errOut, "older than this serialine's") {
		t.Fatalf("verify of a format-1 journal: %d %q %q", code, out, errOut)
	}
	code, _, errOut = runJournal(t, "migrate", "--db", db)
	if code != exitOK || !strings.Contains(errOut, "migrated from format 1 to") {
		t.Fatalf("migrate: %d %q", code, errOut)
	}
	if code, out, _ := runJournal(t, "verify", "--db", db); code != exitOK {
		t.Fatalf("verify after migrate: %q", out)
	}
	code, out, errOut = runJournal(t, "downgrade", "--db", db, "--to", "1")
	if code != exitOK || !strings.Contains(out, "is now format 1") {
		t.Fatalf("downgrade: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runJournal(t, "verify", "--db", db); code != exitFailure || !strings.Contains(errOut, "format version 1") {
		t.Fatalf("verify after downgrade: %q", errOut)
	}
	if code, _, errOut := runJournal(t, "downgrade", "--db", db, "--to", "5"); code != exitUsage {
		t.Fatalf("downgrade to a newer format: %d %q", code, errOut)
	}
}

// An aggregated batch (unit A1 in a case) archives like any other: the
// archive's verify reports and checks the hierarchy, the journal's verify
// counts the parent code archived.
func TestJournalArchiveAggregatedBatch(t *testing.T) {
	db := closedJournal(t)
	j, err := journal.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = j.ImportSSCCRange(ctx, journal.SSCCRange{ID: "R1", Extension: 3, CompanyPrefix: "0614141", First: 1, Last: 10})
	var p journal.Parent
	if err == nil {
		p, err = j.OpenParent(ctx, journal.ParentSpec{Batch: "B1", Level: "case", ChildLevel: journal.UnitLevel, Capacity: 1, Kind: journal.IDSSCC}, journal.Actor{})
	}
	if err == nil {
		err = j.AddChildren(ctx, p.Code, []string{"A1"}, journal.Actor{})
	}
	if err == nil {
		err = j.CloseParent(ctx, p.Code, false, "", journal.Actor{})
	}
	if err == nil {
		_, err = j.ReportAgg(ctx, "B1", func(evs []journal.AggEvent) ([]journal.OutboxEntry, error) {
			return []journal.OutboxEntry{{Kind: "epcis", Payload: []byte(`{"type":"EPCISDocument"}`)}}, nil
		})
	}
	if err == nil {
		var items []journal.OutboxItem
		if items, err = j.OutboxPending(ctx, 0); err == nil && len(items) == 1 {
			err = j.OutboxAck(ctx, items[0].ID)
		}
	}
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "archive")
	if code, out, errOut := runJournal(t, "archive", "--db", db, "--dir", dir); code != exitOK || !strings.Contains(out, "batch B1: 3 units archived to") {
		t.Fatalf("archive: %d %q %q", code, out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*."+journal.ArchiveExt))
	if len(files) != 1 {
		t.Fatalf("archive files %v", files)
	}
	code, out, errOut := runJournal(t, "verify", "--archive", files[0], "--db", db)
	if code != exitOK || !strings.Contains(out, "aggregation: parents 1 (cases, pallets), events 2; hierarchy checked") || !strings.HasSuffix(out, "OK\n") {
		t.Fatalf("verify --archive: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runJournal(t, "verify", "--db", db); code != exitOK || !strings.Contains(out, "parent codes archived 1") {
		t.Fatalf("verify: %d %q", code, out)
	}
}
