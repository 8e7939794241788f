package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Draw takes the next n available serials of the batch's GTIN (in pool
// order) and makes them units of the batch in state Drawn. It returns when
// that is durable. Nothing is drawn when fewer than n are available
// (ErrPoolEmpty).
func (j *Journal) Draw(ctx context.Context, batchID string, n int) ([]Unit, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: draw %d serials", ErrInvalid, n)
	}
	at := j.now()
	var out []Unit
	err := j.update(ctx, func(tx *bolt.Tx) error {
		out = nil
		b, def, err := batchBucket(tx, batchID)
		if err != nil {
			return err
		}
		if err := batchLocked(tx, batchID); err != nil {
			return err
		}
		avail := tx.Bucket(bktAvail).Bucket([]byte(def.def.GTIN))
		if avail == nil {
			return fmt.Errorf("%w: GTIN %s has no pool (batch %q wants %d)", ErrPoolEmpty, def.def.GTIN, batchID, n)
		}
		type kv struct{ k, v []byte }
		take := make([]kv, 0, n)
		c := avail.Cursor()
		for k, v := c.First(); k != nil && len(take) < n; k, v = c.Next() {
			take = append(take, kv{bytes.Clone(k), bytes.Clone(v)})
		}
		if len(take) < n {
			return fmt.Errorf("%w: GTIN %s has %d, batch %q wants %d", ErrPoolEmpty, def.def.GTIN, len(take), batchID, n)
		}
		ser := tx.Bucket(bktSerials)
		units := b.Bucket(bktUnits)
		units.FillPercent = 1
		res := newResolver(tx)
		out = make([]Unit, 0, n)
		for _, e := range take {
			serial := string(e.v)
			r, err := decodeSerial(serial, ser.Get(e.v))
			if err != nil {
				return err
			}
			if r.kind != kindAvailable || r.order != binary.BigEndian.Uint64(e.k) {
				return fmt.Errorf("%w: serial %q in the available list is %s", ErrCorrupt, serial, r.describe())
			}
			if err := avail.Delete(e.k); err != nil {
				return err
			}
			seq, err := units.NextSequence()
			if err != nil {
				return err
			}
			if seq > math.MaxUint32 {
				return fmt.Errorf("%w: batch %q has too many units", ErrInvalid, batchID)
			}
			idx := uint32(seq - 1)
			nr := serialRec{entry: entry{kind: kindUnit, pool: r.pool}, unitData: unitRec{
				batch: def.idx, index: idx, state: Drawn,
				steps: []Step{{State: Drawn, At: at, Actor: ActorSystem}},
			}}
			if err := ser.Put(e.v, encodeSerial(&nr)); err != nil {
				return err
			}
			if err := units.Put(u32key(idx), e.v); err != nil {
				return err
			}
			u, err := res.unit(serial, &nr)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		ctr, err := decodeCounters(batchID, b.Get(keyCtr))
		if err != nil {
			return err
		}
		ctr.Drawn += n
		return b.Put(keyCtr, encodeCounters(ctr))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Apply moves units to new states, all in one durable transaction: it
// returns nil only when every change is on disk, and when any change is
// illegal (*TransitionError), unknown (ErrNotFound) or invalid, nothing of
// the call is written. Concurrent Apply calls are grouped into one commit.
// Batch counters change in the same transaction. Changes made by a person
// (a non-system Actor) are also appended to the audit trail.
//
// The line's ordering rule rests on this: Apply(Queued) returns before the
// unit's data goes to the printer, and the unit's Commissioned/Rejected
// change returns before the decision goes to the PLC.
func (j *Journal) Apply(ctx context.Context, changes ...Change) error {
	if len(changes) == 0 {
		return nil
	}
	now := j.now()
	for i := range changes {
		c := &changes[i]
		if c.Serial == "" || !c.To.Valid() {
			return fmt.Errorf("%w: change %d: serial %q to %s", ErrInvalid, i, c.Serial, c.To)
		}
	}
	return j.update(ctx, func(tx *bolt.Tx) error { return applyTx(tx, now, changes) })
}

type batchCtr struct {
	b   *bolt.Bucket
	id  string
	ctr Counters
}

func applyTx(tx *bolt.Tx, now time.Time, changes []Change) error {
	ser := tx.Bucket(bktSerials)
	ctrs := make(map[uint32]*batchCtr, 1)
	for _, c := range changes {
		key := []byte(c.Serial)
		v := ser.Get(key)
		if v == nil {
			if tx.Bucket(bktArchived).Get(key) != nil {
				return &TransitionError{Serial: c.Serial, To: c.To, Msg: "the unit is archived: its record is closed"}
			}
			return fmt.Errorf("%w: serial %q", ErrNotFound, c.Serial)
		}
		r, err := decodeSerial(c.Serial, v)
		if err != nil {
			return err
		}
		if r.kind != kindUnit {
			return &TransitionError{Serial: c.Serial, To: c.To, Msg: "serial is " + r.describe() + ", not a drawn unit"}
		}
		u := &r.unitData
		from := u.state
		if err := checkChange(from, u.steps[len(u.steps)-1].Reason, c); err != nil {
			return err
		}
		at := c.At
		if at.IsZero() {
			at = now
		}
		u.steps = append(u.steps, Step{State: c.To, At: at.UTC(), Actor: c.Actor.orSystem(), Reason: c.Reason, Detail: c.Detail})
		u.state = c.To
		if c.Seq != 0 {
			u.seq = c.Seq
		}
		if c.Grade != nil {
			g := *c.Grade
			u.grade = &g
		}
		if c.ReadData != "" {
			u.readData = c.ReadData
		}
		if err := ser.Put(key, encodeSerial(&r)); err != nil {
			return err
		}
		bc := ctrs[u.batch]
		if bc == nil {
			id := tx.Bucket(bktBatchIdx).Get(u32key(u.batch))
			if id == nil {
				return fmt.Errorf("%w: unit %q: batch index %d unknown", ErrCorrupt, c.Serial, u.batch)
			}
			b := tx.Bucket(bktBatches).Bucket(id)
			if b == nil {
				return fmt.Errorf("%w: unit %q: batch %q missing", ErrCorrupt, c.Serial, id)
			}
			if err := batchLocked(tx, string(id)); err != nil {
				return &TransitionError{Serial: c.Serial, From: from, To: c.To, Msg: err.Error()}
			}
			ctr, err := decodeCounters(string(id), b.Get(keyCtr))
			if err != nil {
				return err
			}
			bc = &batchCtr{b: b, id: string(id), ctr: ctr}
			ctrs[u.batch] = bc
		}
		bc.ctr.add(from, -1)
		bc.ctr.add(c.To, +1)
		if from == Commissioned {
			// A sampled or rejected unit leaves its case in the same
			// transaction (agg.go).
			if err := removeUnitTx(tx, at, c.Serial, c.To, c.Actor); err != nil {
				return err
			}
		}
		if !c.Actor.IsSystem() {
			reason := c.Reason.String()
			if c.Detail != "" {
				reason += ": " + c.Detail
			}
			if err := appendAudit(tx, at, AuditEntry{Who: c.Actor.User, Role: c.Actor.Role, Action: "unit." + c.To.String(),
				Reason: reason, Before: c.Serial + ": " + from.String(), After: c.Serial + ": " + c.To.String()}); err != nil {
				return err
			}
		}
	}
	for _, bc := range ctrs {
		if err := bc.b.Put(keyCtr, encodeCounters(bc.ctr)); err != nil {
			return err
		}
	}
	return nil
}

// Unit returns the unit of a drawn serial. A serial that is unknown, only
// available in a pool, or returned upstream gives ErrNotFound (the message
// says which).
func (j *Journal) Unit(serial string) (Unit, error) {
	var u Unit
	var arch *tombstone
	err := j.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktSerials).Get([]byte(serial))
		if v == nil {
			if a := tx.Bucket(bktArchived).Get([]byte(serial)); a != nil {
				t, err := decodeTombstone(serial, a)
				arch = &t
				return err
			}
			return &UnknownSerialError{Serial: serial}
		}
		r, err := decodeSerial(serial, v)
		if err != nil {
			return err
		}
		if r.kind != kindUnit {
			return fmt.Errorf("%w: serial %q is %s, not a unit", ErrNotFound, serial, r.describe())
		}
		u, err = newResolver(tx).unit(serial, &r)
		return err
	})
	if err == nil && arch != nil {
		return j.archivedUnit(serial, *arch)
	}
	return u, err
}

