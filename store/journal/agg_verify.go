package journal

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// aggParent is one parent as the hierarchy checks see it: read from the
// live journal (verifyAgg) or from an archive file (VerifyArchive).
type aggParent struct {
	batch             string
	level, childLevel string
	capacity          int
	state             ParentState
	partial           bool
	packed            int
	children          []string
	steps             []ParentStep
	// the event log replayed
	packedBy     map[string]bool
	comm, decomm bool
}

func newAggParent(batch string, r *parentRec) *aggParent {
	return &aggParent{batch: batch, level: r.level, childLevel: r.childLevel, capacity: r.capacity, state: r.state,
		partial: r.partial, packed: r.packed, children: r.children, steps: r.steps, packedBy: map[string]bool{}}
}

// aggHierarchy checks one aggregation hierarchy, the same rules wherever it
// is stored:
//
//   - closed full = capacity children, closed partial = 1..capacity-1 by a
//     person, every child packed, its close step counting them; unpacked and
//     void hold nothing; open holds no more than its capacity;
//   - no child listed twice, nor in two parents (the child index names the
//     parent that lists it);
//   - only commissioned units of the parent's batch are aggregated; a parent
//     child is closed, of the level below and of the same batch;
//   - replaying the event log: no child packed into a second parent while
//     packed in one, every unpack matches a pack, a code is commissioned
//     once and decommissioned only after, and the replay ends where the
//     parents are (packed children).
type aggHierarchy struct {
	add     func(format string, args ...any)
	parents map[string]*aggParent
	// index introduces what the child index names in problems ("the child
	// index says"); in returns the parent that holds child according to it
	// ("" none).
	index string
	in    func(unit bool, child string) string
	// unit returns the batch and state of a unit serial, or why it is no
	// unit (problem, completing "child S …").
	unit func(serial string) (batch string, st State, problem string)
	// notParent says why a child code of parent p is not one of parents
	// (completing "child C …"); "" accepts it as moved out (an archive in
	// progress) and skips its checks.
	notParent func(code string, p *aggParent) string

	indexed int               // children the child index must name
	where   map[string]string // replay: child -> parent it is packed in
}

func (h *aggHierarchy) checkParent(code string, p *aggParent) {
	add := h.add
	n := len(p.children)
	switch p.state {
	case ParentOpen:
		if n > p.capacity {
			add("parent %s: open with %d children, capacity %d", code, n, p.capacity)
		}
	case ParentClosed:
		var last ParentStep
		if len(p.steps) > 0 {
			last = p.steps[len(p.steps)-1]
		}
		switch {
		case !p.partial && n != p.capacity:
			add("parent %s: closed full with %d children, capacity %d (counts do not match)", code, n, p.capacity)
		case p.partial && (n == 0 || n >= p.capacity):
			add("parent %s: closed partial with %d children, capacity %d", code, n, p.capacity)
		case p.partial && (last.Op != OpClose || last.Actor.IsSystem()):
			add("parent %s: closed partial, not by a person (%s)", code, last.Actor)
		}
		if p.packed != n {
			add("parent %s: closed with %d children but %d packed", code, n, p.packed)
		}
		if last.Op == OpClose && last.N != n {
			add("parent %s: holds %d children, its close step counted %d (counts do not match)", code, n, last.N)
		}
	case ParentUnpacked, ParentVoid:
		if n != 0 {
			add("parent %s: %s but lists %d children", code, p.state, n)
		}
	default:
		add("parent %s: state %s", code, p.state)
	}
	if len(p.steps) == 0 || p.steps[0].Op != OpOpen {
		add("parent %s: history does not start with open", code)
	}
	unit := p.childLevel == UnitLevel
	seen := map[string]bool{}
	for _, c := range p.children {
		if seen[c] {
			add("parent %s: child %s listed twice", code, c)
		}
		seen[c] = true
		if unit {
			h.checkIn(code, true, c)
			batch, st, prob := h.unit(c)
			switch {
			case prob != "":
				add("parent %s: child %s %s", code, c, prob)
			case st != Commissioned:
				add("parent %s: child unit %s is %s (only commissioned units may be aggregated)", code, c, st)
			case batch != p.batch:
				add("parent %s: child unit %s of batch %s, parent of %s", code, c, batch, p.batch)
			}
			continue
		}
		cp := h.parents[c]
		if cp == nil {
			if prob := h.notParent(c, p); prob != "" {
				h.checkIn(code, false, c)
				add("parent %s: child %s %s", code, c, prob)
			}
			continue
		}
		h.checkIn(code, false, c)
		if cp.level != p.childLevel || cp.state != ParentClosed || cp.batch != p.batch {
			add("parent %s: child %s is a %s %s of batch %s (want a closed %s of batch %s)", code, c, cp.state, cp.level,
				cp.batch, p.childLevel, p.batch)
		}
	}
}

