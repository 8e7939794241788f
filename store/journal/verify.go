package journal

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxProblems caps VerifyReport.Problems (the count goes on in a last line).
const maxProblems = 1000

// Verify checks the whole journal in one read transaction: bbolt's page
// structure (tx.Check), every record decodes, no serial in two places (a
// serial is one key; every unit sits in exactly one batch slot and every
// available serial in exactly one pool-order slot), every pool's serials =
// available + drawn units + returned upstream, stored counters == recount,
// every unit history starts Drawn and follows the state machine (with the
// reasons it requires), and the audit hash chain is intact.
//
// The report lists every problem found. The error is non-nil (wrapping
// ErrCorrupt) when there is any problem, or when the check could not run.
func (j *Journal) Verify(ctx context.Context) (VerifyReport, error) {
	start := time.Now()
	var rep VerifyReport
	err := j.view(func(tx *bolt.Tx) error {
		rep = verifyTx(ctx, tx, j.opt.CheckOutbox)
		return ctx.Err()
	})
	rep.Duration = time.Since(start)
	if err != nil {
		return rep, err
	}
	if !rep.OK() {
		return rep, fmt.Errorf("%w: verify found %d problem(s), first: %s", ErrCorrupt, len(rep.Problems), rep.Problems[0])
	}
	return rep, nil
}

type vPool struct {
	id                       string
	gtin                     string
	count                    int
	avail, units, returnedUp int
	archived                 int // tombstones (verify_lifecycle.go)
}

type vBatch struct {
	id      string
	gtin    string
	stored  Counters
	recount Counters
	slots   int // entries in the units index
}

