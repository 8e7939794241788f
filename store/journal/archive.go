package journal

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Archiving moves a closed batch out of the live journal into a
// self-contained archive file, so that the journal stays small and fast for
// years. See ArchiveBatch for the steps and archive_file.go for the file.

// Journal-lifecycle record kinds (format 2).
const (
	kindTombstone = 64 // archived bucket: the serial's unit is in an archive
	kindArchive   = 65 // archives bucket: one archive of one batch
	kindSent      = 66 // sent bucket: an outbox item acknowledged upstream
)

// Archive states (archive records).
const (
	archArchiving = 1 // batch locked; file being written or units being moved out
	archDone      = 2 // batch out of the live journal, file in the archive folder
	archDeleted   = 3 // file deleted after its retention period
)

var archStateNames = [...]string{"", "archiving", "archived", "deleted"}

// AuditActionSign is the audit action of a reconciliation signature written
// by a controller without the two-step review; its Before is the batch id.
// A batch is archived only once signed off (signedOff).
const AuditActionSign = "reconciliation.sign"

// FinalBatchStates are the PackML states in which a batch is closed
// (line/packml's Complete, Stopped, Aborted).
var FinalBatchStates = []string{"Complete", "Stopped", "Aborted"}

// ArchiveInfo describes one archive of a batch, as recorded in the live
// journal.
type ArchiveInfo struct {
	Index   uint32 `json:"index"`
	Batch   string `json:"batch"`
	GTIN    string `json:"gtin"`
	Lot     string `json:"lot"`
	Expiry  string `json:"expiry"`
	Profile string `json:"profile"`
	// File is the archive file's base name in the archive folder.
	File string `json:"file"`
	// SHA256 of the file (hex); "" while it is being written.
	SHA256      string    `json:"sha256"`
	Units       int       `json:"units"`
	ArchivedAt  time.Time `json:"archived_at"`
	RetainUntil time.Time `json:"retain_until"`
	// State: "archiving" (in progress; ArchiveBatch resumes it), "archived",
	// "deleted" (file removed after RetainUntil).
	State     string    `json:"state"`
	DeletedAt time.Time `json:"deleted_at,omitzero"`
}

// ArchiveOptions configures ArchiveBatch.
type ArchiveOptions struct {
	// Dir is the archive folder (required); the file is created there.
	Dir string
	// Retention gives the end of the batch's retention period; nil uses
	// RetentionFor(profile, nil).Until(expiry, ended).
	Retention func(b Batch, ended time.Time) time.Time
	// Line is the line's name, written into the archive's header.
	Line string
	// By is who archives (audit trail); zero = system.
	By Actor
	// ChunkSize is how many units one transaction moves out of the live
	// journal (default 2000), so that a running line's commits are never
	// held up for long.
	ChunkSize int

	stopAfterChunks int       // tests: stop (errArchiveStopped) after that many chunks, as a crash would
	progress        func(int) // tests: called with the units moved after each chunk's commit
}

var errArchiveStopped = errors.New("journal: archive stopped (test)")

type archiveRec struct {
	idx                               uint32
	batch, gtin, lot, expiry, profile string
	file                              string
	sha                               [32]byte
	units                             int
	archivedAt, retainUntil           time.Time
	state                             byte
	deletedAt                         time.Time
}

func (r archiveRec) info() ArchiveInfo {
	a := ArchiveInfo{Index: r.idx, Batch: r.batch, GTIN: r.gtin, Lot: r.lot, Expiry: r.expiry, Profile: r.profile,
		File: r.file, Units: r.units, ArchivedAt: r.archivedAt, RetainUntil: r.retainUntil, DeletedAt: r.deletedAt}
	if r.sha != [32]byte{} {
		a.SHA256 = hex.EncodeToString(r.sha[:])
	}
	if int(r.state) < len(archStateNames) {
		a.State = archStateNames[r.state]
	}
	return a
}

