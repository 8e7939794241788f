package journal

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AppendAudit appends an entry to the audit trail (Seq, At, Prev and Hash
// are filled in; At is kept when set). The trail is append-only: there is no
// API to change or delete an entry, and each entry carries the SHA-256 of the
// previous one, so Verify detects any edit, insertion or deletion.
//
// The journal itself appends entries for pool import/return, batch creation
// and state changes, unit changes made by a person, and recovery.
func (j *Journal) AppendAudit(ctx context.Context, e AuditEntry) error {
	if e.Who == "" || e.Action == "" {
		return fmt.Errorf("%w: audit entry needs Who and Action", ErrInvalid)
	}
	at := e.At
	if at.IsZero() {
		at = j.now()
	}
	return j.update(ctx, func(tx *bolt.Tx) error { return appendAudit(tx, at, e) })
}

func appendAudit(tx *bolt.Tx, at time.Time, e AuditEntry) error {
	m := tx.Bucket(bktMeta)
	var prev [32]byte
	var seq uint64
	if h := m.Get(keyAuditHead); h != nil {
		if len(h) != 40 {
			return fmt.Errorf("%w: audit head of %d bytes", ErrCorrupt, len(h))
		}
		seq = binary.BigEndian.Uint64(h)
		copy(prev[:], h[8:])
	}
	e.Seq = seq + 1
	e.At = at.UTC()
	e.Prev = prev
	e.Hash = sha256.Sum256(auditBody(&e))
	if err := tx.Bucket(bktAudit).Put(u64key(e.Seq), encodeAudit(&e)); err != nil {
		return err
	}
	return m.Put(keyAuditHead, append(u64key(e.Seq), e.Hash[:]...))
}

// Audit calls fn for each entry matching f, in order. fn runs outside any
// transaction (entries are read in chunks) and may call the Journal.
func (j *Journal) Audit(ctx context.Context, f AuditFilter, fn func(AuditEntry) error) error {
	next := max(f.FromSeq, 1)
	for {
		var chunk []AuditEntry
		end := true
		err := j.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bktAudit).Cursor()
			for k, v := c.Seek(u64key(next)); k != nil; k, v = c.Next() {
				if len(chunk) == 1000 {
					end = false
					return nil
				}
				e, err := decodeAudit(v)
				if err != nil {
					return err
				}
				next = e.Seq + 1
				if f.match(e) {
					chunk = append(chunk, e)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if end {
			return nil
		}
	}
}

func (f AuditFilter) match(e AuditEntry) bool {
	if !f.Since.IsZero() && e.At.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.At.Before(f.Until) {
		return false
	}
	if f.Who != "" && e.Who != f.Who {
		return false
	}
	if f.Action != "" {
		if p, ok := strings.CutSuffix(f.Action, "*"); ok {
			return strings.HasPrefix(e.Action, p)
		}
		return e.Action == f.Action
	}
	return true
}

// verifyAudit walks the chain; problems are reported through add.
func verifyAudit(tx *bolt.Tx, add func(string, ...any)) int {
	var prev [32]byte
	var want uint64 = 1
	n := 0
	c := tx.Bucket(bktAudit).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		n++
		e, err := decodeAudit(v)
		if err != nil {
			add("audit: %v", err)
			return n
		}
		if len(k) != 8 || binary.BigEndian.Uint64(k) != e.Seq {
			add("audit: entry key %x holds seq %d", k, e.Seq)
		}
		if e.Seq != want {
			add("audit: seq %d follows %d (entry inserted or deleted)", e.Seq, want-1)
		}
		if e.Prev != prev {
			add("audit: entry %d: previous-hash link broken", e.Seq)
		}
		if sha256.Sum256(auditBody(&e)) != e.Hash {
			add("audit: entry %d: hash mismatch (entry edited)", e.Seq)
		}
		prev, want = e.Hash, e.Seq+1
	}
	h := tx.Bucket(bktMeta).Get(keyAuditHead)
	switch {
	case h == nil && n > 0:
		add("audit: head missing")
	case h != nil && len(h) != 40:
		add("audit: head of %d bytes", len(h))
	case h != nil && (binary.BigEndian.Uint64(h) != want-1 || [32]byte(h[8:]) != prev):
		add("audit: head (seq %d) does not match the last entry (seq %d): entries deleted at the end", binary.BigEndian.Uint64(h), want-1)
	}
	return n
}
