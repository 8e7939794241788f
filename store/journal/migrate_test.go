package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestMigrationList(t *testing.T) {
	if formatVersion != int(migrations[len(migrations)-1].to) {
		t.Fatalf("formatVersion %d, last migration to %d", formatVersion, migrations[len(migrations)-1].to)
	}
	for i, m := range migrations {
		if int(m.to) != i+2 || m.up == nil || m.what == "" {
			t.Fatalf("migration %d: to %d (want %d), up set %v, what %q", i, m.to, i+2, m.up != nil, m.what)
		}
	}
}

// copyFixture copies testdata/format-vN/journal.db into a temp dir.
func copyFixture(t *testing.T, version int) (string, fixtureExpect) {
	t.Helper()
	dir := filepath.Join("testdata", fmt.Sprintf("format-v%d", version))
	data, err := os.ReadFile(filepath.Join(dir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	var exp fixtureExpect
	raw, err := os.ReadFile(filepath.Join(dir, "expect.json"))
	if err == nil {
		err = json.Unmarshal(raw, &exp)
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, exp
}

// Every earlier format's fixture (written by the release that had it)
// migrates on Open: backup first, every unit, batch, pool, audit entry and
// outbox item kept, recovery run, journal verify clean, and the journal
// then takes the new format's operations (archive).
func TestMigrateFixtures(t *testing.T) {
	for v := 1; v < formatVersion; v++ {
		t.Run(fmt.Sprintf("format-v%d", v), func(t *testing.T) {
			path, exp := copyFixture(t, v)
			if exp.Format != v {
				t.Fatalf("fixture says format %d", exp.Format)
			}
			_, err := Open(path, &Options{ReadOnly: true})
			wantErrText(t, err, ErrVersion, "older than this serialine's")

			dir := t.TempDir()
			j, err := Open(path, &Options{Now: newFakeClock().Now, ArchiveDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeAndVerify(t, j) })
			from, backup := j.Migrated()
			if from != v || !strings.Contains(filepath.Base(backup), fmt.Sprintf("format-v%d", v)) {
				t.Fatalf("Migrated() = %d, %q", from, backup)
			}
			// The backup is the old journal, unchanged (still format v).
			bdb, err := bolt.Open(backup, 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			var bv int
			bdb.View(func(tx *bolt.Tx) error { bv, err = readVersion(tx); return err })
			bdb.Close()
			if bv != v {
				t.Fatalf("backup has format %d, want %d", bv, v)
			}

			// Recovery ran as on any open: in-flight units resolved.
			rep := j.Recovery()
			var resolved []string
			resolved = append(append(resolved, rep.Returned...), rep.Uncertain...)
			slices.Sort(resolved)
			want := slices.Clone(exp.InFlight)
			slices.Sort(want)
			if !slices.Equal(resolved, want) {
				t.Fatalf("recovery resolved %v, fixture had in flight %v", resolved, want)
			}
			for serial, st := range exp.Units {
				u, err := j.Unit(serial)
				if err != nil {
					t.Fatalf("unit %s: %v", serial, err)
				}
				if !slices.Contains(exp.InFlight, serial) && u.State.String()+" "+u.Reason.String() != st {
					t.Errorf("unit %s: %s %s, fixture %s", serial, u.State, u.Reason, st)
				}
			}
			for id, c := range exp.Batches {
				b, err := j.Batch(id)
				if err != nil || b.Counters.Total() != c.Total() {
					t.Errorf("batch %s: %+v %v, fixture %+v", id, b.Counters, err, c)
				}
				if id == "B2" && b.NHRN != exp.NHRN {
					t.Errorf("batch B2 NHRN %q, want %q", b.NHRN, exp.NHRN)
				}
			}
			if id, _ := j.PendingRequest(fixtureGTIN2); id != exp.PendingRequest {
				t.Errorf("pending request %q, want %q", id, exp.PendingRequest)
			}
			vr, err := j.Verify(context.Background())
			if err != nil {
				t.Fatalf("verify after migration: %v %v", err, vr.Problems)
			}
			// + journal.migrate + recovery
			if vr.AuditEntries != exp.AuditEntries+2 || vr.OutboxItems != exp.OutboxItems || vr.Available != exp.Available ||
				vr.ReturnedUpstream != exp.ReturnedUpstream {
				t.Fatalf("after migration %+v, fixture %+v", vr, exp)
			}
			var mig []AuditEntry
			_ = j.Audit(context.Background(), AuditFilter{Action: "journal.migrate"}, func(e AuditEntry) error { mig = append(mig, e); return nil })
			if len(mig) != 1 || mig[0].Before != fmt.Sprintf("format %d", v) {
				t.Fatalf("journal.migrate audit %+v", mig)
			}
			// The old finished batch archives under the new format.
			info, err := j.ArchiveBatch(context.Background(), "B1", ArchiveOptions{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := j.VerifyArchive(context.Background(), filepath.Join(dir, info.File)); err != nil {
				t.Fatal(err)
			}
			// Opening again does not migrate again.
			j.Close()
			j2, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if f, _ := j2.Migrated(); f != 0 {
				t.Fatalf("second open migrated from %d", f)
			}
			j2.Close()
		})
	}
}

func setVersion(t *testing.T, path string, v byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyVersion, []byte{v}) }); err != nil {
		t.Fatal(err)
	}
}

func TestNewerFormatRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	setVersion(t, path, byte(formatVersion+1))
	for _, ro := range []bool{false, true} {
		_, err := Open(path, &Options{ReadOnly: ro})
		wantErrText(t, err, ErrVersion, fmt.Sprintf("format version %d, newer than the %d this serialine reads", formatVersion+1, formatVersion))
	}
	if m, _ := filepath.Glob(path + ".*bak"); len(m) != 0 {
		t.Fatalf("backups written for a refused file: %v", m)
	}
}

func TestDowngrade(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j.db")
	j, err := Open(path, &Options{Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	setup(t, j, 10)
	pend, _ := j.OutboxPutBatch(ctx, "B1", "epcis", []byte(`{"a":1}`))
	sent, _ := j.OutboxPutBatch(ctx, "B1", "epcis", []byte(`{"a":2}`))
	if err := j.OutboxAck(ctx, sent); err != nil {
		t.Fatal(err)
	}
	j.Close()

	_, err = Downgrade(path, formatVersion, nil)
	wantErr(t, err, ErrInvalid)
	backup, err := Downgrade(path, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(backup); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if v, _ := readVersion(tx); v != 1 {
			t.Errorf("version %d after downgrade", v)
		}
		for _, b := range [][]byte{bktArchives, bktArchived, bktArchBatches, bktSent} {
			if tx.Bucket(b) != nil {
				t.Errorf("bucket %s left", b)
			}
		}
		if v := tx.Bucket(bktOutbox).Get(u64key(pend)); len(v) == 0 || v[0] != recVersion {
			t.Errorf("pending outbox item not rewritten as version 1: %x", v)
		}
		return nil
	})
	db.Close()
	// Upgrading again (what the newer release does on Open) gives the same journal.
	j, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := j.Verify(ctx); err != nil || rep.OutboxItems != 1 {
		t.Fatalf("after downgrade and upgrade: %+v %v", rep, err)
	}
	j.Close()
}

func TestDowngradeRefusedWithNewerSteps(t *testing.T) {
	j := openTest(t, nil)
	setup(t, j, 3)
	us, _ := j.Draw(context.Background(), "B1", 1)
	mustApply(t, j, Change{Serial: us[0].Serial, To: Queued}, Change{Serial: us[0].Serial, To: Printed, Seq: 7},
		Change{Serial: us[0].Serial, To: Rejected, Reason: ReasonLateVerdict})
	path := j.Path()
	j.Close()
	_, err := Downgrade(path, 1, nil)
	if err == nil || !strings.Contains(err.Error(), "1 unit(s) (first "+us[0].Serial+") carry steps format 1 cannot read") {
		t.Fatalf("downgrade with a late-verdict step: %v", err)
	}
}

func TestDowngradeRefusedWithArchives(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	closedBatch(t, j, 5)
	if _, err := j.ArchiveBatch(context.Background(), "B1", ArchiveOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	path := j.Path()
	j.Close()
	_, err := Downgrade(path, 1, nil)
	if err == nil || !strings.Contains(err.Error(), "1 batch archive(s) recorded") {
		t.Fatalf("downgrade with archives: %v", err)
	}
	if m, _ := filepath.Glob(path + ".*bak"); len(m) != 0 {
		t.Fatalf("backup of a refused downgrade left: %v", m)
	}
	r, err := Open(path, nil) // unchanged: still this format
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if !errors.Is(err, nil) {
		t.Fatal(err)
	}
}
