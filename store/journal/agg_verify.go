package journal

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// verifyAgg checks the aggregation layer (skipped for a journal written
// before it existed):
//
//   - every code decodes; every ID pool's codes = available + drawn +
//     returned upstream (a range: drawn = cursor - first), each available
//     code at its place in its stream's list;
//   - every parent is of a known batch, listed in that batch's index, and
//     holds no more than its capacity; closed full = capacity, closed
//     partial = 1..capacity-1 by a person; unpacked and void hold nothing;
//   - no child in two parents: each child's childof entry names the parent
//     that lists it, and there are exactly as many entries as children;
//   - only commissioned units of the same batch are aggregated; a parent
//     child is closed, of the right level and batch;
//   - replaying each batch's event log: no child packed into a second
//     parent while packed in one, every unpack matches a pack, a code is
//     commissioned once and decommissioned only after, and the replay ends
//     where the parents are (packed children);
//   - the reporting cursor is not beyond the log.
func verifyAgg(tx *bolt.Tx, rep *VerifyReport, add func(format string, args ...any)) {
	for _, b := range aggBuckets {
		if tx.Bucket(b) == nil {
			return
		}
	}
	type vPool struct {
		id                      string
		rec                     idPoolRec
		avail, drawn, returnedN int
	}
	pools := map[uint32]*vPool{}
	pb := tx.Bucket(bktIDPools)
	_ = tx.Bucket(bktIDPoolIdx).ForEach(func(k, id []byte) error {
		if len(k) != 4 {
			add("id pool index key %x malformed", k)
			return nil
		}
		p, err := decodeIDPool(string(id), pb.Get(id))
		if err != nil {
			add("%v", err)
			return nil
		}
		if p.idx != binary.BigEndian.Uint32(k) {
			add("id pool %q: index %d, indexed as %x", id, p.idx, k)
		}
		pools[p.idx] = &vPool{id: string(id), rec: p}
		return nil
	})
	if n := pb.Stats().KeyN; n != len(pools) {
		add("%d id pools but %d index entries", n, len(pools))
	}
	batchIDs := map[uint32]string{}
	_ = tx.Bucket(bktBatchIdx).ForEach(func(k, id []byte) error {
		if len(k) == 4 {
			batchIDs[binary.BigEndian.Uint32(k)] = string(id)
		}
		return nil
	})

	type vParent struct {
		r        parentRec
		listed   bool
		packedBy map[string]bool // replay: children packed
		comm     bool
		decomm   bool
	}
	parents := map[string]*vParent{}
	ser := tx.Bucket(bktSerials)
	parb := tx.Bucket(bktParents)
	co := tx.Bucket(bktChildOf)
	nAvail := 0
	nChildren := 0
	_ = parb.ForEach(func(k, v []byte) error {
		code := string(k)
		r, err := decodeID(code, v)
		if err != nil {
			add("%v", err)
			return nil
		}
		p := pools[r.pool]
		if p == nil {
			add("code %s: id pool index %d unknown", code, r.pool)
		}
		switch r.kind {
		case kindIDAvailable:
			nAvail++
			if p == nil {
				return nil
			}
			p.avail++
			ab := tx.Bucket(bktIDAvail).Bucket([]byte(stream(p.rec.kind, p.rec.gtin)))
			if ab == nil || string(ab.Get(u64key(r.order))) != code {
				add("code %s: available but not at its place %d in its stream", code, r.order)
			}
			return nil
		case kindIDReturned:
			if p != nil {
				p.returnedN++
			}
			return nil
		}
		if p != nil {
			p.drawn++
		}
		pr := r.p
		parents[code] = &vParent{r: pr, packedBy: map[string]bool{}}
		if rep.Parents == nil {
			rep.Parents = map[string]int{}
		}
		rep.Parents[pr.level+" "+pr.state.String()]++
		batch, ok := batchIDs[pr.batch]
		if !ok {
			add("parent %s: batch index %d unknown", code, pr.batch)
		}
		n := len(pr.children)
		nChildren += n
		switch pr.state {
		case ParentOpen:
			if n > pr.capacity {
				add("parent %s: open with %d children, capacity %d", code, n, pr.capacity)
			}
		case ParentClosed:
			last := pr.steps[len(pr.steps)-1]
			switch {
			case !pr.partial && n != pr.capacity:
				add("parent %s: closed full with %d children, capacity %d (counts do not match)", code, n, pr.capacity)
			case pr.partial && (n == 0 || n >= pr.capacity):
				add("parent %s: closed partial with %d children, capacity %d", code, n, pr.capacity)
			case pr.partial && (last.Op != OpClose || last.Actor.IsSystem()):
				add("parent %s: closed partial, not by a person (%s)", code, last.Actor)
			}
			if pr.packed != n {
				add("parent %s: closed with %d children but %d packed", code, n, pr.packed)
			}
		case ParentUnpacked, ParentVoid:
			if n != 0 {
				add("parent %s: %s but lists %d children", code, pr.state, n)
			}
		}
		if pr.steps[0].Op != OpOpen {
			add("parent %s: history does not start with open", code)
		}
		unit := pr.childLevel == UnitLevel
		seen := map[string]bool{}
		for _, c := range pr.children {
			if seen[c] {
				add("parent %s: child %s listed twice", code, c)
			}
			seen[c] = true
			if in := co.Get(childKey(unit, c)); string(in) != code {
				add("parent %s: child %s, but the child index says %q (child in two parents?)", code, c, in)
			}
			if unit {
				ur, err := decodeSerial(c, ser.Get([]byte(c)))
				switch {
				case err != nil:
					add("parent %s: child %s: %v", code, c, err)
				case ur.kind != kindUnit:
					add("parent %s: child %s is %s, not a unit", code, c, ur.describe())
				case ur.unitData.state != Commissioned:
					add("parent %s: child unit %s is %s (only commissioned units may be aggregated)", code, c, ur.unitData.state)
				case ur.unitData.batch != pr.batch:
					add("parent %s: child unit %s of batch %s, parent of %s", code, c, batchIDs[ur.unitData.batch], batch)
				}
				continue
			}
			cr, err := decodeID(c, parb.Get([]byte(c)))
			switch {
			case err != nil:
				add("parent %s: child %s: %v", code, c, err)
			case cr.kind != kindParent:
				add("parent %s: child %s is %s", code, c, cr.describe())
			case cr.p.level != pr.childLevel || cr.p.state != ParentClosed || cr.p.batch != pr.batch:
				add("parent %s: child %s is a %s %s of batch %s (want a closed %s of batch %s)", code, c, cr.p.state, cr.p.level,
					batchIDs[cr.p.batch], pr.childLevel, batch)
			}
		}
		return nil
	})
	// Batch indexes list each parent once, under its batch.
	_ = tx.Bucket(bktAggBatch).ForEachBucket(func(name []byte) error {
		return tx.Bucket(bktAggBatch).Bucket(name).ForEach(func(_, code []byte) error {
			p := parents[string(code)]
			switch {
			case p == nil:
				add("batch %s parent index: %s is not a parent", name, code)
			case p.listed:
				add("batch %s parent index: %s listed twice", name, code)
			case batchIDs[p.r.batch] != string(name):
				add("batch %s parent index: %s belongs to batch %s", name, code, batchIDs[p.r.batch])
			default:
				p.listed = true
			}
			return nil
		})
	})
	for code, p := range parents {
		if !p.listed {
			add("parent %s: missing from batch %s's parent index", code, batchIDs[p.r.batch])
		}
	}
	if n := co.Stats().KeyN; n != nChildren {
		add("child index holds %d entries, parents list %d children (a child in two places?)", n, nChildren)
	}
	nAvailList := 0
	_ = tx.Bucket(bktIDAvail).ForEachBucket(func(name []byte) error {
		return tx.Bucket(bktIDAvail).Bucket(name).ForEach(func(k, code []byte) error {
			nAvailList++
			r, err := decodeID(string(code), parb.Get(code))
			if err != nil || r.kind != kindIDAvailable || len(k) != 8 || r.order != binary.BigEndian.Uint64(k) {
				add("stream %s available list %x: code %s is not available there", name, k, code)
			}
			return nil
		})
	})
	rep.IDsAvail = nAvail
	if nAvailList != nAvail {
		add("%d codes in available lists but %d available records", nAvailList, nAvail)
	}
	for _, p := range pools {
		imported := p.rec.count
		if p.rec.isRange {
			if got := int(p.rec.next - p.rec.first); got != p.drawn {
				add("sscc range %s: cursor says %d issued, %d parents carry its codes", p.id, got, p.drawn)
			}
			continue
		}
		if got := p.avail + p.drawn + p.returnedN; got != imported {
			add("id pool %s: %d codes imported but %d available + %d drawn + %d returned = %d (lost or foreign codes)",
				p.id, imported, p.avail, p.drawn, p.returnedN, got)
		}
	}

	// Replay each batch's event log.
	where := map[string]string{} // child -> parent it is packed in (replay)
	evb := tx.Bucket(bktAggEvents)
	repb := tx.Bucket(bktAggRep)
	_ = evb.ForEachBucket(func(name []byte) error {
		batch := string(name)
		var lastSeq uint64
		_ = evb.Bucket(name).ForEach(func(k, v []byte) error {
			seq := binary.BigEndian.Uint64(k)
			lastSeq = seq
			rep.AggEvents++
			ev, err := decodeAggEvent(batch, seq, v)
			if err != nil {
				add("%v", err)
				return nil
			}
			p := parents[ev.Parent]
			if p == nil {
				add("aggregation event %s/%d: %s of unknown parent %s", batch, seq, ev.Op, ev.Parent)
				return nil
			}
			if batchIDs[p.r.batch] != batch {
				add("aggregation event %s/%d: parent %s belongs to batch %s", batch, seq, ev.Parent, batchIDs[p.r.batch])
			}
			switch ev.Op {
			case AggCommission:
				if p.comm {
					add("aggregation event %s/%d: %s commissioned twice", batch, seq, ev.Parent)
				}
				p.comm = true
			case AggDecommission:
				if !p.comm || p.decomm {
					add("aggregation event %s/%d: %s decommissioned without being commissioned (or twice)", batch, seq, ev.Parent)
				}
				p.decomm = true
			case AggPack:
				if !p.comm || p.decomm {
					add("aggregation event %s/%d: pack into %s, whose code is not commissioned", batch, seq, ev.Parent)
				}
				for _, c := range ev.Children {
					if in, ok := where[c]; ok {
						add("aggregation event %s/%d: %s packed into %s while packed in %s (child in two parents)", batch, seq, c, ev.Parent, in)
					}
					where[c] = ev.Parent
					p.packedBy[c] = true
				}
			case AggUnpack:
				for _, c := range ev.Children {
					if where[c] != ev.Parent {
						add("aggregation event %s/%d: %s unpacked from %s but packed in %q (unpack without a pack)", batch, seq, c, ev.Parent, where[c])
					}
					delete(where, c)
					delete(p.packedBy, c)
				}
			}
			return nil
		})
		if v := repb.Get(name); len(v) == 8 && binary.BigEndian.Uint64(v) > lastSeq {
			add("batch %s: aggregation events reported up to %d, log ends at %d", batch, binary.BigEndian.Uint64(v), lastSeq)
		}
		return nil
	})
	for code, p := range parents {
		packed := slices.Clone(p.r.children[:p.r.packed])
		slices.Sort(packed)
		var replay []string
		for c := range p.packedBy {
			replay = append(replay, c)
		}
		slices.Sort(replay)
		if !slices.Equal(packed, replay) {
			add("parent %s: packed children %v differ from its event log %v", code, short(packed), short(replay))
		}
		if hasOp(p.r.steps, OpClose) != p.comm {
			add("parent %s: closed=%t but commissioned in its event log=%t", code, hasOp(p.r.steps, OpClose), p.comm)
		}
		if (p.r.state == ParentUnpacked) != p.decomm {
			add("parent %s: %s but decommissioned in its event log=%t", code, p.r.state, p.decomm)
		}
	}
}

func short(s []string) string {
	if len(s) > 6 {
		return fmt.Sprintf("%v … (%d)", s[:6], len(s))
	}
	return fmt.Sprint(s)
}