func (h *aggHierarchy) checkIn(code string, unit bool, child string) {
	h.indexed++
	if in := h.in(unit, child); in != code {
		h.add("parent %s: child %s, but %s %q (child in two parents?)", code, child, h.index, in)
	}
}

// replay applies one event of batch's log.
func (h *aggHierarchy) replay(batch string, ev *AggEvent) {
	add := h.add
	if h.where == nil {
		h.where = map[string]string{}
	}
	p := h.parents[ev.Parent]
	if p == nil {
		add("aggregation event %s/%d: %s of unknown parent %s", batch, ev.Seq, ev.Op, ev.Parent)
		return
	}
	if p.batch != batch {
		add("aggregation event %s/%d: parent %s belongs to batch %s", batch, ev.Seq, ev.Parent, p.batch)
	}
	switch ev.Op {
	case AggCommission:
		if p.comm {
			add("aggregation event %s/%d: %s commissioned twice", batch, ev.Seq, ev.Parent)
		}
		p.comm = true
	case AggDecommission:
		if !p.comm || p.decomm {
			add("aggregation event %s/%d: %s decommissioned without being commissioned (or twice)", batch, ev.Seq, ev.Parent)
		}
		p.decomm = true
	case AggPack:
		if !p.comm || p.decomm {
			add("aggregation event %s/%d: pack into %s, whose code is not commissioned", batch, ev.Seq, ev.Parent)
		}
		for _, c := range ev.Children {
			if in, ok := h.where[c]; ok {
				add("aggregation event %s/%d: %s packed into %s while packed in %s (child in two parents)", batch, ev.Seq, c, ev.Parent, in)
			}
			h.where[c] = ev.Parent
			p.packedBy[c] = true
		}
	case AggUnpack:
		for _, c := range ev.Children {
			if h.where[c] != ev.Parent {
				add("aggregation event %s/%d: %s unpacked from %s but packed in %q (unpack without a pack)", batch, ev.Seq, c, ev.Parent, h.where[c])
			}
			delete(h.where, c)
			delete(p.packedBy, c)
		}
	}
}

// finish compares each parent with its replayed event log (skip: parents
// whose log was not replayed).
func (h *aggHierarchy) finish(skip func(*aggParent) bool) {
	for code, p := range h.parents {
		if skip != nil && skip(p) {
			continue
		}
		packed := slices.Clone(p.children[:min(p.packed, len(p.children))])
		slices.Sort(packed)
		var replay []string
		for c := range p.packedBy {
			replay = append(replay, c)
		}
		slices.Sort(replay)
		if !slices.Equal(packed, replay) {
			h.add("parent %s: packed children %v differ from its event log %v", code, short(packed), short(replay))
		}
		if closed := hasOp(p.steps, OpClose); closed != p.comm {
			h.add("parent %s: closed=%t but commissioned in its event log=%t", code, closed, p.comm)
		}
		if (p.state == ParentUnpacked) != p.decomm {
			h.add("parent %s: %s but decommissioned in its event log=%t", code, p.state, p.decomm)
		}
	}
}

