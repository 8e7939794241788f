package journal

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The archive file: gzip-compressed JSON lines, readable with zcat and jq.
//
//	{"type":"header","header":{format, journal_format, line, index, batch (definition, PackML history,
//	      counters), ended, archived_at, retain_until, signatures, audit_from, audit_to}}
//	{"type":"parent","parent":{…journal.Parent: code, level, children, in, history…}}  format 2: one per
//	                                                                  aggregation parent (case, pallet), in opening order
//	{"type":"aggevent","aggevent":{…journal.AggEvent…}}              format 2: the batch's aggregation event log
//	{"type":"unit","unit":{…journal.Unit with its history…}}          one per unit, in draw order
//	{"type":"audit","audit":{seq, at, who, …, prev, hash}}           the audit slice audit_from..audit_to
//	{"type":"outbox","outbox":{id, kind, at, acked_at, payload}}     EPCIS (and other) items sent upstream
//	{"type":"end","end":{units, audit, outbox, parents, agg_events, sha256}}  sha256 of every line before it
//
// The audit slice is contiguous: each entry's prev is the hash of the entry
// before it, the first entry's prev and the last entry's hash anchor the
// slice in the live journal's chain (which is never pruned).

// archiveFormat is the archive file's own format version: 2 adds the
// parent and aggevent lines. A batch without aggregation is written as
// format 1 (readable by every release that reads archives); both are read.
const archiveFormat = 2

// archiveFormatUnits is the format of an archive without aggregation.
const archiveFormatUnits = 1

const (
	lineHeader = "header"
	lineUnit   = "unit"
	lineParent = "parent"
	lineAggEv  = "aggevent"
	lineAudit  = "audit"
	lineOutbox = "outbox"
	lineEnd    = "end"
)

type archiveLine struct {
	Type     string          `json:"type"`
	Header   *ArchiveHeader  `json:"header,omitempty"`
	Unit     *Unit           `json:"unit,omitempty"`
	Parent   *Parent         `json:"parent,omitempty"`
	AggEvent *AggEvent       `json:"aggevent,omitempty"`
	Audit    *ArchivedAudit  `json:"audit,omitempty"`
	Outbox   *ArchivedOutbox `json:"outbox,omitempty"`
	End      *ArchiveEnd     `json:"end,omitempty"`
}

// ArchiveHeader is the first line of an archive file.
type ArchiveHeader struct {
	Format        int       `json:"format"`
	JournalFormat int       `json:"journal_format"`
	Line          string    `json:"line,omitempty"`
	Index         uint32    `json:"index"`
	Batch         Batch     `json:"batch"`
	Ended         time.Time `json:"ended"`
	ArchivedAt    time.Time `json:"archived_at"`
	RetainUntil   time.Time `json:"retain_until"`
	// Signatures are the batch record signature audit entries of the batch
	// (reconciliation.sign, record.signature; also in the audit slice).
	Signatures []ArchivedAudit `json:"signatures"`
	// AuditFrom..AuditTo is the audit slice in the file.
	AuditFrom uint64 `json:"audit_from"`
	AuditTo   uint64 `json:"audit_to"`
}

// ArchivedAudit is an audit entry with its chain hashes (hex).
type ArchivedAudit struct {
	AuditEntry
	PrevHex string `json:"prev"`
	HashHex string `json:"hash"`
}

func archivedAudit(e AuditEntry) ArchivedAudit {
	return ArchivedAudit{AuditEntry: e, PrevHex: hex.EncodeToString(e.Prev[:]), HashHex: hex.EncodeToString(e.Hash[:])}
}

func (a *ArchivedAudit) entry() (AuditEntry, error) {
	e := a.AuditEntry
	p, err1 := hex.DecodeString(a.PrevHex)
	h, err2 := hex.DecodeString(a.HashHex)
	if err1 != nil || err2 != nil || len(p) != 32 || len(h) != 32 {
		return e, fmt.Errorf("audit entry %d: malformed hashes", a.Seq)
	}
	copy(e.Prev[:], p)
	copy(e.Hash[:], h)
	return e, nil
}

// ArchivedOutbox is an item sent upstream for the batch.
type ArchivedOutbox struct {
	ID      uint64          `json:"id"`
	Kind    string          `json:"kind"`
	At      time.Time       `json:"at"`
	AckedAt time.Time       `json:"acked_at"`
	Payload json.RawMessage `json:"payload,omitempty"` // when it is JSON (EPCIS documents)
	// PayloadBase64 holds a payload that is not JSON.
	PayloadBase64 []byte `json:"payload_base64,omitempty"`
}

