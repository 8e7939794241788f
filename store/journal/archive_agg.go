package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Archiving a batch's aggregation (see ArchiveBatch): its parents (cases,
// pallets) and event log go into the archive file as parent and aggevent
// lines; in the live journal each parent code leaves a tombstone in the
// parents bucket (the key space of parent codes, apart from unit serials),
// so it is never drawn, imported or aggregated again, and lookups of it
// read the archive.

// aggArchivable says why batch id's aggregation keeps it from being
// archived (nil: it does not): every parent must be closed, unpacked or
// void, and every event of its log reported upstream (ReportAgg).
func aggArchivable(tx *bolt.Tx, id string) error {
	if err := openParentsTx(tx, id); err != nil {
		var op *OpenParentsError
		if errors.As(err, &op) {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return err
	}
	if _, pending, err := aggPendingTx(tx, id); err != nil {
		return err
	} else if pending > 0 {
		return fmt.Errorf("%w: batch %q has %d aggregation event(s) not yet reported upstream", ErrInvalid, id, pending)
	}
	return nil
}

// aggBatchBucket returns batch's nested bucket in top (aggbatch,
// aggevents); nil when there is none.
func aggBatchBucket(tx *bolt.Tx, top []byte, batch string) *bolt.Bucket {
	if t := tx.Bucket(top); t != nil {
		return t.Bucket([]byte(batch))
	}
	return nil
}

// forEachBatchParent calls fn for each parent of batch id, in opening order.
func forEachBatchParent(tx *bolt.Tx, id string, fn func(code string, r *idRec) error) error {
	b := aggBatchBucket(tx, bktAggBatch, id)
	if b == nil {
		return nil
	}
	parb := tx.Bucket(bktParents)
	return b.ForEach(func(_, code []byte) error {
		r, err := decodeID(string(code), parb.Get(code))
		if err != nil {
			return err
		}
		if r.kind != kindParent {
			return fmt.Errorf("%w: batch %q parent index: %s is %s", ErrCorrupt, id, code, r.describe())
		}
		return fn(string(code), &r)
	})
}

// aggPendingTx says whether batch's events are being reported (ReportAgg
// was called) and how many wait to be.
func aggPendingTx(tx *bolt.Tx, batch string) (reporting bool, pending int, err error) {
	rep := tx.Bucket(bktAggRep)
	if rep == nil {
		return false, 0, nil
	}
	var last uint64
	if v := rep.Get([]byte(batch)); v != nil {
		if len(v) != 8 {
			return false, 0, fmt.Errorf("%w: aggregation reporting cursor of batch %q", ErrCorrupt, batch)
		}
		reporting, last = true, binary.BigEndian.Uint64(v)
	}
	if b := aggBatchBucket(tx, bktAggEvents, batch); b != nil {
		c := b.Cursor()
		for k, _ := c.Seek(u64key(last + 1)); k != nil; k, _ = c.Next() {
			pending++
		}
	}
	return reporting, pending, nil
}

// hasAgg reports whether batch has aggregation parents or events.
func hasAgg(tx *bolt.Tx, batch string) bool {
	for _, top := range [][]byte{bktAggBatch, bktAggEvents} {
		if b := aggBatchBucket(tx, top, batch); b != nil {
			if k, _ := b.Cursor().First(); k != nil {
				return true
			}
		}
	}
	return false
}

// writeArchiveAgg writes the batch's parents (opening order) and event log.
func writeArchiveAgg(tx *bolt.Tx, batch string, aw *archiveWriter) error {
	a := &AggTx{tx: tx}
	err := forEachBatchParent(tx, batch, func(code string, r *idRec) error {
		p, err := a.resolve(code, r)
		if err != nil {
			return err
		}
		return aw.emit(archiveLine{Type: lineParent, Parent: &p})
	})
	if err != nil {
		return err
	}
	eb := aggBatchBucket(tx, bktAggEvents, batch)
	if eb == nil {
		return nil
	}
	return eb.ForEach(func(k, v []byte) error {
		ev, err := decodeAggEvent(batch, binary.BigEndian.Uint64(k), v)
		if err != nil {
			return err
		}
		return aw.emit(archiveLine{Type: lineAggEv, AggEvent: &ev})
	})
}

// moveParentsTx moves parents of the archive's batch out of the live
// journal, in opening order, until about max records (a parent and its
// children) are moved: the parent record becomes a tombstone, its child
// index entries and its own (the parent holding it) go, it leaves the
// batch's parent index. It returns the parents moved (0: none left).
func moveParentsTx(tx *bolt.Tx, rec archiveRec, max int) (int, error) {
	idx := aggBatchBucket(tx, bktAggBatch, rec.batch)
	if idx == nil {
		return 0, nil
	}
	_, def, err := batchBucket(tx, rec.batch)
	if err != nil {
		return 0, err
	}
	parb := tx.Bucket(bktParents)
	co := tx.Bucket(bktChildOf)
	type move struct {
		k    []byte
		code string
		r    idRec
	}
	var take []move
	work := 0
	c := idx.Cursor()
	for k, v := c.First(); k != nil && work < max; k, v = c.Next() {
		code := string(v)
		r, err := decodeID(code, parb.Get(v))
		if err != nil {
			return 0, err
		}
		if r.kind != kindParent || r.p.batch != def.idx {
			return 0, fmt.Errorf("%w: batch %q parent index: %s is %s", ErrCorrupt, rec.batch, code, r.describe())
		}
		take = append(take, move{bytes.Clone(k), code, r})
		work += 1 + len(r.p.children)
	}
	for _, m := range take {
		unit := m.r.p.childLevel == UnitLevel
		keys := make([][]byte, 0, len(m.r.p.children)+1)
		for _, ch := range m.r.p.children {
			keys = append(keys, childKey(unit, ch))
		}
		for _, key := range keys {
			in := co.Get(key)
			if in != nil && string(in) != m.code {
				return 0, fmt.Errorf("%w: %s lists child %s, the child index says %s", ErrCorrupt, m.code, key[1:], in)
			}
		}
		keys = append(keys, childKey(false, m.code))
		for _, key := range keys {
			if err := co.Delete(key); err != nil {
				return 0, err
			}
		}
		t := idRec{entry: entry{kind: kindTombstone, pool: m.r.pool}, archive: rec.idx}
		if err := parb.Put([]byte(m.code), encodeID(&t)); err != nil {
			return 0, err
		}
		if err := idx.Delete(m.k); err != nil {
			return 0, err
		}
	}
	return len(take), nil
}

// finishAggTx removes what is left of batch's aggregation once its parents
// are moved out: its (empty) parent index, event log and reporting cursor.
func finishAggTx(tx *bolt.Tx, batch string) error {
	if ab := tx.Bucket(bktAggBatch); ab != nil && ab.Bucket([]byte(batch)) != nil {
		if k, _ := ab.Bucket([]byte(batch)).Cursor().First(); k != nil {
			return fmt.Errorf("%w: batch %q still has aggregation parents", ErrInvalid, batch)
		}
		if err := ab.DeleteBucket([]byte(batch)); err != nil {
			return err
		}
	}
	if eb := tx.Bucket(bktAggEvents); eb != nil && eb.Bucket([]byte(batch)) != nil {
		if err := eb.DeleteBucket([]byte(batch)); err != nil {
			return err
		}
	}
	if rb := tx.Bucket(bktAggRep); rb != nil {
		return rb.Delete([]byte(batch))
	}
	return nil
}

// describeCode says what a code of the parents bucket is, naming the batch
// and archive of an archived parent.
func describeCode(tx *bolt.Tx, r *idRec) string {
	if r.kind != kindTombstone {
		return r.describe()
	}
	a, err := getArchive(tx, r.archive)
	if err != nil {
		return fmt.Sprintf("an archived parent (archive %d)", r.archive)
	}
	return fmt.Sprintf("a parent archived with batch %s in %s", a.batch, a.file)
}

// ---- lookups in archives ----

// archivedCode returns the archive index of an archived parent code (ok
// false: the code is not archived).
func archivedCode(tx *bolt.Tx, code string) (uint32, bool, error) {
	pb := tx.Bucket(bktParents)
	if pb == nil {
		return 0, false, nil
	}
	v := pb.Get([]byte(code))
	if len(v) < 2 || v[1] != kindTombstone {
		return 0, false, nil
	}
	r, err := decodeID(code, v)
	return r.archive, err == nil, err
}

// archivedAgg reads the parent records of archive idx (they precede its
// units); what names the lookup in errors.
func (j *Journal) archivedAgg(idx uint32, what string) (archiveRec, map[string]*Parent, error) {
	var rec archiveRec
	if err := j.view(func(tx *bolt.Tx) error {
		var err error
		rec, err = getArchive(tx, idx)
		return err
	}); err != nil {
		return rec, nil, err
	}
	path, err := j.archivePath(rec, what)
	if err != nil {
		return rec, nil, err
	}
	ps := map[string]*Parent{}
	err = readArchiveFile(path, func(l archiveLine) error {
		switch l.Type {
		case lineHeader, lineAggEv:
			return nil
		case lineParent:
			p := l.Parent
			p.Kind, _, _, _ = SplitCode(p.Code)
			p.Archive = rec.file
			ps[p.Code] = p
			return nil
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return rec, nil, fmt.Errorf("journal: %s: archive %s: %w", what, rec.file, err)
	}
	return rec, ps, nil
}

// archivedParent reads parent code from archive idx.
func (j *Journal) archivedParent(code string, idx uint32) (Parent, error) {
	rec, ps, err := j.archivedAgg(idx, "parent "+code)
	if err != nil {
		return Parent{}, err
	}
	p := ps[code]
	if p == nil {
		return Parent{}, fmt.Errorf("%w: parent %s is not in its archive %s", ErrCorrupt, code, rec.file)
	}
	return *p, nil
}

// archivedContents builds the tree of parent code from archive idx: its
// parent records, then the units they hold (a second read, stopping once
// every one is found).
func (j *Journal) archivedContents(code string, idx uint32) (Tree, error) {
	rec, ps, err := j.archivedAgg(idx, "parent "+code)
	if err != nil {
		return Tree{}, err
	}
	want := map[string]*Unit{}
	var build func(code string, depth int) (Tree, error)
	build = func(code string, depth int) (Tree, error) {
		p := ps[code]
		switch {
		case p == nil:
			return Tree{}, fmt.Errorf("%w: parent %s is not in its archive %s", ErrCorrupt, code, rec.file)
		case depth > 16:
			return Tree{}, fmt.Errorf("%w: parent tree of %s deeper than 16 in %s", ErrCorrupt, code, rec.file)
		}
		t := Tree{Parent: *p}
		if p.ChildLevel == UnitLevel {
			for _, s := range p.Children {
				want[s] = nil
			}
			return t, nil
		}
		for _, c := range p.Children {
			ct, err := build(c, depth+1)
			if err != nil {
				return Tree{}, err
			}
			t.Parents = append(t.Parents, ct)
		}
		return t, nil
	}
	t, err := build(code, 0)
	if err != nil || len(want) == 0 {
		return t, err
	}
	path, err := j.archivePath(rec, "parent "+code)
	if err != nil {
		return Tree{}, err
	}
	found := 0
	err = readArchiveFile(path, func(l archiveLine) error {
		if l.Type != lineUnit {
			return nil
		}
		if u, ok := want[l.Unit.Serial]; ok && u == nil {
			l.Unit.Archive = rec.file
			want[l.Unit.Serial] = l.Unit
			if found++; found == len(want) {
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return Tree{}, fmt.Errorf("journal: parent %s: archive %s: %w", code, rec.file, err)
	}
	var fill func(t *Tree) error
	fill = func(t *Tree) error {
		for _, s := range t.Children {
			if t.ChildLevel != UnitLevel {
				break
			}
			u := want[s]
			if u == nil {
				return fmt.Errorf("%w: unit %s of %s is not in the archive %s", ErrCorrupt, s, t.Code, rec.file)
			}
			t.Units = append(t.Units, *u)
		}
		for i := range t.Parents {
			if err := fill(&t.Parents[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return t, fill(&t)
}

// archivedChain returns the parents that held an archived unit, innermost
// first, from its archive.
func (j *Journal) archivedChain(serial string, idx uint32) ([]Parent, error) {
	_, ps, err := j.archivedAgg(idx, "serial "+serial)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	var in string
	for code, p := range ps {
		if p.ChildLevel == UnitLevel && slices.Contains(p.Children, serial) {
			in = code
			break
		}
	}
	var out []Parent
	for i := 0; in != "" && i < 16; i++ {
		p := ps[in]
		if p == nil {
			break
		}
		out = append(out, *p)
		in = p.In
	}
	return out, nil
}

// ---- verifying an archive's aggregation ----

// archiveHierarchy collects an archive's aggregation while VerifyArchive
// reads the file, then checks it with the live journal's rules
// (aggHierarchy) against the archive's own unit records.
type archiveHierarchy struct {
	parents map[string]*Parent
	order   []string // file order
	events  []AggEvent
	units   map[string]archivedUnitState
}

type archivedUnitState struct {
	batch string
	state State
}

func newArchiveHierarchy() *archiveHierarchy {
	return &archiveHierarchy{parents: map[string]*Parent{}, units: map[string]archivedUnitState{}}
}

func (ah *archiveHierarchy) parent(p *Parent, add func(string, ...any)) {
	if _, ok := ah.parents[p.Code]; ok {
		add("parent %s: twice in the archive", p.Code)
		return
	}
	ah.parents[p.Code] = p
	ah.order = append(ah.order, p.Code)
}

// check runs the hierarchy checks for the archive of batch.
func (ah *archiveHierarchy) check(batch string, add func(string, ...any)) {
	h := &aggHierarchy{add: add, parents: map[string]*aggParent{}, index: "its first parent in the archive is"}
	unitIn := map[string]string{} // unit -> first parent listing it
	for _, code := range ah.order {
		p := ah.parents[code]
		if _, _, _, err := SplitCode(code); err != nil {
			add("parent %s: %v", code, err)
		}
		if p.Batch != batch {
			add("parent %s: batch %s in the archive of batch %s", code, p.Batch, batch)
		}
		if p.State == ParentOpen {
			add("parent %s: still open in a closed batch", code)
		}
		packed := p.Packed
		if packed < 0 || packed > len(p.Children) {
			add("parent %s: packed %d of %d children", code, p.Packed, len(p.Children))
			packed = max(0, min(packed, len(p.Children)))
		}
		h.parents[code] = &aggParent{batch: p.Batch, level: p.Level, childLevel: p.ChildLevel, capacity: p.Capacity,
			state: p.State, partial: p.Partial, packed: packed, children: p.Children, steps: p.History, packedBy: map[string]bool{}}
		if p.ChildLevel == UnitLevel {
			for _, c := range p.Children {
				if _, ok := unitIn[c]; !ok {
					unitIn[c] = code
				}
			}
		}
		if p.In != "" {
			if q := ah.parents[p.In]; q == nil || !slices.Contains(q.Children, code) {
				add("parent %s: in %s, which does not hold it", code, p.In)
			}
		}
	}
	h.in = func(unit bool, child string) string {
		if unit {
			return unitIn[child]
		}
		if p := ah.parents[child]; p != nil {
			return p.In
		}
		return ""
	}
	h.unit = func(serial string) (string, State, string) {
		u, ok := ah.units[serial]
		if !ok {
			return "", 0, "is not a unit of the archive"
		}
		return u.batch, u.state, ""
	}
	h.notParent = func(string, *aggParent) string { return "is not a parent in the archive" }
	for _, code := range ah.order {
		h.checkParent(code, h.parents[code])
	}
	var last uint64
	for i := range ah.events {
		ev := &ah.events[i]
		if ev.Batch != batch {
			add("aggregation event %s/%d in the archive of batch %s", ev.Batch, ev.Seq, batch)
		}
		if ev.Seq <= last {
			add("aggregation event %s/%d follows %d (log out of order)", ev.Batch, ev.Seq, last)
		}
		last = ev.Seq
		h.replay(batch, ev)
	}
	h.finish(nil)
}
