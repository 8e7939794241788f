package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/serialine/serialine/printer/gs1"
	bolt "go.etcd.io/bbolt"
)

// CreateBatch stores a batch definition. The ID must be new (ErrExists).
// GTIN must be a valid GTIN-14; Expiry, when set, is YYMMDD; Target >= 0.
func (j *Journal) CreateBatch(ctx context.Context, def BatchDef, by Actor) error {
	if err := def.validate(); err != nil {
		return err
	}
	at := j.now()
	return j.update(ctx, func(tx *bolt.Tx) error {
		bs := tx.Bucket(bktBatches)
		if bs.Bucket([]byte(def.ID)) != nil {
			return fmt.Errorf("%w: batch %q", ErrExists, def.ID)
		}
		if tx.Bucket(bktArchBatches).Get([]byte(def.ID)) != nil {
			return fmt.Errorf("%w: batch %q (archived)", ErrExists, def.ID)
		}
		idx, err := nextIndex(tx.Bucket(bktBatchIdx))
		if err != nil {
			return err
		}
		b, err := bs.CreateBucket([]byte(def.ID))
		if err != nil {
			return err
		}
		if err := b.Put(keyDef, encodeBatchDef(batchDefRec{idx: idx, def: def, createdAt: at})); err != nil {
			return err
		}
		if err := b.Put(keyCtr, encodeCounters(Counters{})); err != nil {
			return err
		}
		if _, err := b.CreateBucket(bktHist); err != nil {
			return err
		}
		if _, err := b.CreateBucket(bktUnits); err != nil {
			return err
		}
		if err := tx.Bucket(bktBatchIdx).Put(u32key(idx), []byte(def.ID)); err != nil {
			return err
		}
		by = by.orSystem()
		return appendAudit(tx, at, AuditEntry{Who: by.User, Role: by.Role, Action: "batch.create",
			After: fmt.Sprintf("batch %s gtin %s lot %s expiry %s profile %s target %d template %s",
				def.ID, def.GTIN, def.Lot, def.Expiry, def.Profile, def.Target, def.Template)})
	})
}

func (d BatchDef) validate() error {
	if d.ID == "" {
		return fmt.Errorf("%w: batch id is empty", ErrInvalid)
	}
	if err := checkGTIN(d.GTIN); err != nil {
		return fmt.Errorf("batch %q: %w", d.ID, err)
	}
	if d.Expiry != "" {
		ok := len(d.Expiry) == 6
		for i := 0; ok && i < 6; i++ {
			ok = d.Expiry[i] >= '0' && d.Expiry[i] <= '9'
		}
		if !ok {
			return fmt.Errorf("%w: batch %q: expiry %q is not YYMMDD", ErrInvalid, d.ID, d.Expiry)
		}
	}
	if d.Target < 0 {
		return fmt.Errorf("%w: batch %q: target %d < 0", ErrInvalid, d.ID, d.Target)
	}
	if d.NHRN != "" {
		p, err := gs1.LookupProfile(d.Profile)
		if err != nil || p.NHRN == "" {
			return fmt.Errorf("%w: batch %q: NHRN %q given but market profile %q has no national number AI", ErrInvalid, d.ID, d.NHRN, d.Profile)
		}
		if err := gs1.CheckValue(p.NHRN, d.NHRN); err != nil {
			return fmt.Errorf("%w: batch %q: NHRN (AI %s): %w", ErrInvalid, d.ID, p.NHRN, err)
		}
	}
	return nil
}

// SetBatchState records a PackML state change of the batch with who and why
// (the journal keeps the history; which transitions are legal is line/packml's
// business). The change is also appended to the audit trail.
func (j *Journal) SetBatchState(ctx context.Context, batchID, state string, by Actor, reason string) error {
	if state == "" {
		return fmt.Errorf("%w: empty batch state", ErrInvalid)
	}
	at := j.now()
	by = by.orSystem()
	return j.update(ctx, func(tx *bolt.Tx) error {
		b, def, err := batchBucket(tx, batchID)
		if err != nil {
			return err
		}
		if err := batchLocked(tx, batchID); err != nil {
			return err
		}
		before := def.state
		def.state = state
		if err := b.Put(keyDef, encodeBatchDef(def)); err != nil {
			return err
		}
		h := b.Bucket(bktHist)
		seq, err := h.NextSequence()
		if err != nil {
			return err
		}
		if err := h.Put(u64key(seq), encodeStateChange(StateChange{State: state, At: at, Actor: by, Reason: reason})); err != nil {
			return err
		}
		return appendAudit(tx, at, AuditEntry{Who: by.User, Role: by.Role, Action: "batch.state", Reason: reason,
			Before: before, After: batchID + ": " + state})
	})
}

func batchBucket(tx *bolt.Tx, id string) (*bolt.Bucket, batchDefRec, error) {
	b := tx.Bucket(bktBatches).Bucket([]byte(id))
	if b == nil {
		return nil, batchDefRec{}, fmt.Errorf("%w: batch %q", ErrNotFound, id)
	}
	def, err := decodeBatchDef(id, b.Get(keyDef))
	return b, def, err
}

// Batch returns a batch with its definition, PackML history and counters.
// A batch archived out of the live journal is read from its archive file
// (Options.ArchiveDir), with Batch.Archive set.
func (j *Journal) Batch(batchID string) (Batch, error) {
	var out Batch
	var arch *archiveRec
	err := j.view(func(tx *bolt.Tx) error {
		var err error
		out, err = readBatch(tx, batchID)
		if errors.Is(err, ErrNotFound) {
			if r, ok, aerr := archiveOfBatch(tx, batchID); aerr != nil {
				return aerr
			} else if ok {
				arch = &r
				return nil
			}
		}
		return err
	})
	if err == nil && arch != nil {
		return j.archivedBatch(*arch)
	}
	return out, err
}

func readBatch(tx *bolt.Tx, id string) (Batch, error) {
	b, def, err := batchBucket(tx, id)
	if err != nil {
		return Batch{}, err
	}
	out := Batch{BatchDef: def.def, CreatedAt: def.createdAt, State: def.state}
	if out.Counters, err = decodeCounters(id, b.Get(keyCtr)); err != nil {
		return Batch{}, err
	}
	err = b.Bucket(bktHist).ForEach(func(k, v []byte) error {
		s, err := decodeStateChange(fmt.Sprintf("batch %q history %d", id, binary.BigEndian.Uint64(k)), v)
		if err != nil {
			return err
		}
		out.History = append(out.History, s)
		return nil
	})
	return out, err
}

// Batches returns every batch in creation order.
func (j *Journal) Batches() ([]Batch, error) {
	var out []Batch
	err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bktBatchIdx).ForEach(func(_, id []byte) error {
			b, err := readBatch(tx, string(id))
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

// Counters returns a batch's unit counters.
func (j *Journal) Counters(batchID string) (Counters, error) {
	var c Counters
	err := j.view(func(tx *bolt.Tx) error {
		b, _, err := batchBucket(tx, batchID)
		if err != nil {
			return err
		}
		c, err = decodeCounters(batchID, b.Get(keyCtr))
		return err
	})
	return c, err
}