// ArchiveEnd is the archive's last line.
type ArchiveEnd struct {
	Units     int    `json:"units"`
	Audit     int    `json:"audit"`
	Outbox    int    `json:"outbox"`
	Parents   int    `json:"parents,omitempty"`    // format 2
	AggEvents int    `json:"agg_events,omitempty"` // format 2
	SHA256    string `json:"sha256"`               // of every line before this one
}

// readArchiveFile calls fn for every line of the archive at path (the
// trailer included), checking the framing as it goes. fn may return errStop.
func readArchiveFile(path string, fn func(archiveLine) error) error {
	return readArchiveFileRaw(path, func(l archiveLine, _ []byte) error { return fn(l) })
}

func readArchiveFileRaw(path string, fn func(archiveLine, []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return readArchive(f, fn)
}

// readArchive reads the lines of an archive; fn gets each parsed line and
// its raw bytes (newline included).
func readArchive(r io.Reader, fn func(archiveLine, []byte) error) error {
	zr, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return fmt.Errorf("%w: not a gzip archive: %v", ErrCorrupt, err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 1<<16)
	for n := 1; ; n++ {
		data, err := br.ReadBytes('\n')
		if err == io.EOF && len(data) == 0 {
			return fmt.Errorf("%w: archive ends at line %d without its trailer (truncated)", ErrCorrupt, n)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%w: line %d: %v", ErrCorrupt, n, err)
		}
		var l archiveLine
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return fmt.Errorf("%w: line %d: %v", ErrCorrupt, n, err)
		}
		if err := l.check(n); err != nil {
			return err
		}
		if err := fn(l, data); err != nil {
			return err
		}
		if l.Type == lineEnd {
			if _, err := br.ReadByte(); err != io.EOF {
				return fmt.Errorf("%w: data after the trailer (line %d)", ErrCorrupt, n)
			}
			return nil
		}
	}
}

func (l *archiveLine) check(n int) error {
	ok := false
	switch l.Type {
	case lineHeader:
		ok = l.Header != nil && n == 1
	case lineUnit:
		ok = l.Unit != nil && n > 1
	case lineParent:
		ok = l.Parent != nil && n > 1
	case lineAggEv:
		ok = l.AggEvent != nil && n > 1
	case lineAudit:
		ok = l.Audit != nil && n > 1
	case lineOutbox:
		ok = l.Outbox != nil && n > 1
	case lineEnd:
		ok = l.End != nil && n > 1
	}
	if !ok {
		return fmt.Errorf("%w: line %d: unexpected %q line", ErrCorrupt, n, l.Type)
	}
	return nil
}

// ArchiveReport is what VerifyArchive found.
type ArchiveReport struct {
	File         string
	Header       ArchiveHeader
	Units        int
	ByState      Counters
	Audit        int
	Outbox       int
	Parents      int      // aggregation parents (cases, pallets)
	AggEvents    int      // aggregation events
	SHA256       string   // of the file
	Problems     []string // every violation (empty = OK)
	CrossChecked bool     // checked against the live journal too (Journal.VerifyArchive)
}

// OK reports whether no violation was found.
func (r ArchiveReport) OK() bool { return len(r.Problems) == 0 }

