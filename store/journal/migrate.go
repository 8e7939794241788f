package journal

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Format versions and migrations.
//
// The journal's on-disk format has one version number, meta/version (one
// byte). A binary reads and writes exactly formatVersion:
//
//   - Open (read-write) of an older file first writes a consistent copy of
//     it next to it (FILE.format-vN-<UTC time>.bak), then runs every
//     migration step after the file's version in one transaction that also
//     sets the new version and appends a "journal.migrate" audit entry. A
//     crash during the migration leaves the old version on disk (bbolt's
//     transaction is atomic) and the next Open migrates again.
//   - Open of a newer file is refused (ErrVersion) with a message naming both
//     versions: an older binary never guesses at records it does not know.
//   - Open read-only of an older file is refused too (nothing may be written
//     to migrate it): `serialine journal migrate --db FILE` migrates it.
//   - Downgrade runs the steps' down functions, when the data allows it.
//
// How to change the format (one number for the whole file; its owner keeps
// the list):
//
//   - A new top-level bucket: append it to allBuckets. A read-write Open
//     creates it in every journal, old or new; no version change, no
//     migration. Code (and Verify) reading it must take its absence as
//     empty in a journal opened read-only that no binary with the bucket has
//     opened read-write yet.
//   - A new record kind, or a new version of a record, that an older binary
//     must not be given (it would refuse or misread it): append one step to
//     migrations, with to = the last step's to + 1. up converts or creates
//     what the new format needs; down (nil when there is no way back)
//     undoes it or refuses with the reason, e.g. "3 batches archived".
//     formatVersion follows the list.
//
// Record kinds: 1–9 are format 1; 64–66 are the journal-lifecycle records of
// format 2 (archive.go); format 3 puts tombstones (64) in the parents bucket
// too. Other additions take the next free number from 10.
type migration struct {
	to   byte
	what string
	up   func(tx *bolt.Tx) error
	down func(tx *bolt.Tx) error // nil: cannot go back below to
}

// migrations is the ordered list of format steps; formatVersion is the last
// step's to.
var migrations = []migration{
	{to: 2, what: "journal lifecycle: archives, archived serials, outbox items tagged with their batch and kept once sent",
		up: upV2, down: downV2},
	{to: 3, what: "archived aggregation: the codes of an archived batch's parents (cases, pallets) kept as tombstones in the parents bucket",
		up: upV3, down: downV3},
}

// formatVersion is the on-disk layout version this binary reads and writes.
var formatVersion = int(migrations[len(migrations)-1].to)

// FormatVersion returns the journal format version this binary reads and
// writes.
func FormatVersion() int { return formatVersion }