func encodeArchive(r archiveRec) []byte {
	e := newEnc(kindArchive, 128)
	e.u(uint64(r.idx))
	e.str(r.batch)
	e.str(r.gtin)
	e.str(r.lot)
	e.str(r.expiry)
	e.str(r.profile)
	e.str(r.file)
	e.raw(r.sha[:])
	e.u(uint64(r.units))
	e.time(r.archivedAt)
	e.time(r.retainUntil)
	e.byte1(r.state)
	e.time(r.deletedAt)
	return e.finish()
}

func decodeArchive(idx uint32, b []byte) (archiveRec, error) {
	d := newDec(fmt.Sprintf("archive %d", idx), kindArchive, b)
	var r archiveRec
	r.idx = uint32(d.ub(math.MaxUint32))
	r.batch = d.str()
	r.gtin = d.str()
	r.lot = d.str()
	r.expiry = d.str()
	r.profile = d.str()
	r.file = d.str()
	copy(r.sha[:], d.rawN(32))
	r.units = d.int()
	r.archivedAt = d.time()
	r.retainUntil = d.time()
	r.state = d.byte1()
	if d.err == nil && (r.state < archArchiving || r.state > archDeleted) {
		d.fail("unknown archive state %d", r.state)
	}
	r.deletedAt = d.time()
	if err := d.end(); err != nil {
		return r, err
	}
	if r.idx != idx {
		return r, fmt.Errorf("%w: archive %d: record says index %d", ErrCorrupt, idx, r.idx)
	}
	return r, nil
}

type tombstone struct{ pool, archive uint32 }

func encodeTombstone(t tombstone) []byte {
	e := newEnc(kindTombstone, 10)
	e.u(uint64(t.pool))
	e.u(uint64(t.archive))
	return e.finish()
}

func decodeTombstone(serial string, b []byte) (tombstone, error) {
	return decodeTombstoneNamed("archived serial", serial, b)
}

// decodeTombstoneNamed decodes a tombstone of an archived serial (archived
// bucket) or parent code (parents bucket).
func decodeTombstoneNamed(what, name string, b []byte) (tombstone, error) {
	d := newDecNamed(what, name, kindTombstone, b)
	var t tombstone
	t.pool = uint32(d.ub(math.MaxUint32))
	t.archive = uint32(d.ub(math.MaxUint32))
	return t, d.end()
}

// sentRec is an outbox item acknowledged upstream, kept until its batch is
// archived.
type sentRec struct {
	OutboxItem
	AckedAt time.Time
}

func encodeSent(r sentRec) []byte {
	e := newEnc(kindSent, 32+len(r.Kind)+len(r.Payload)+len(r.Batch))
	e.str(r.Kind)
	e.time(r.At)
	e.time(r.AckedAt)
	e.str(r.Batch)
	e.bytes(r.Payload)
	return e.finish()
}

func decodeSent(id uint64, b []byte) (sentRec, error) {
	d := newDec(fmt.Sprintf("sent item %d", id), kindSent, b)
	r := sentRec{OutboxItem: OutboxItem{ID: id}}
	r.Kind = d.str()
	r.At = d.time()
	r.AckedAt = d.time()
	r.Batch = d.str()
	r.Payload = d.bytes()
	return r, d.end()
}

func getArchive(tx *bolt.Tx, idx uint32) (archiveRec, error) {
	v := tx.Bucket(bktArchives).Get(u32key(idx))
	if v == nil {
		return archiveRec{}, fmt.Errorf("%w: archive %d", ErrNotFound, idx)
	}
	return decodeArchive(idx, v)
}

// archiveOfBatch returns the archive record of batch id (ok false: none).
func archiveOfBatch(tx *bolt.Tx, id string) (archiveRec, bool, error) {
	v := tx.Bucket(bktArchBatches).Get([]byte(id))
	if v == nil {
		return archiveRec{}, false, nil
	}
	if len(v) != 4 {
		return archiveRec{}, false, fmt.Errorf("%w: archive index of batch %q", ErrCorrupt, id)
	}
	r, err := getArchive(tx, binary.BigEndian.Uint32(v))
	return r, err == nil, err
}

// batchLocked refuses writes to a batch that is archived or being archived.
func batchLocked(tx *bolt.Tx, id string) error {
	if tx.Bucket(bktArchBatches).Get([]byte(id)) != nil {
		return fmt.Errorf("%w: batch %q is archived (or being archived): its record is closed", ErrInvalid, id)
	}
	return nil
}