func verifyTx(ctx context.Context, tx *bolt.Tx, checkOutbox func(kind string, payload []byte) error) VerifyReport {
	var rep VerifyReport
	extra := 0
	add := func(format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		} else {
			extra++
		}
	}
	defer func() {
		if extra > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("… and %d more problems", extra))
		}
	}()

	for err := range tx.Check() {
		add("bbolt: %v", err)
	}
	for _, b := range allBuckets {
		if tx.Bucket(b) == nil {
			add("bucket %q missing", b)
			return rep
		}
	}
	if err := checkVersion(tx); err != nil {
		add("%v", err)
	}

	// Pools.
	pools := map[uint32]*vPool{}
	pb := tx.Bucket(bktPools)
	_ = tx.Bucket(bktPoolIdx).ForEach(func(k, id []byte) error {
		rep.Pools++
		if len(k) != 4 {
			add("pool index key %x malformed", k)
			return nil
		}
		idx := binary.BigEndian.Uint32(k)
		p, err := decodePool(string(id), pb.Get(id))
		if err != nil {
			add("%v", err)
			return nil
		}
		if p.idx != idx {
			add("pool %q: index %d, indexed as %d", id, p.idx, idx)
		}
		pools[idx] = &vPool{id: string(id), gtin: p.gtin, count: p.count}
		return nil
	})
	if n := pb.Stats().KeyN; n != rep.Pools {
		add("%d pools but %d pool index entries", n, rep.Pools)
	}

	lc := verifyLifecycle(ctx, tx, pools, &rep, add)

	// Batches and their unit slots.
	batches := map[uint32]*vBatch{}
	bb := tx.Bucket(bktBatches)
	ser := tx.Bucket(bktSerials)
	_ = tx.Bucket(bktBatchIdx).ForEach(func(k, id []byte) error {
		rep.Batches++
		if len(k) != 4 {
			add("batch index key %x malformed", k)
			return nil
		}
		idx := binary.BigEndian.Uint32(k)
		b, def, err := batchBucket(tx, string(id))
		if err != nil {
			add("%v", err)
			return nil
		}
		if def.idx != idx || def.def.ID != string(id) {
			add("batch %q: stored as %q index %d, indexed as %d", id, def.def.ID, def.idx, idx)
		}
		vb := &vBatch{id: string(id), gtin: def.def.GTIN}
		batches[idx] = vb
		if vb.stored, err = decodeCounters(string(id), b.Get(keyCtr)); err != nil {
			add("%v", err)
		}
		if h := b.Bucket(bktHist); h == nil {
			add("batch %q: no state history bucket", id)
		} else {
			_ = h.ForEach(func(hk, hv []byte) error {
				if _, err := decodeStateChange(fmt.Sprintf("batch %q history %x", id, hk), hv); err != nil {
					add("%v", err)
				}
				return nil
			})
		}
		ub := b.Bucket(bktUnits)
		if ub == nil {
			add("batch %q: no units bucket", id)
			return nil
		}
		_ = ub.ForEach(func(uk, serial []byte) error {
			vb.slots++
			if vb.slots%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			v := ser.Get(serial)
			if v == nil {
				add("batch %q slot %x: serial %q has no record (lost)", id, uk, serial)
				return nil
			}
			ubatch, uindex, ok := peekUnitSlot(v)
			if !ok || len(uk) != 4 || ubatch != idx || uindex != binary.BigEndian.Uint32(uk) {
				what := "not a unit"
				if ok {
					what = fmt.Sprintf("the unit of batch index %d slot %d", ubatch, uindex)
				}
				add("batch %q slot %x: serial %q is %s (in two places?)", id, uk, serial, what)
			}
			return nil
		})
		if seq, moved := ub.Sequence(), lc.movedOut(string(id), vb.slots); seq != uint64(vb.slots+moved) {
			add("batch %q: %d unit slots (+%d archived) but sequence %d (slot deleted?)", id, vb.slots, moved, seq)
		}
		return nil
	})
	if n := bb.Stats().BucketN - 1; n != rep.Batches*3 { // each batch: itself + hist + units
		add("batches bucket holds %d sub-buckets, want %d for %d batches", n, rep.Batches*3, rep.Batches)
	}

	// Serials: every one decodes; tallies per pool and batch; histories.
	nAvailRecs := 0
	i := 0
	_ = ser.ForEach(func(k, v []byte) error {
		i++
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		r, err := decodeSerial(string(k), v)
		if err != nil {
			add("%v", err)
			return nil
		}
		p := pools[r.pool]
		if p == nil {
			add("serial %q: pool index %d unknown", k, r.pool)
		}
		switch r.kind {
		case kindAvailable:
			nAvailRecs++
			rep.Available++
			if p == nil {
				return nil
			}
			p.avail++
			ab := tx.Bucket(bktAvail).Bucket([]byte(p.gtin))
			if ab == nil || string(ab.Get(u64key(r.order))) != string(k) {
				add("serial %q: available but not at its place %d in GTIN %s's list", k, r.order, p.gtin)
			}
		case kindReturnedUpstream:
			rep.ReturnedUpstream++
			if p != nil {
				p.returnedUp++
			}
		case kindUnit:
			rep.Units++
			u := &r.unitData
			rep.ByState.add(u.state, 1)
			if p != nil {
				p.units++
			}
			b := batches[u.batch]
			if b == nil {
				add("unit %q: batch index %d unknown", k, u.batch)
				return nil
			}
			b.recount.add(u.state, 1)
			if p != nil && p.gtin != b.gtin {
				add("unit %q: pool %q GTIN %s, batch %q GTIN %s", k, p.id, p.gtin, b.id, b.gtin)
			}
			if err := checkHistory(u.steps); err != nil {
				add("unit %q: %v", k, err)
			}
		}
		return nil
	})

	// Available lists: each entry is an available serial at that place.
	nAvail := 0
	_ = tx.Bucket(bktAvail).ForEachBucket(func(gtin []byte) error {
		ab := tx.Bucket(bktAvail).Bucket(gtin)
		return ab.ForEach(func(k, s []byte) error {
			nAvail++
			r, err := decodeSerial(string(s), ser.Get(s))
			if err != nil || r.kind != kindAvailable || len(k) != 8 || r.order != binary.BigEndian.Uint64(k) {
				add("GTIN %s available list %x: serial %q is not available there", gtin, k, s)
			}
			return nil
		})
	})
	if nAvail != nAvailRecs {
		add("%d serials in available lists but %d available records", nAvail, nAvailRecs)
	}

	for _, p := range pools {
		if got := p.avail + p.units + p.returnedUp + p.archived; got != p.count {
			add("pool %q: %d serials imported but %d available + %d drawn + %d returned upstream + %d archived = %d (lost or foreign serials)",
				p.id, p.count, p.avail, p.units, p.returnedUp, p.archived, got)
		}
	}
	for _, b := range batches {
		if b.stored != b.recount {
			add("batch %q: counters %+v differ from recount %+v", b.id, b.stored, b.recount)
		}
		if b.recount.Total() != b.slots {
			add("batch %q: %d units but %d unit slots", b.id, b.recount.Total(), b.slots)
		}
	}

	lc.checkBatches(tx, add)
	rep.AuditEntries = verifyAudit(tx, add)
	_ = tx.Bucket(bktOutbox).ForEach(func(k, v []byte) error {
		rep.OutboxItems++
		if len(k) != 8 {
			add("outbox key %x malformed", k)
			return nil
		}
		id := binary.BigEndian.Uint64(k)
		it, err := decodeOutbox(id, v)
		if err != nil {
			add("%v (kept in the outbox: it cannot be sent)", err)
			return nil
		}
		if checkOutbox != nil {
			if err := checkOutbox(it.Kind, it.Payload); err != nil {
				add("outbox item %d (%s): payload cannot be decoded (kept in the outbox: it cannot be sent): %v", id, it.Kind, err)
			}
		}
		return nil
	})
	verifyAgg(tx, lc, &rep, add)
	if err := ctx.Err(); err != nil {
		add("verify interrupted: %v", err)
	}
	return rep
}

// checkHistory: starts Drawn, each step a legal transition with the reason
// it requires.
func checkHistory(steps []Step) error {
	if len(steps) == 0 || steps[0].State != Drawn {
		return fmt.Errorf("history does not start with drawn")
	}
	for i := 1; i < len(steps); i++ {
		from, s := steps[i-1].State, steps[i]
		if from == Rejected && s.State == Rejected {
			if !IsAnnotation(from, steps[i-1].Reason, Change{To: s.State, Reason: s.Reason, Actor: s.Actor}) {
				return fmt.Errorf("history step %d: rejected -> rejected other than one reject-not-confirmed annotation by the system", i)
			}
			continue
		}
		if !CanTransition(from, s.State) {
			return fmt.Errorf("history step %d: illegal %s -> %s", i, from, s.State)
		}
		if from == Rejected && !GateMismatch(from, Change{To: s.State, Reason: s.Reason, Actor: s.Actor}) {
			return fmt.Errorf("history step %d: rejected -> %s other than gate-mismatch by the system", i, s.State)
		}
		switch s.State {
		case Rejected, Returned, Uncertain:
			if s.Reason == ReasonNone {
				return fmt.Errorf("history step %d: %s without reason", i, s.State)
			}
		}
		if from == Commissioned && s.Actor.IsSystem() {
			return fmt.Errorf("history step %d: commissioned unit changed by %s", i, s.Actor)
		}
	}
	return nil
}