// unitBatchID is the batch id of serial's unit ("" if it is not a unit).
func unitBatchID(tx *bolt.Tx, serial string) string {
	b, _, ok := peekUnitSlot(tx.Bucket(bktSerials).Get([]byte(serial)))
	if !ok {
		return ""
	}
	return string(tx.Bucket(bktBatchIdx).Get(u32key(b)))
}

// Units calls fn for each unit of the batch in draw order. Units are read
// in chunks, each in its own read transaction; fn runs outside them and may
// call the Journal (including writes).
func (j *Journal) Units(batchID string, fn func(Unit) error) error {
	var next uint32
	for {
		var chunk []Unit
		end := true
		err := j.view(func(tx *bolt.Tx) error {
			b, _, err := batchBucket(tx, batchID)
			if err != nil {
				return err
			}
			ser := tx.Bucket(bktSerials)
			res := newResolver(tx)
			c := b.Bucket(bktUnits).Cursor()
			for k, v := c.Seek(u32key(next)); k != nil; k, v = c.Next() {
				if len(chunk) == 1000 {
					end = false
					return nil
				}
				r, err := decodeSerial(string(v), ser.Get(v))
				if err != nil {
					return err
				}
				if r.kind != kindUnit {
					return fmt.Errorf("%w: batch %q unit %x: serial %q is %s", ErrCorrupt, batchID, k, v, r.describe())
				}
				u, err := res.unit(string(v), &r)
				if err != nil {
					return err
				}
				chunk = append(chunk, u)
				next = binary.BigEndian.Uint32(k) + 1
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, u := range chunk {
			if err := fn(u); err != nil {
				return err
			}
		}
		if end {
			return nil
		}
	}
}

// resolver turns stored indexes into names, with caches.
type resolver struct {
	tx      *bolt.Tx
	pools   map[uint32]string
	batches map[uint32][2]string // id, gtin
}

func newResolver(tx *bolt.Tx) *resolver {
	return &resolver{tx: tx, pools: map[uint32]string{}, batches: map[uint32][2]string{}}
}

func (r *resolver) pool(idx uint32) (string, error) {
	if s, ok := r.pools[idx]; ok {
		return s, nil
	}
	v := r.tx.Bucket(bktPoolIdx).Get(u32key(idx))
	if v == nil {
		return "", fmt.Errorf("%w: pool index %d unknown", ErrCorrupt, idx)
	}
	r.pools[idx] = string(v)
	return string(v), nil
}

func (r *resolver) batch(idx uint32) (id, gtin string, err error) {
	if s, ok := r.batches[idx]; ok {
		return s[0], s[1], nil
	}
	v := r.tx.Bucket(bktBatchIdx).Get(u32key(idx))
	if v == nil {
		return "", "", fmt.Errorf("%w: batch index %d unknown", ErrCorrupt, idx)
	}
	_, def, err := batchBucket(r.tx, string(v))
	if err != nil {
		return "", "", err
	}
	r.batches[idx] = [2]string{def.def.ID, def.def.GTIN}
	return def.def.ID, def.def.GTIN, nil
}

func (r *resolver) unit(serial string, rec *serialRec) (Unit, error) {
	u := &rec.unitData
	pool, err := r.pool(rec.pool)
	if err != nil {
		return Unit{}, err
	}
	bid, gtin, err := r.batch(u.batch)
	if err != nil {
		return Unit{}, err
	}
	last := u.steps[len(u.steps)-1]
	return Unit{
		Serial: serial, GTIN: gtin, Batch: bid, Pool: pool, Index: int(u.index), State: u.state, Seq: u.seq,
		Reason: last.Reason, Detail: last.Detail, Grade: u.grade, ReadData: u.readData,
		History: append([]Step(nil), u.steps...),
	}, nil
}