// batchEnded is when the batch reached its last final state (its release);
// its creation time when it never did.
func batchEnded(b Batch) time.Time {
	end := b.CreatedAt
	for _, h := range b.History {
		if isFinalState(h.State) {
			end = h.At
		}
	}
	return end
}

func isFinalState(s string) bool {
	for _, f := range FinalBatchStates {
		if s == f {
			return true
		}
	}
	return false
}

// archivable says why batch b cannot be archived now (nil: it can): it
// must be in a final state, its reconciliation signed, no unit in flight,
// no aggregation parent open, every aggregation event reported and no
// outbox item of it waiting to go upstream.
func archivable(tx *bolt.Tx, b Batch) error {
	if !isFinalState(b.State) {
		return fmt.Errorf("%w: batch %q is %q: only a Complete, Stopped or Aborted batch is archived", ErrInvalid, b.ID, b.State)
	}
	if n := b.Counters.InFlight(); n > 0 {
		return fmt.Errorf("%w: batch %q has %d unit(s) in flight", ErrInvalid, b.ID, n)
	}
	if err := signedOff(tx, b); err != nil {
		return err
	}
	if err := aggArchivable(tx, b.ID); err != nil {
		return err
	}
	pending := 0
	err := tx.Bucket(bktOutbox).ForEach(func(k, v []byte) error {
		if len(v) > 0 && v[0] == recVersionOutboxBatch {
			it, err := decodeOutbox(u64(k), v)
			if err != nil {
				return err
			}
			if it.Batch == b.ID {
				pending++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if pending > 0 {
		return fmt.Errorf("%w: batch %q has %d outbox item(s) not yet sent upstream", ErrInvalid, b.ID, pending)
	}
	return nil
}

func forEachAudit(tx *bolt.Tx, from uint64, fn func(AuditEntry) error) error {
	c := tx.Bucket(bktAudit).Cursor()
	for k, v := c.Seek(u64key(from)); k != nil; k, v = c.Next() {
		e, err := decodeAudit(v)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Archivable lists the batches ArchiveBatch would take now (closed, signed,
// nothing in flight or waiting for upstream), in creation order, and the
// archives in progress.
func (j *Journal) Archivable() ([]string, error) {
	var out []string
	err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bktBatchIdx).ForEach(func(_, id []byte) error {
			if r, ok, err := archiveOfBatch(tx, string(id)); err != nil {
				return err
			} else if ok && r.state == archArchiving {
				out = append(out, string(id))
				return nil
			}
			b, err := readBatch(tx, string(id))
			if err != nil {
				return err
			}
			if archivable(tx, b) == nil {
				out = append(out, string(id))
			}
			return nil
		})
	})
	return out, err
}

// Archives lists every archive recorded in the journal, oldest first.
func (j *Journal) Archives() ([]ArchiveInfo, error) {
	var out []ArchiveInfo
	err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bktArchives).ForEach(func(k, v []byte) error {
			r, err := decodeArchive(binary.BigEndian.Uint32(k), v)
			if err != nil {
				return err
			}
			out = append(out, r.info())
			return nil
		})
	})
	return out, err
}

// archiveFileName is the archive's file name: the batch id made safe for
// any file system, and the archive time.
func archiveFileName(batch string, at time.Time) string {
	var b strings.Builder
	for _, r := range batch {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := strings.Trim(b.String(), ".")
	if len(name) > 80 {
		name = name[:80]
	}
	return fmt.Sprintf("%s.%s.%s", name, at.UTC().Format("20060102T150405Z"), ArchiveExt)
}

// ArchiveExt is the archive files' extension (gzip-compressed JSON lines).
const ArchiveExt = "slarchive.jsonl.gz"

// ArchiveBatch archives a closed batch (Complete, Stopped or Aborted, its
// reconciliation signed, no unit in flight, no aggregation parent open,
// every aggregation event reported, every outbox item of it sent):
//
//  1. one transaction locks the batch (no unit of it may change any more)
//     and records the archive (state "archiving", retention period);
//  2. the archive file is written from one consistent read transaction into
//     o.Dir (via a temporary file, synced, renamed): header (batch,
//     history, counters, signatures, retention), its aggregation parents
//     (cases, pallets: children, history) and event log, every unit with
//     its history, the audit slice of the batch's life with its hash-chain
//     anchors, the EPCIS and other items sent upstream for it (aggregation
//     documents included), and a trailer with the SHA-256 of everything
//     before it;
//  3. the file's SHA-256 is recorded; the parents, then the units are moved
//     out of the live journal about o.ChunkSize records at a time, each
//     parent code and serial leaving a tombstone (it stays known: it can
//     never be imported, drawn or aggregated again) and taking its child
//     index entries with it;
//  4. one transaction removes the batch, its aggregation event log and
//     reporting cursor and its sent items, marks the archive done and
//     appends a "journal.archive" audit entry with the file name and
//     SHA-256.
//
// Every transaction goes through the group committer, so a running line is
// never stopped. A crash in between leaves the archive "archiving" (the
// batch stays locked, Verify accepts it) and the next ArchiveBatch of the
// batch resumes it.
func (j *Journal) ArchiveBatch(ctx context.Context, batchID string, o ArchiveOptions) (ArchiveInfo, error) {
	if j.opt.ReadOnly {
		return ArchiveInfo{}, ErrReadOnly
	}
	if o.Dir == "" {
		return ArchiveInfo{}, fmt.Errorf("%w: archive folder not set", ErrInvalid)
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 2000
	}
	if o.Retention == nil {
		o.Retention = func(b Batch, ended time.Time) time.Time {
			return RetentionFor(b.Profile, nil).Until(b.Expiry, ended)
		}
	}
	by := o.By.orSystem()
	at := j.now()
	var rec archiveRec
	err := j.update(ctx, func(tx *bolt.Tx) error {
		r, ok, err := archiveOfBatch(tx, batchID)
		if err != nil {
			return err
		}
		if ok {
			if r.state != archArchiving {
				return fmt.Errorf("%w: batch %q is already archived in %s", ErrExists, batchID, r.file)
			}
			rec = r
			return nil
		}
		b, err := readBatch(tx, batchID)
		if err != nil {
			return err
		}
		if err := archivable(tx, b); err != nil {
			return err
		}
		idx, err := nextIndex(tx.Bucket(bktArchives))
		if err != nil {
			return err
		}
		rec = archiveRec{idx: idx, batch: b.ID, gtin: b.GTIN, lot: b.Lot, expiry: b.Expiry, profile: b.Profile,
			file: archiveFileName(b.ID, at), units: b.Counters.Total(), archivedAt: at,
			retainUntil: o.Retention(b, batchEnded(b)).UTC(), state: archArchiving}
		if err := tx.Bucket(bktArchives).Put(u32key(idx), encodeArchive(rec)); err != nil {
			return err
		}
		return tx.Bucket(bktArchBatches).Put([]byte(b.ID), u32key(idx))
	})
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("journal: archive batch %q: %w", batchID, err)
	}
	if rec.sha == [32]byte{} {
		if err := os.MkdirAll(o.Dir, 0o750); err != nil {
			return rec.info(), fmt.Errorf("journal: archive folder: %w", err)
		}
		sum, err := j.writeArchiveFile(ctx, rec, filepath.Join(o.Dir, rec.file), o.Line)
		if err != nil {
			return rec.info(), fmt.Errorf("journal: archive batch %q: write %s: %w", batchID, rec.file, err)
		}
		rec.sha = sum
		if err := j.update(ctx, func(tx *bolt.Tx) error {
			return tx.Bucket(bktArchives).Put(u32key(rec.idx), encodeArchive(rec))
		}); err != nil {
			return rec.info(), fmt.Errorf("journal: archive batch %q: %w", batchID, err)
		}
	}
	for chunks := 0; ; chunks++ {
		if o.stopAfterChunks > 0 && chunks == o.stopAfterChunks {
			return rec.info(), errArchiveStopped
		}
		var moved int
		err := j.update(ctx, func(tx *bolt.Tx) error {
			var err error
			if moved, err = moveParentsTx(tx, rec, o.ChunkSize); err != nil || moved > 0 {
				return err
			}
			moved, err = moveUnitsTx(tx, rec, o.ChunkSize)
			return err
		})
		if err != nil {
			return rec.info(), fmt.Errorf("journal: archive batch %q: move out: %w", batchID, err)
		}
		if moved == 0 {
			break
		}
		if o.progress != nil {
			o.progress(moved)
		}
	}
	err = j.update(ctx, func(tx *bolt.Tx) error {
		r, err := getArchive(tx, rec.idx)
		if err != nil {
			return err
		}
		if r.state != archArchiving {
			return nil
		}
		if err := finishArchiveTx(tx, &r); err != nil {
			return err
		}
		rec = r
		return appendAudit(tx, j.now(), AuditEntry{Who: by.User, Role: by.Role, Action: "journal.archive",
			Before: "batch " + rec.batch, After: fmt.Sprintf("archive %s sha256 %x units %d retain until %s",
				rec.file, rec.sha, rec.units, rec.retainUntil.Format("2006-01-02"))})
	})
	if err != nil {
		return rec.info(), fmt.Errorf("journal: archive batch %q: finish: %w", batchID, err)
	}
	return rec.info(), nil
}

// moveUnitsTx moves up to max units of the archive's batch out of the live
// journal: record → tombstone, slot removed, counters decremented.
func moveUnitsTx(tx *bolt.Tx, rec archiveRec, max int) (int, error) {
	b := tx.Bucket(bktBatches).Bucket([]byte(rec.batch))
	if b == nil {
		return 0, nil
	}
	_, def, err := batchBucket(tx, rec.batch)
	if err != nil {
		return 0, err
	}
	ctr, err := decodeCounters(rec.batch, b.Get(keyCtr))
	if err != nil {
		return 0, err
	}
	units := b.Bucket(bktUnits)
	ser := tx.Bucket(bktSerials)
	arch := tx.Bucket(bktArchived)
	type kv struct{ k, serial []byte }
	var take []kv
	c := units.Cursor()
	for k, v := c.First(); k != nil && len(take) < max; k, v = c.Next() {
		take = append(take, kv{bytes.Clone(k), bytes.Clone(v)})
	}
	for _, e := range take {
		r, err := decodeSerial(string(e.serial), ser.Get(e.serial))
		if err != nil {
			return 0, err
		}
		if r.kind != kindUnit || r.unitData.batch != def.idx {
			return 0, fmt.Errorf("%w: batch %q slot %x: serial %q is %s", ErrCorrupt, rec.batch, e.k, e.serial, r.describe())
		}
		if err := ser.Delete(e.serial); err != nil {
			return 0, err
		}
		if err := arch.Put(e.serial, encodeTombstone(tombstone{pool: r.pool, archive: rec.idx})); err != nil {
			return 0, err
		}
		if err := units.Delete(e.k); err != nil {
			return 0, err
		}
		ctr.add(r.unitData.state, -1)
	}
	if len(take) == 0 {
		return 0, nil
	}
	return len(take), b.Put(keyCtr, encodeCounters(ctr))
}

// finishArchiveTx removes the (emptied) batch, its aggregation log and its
// sent items and marks the archive done.
func finishArchiveTx(tx *bolt.Tx, r *archiveRec) error {
	bs := tx.Bucket(bktBatches)
	if b := bs.Bucket([]byte(r.batch)); b != nil {
		if n := b.Bucket(bktUnits).Stats().KeyN; n > 0 {
			return fmt.Errorf("%w: batch %q still has %d units", ErrInvalid, r.batch, n)
		}
		_, def, err := batchBucket(tx, r.batch)
		if err != nil {
			return err
		}
		if err := bs.DeleteBucket([]byte(r.batch)); err != nil {
			return err
		}
		if err := tx.Bucket(bktBatchIdx).Delete(u32key(def.idx)); err != nil {
			return err
		}
	}
	if err := finishAggTx(tx, r.batch); err != nil {
		return err
	}
	sent := tx.Bucket(bktSent)
	var keys [][]byte
	err := sent.ForEach(func(k, v []byte) error {
		s, err := decodeSent(u64(k), v)
		if err != nil {
			return err
		}
		if s.Batch == r.batch {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := sent.Delete(k); err != nil {
			return err
		}
	}
	r.state = archDone
	return tx.Bucket(bktArchives).Put(u32key(r.idx), encodeArchive(*r))
}

// writeArchiveFile writes the archive of rec's (locked) batch to path via a
// temporary file and returns the file's SHA-256.
func (j *Journal) writeArchiveFile(ctx context.Context, rec archiveRec, path, line string) ([32]byte, error) {
	fileSum := sha256.New()
	err := writeFileDurably(path, 0o640, true, func(f io.Writer) error {
		bw := bufio.NewWriterSize(io.MultiWriter(f, fileSum), 1<<16)
		zw := gzip.NewWriter(bw)
		aw := newArchiveWriter(zw)
		err := j.view(func(tx *bolt.Tx) error { return writeArchive(ctx, tx, rec, line, aw) })
		if err == nil {
			err = aw.end()
		}
		if err == nil {
			err = zw.Close()
		}
		if err == nil {
			err = bw.Flush()
		}
		return err
	})
	if err != nil {
		return [32]byte{}, err
	}
	var sum [32]byte
	copy(sum[:], fileSum.Sum(nil))
	return sum, nil
}

// archiveWriter writes the archive's JSON lines, hashing every line but the
// trailer.
type archiveWriter struct {
	w                                        io.Writer
	h                                        hash.Hash
	units, audit, outbox, parents, aggEvents int
	err                                      error
}

func newArchiveWriter(w io.Writer) *archiveWriter { return &archiveWriter{w: w, h: sha256.New()} }

func (a *archiveWriter) emit(l archiveLine) error {
	if a.err != nil {
		return a.err
	}
	data, err := json.Marshal(l)
	if err != nil {
		a.err = err
		return err
	}
	data = append(data, '\n')
	a.h.Write(data)
	_, a.err = a.w.Write(data)
	switch l.Type {
	case lineUnit:
		a.units++
	case lineAudit:
		a.audit++
	case lineOutbox:
		a.outbox++
	case lineParent:
		a.parents++
	case lineAggEv:
		a.aggEvents++
	}
	return a.err
}

func (a *archiveWriter) end() error {
	if a.err != nil {
		return a.err
	}
	data, err := json.Marshal(archiveLine{Type: lineEnd, End: &ArchiveEnd{Units: a.units, Audit: a.audit, Outbox: a.outbox,
		Parents: a.parents, AggEvents: a.aggEvents, SHA256: hex.EncodeToString(a.h.Sum(nil))}})
	if err != nil {
		return err
	}
	_, err = a.w.Write(append(data, '\n'))
	return err
}

// writeArchive writes the archive's lines from one read transaction.
func writeArchive(ctx context.Context, tx *bolt.Tx, rec archiveRec, line string, aw *archiveWriter) error {
	b, err := readBatch(tx, rec.batch)
	if err != nil {
		return err
	}
	_, def, err := batchBucket(tx, rec.batch)
	if err != nil {
		return err
	}
	// The audit slice: from the batch's creation to the last entry that
	// names the batch or one of its units.
	var first, last uint64
	var sigs []ArchivedAudit
	err = forEachAudit(tx, 1, func(e AuditEntry) error {
		if !auditMentions(tx, e, rec.batch, def.idx) {
			return nil
		}
		if first == 0 && e.Action == "batch.create" {
			first = e.Seq
		}
		last = e.Seq
		if isSignature(e, rec.batch) {
			sigs = append(sigs, archivedAudit(e))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if first == 0 {
		return fmt.Errorf("%w: batch %q: no batch.create audit entry", ErrCorrupt, rec.batch)
	}
	format := archiveFormatUnits
	if hasAgg(tx, rec.batch) {
		format = archiveFormat
	}
	h := ArchiveHeader{Format: format, JournalFormat: formatVersion, Line: line, Index: rec.idx, Batch: b,
		Ended: batchEnded(b), ArchivedAt: rec.archivedAt, RetainUntil: rec.retainUntil, Signatures: sigs,
		AuditFrom: first, AuditTo: last}
	if err := aw.emit(archiveLine{Type: lineHeader, Header: &h}); err != nil {
		return err
	}
	if err := writeArchiveAgg(tx, rec.batch, aw); err != nil {
		return err
	}
	ser := tx.Bucket(bktSerials)
	res := newResolver(tx)
	i := 0
	err = tx.Bucket(bktBatches).Bucket([]byte(rec.batch)).Bucket(bktUnits).ForEach(func(k, v []byte) error {
		if i++; i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		r, err := decodeSerial(string(v), ser.Get(v))
		if err != nil {
			return err
		}
		if r.kind != kindUnit {
			return fmt.Errorf("%w: batch %q unit %x: serial %q is %s", ErrCorrupt, rec.batch, k, v, r.describe())
		}
		u, err := res.unit(string(v), &r)
		if err != nil {
			return err
		}
		return aw.emit(archiveLine{Type: lineUnit, Unit: &u})
	})
	if err != nil {
		return err
	}
	err = forEachAudit(tx, first, func(e AuditEntry) error {
		if e.Seq > last {
			return errStop
		}
		a := archivedAudit(e)
		return aw.emit(archiveLine{Type: lineAudit, Audit: &a})
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	return tx.Bucket(bktSent).ForEach(func(k, v []byte) error {
		s, err := decodeSent(u64(k), v)
		if err != nil || s.Batch != rec.batch {
			return err
		}
		o := ArchivedOutbox{ID: s.ID, Kind: s.Kind, At: s.At, AckedAt: s.AckedAt}
		if json.Valid(s.Payload) {
			o.Payload = json.RawMessage(s.Payload)
		} else {
			o.PayloadBase64 = s.Payload
		}
		return aw.emit(archiveLine{Type: lineOutbox, Outbox: &o})
	})
}

var errStop = errors.New("stop")

// auditMentions reports whether an audit entry is about batch id (index
// bidx) or one of its units, by the texts the journal and the line write:
// batch.create "batch ID …", batch.state "ID: STATE", signatures Before
// "ID", overrides Before "batch ID: …", unit actions Before "SERIAL: state",
// close-outs naming the batch in their record.
func auditMentions(tx *bolt.Tx, e AuditEntry, id string, bidx uint32) bool {
	switch {
	case e.Action == "batch.create":
		return strings.HasPrefix(e.After, "batch "+id+" ")
	case e.Action == "batch.state":
		return strings.HasPrefix(e.After, id+": ")
	case e.Before == id, strings.HasPrefix(e.Before, "batch "+id+":"), e.Before == "batch "+id:
		return true
	case e.Action == AuditActionRecordCloseout:
		return closeoutBatch(e) == id
	case strings.HasPrefix(e.Action, "unit."):
		serial, _, ok := strings.Cut(e.Before, ":")
		if !ok {
			return false
		}
		v := tx.Bucket(bktSerials).Get([]byte(serial))
		b, _, ok := peekUnitSlot(v)
		return ok && b == bidx
	}
	return false
}

// Unit lookups in archives.

// archivedUnit reads serial's unit from its archive file.
func (j *Journal) archivedUnit(serial string, t tombstone) (Unit, error) {
	var rec archiveRec
	if err := j.view(func(tx *bolt.Tx) error {
		var err error
		rec, err = getArchive(tx, t.archive)
		return err
	}); err != nil {
		return Unit{}, err
	}
	path, err := j.archivePath(rec, "serial "+serial)
	if err != nil {
		return Unit{}, err
	}
	var found *Unit
	err = readArchiveFile(path, func(l archiveLine) error {
		if l.Type == lineUnit && l.Unit.Serial == serial {
			found = l.Unit
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return Unit{}, fmt.Errorf("journal: serial %q: archive %s: %w", serial, rec.file, err)
	}
	if found == nil {
		return Unit{}, fmt.Errorf("%w: serial %q is not in its archive %s", ErrCorrupt, serial, rec.file)
	}
	found.Archive = rec.file
	return *found, nil
}

// archivedBatch reads an archived batch from its archive's header.
func (j *Journal) archivedBatch(rec archiveRec) (Batch, error) {
	path, err := j.archivePath(rec, "batch "+rec.batch)
	if err != nil {
		return Batch{}, err
	}
	var b *Batch
	err = readArchiveFile(path, func(l archiveLine) error {
		if l.Type == lineHeader {
			b = &l.Header.Batch
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return Batch{}, fmt.Errorf("journal: batch %q: archive %s: %w", rec.batch, rec.file, err)
	}
	if b == nil {
		return Batch{}, fmt.Errorf("%w: archive %s has no header", ErrCorrupt, rec.file)
	}
	b.Archive = rec.file
	return *b, nil
}

func (j *Journal) archivePath(rec archiveRec, what string) (string, error) {
	switch {
	case rec.state == archDeleted:
		return "", fmt.Errorf("%w: %s was archived with batch %s in %s, deleted after its retention period on %s",
			ErrNotFound, what, rec.batch, rec.file, rec.deletedAt.Format("2006-01-02"))
	case j.opt.ArchiveDir == "":
		return "", fmt.Errorf("%w: %s was archived with batch %s in %s; set the archive folder (journal.archive_dir) to read it",
			ErrNotFound, what, rec.batch, rec.file)
	}
	return filepath.Join(j.opt.ArchiveDir, rec.file), nil
}

// ErrRetention is returned when an archive is to be deleted before the end
// of its retention period.
var ErrRetention = errors.New("journal: archive under retention")

// DeleteArchive deletes the archive file of batch (in dir), marks the
// archive deleted and audits it — only once its retention period has ended
// at now: before that it refuses with ErrRetention and nothing changes.
// The batch's serials stay known (tombstones) for ever.
func (j *Journal) DeleteArchive(ctx context.Context, dir, batch string, now time.Time, by Actor) (ArchiveInfo, error) {
	if dir == "" {
		return ArchiveInfo{}, fmt.Errorf("%w: archive folder not set", ErrInvalid)
	}
	var rec archiveRec
	err := j.view(func(tx *bolt.Tx) error {
		r, ok, err := archiveOfBatch(tx, batch)
		if err == nil && !ok {
			err = fmt.Errorf("%w: batch %q has no archive", ErrNotFound, batch)
		}
		rec = r
		return err
	})
	if err != nil {
		return ArchiveInfo{}, err
	}
	switch {
	case rec.state == archArchiving:
		return rec.info(), fmt.Errorf("%w: batch %q is still being archived", ErrInvalid, batch)
	case rec.state == archDeleted:
		return rec.info(), nil
	case now.Before(rec.retainUntil):
		return rec.info(), fmt.Errorf("%w: %s (batch %s, %s) must be kept until %s", ErrRetention, rec.file, rec.batch, rec.profile,
			rec.retainUntil.Format("2006-01-02"))
	}
	if err := os.Remove(filepath.Join(dir, rec.file)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return rec.info(), fmt.Errorf("journal: delete archive %s: %w", rec.file, err)
	}
	by = by.orSystem()
	err = j.update(ctx, func(tx *bolt.Tx) error {
		r, err := getArchive(tx, rec.idx)
		if err != nil {
			return err
		}
		r.state, r.deletedAt = archDeleted, now.UTC()
		if err := tx.Bucket(bktArchives).Put(u32key(r.idx), encodeArchive(r)); err != nil {
			return err
		}
		rec = r
		return appendAudit(tx, j.now(), AuditEntry{Who: by.User, Role: by.Role, Action: "journal.archive.delete",
			Reason: "retention period ended " + r.retainUntil.Format("2006-01-02"), Before: "batch " + r.batch,
			After: fmt.Sprintf("archive %s deleted", r.file)})
	})
	return rec.info(), err
}

// DeleteExpiredArchives deletes every archive whose retention period has
// ended at now (DeleteArchive) and returns them.
func (j *Journal) DeleteExpiredArchives(ctx context.Context, dir string, now time.Time, by Actor) ([]ArchiveInfo, error) {
	all, err := j.Archives()
	if err != nil {
		return nil, err
	}
	var out []ArchiveInfo
	for _, a := range all {
		if a.State != "archived" || now.Before(a.RetainUntil) {
			continue
		}
		d, err := j.DeleteArchive(ctx, dir, a.Batch, now, by)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}