// verifyAgg checks the aggregation layer of the live journal (skipped for a
// journal written before it existed): every code decodes; every ID pool's
// codes = available + drawn (parents and archived parent codes) + returned
// upstream (a range: drawn = cursor - first), each available code at its
// place in its stream's list; every parent of a live batch, listed in that
// batch's index; the hierarchy (aggHierarchy) with the childof bucket as its
// child index, holding exactly one entry per child; the reporting cursor
// not beyond the log; an archived parent code's tombstone names a recorded
// archive, and nothing of an archived batch's aggregation is left. A batch
// being archived (lc) may have parents moved out already: its live parents
// are checked without its event log, which the archive file holds.
func verifyAgg(tx *bolt.Tx, lc *vLifecycle, rep *VerifyReport, add func(format string, args ...any)) {
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
	live := map[string]bool{}
	_ = tx.Bucket(bktBatchIdx).ForEach(func(k, id []byte) error {
		if len(k) == 4 {
			batchIDs[binary.BigEndian.Uint32(k)] = string(id)
			live[string(id)] = true
		}
		return nil
	})
	// Batches being archived, and the archive each moves into.
	moving := map[string]uint32{}
	for idx, r := range lc.archives {
		if r.state == archArchiving {
			moving[r.batch] = idx
		}
	}

	ser := tx.Bucket(bktSerials)
	parb := tx.Bucket(bktParents)
	co := tx.Bucket(bktChildOf)
	tombs := map[string]uint32{} // archived parent code -> archive
	h := &aggHierarchy{add: add, parents: map[string]*aggParent{}, index: "the child index says",
		in: func(unit bool, child string) string { return string(co.Get(childKey(unit, child))) },
		unit: func(serial string) (string, State, string) {
			r, err := decodeSerial(serial, ser.Get([]byte(serial)))
			switch {
			case err != nil:
				return "", 0, fmt.Sprintf("cannot be read: %v", err)
			case r.kind != kindUnit:
				return "", 0, "is " + r.describe() + ", not a unit"
			}
			return batchIDs[r.unitData.batch], r.unitData.state, ""
		},
		notParent: func(code string, p *aggParent) string {
			if idx, ok := tombs[code]; ok {
				if a, ok := moving[p.batch]; ok && a == idx {
					return "" // moved out with its batch, which is being archived
				}
				return fmt.Sprintf("is archived (archive %d)", idx)
			}
			r, err := decodeID(code, parb.Get([]byte(code)))
			if err != nil {
				return fmt.Sprintf("cannot be read: %v", err)
			}
			return "is " + r.describe()
		},
	}
	nAvail := 0
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
		case kindTombstone:
			rep.ArchivedParents++
			if p != nil {
				p.drawn++
			}
			if _, ok := lc.archives[r.archive]; !ok {
				add("archived parent code %s: archive %d unknown", code, r.archive)
			}
			tombs[code] = r.archive
			return nil
		}
		if p != nil {
			p.drawn++
		}
		batch, ok := batchIDs[r.p.batch]
		if !ok {
			add("parent %s: batch index %d unknown", code, r.p.batch)
		}
		h.parents[code] = newAggParent(batch, &r.p)
		if rep.Parents == nil {
			rep.Parents = map[string]int{}
		}
		rep.Parents[r.p.level+" "+r.p.state.String()]++
		return nil
	})
	for code, p := range h.parents {
		h.checkParent(code, p)
	}
	// Batch indexes list each parent once, under its batch.
	listed := map[string]bool{}
	_ = tx.Bucket(bktAggBatch).ForEachBucket(func(name []byte) error {
		if !live[string(name)] {
			add("batch %s parent index: the batch is not in the live journal", name)
		}
		return tx.Bucket(bktAggBatch).Bucket(name).ForEach(func(_, code []byte) error {
			p := h.parents[string(code)]
			switch {
			case p == nil:
				add("batch %s parent index: %s is not a parent", name, code)
			case listed[string(code)]:
				add("batch %s parent index: %s listed twice", name, code)
			case p.batch != string(name):
				add("batch %s parent index: %s belongs to batch %s", name, code, p.batch)
			default:
				listed[string(code)] = true
			}
			return nil
		})
	})
	for code, p := range h.parents {
		if !listed[code] {
			add("parent %s: missing from batch %s's parent index", code, p.batch)
		}
	}
	if n := co.Stats().KeyN; n != h.indexed {
		add("child index holds %d entries, parents list %d children (a child in two places?)", n, h.indexed)
	}
	_ = co.ForEach(func(k, in []byte) error {
		if h.parents[string(in)] == nil && len(k) > 0 {
			what := map[byte]string{'U': "unit", 'P': "parent"}[k[0]]
			add("child index: %s %s is in %s, which is not a parent of the live journal (dangling)", what, k[1:], in)
		}
		return nil
	})
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
	evb := tx.Bucket(bktAggEvents)
	repb := tx.Bucket(bktAggRep)
	_ = evb.ForEachBucket(func(name []byte) error {
		batch := string(name)
		if !live[batch] {
			add("aggregation events of batch %s, which is not in the live journal", batch)
			return nil
		}
		var lastSeq uint64
		_ = evb.Bucket(name).ForEach(func(k, v []byte) error {
			seq := binary.BigEndian.Uint64(k)
			lastSeq = seq
			rep.AggEvents++
			if _, ok := moving[batch]; ok {
				return nil
			}
			ev, err := decodeAggEvent(batch, seq, v)
			if err != nil {
				add("%v", err)
				return nil
			}
			h.replay(batch, &ev)
			return nil
		})
		if v := repb.Get(name); len(v) == 8 && binary.BigEndian.Uint64(v) > lastSeq {
			add("batch %s: aggregation events reported up to %d, log ends at %d", batch, binary.BigEndian.Uint64(v), lastSeq)
		}
		return nil
	})
	_ = repb.ForEach(func(k, _ []byte) error {
		if !live[string(k)] {
			add("aggregation reporting cursor of batch %s, which is not in the live journal", k)
		}
		return nil
	})
	h.finish(func(p *aggParent) bool { _, ok := moving[p.batch]; return ok })
}

func short(s []string) string {
	if len(s) > 6 {
		return fmt.Sprintf("%v … (%d)", s[:6], len(s))
	}
	return fmt.Sprint(s)
}