// VerifyArchive checks an archive file on its own: framing and trailer
// (counts, SHA-256 of the content), the header (format, a final state, a
// signature), every unit (batch, draw order, history legal, state = last
// step), the batch's counters = recount, the audit slice (every hash,
// every link, contiguous from audit_from to audit_to, every signature in
// it), and the aggregation (format 2) with the live journal's rules
// (aggHierarchy): no child in two parents, counts matching each parent's
// children, only commissioned units of the batch (the archive's own unit
// records), every unpack matching a pack in the event log, no parent open.
// The error wraps ErrCorrupt when there is any problem.
func VerifyArchive(ctx context.Context, path string) (ArchiveReport, error) {
	rep := ArchiveReport{File: path}
	add := func(format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	fileSum := sha256.New()
	content := sha256.New()
	var (
		h        *ArchiveHeader
		recount  Counters
		seen     = map[string]bool{}
		prevHash [32]byte
		lastSeq  uint64
		sigSeqs  = map[uint64]bool{}
		end      *ArchiveEnd
		agg      = newArchiveHierarchy()
	)
	err = readArchive(io.TeeReader(f, fileSum), func(l archiveLine, raw []byte) error {
		if l.Type != lineEnd {
			content.Write(raw)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch l.Type {
		case lineHeader:
			h = l.Header
			rep.Header = *h
			if h.Format < archiveFormatUnits || h.Format > archiveFormat {
				add("header: archive format %d, this serialine reads %d to %d", h.Format, archiveFormatUnits, archiveFormat)
			}
			if !isFinalState(h.Batch.State) {
				add("header: batch %s is %q, not a final state", h.Batch.ID, h.Batch.State)
			}
			if len(h.Signatures) == 0 {
				add("header: batch %s has no batch record signature", h.Batch.ID)
			}
			for _, s := range h.Signatures {
				sigSeqs[s.Seq] = true
				if !isSignature(s.AuditEntry, h.Batch.ID) {
					add("header: signature entry %d is not a batch record signature of batch %s", s.Seq, h.Batch.ID)
				}
			}
			if h.RetainUntil.Before(h.Ended) {
				add("header: retention until %s is before the batch ended", h.RetainUntil.Format(time.DateOnly))
			}
		case lineUnit:
			u := l.Unit
			if u.Batch != h.Batch.ID || u.GTIN != h.Batch.GTIN {
				add("unit %q: batch %s gtin %s in the archive of batch %s gtin %s", u.Serial, u.Batch, u.GTIN, h.Batch.ID, h.Batch.GTIN)
			}
			if seen[u.Serial] {
				add("unit %q: twice in the archive", u.Serial)
			}
			seen[u.Serial] = true
			if u.Index != rep.Units {
				add("unit %q: index %d, want %d (draw order)", u.Serial, u.Index, rep.Units)
			}
			rep.Units++
			if err := checkHistory(u.History); err != nil {
				add("unit %q: %v", u.Serial, err)
			} else if u.History[len(u.History)-1].State != u.State {
				add("unit %q: state %s differs from its last step", u.Serial, u.State)
			}
			if u.State.InFlight() {
				add("unit %q: still %s in a closed batch", u.Serial, u.State)
			}
			recount.add(u.State, 1)
			agg.units[u.Serial] = archivedUnitState{batch: u.Batch, state: u.State}
		case lineParent, lineAggEv:
			if h.Format < archiveFormat {
				add("%s line in an archive of format %d", l.Type, h.Format)
			}
			if l.Parent != nil {
				rep.Parents++
				agg.parent(l.Parent, add)
			} else {
				rep.AggEvents++
				agg.events = append(agg.events, *l.AggEvent)
			}
		case lineAudit:
			e, err := l.Audit.entry()
			if err != nil {
				add("%v", err)
				return nil
			}
			if sha256.Sum256(auditBody(&e)) != e.Hash {
				add("audit entry %d: hash mismatch (entry edited)", e.Seq)
			}
			if rep.Audit == 0 {
				if e.Seq != h.AuditFrom {
					add("audit slice starts at %d, header says %d", e.Seq, h.AuditFrom)
				}
			} else {
				if e.Seq != lastSeq+1 {
					add("audit entry %d follows %d (slice not contiguous)", e.Seq, lastSeq)
				}
				if e.Prev != prevHash {
					add("audit entry %d: previous-hash link broken", e.Seq)
				}
			}
			delete(sigSeqs, e.Seq)
			prevHash, lastSeq = e.Hash, e.Seq
			rep.Audit++
		case lineOutbox:
			rep.Outbox++
		case lineEnd:
			end = l.End
		}
		return nil
	})
	rep.SHA256 = hex.EncodeToString(fileSum.Sum(nil))
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			add("%v", err)
			return rep, fmt.Errorf("%w: archive %s: %d problem(s), first: %s", ErrCorrupt, filepath.Base(path), len(rep.Problems), rep.Problems[0])
		}
		return rep, err
	}
	rep.ByState = recount
	if h.Batch.Counters != recount {
		add("batch %s: counters %+v in the header differ from the recount %+v", h.Batch.ID, h.Batch.Counters, recount)
	}
	if rep.Audit > 0 && lastSeq != h.AuditTo {
		add("audit slice ends at %d, header says %d", lastSeq, h.AuditTo)
	}
	if rep.Audit == 0 {
		add("no audit slice")
	}
	for s := range sigSeqs {
		add("signature entry %d is not in the audit slice", s)
	}
	if end.Units != rep.Units || end.Audit != rep.Audit || end.Outbox != rep.Outbox || end.Parents != rep.Parents || end.AggEvents != rep.AggEvents {
		add("trailer counts units %d audit %d outbox %d parents %d aggregation events %d, file holds %d, %d, %d, %d, %d",
			end.Units, end.Audit, end.Outbox, end.Parents, end.AggEvents, rep.Units, rep.Audit, rep.Outbox, rep.Parents, rep.AggEvents)
	}
	agg.check(h.Batch.ID, add)
	if got := hex.EncodeToString(content.Sum(nil)); got != end.SHA256 {
		add("content SHA-256 %s differs from the trailer's %s (edited)", got, end.SHA256)
	}
	if !rep.OK() {
		return rep, fmt.Errorf("%w: archive %s: %d problem(s), first: %s", ErrCorrupt, filepath.Base(path), len(rep.Problems), rep.Problems[0])
	}
	return rep, nil
}