func upV2(tx *bolt.Tx) error {
	for _, b := range [][]byte{bktArchives, bktArchived, bktArchBatches, bktSent} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// downV2 goes back to format 1 when nothing of format 2 that format 1 cannot
// hold is there: no batch archived (format 1 has no tombstone to keep an
// archived serial unique). Items kept after sending are dropped (format 1
// deletes them on acknowledgement) and pending items lose their batch tag.
func downV2(tx *bolt.Tx) error {
	if n := bucketKeys(tx, bktArchives); n > 0 {
		return fmt.Errorf("%d batch archive(s) recorded: format 1 cannot keep archived serials unique; stay on this release or restore the backup taken before the upgrade", n)
	}
	if n := bucketKeys(tx, bktArchived); n > 0 {
		return fmt.Errorf("%d archived serial(s): format 1 cannot keep them unique", n)
	}
	// Steps that format 1's code cannot decode or would call illegal: the
	// reasons added after it, and a rejected unit made uncertain by a gate
	// mismatch.
	newer := 0
	var first string
	err := tx.Bucket(bktSerials).ForEach(func(k, v []byte) error {
		if len(v) < 2 || v[1] != kindUnit {
			return nil
		}
		r, err := decodeSerial(string(k), v)
		if err != nil {
			return err
		}
		for i, st := range r.unitData.steps {
			if st.Reason > format1MaxReason || (i > 0 && r.unitData.steps[i-1].State == Rejected && st.State == Uncertain) {
				if newer == 0 {
					first = string(k)
				}
				newer++
				break
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if newer > 0 {
		return fmt.Errorf("%d unit(s) (first %s) carry steps format 1 cannot read (reasons late-verdict, gate-mismatch, gate-unknown, or rejected -> uncertain)", newer, first)
	}
	ob := tx.Bucket(bktOutbox)
	type kv struct{ k, v []byte }
	var rewrite []kv
	err = ob.ForEach(func(k, v []byte) error {
		if len(v) > 0 && v[0] == recVersionOutboxBatch {
			it, err := decodeOutbox(u64(k), v)
			if err != nil {
				return err
			}
			rewrite = append(rewrite, kv{append([]byte(nil), k...), encodeOutbox(it.Kind, it.Payload, it.At, "")})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rewrite {
		if err := ob.Put(r.k, r.v); err != nil {
			return err
		}
	}
	for _, b := range [][]byte{bktArchives, bktArchived, bktArchBatches, bktSent} {
		if tx.Bucket(b) != nil {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// upV3: format 3 adds a record kind to the parents bucket (a tombstone),
// written when an aggregated batch is archived, and archiving removes a
// batch's aggregation reporting cursor with it. Format 2 left the cursor of
// an archived batch (ReportAgg marks every closed batch reporting, with or
// without parents): those are removed.
func upV3(tx *bolt.Tx) error {
	rep := tx.Bucket(bktAggRep)
	var stale [][]byte
	_ = rep.ForEach(func(k, _ []byte) error {
		if tx.Bucket(bktBatches).Bucket(k) == nil {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range stale {
		if err := rep.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// downV3 goes back to format 2 while no parent code is archived: format 2
// cannot decode a tombstone in the parents bucket.
func downV3(tx *bolt.Tx) error {
	pb := tx.Bucket(bktParents)
	if pb == nil {
		return nil
	}
	n := 0
	if err := pb.ForEach(func(_, v []byte) error {
		if len(v) >= 2 && v[1] == kindTombstone {
			n++
		}
		return nil
	}); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%d parent code(s) (cases, pallets) archived: format 2 cannot keep them known; stay on this release or restore the backup taken before the upgrade", n)
	}
	return nil
}

// format1MaxReason is the last unit step reason format 1 knows (ReasonOther).
const format1MaxReason = ReasonOther

func bucketKeys(tx *bolt.Tx, name []byte) int {
	b := tx.Bucket(name)
	if b == nil {
		return 0
	}
	return b.Stats().KeyN
}

// readVersion returns the file's format version; 0 for a new, empty file.
func readVersion(tx *bolt.Tx) (int, error) {
	m := tx.Bucket(bktMeta)
	if m == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if empty {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: not a journal (no meta bucket)", ErrCorrupt)
	}
	v := m.Get(keyVersion)
	if len(v) != 1 || v[0] == 0 {
		return 0, fmt.Errorf("%w: format version record %v", ErrCorrupt, v)
	}
	return int(v[0]), nil
}

func newerErr(v int) error {
	return fmt.Errorf("%w: the journal has format version %d, newer than the %d this serialine reads: it was written by a newer release; "+
		"run that release, or see \"Upgrades and downgrades\" in README.md for the way back", ErrVersion, v, formatVersion)
}

// checkVersion accepts exactly formatVersion (read-only opens and Verify).
func checkVersion(tx *bolt.Tx) error {
	v, err := readVersion(tx)
	switch {
	case err != nil:
		return err
	case v == 0:
		return fmt.Errorf("%w: not a journal (empty file)", ErrCorrupt)
	case v > formatVersion:
		return newerErr(v)
	case v < formatVersion:
		return fmt.Errorf("%w: the journal has format version %d, older than this serialine's %d; it is migrated when opened read-write "+
			"(`serialine journal migrate --db FILE`, or starting the controller; a backup is written first)", ErrVersion, v, formatVersion)
	}
	return nil
}

// openFormat brings a read-write journal to formatVersion: new file →
// buckets and version; older → backup, then migrations; newer → refused.
func (j *Journal) openFormat() error {
	var cur int
	if err := j.db.View(func(tx *bolt.Tx) error {
		var err error
		cur, err = readVersion(tx)
		return err
	}); err != nil {
		return err
	}
	if cur > formatVersion {
		return newerErr(cur)
	}
	var backup string
	if cur > 0 && cur < formatVersion {
		var err error
		backup = fmt.Sprintf("%s.format-v%d-%s.bak", j.path, cur, j.now().Format("20060102T150405Z"))
		if err = j.db.View(func(tx *bolt.Tx) error { return writeSnapshot(tx, backup) }); err != nil {
			return fmt.Errorf("journal: backup before migrating format %d to %d: %w", cur, formatVersion, err)
		}
		j.opt.Logger.Warn("journal: migrating format", "from", cur, "to", formatVersion, "backup", backup)
	}
	err := j.db.Update(func(tx *bolt.Tx) error {
		for _, b := range append(allBuckets[:len(allBuckets):len(allBuckets)], aggBuckets...) {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bktMeta)
		if cur == 0 {
			return m.Put(keyVersion, []byte{byte(formatVersion)})
		}
		if cur == formatVersion {
			return nil
		}
		var steps []string
		for _, s := range migrations {
			if int(s.to) <= cur {
				continue
			}
			if err := s.up(tx); err != nil {
				return fmt.Errorf("journal: migrate to format %d (%s): %w", s.to, s.what, err)
			}
			steps = append(steps, fmt.Sprintf("%d: %s", s.to, s.what))
		}
		if err := m.Put(keyVersion, []byte{byte(formatVersion)}); err != nil {
			return err
		}
		return appendAudit(tx, j.now(), AuditEntry{Who: ActorSystem.User, Role: ActorSystem.Role, Action: "journal.migrate",
			Reason: fmt.Sprintf("steps %v", steps), Before: fmt.Sprintf("format %d", cur),
			After: fmt.Sprintf("format %d, backup %s", formatVersion, filepath.Base(backup))})
	})
	if err != nil {
		return err
	}
	if backup != "" {
		j.migratedFrom, j.migrationBackup = cur, backup
	}
	return nil
}

// Migrated reports the format version Open migrated the file from and the
// backup it wrote first (0, "" when no migration ran).
func (j *Journal) Migrated() (from int, backup string) { return j.migratedFrom, j.migrationBackup }

// Downgrade rewrites the journal at path (not in use) to format version to,
// older than this binary's, for going back to an older release. It writes a
// consistent copy first (returned) and runs the down step of every version
// above to, newest first, in one transaction; a step that cannot go back
// (see migrations) refuses with its reason and nothing changes.
func Downgrade(path string, to int, o *Options) (backup string, err error) {
	opt := o.withDefaults()
	if to < 1 || to >= formatVersion {
		return "", fmt.Errorf("%w: downgrade to format %d: this binary writes format %d; give a version from 1 to %d", ErrInvalid, to, formatVersion, formatVersion-1)
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("journal: downgrade %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return "", fmt.Errorf("journal: open %s: %w", path, err)
	}
	defer db.Close()
	var cur int
	if err := db.View(func(tx *bolt.Tx) error { cur, err = readVersion(tx); return err }); err != nil {
		return "", err
	}
	if cur > formatVersion {
		return "", newerErr(cur)
	}
	if cur <= to {
		return "", fmt.Errorf("%w: journal is at format %d already", ErrInvalid, cur)
	}
	at := opt.Now().UTC()
	backup = fmt.Sprintf("%s.format-v%d-%s.bak", path, cur, at.Format("20060102T150405Z"))
	if err := db.View(func(tx *bolt.Tx) error { return writeSnapshot(tx, backup) }); err != nil {
		return "", fmt.Errorf("journal: backup before downgrade: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for i := len(migrations) - 1; i >= 0; i-- {
			s := migrations[i]
			if int(s.to) > cur || int(s.to) <= to {
				continue
			}
			if s.down == nil {
				return fmt.Errorf("format %d (%s) has no way back", s.to, s.what)
			}
			if err := s.down(tx); err != nil {
				return fmt.Errorf("format %d -> %d: %w", s.to, s.to-1, err)
			}
		}
		if err := tx.Bucket(bktMeta).Put(keyVersion, []byte{byte(to)}); err != nil {
			return err
		}
		return appendAudit(tx, at, AuditEntry{Who: ActorSystem.User, Role: ActorSystem.Role, Action: "journal.downgrade",
			Before: fmt.Sprintf("format %d", cur), After: fmt.Sprintf("format %d, backup %s", to, filepath.Base(backup))})
	})
	if err != nil {
		os.Remove(backup)
		return "", fmt.Errorf("journal: downgrade %s to format %d refused: %w", path, to, err)
	}
	return backup, nil
}

// writeSnapshot writes a consistent copy of the journal as seen by tx to
// path (which must not exist), durably.
func writeSnapshot(tx *bolt.Tx, path string) error {
	return writeFileDurably(path, 0o600, false, func(w io.Writer) error {
		_, err := tx.WriteTo(w)
		return err
	})
}

func u64(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return uint64(k[0])<<56 | uint64(k[1])<<48 | uint64(k[2])<<40 | uint64(k[3])<<32 | uint64(k[4])<<24 | uint64(k[5])<<16 | uint64(k[6])<<8 | uint64(k[7])
}