// VerifyArchive is the package's VerifyArchive plus the checks against this
// journal: the archive is recorded here with the file's SHA-256 and unit
// count, exactly that many serials (and as many parent codes as the file
// holds parents) carry its tombstone, and every entry of its audit slice is
// the live chain's entry (same seq, same hash).
func (j *Journal) VerifyArchive(ctx context.Context, path string) (ArchiveReport, error) {
	rep, err := VerifyArchive(ctx, path)
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return rep, err
	}
	add := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	// Second pass over the audit slice against the live chain.
	var slice []AuditEntry
	if rerr := readArchiveFile(path, func(l archiveLine) error {
		if l.Type == lineAudit {
			if e, err := l.Audit.entry(); err == nil {
				slice = append(slice, e)
			}
		}
		return nil
	}); rerr != nil && err == nil {
		return rep, rerr
	}
	verr := j.view(func(tx *bolt.Tx) error {
		var rec archiveRec
		found := false
		_ = tx.Bucket(bktArchives).ForEach(func(k, v []byte) error {
			r, err := decodeArchive(u32(k), v)
			if err == nil && r.file == filepath.Base(path) {
				rec, found = r, true
			}
			return nil
		})
		if !found {
			add("the journal records no archive %s", filepath.Base(path))
			return nil
		}
		if got := hex.EncodeToString(rec.sha[:]); got != rep.SHA256 {
			add("file SHA-256 %s, the journal recorded %s (file replaced or edited)", rep.SHA256, got)
		}
		if rec.batch != rep.Header.Batch.ID || rec.units != rep.Units {
			add("the journal records batch %s with %d units, the file holds batch %s with %d", rec.batch, rec.units, rep.Header.Batch.ID, rep.Units)
		}
		n := 0
		_ = tx.Bucket(bktArchived).ForEach(func(k, v []byte) error {
			if t, err := decodeTombstone(string(k), v); err == nil && t.archive == rec.idx {
				n++
			}
			return nil
		})
		if rec.state != archArchiving && n != rep.Units {
			add("%d serials carry this archive's tombstone, the file holds %d units", n, rep.Units)
		}
		if pb := tx.Bucket(bktParents); pb != nil && rec.state != archArchiving {
			n = 0
			_ = pb.ForEach(func(k, v []byte) error {
				if len(v) >= 2 && v[1] == kindTombstone {
					if r, err := decodeID(string(k), v); err == nil && r.archive == rec.idx {
						n++
					}
				}
				return nil
			})
			if n != rep.Parents {
				add("%d parent codes carry this archive's tombstone, the file holds %d parents", n, rep.Parents)
			}
		}
		ab := tx.Bucket(bktAudit)
		for _, e := range slice {
			v := ab.Get(u64key(e.Seq))
			if v == nil {
				add("audit entry %d is not in the journal's chain", e.Seq)
				continue
			}
			live, err := decodeAudit(v)
			if err != nil || live.Hash != e.Hash {
				add("audit entry %d differs from the journal's chain", e.Seq)
			}
		}
		return nil
	})
	if verr != nil {
		return rep, verr
	}
	rep.CrossChecked = true
	if !rep.OK() {
		return rep, fmt.Errorf("%w: archive %s: %d problem(s), first: %s", ErrCorrupt, filepath.Base(path), len(rep.Problems), rep.Problems[0])
	}
	return rep, nil
}

func u32(k []byte) uint32 {
	if len(k) != 4 {
		return 0
	}
	return uint32(k[0])<<24 | uint32(k[1])<<16 | uint32(k[2])<<8 | uint32(k[3])
}
