package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Aggregation steps (see agg_types.go). Rules, enforced here for every
// caller (stations, rework, supervisors):
//
//   - A child is in at most one parent at a time (the childof index is the
//     one place that says where it is; Add refuses a child found there).
//   - A unit child is Commissioned and of the parent's batch; a parent
//     child is closed, of the parent's level below and of the same batch.
//   - A parent holds at most Capacity children; Close needs it full, or a
//     person's partial close (0 < children < Capacity).
//   - A unit leaving Commissioned (QA sample, manual reject) is taken out of
//     its parent in the same transaction (Apply), and a closed parent that
//     loses a child reopens.
//   - Every step that upstream must hear of is logged in the batch's event
//     log in the same transaction (commission of the parent's code at its
//     first close, pack, unpack, decommission): ReportAgg turns the log
//     into outbox messages, in order, once the batch's own commissioning
//     documents have gone out.

// AggTx runs aggregation steps inside one journal transaction
// (Journal.Aggregate). Its methods return *AggError (wrapping
// ErrAggRefused) for a refused step; the caller then returns the error
// and nothing of the transaction is written.
type AggTx struct {
	tx  *bolt.Tx
	now time.Time
}

// Aggregate runs fn in one durable, group-committed transaction: every step
// fn takes is written, with its events, or none (fn returns an error). fn
// may be run more than once (when another request of the same group fails
// the group is retried): it must derive everything from a and reset any
// results it hands out.
func (j *Journal) Aggregate(ctx context.Context, fn func(a *AggTx) error) error {
	now := j.now()
	return j.update(ctx, func(tx *bolt.Tx) error { return fn(&AggTx{tx: tx, now: now}) })
}

// ---- one-step helpers ----

// OpenParent opens a parent: draws its code (durable before it returns, so
// before any label carrying it is printed) and returns it.
func (j *Journal) OpenParent(ctx context.Context, spec ParentSpec, by Actor) (Parent, error) {
	var p Parent
	err := j.Aggregate(ctx, func(a *AggTx) error {
		var err error
		p, err = a.Open(spec, by)
		return err
	})
	return p, err
}

// AddChildren adds children to an open parent (all or none).
func (j *Journal) AddChildren(ctx context.Context, code string, children []string, by Actor) error {
	return j.Aggregate(ctx, func(a *AggTx) error { return a.Add(code, children, by) })
}

// RemoveChildren takes children out of a parent (a closed parent reopens).
func (j *Journal) RemoveChildren(ctx context.Context, code string, children []string, reason string, by Actor) error {
	return j.Aggregate(ctx, func(a *AggTx) error { return a.Remove(code, children, reason, by) })
}

// CloseParent closes an open parent: full, or partial by a person.
func (j *Journal) CloseParent(ctx context.Context, code string, partial bool, reason string, by Actor) error {
	return j.Aggregate(ctx, func(a *AggTx) error { return a.Close(code, partial, reason, by) })
}

// Unpack empties a parent and retires its code (see AggTx.Unpack).
func (j *Journal) Unpack(ctx context.Context, code, reason string, by Actor) error {
	return j.Aggregate(ctx, func(a *AggTx) error { return a.Unpack(code, reason, by) })
}

// ---- steps ----

func refused(code, format string, args ...any) *AggError {
	return &AggError{Parent: code, Msg: fmt.Sprintf(format, args...)}
}

// Open draws the next code of spec's stream and opens a parent with it.
func (a *AggTx) Open(spec ParentSpec, by Actor) (Parent, error) {
	if spec.Level == "" || spec.ChildLevel == "" || spec.Level == spec.ChildLevel || spec.Level == UnitLevel {
		return Parent{}, fmt.Errorf("%w: parent level %q of %q", ErrInvalid, spec.Level, spec.ChildLevel)
	}
	if spec.Capacity <= 0 {
		return Parent{}, fmt.Errorf("%w: %s capacity %d", ErrInvalid, spec.Level, spec.Capacity)
	}
	if err := checkStream(spec.Kind, spec.GTIN); err != nil {
		return Parent{}, err
	}
	_, def, err := batchBucket(a.tx, spec.Batch)
	if err != nil {
		return Parent{}, err
	}
	if batchLocked(a.tx, spec.Batch) != nil {
		return Parent{}, refused("(new "+spec.Level+")", "batch %s is archived (or being archived): its aggregation is closed", spec.Batch)
	}
	code, pool, err := drawIDTx(a.tx, spec.Kind, spec.GTIN)
	if err != nil {
		return Parent{}, err
	}
	by = by.orSystem()
	r := idRec{entry: entry{kind: kindParent, pool: pool}, p: parentRec{batch: def.idx, level: spec.Level, childLevel: spec.ChildLevel,
		capacity: spec.Capacity, station: spec.Station, state: ParentOpen,
		steps: []ParentStep{{Op: OpOpen, At: a.now, Actor: by}}}}
	if err := a.put(code, &r); err != nil {
		return Parent{}, err
	}
	bb, err := a.tx.Bucket(bktAggBatch).CreateBucketIfNotExists([]byte(spec.Batch))
	if err != nil {
		return Parent{}, err
	}
	seq, err := bb.NextSequence()
	if err != nil {
		return Parent{}, err
	}
	if err := bb.Put(u64key(seq), []byte(code)); err != nil {
		return Parent{}, err
	}
	if err := a.audit(by, "aggregation.open", "", code+": "+spec.Level+" of batch "+spec.Batch); err != nil {
		return Parent{}, err
	}
	return a.Parent(code)
}

// Add puts children into an open parent. Every child is checked (see the
// rules above); any refused child refuses the whole step, naming each.
func (a *AggTx) Add(code string, children []string, by Actor) error {
	r, err := a.step(code)
	if err != nil {
		return err
	}
	p := &r.p
	if p.state != ParentOpen {
		return refused(code, "is %s; only an open %s takes children", p.state, p.level)
	}
	if len(children) == 0 {
		return nil
	}
	ae := &AggError{Parent: code}
	seen := make(map[string]bool, len(children))
	for _, c := range children {
		if seen[c] {
			ae.Children = append(ae.Children, ChildProblem{c, "scanned twice in this step"})
			continue
		}
		seen[c] = true
		if prob := a.checkChild(code, p, c); prob != "" {
			ae.Children = append(ae.Children, ChildProblem{c, prob})
		}
	}
	if len(ae.Children) > 0 {
		return ae
	}
	if n := len(p.children) + len(children); n > p.capacity {
		return refused(code, "would hold %d, more than its capacity %d", n, p.capacity)
	}
	co := a.tx.Bucket(bktChildOf)
	unit := p.childLevel == UnitLevel
	for _, c := range children {
		if err := co.Put(childKey(unit, c), []byte(code)); err != nil {
			return err
		}
	}
	p.children = append(p.children, children...)
	by = by.orSystem()
	p.steps = append(p.steps, ParentStep{Op: OpAdd, At: a.now, Actor: by, N: len(children)})
	if err := a.put(code, &r); err != nil {
		return err
	}
	return a.audit(by, "aggregation.add", "", fmt.Sprintf("%s: +%d (%d of %d)", code, len(children), len(p.children), p.capacity))
}

// CheckChild says why child may not go into the open parent code ("" when
// it may), without changing anything.
func (a *AggTx) CheckChild(code, child string) (string, error) {
	r, err := a.parent(code)
	if err != nil {
		return "", err
	}
	if r.p.state != ParentOpen {
		return fmt.Sprintf("%s %s is %s", r.p.level, code, r.p.state), nil
	}
	if len(r.p.children) >= r.p.capacity {
		return fmt.Sprintf("%s %s is full (%d)", r.p.level, code, r.p.capacity), nil
	}
	return a.checkChild(code, &r.p, child), nil
}

func childKey(unit bool, child string) []byte {
	if unit {
		return append([]byte{'U'}, child...)
	}
	return append([]byte{'P'}, child...)
}

// checkChild returns why child may not go into parent p ("" = it may).
func (a *AggTx) checkChild(code string, p *parentRec, child string) string {
	unit := p.childLevel == UnitLevel
	if in := a.tx.Bucket(bktChildOf).Get(childKey(unit, child)); in != nil {
		if string(in) == code {
			return "already in this " + p.level
		}
		return "already in " + string(in)
	}
	if unit {
		v := a.tx.Bucket(bktSerials).Get([]byte(child))
		if v == nil {
			if a.tx.Bucket(bktArchived).Get([]byte(child)) != nil {
				return "is an archived unit: its record is closed"
			}
			return "not a serial of this line (foreign code)"
		}
		r, err := decodeSerial(child, v)
		if err != nil {
			return err.Error()
		}
		if r.kind != kindUnit {
			return "serial is " + r.describe() + ", not a unit"
		}
		if r.unitData.batch != p.batch {
			return "belongs to batch " + a.batchName(r.unitData.batch) + ", not " + a.batchName(p.batch)
		}
		if r.unitData.state != Commissioned {
			return "is " + r.unitData.state.String() + ", not commissioned"
		}
		return ""
	}
	if child == code {
		return "cannot hold itself"
	}
	v := a.tx.Bucket(bktParents).Get([]byte(child))
	if v == nil {
		return "not a code of this line (foreign code)"
	}
	r, err := decodeID(child, v)
	if err != nil {
		return err.Error()
	}
	if r.kind != kindParent {
		return "code is " + describeCode(a.tx, &r)
	}
	switch {
	case r.p.level != p.childLevel:
		return "is a " + r.p.level + ", a " + p.level + " holds " + p.childLevel + "s"
	case r.p.batch != p.batch:
		return "belongs to batch " + a.batchName(r.p.batch) + ", not " + a.batchName(p.batch)
	case r.p.state != ParentClosed:
		return "is " + r.p.state.String() + ", not closed"
	}
	return ""
}

// Remove takes children out of an open or closed parent. Children already
// packed are reported unpacked; a closed parent reopens (it must be closed
// again, full or partial).
func (a *AggTx) Remove(code string, children []string, reason string, by Actor) error {
	r, err := a.step(code)
	if err != nil {
		return err
	}
	p := &r.p
	if p.state != ParentOpen && p.state != ParentClosed {
		return refused(code, "is %s; nothing to remove", p.state)
	}
	pos := make(map[string]int, len(p.children))
	for i, c := range p.children {
		pos[c] = i
	}
	ae := &AggError{Parent: code}
	drop := map[string]bool{}
	for _, c := range children {
		if _, ok := pos[c]; !ok || drop[c] {
			ae.Children = append(ae.Children, ChildProblem{c, "not in this " + p.level})
			continue
		}
		drop[c] = true
	}
	if len(ae.Children) > 0 {
		return ae
	}
	if len(drop) == 0 {
		return nil
	}
	co := a.tx.Bucket(bktChildOf)
	unit := p.childLevel == UnitLevel
	var kept, unpacked []string
	packed := 0
	for i, c := range p.children {
		if !drop[c] {
			kept = append(kept, c)
			if i < p.packed {
				packed++
			}
			continue
		}
		if i < p.packed {
			unpacked = append(unpacked, c)
		}
		if err := co.Delete(childKey(unit, c)); err != nil {
			return err
		}
	}
	by = by.orSystem()
	if len(unpacked) > 0 {
		if err := a.event(p, AggEvent{Op: AggUnpack, Parent: code, Level: p.level, Units: unit, Children: unpacked, Actor: by, Reason: reason}); err != nil {
			return err
		}
	}
	p.children, p.packed = kept, packed
	if p.state == ParentClosed {
		p.state, p.partial = ParentOpen, false
	}
	p.steps = append(p.steps, ParentStep{Op: OpRemove, At: a.now, Actor: by, N: len(drop), Reason: reason})
	if err := a.put(code, &r); err != nil {
		return err
	}
	return a.audit(by, "aggregation.remove", reason, fmt.Sprintf("%s: -%d (%s)", code, len(drop), strings.Join(slices.Sorted(mapKeys(drop)), " ")))
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Close closes an open parent. Full: exactly Capacity children. Partial
// (fewer, at least one) only by a person (a supervisor's e-signed close at
// batch end). The first close commissions the parent's code; every close
// packs the children added since the last one.
func (a *AggTx) Close(code string, partial bool, reason string, by Actor) error {
	r, err := a.step(code)
	if err != nil {
		return err
	}
	p := &r.p
	if p.state != ParentOpen {
		return refused(code, "is %s; only an open %s can be closed", p.state, p.level)
	}
	n := len(p.children)
	switch {
	case n == p.capacity:
		partial = false
	case !partial:
		return refused(code, "holds %d of %d: not full (closing it partial needs a supervisor's signature)", n, p.capacity)
	case n == 0:
		return refused(code, "is empty")
	case by.IsSystem():
		return refused(code, "holds %d of %d: a partial close needs a person (supervisor), not %s", n, p.capacity, by.orSystem())
	}
	by = by.orSystem()
	unit := p.childLevel == UnitLevel
	if !hasOp(p.steps, OpClose) {
		if err := a.event(p, AggEvent{Op: AggCommission, Parent: code, Level: p.level, Units: unit, Actor: by, Reason: reason}); err != nil {
			return err
		}
	}
	if pending := p.children[p.packed:]; len(pending) > 0 {
		if err := a.event(p, AggEvent{Op: AggPack, Parent: code, Level: p.level, Units: unit, Children: slices.Clone(pending), Actor: by, Reason: reason}); err != nil {
			return err
		}
	}
	p.packed, p.state, p.partial = n, ParentClosed, partial
	p.steps = append(p.steps, ParentStep{Op: OpClose, At: a.now, Actor: by, N: n, Reason: reason})
	if err := a.put(code, &r); err != nil {
		return err
	}
	what := "full"
	if partial {
		what = "partial"
	}
	return a.audit(by, "aggregation.close", reason, fmt.Sprintf("%s: %s closed %s with %d of %d", code, p.level, what, n, p.capacity))
}

func hasOp(steps []ParentStep, op ParentOp) bool {
	for _, s := range steps {
		if s.Op == op {
			return true
		}
	}
	return false
}

// Unpack empties an open or closed parent and retires its code: every
// child is free again (packed ones reported unpacked), the code is
// decommissioned when it was ever commissioned (else scrapped: state
// void), and the parent leaves the parent holding it (which reopens).
func (a *AggTx) Unpack(code, reason string, by Actor) error {
	r, err := a.step(code)
	if err != nil {
		return err
	}
	p := &r.p
	if p.state != ParentOpen && p.state != ParentClosed {
		return refused(code, "is %s already", p.state)
	}
	by = by.orSystem()
	if in := a.tx.Bucket(bktChildOf).Get(childKey(false, code)); in != nil {
		if err := a.Remove(string(in), []string{code}, reason, by); err != nil {
			return err
		}
	}
	unit := p.childLevel == UnitLevel
	co := a.tx.Bucket(bktChildOf)
	for _, c := range p.children {
		if err := co.Delete(childKey(unit, c)); err != nil {
			return err
		}
	}
	if p.packed > 0 {
		if err := a.event(p, AggEvent{Op: AggUnpack, Parent: code, Level: p.level, Units: unit, Children: slices.Clone(p.children[:p.packed]), Actor: by, Reason: reason}); err != nil {
			return err
		}
	}
	op, st, action := OpVoid, ParentVoid, "aggregation.void"
	if hasOp(p.steps, OpClose) {
		if err := a.event(p, AggEvent{Op: AggDecommission, Parent: code, Level: p.level, Units: unit, Actor: by, Reason: reason}); err != nil {
			return err
		}
		op, st, action = OpUnpack, ParentUnpacked, "aggregation.unpack"
	}
	n := len(p.children)
	p.children, p.packed, p.state, p.partial = nil, 0, st, false
	p.steps = append(p.steps, ParentStep{Op: op, At: a.now, Actor: by, N: n, Reason: reason})
	if err := a.put(code, &r); err != nil {
		return err
	}
	return a.audit(by, action, reason, fmt.Sprintf("%s: %s %s, %d children released", code, p.level, st, n))
}

// Void abandons an open parent that was never closed (its label failed,
// the case went to rework): children released, code scrapped.
func (a *AggTx) Void(code, reason string, by Actor) error {
	r, err := a.parent(code)
	if err != nil {
		return err
	}
	if r.p.state != ParentOpen || hasOp(r.p.steps, OpClose) {
		return refused(code, "is %s and was closed before: unpack it instead", r.p.state)
	}
	return a.Unpack(code, reason, by)
}

// Parent reads a parent inside the transaction.
func (a *AggTx) Parent(code string) (Parent, error) {
	r, err := a.parent(code)
	if err != nil {
		return Parent{}, err
	}
	return a.resolve(code, &r)
}

// CheckCandidate says why child may not be aggregated now at childLevel
// for batch ("" when it may): the checks Add makes, before any parent is
// open (a station's first scan).
func (a *AggTx) CheckCandidate(batch, childLevel, child string) (string, error) {
	_, def, err := batchBucket(a.tx, batch)
	if err != nil {
		return "", err
	}
	p := parentRec{batch: def.idx, level: "parent", childLevel: childLevel}
	return a.checkChild("", &p, child), nil
}

// ---- internals ----

func (a *AggTx) parent(code string) (idRec, error) {
	v := a.tx.Bucket(bktParents).Get([]byte(code))
	if v == nil {
		return idRec{}, fmt.Errorf("%w: parent %s", ErrNotFound, code)
	}
	r, err := decodeID(code, v)
	if err != nil {
		return idRec{}, err
	}
	if r.kind != kindParent {
		return idRec{}, fmt.Errorf("%w: code %s is %s, not a parent of the live journal", ErrNotFound, code, describeCode(a.tx, &r))
	}
	return r, nil
}

// step reads a parent for a step that changes it: refused when its batch
// is archived or being archived (its record is closed).
func (a *AggTx) step(code string) (idRec, error) {
	r, err := a.parent(code)
	if err != nil {
		return r, err
	}
	if batch := a.batchName(r.p.batch); batchLocked(a.tx, batch) != nil {
		return r, refused(code, "batch %s is archived (or being archived): its aggregation is closed", batch)
	}
	return r, nil
}

func (a *AggTx) put(code string, r *idRec) error {
	return a.tx.Bucket(bktParents).Put([]byte(code), encodeID(r))
}

func (a *AggTx) batchName(idx uint32) string {
	if v := a.tx.Bucket(bktBatchIdx).Get(u32key(idx)); v != nil {
		return string(v)
	}
	return fmt.Sprintf("#%d", idx)
}

// event appends an event to the batch's log.
func (a *AggTx) event(p *parentRec, ev AggEvent) error {
	batch := a.batchName(p.batch)
	b, err := a.tx.Bucket(bktAggEvents).CreateBucketIfNotExists([]byte(batch))
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	ev.At = a.now
	return b.Put(u64key(seq), encodeAggEvent(&ev))
}

func (a *AggTx) audit(by Actor, action, reason, after string) error {
	if by.IsSystem() {
		return nil
	}
	return appendAudit(a.tx, a.now, AuditEntry{Who: by.User, Role: by.Role, Action: action, Reason: reason, After: after})
}

func (a *AggTx) resolve(code string, r *idRec) (Parent, error) {
	p := &r.p
	kind, _, _, err := SplitCode(code)
	if err != nil {
		return Parent{}, err
	}
	out := Parent{Code: code, Kind: kind, Batch: a.batchName(p.batch), Level: p.level, ChildLevel: p.childLevel,
		Capacity: p.capacity, Station: p.station, State: p.state, Partial: p.partial,
		Children: slices.Clone(p.children), Packed: p.packed, History: slices.Clone(p.steps)}
	if out.Children == nil {
		out.Children = []string{}
	}
	if v := a.tx.Bucket(bktIDPoolIdx).Get(u32key(r.pool)); v != nil {
		out.Pool = string(v)
	}
	if in := a.tx.Bucket(bktChildOf).Get(childKey(false, code)); in != nil {
		out.In = string(in)
	}
	return out, nil
}

// removeUnitTx takes a unit that leaves Commissioned out of its parent (if
// any), in the transaction of the unit step (applyTx).
func removeUnitTx(tx *bolt.Tx, now time.Time, serial string, to State, by Actor) error {
	co := tx.Bucket(bktChildOf)
	if co == nil {
		return nil
	}
	in := co.Get(childKey(true, serial))
	if in == nil {
		return nil
	}
	a := &AggTx{tx: tx, now: now}
	return a.Remove(string(in), []string{serial}, "unit "+to.String()+": taken out automatically", by)
}

// ---- reporting ----

// ReportAgg turns the batch's aggregation events not yet reported into
// outbox messages (build makes them from the events, in seq order; it runs
// inside the transaction and may run more than once) and marks them
// reported, in ONE transaction. From the first call on the batch is
// "reporting": the caller calls ReportAgg again after each later step. It
// returns the number of events reported.
func (j *Journal) ReportAgg(ctx context.Context, batchID string, build func(events []AggEvent) ([]OutboxEntry, error)) (int, error) {
	n := 0
	at := j.now()
	err := j.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		if _, _, err := batchBucket(tx, batchID); err != nil {
			return err
		}
		rep := tx.Bucket(bktAggRep)
		var last uint64
		if v := rep.Get([]byte(batchID)); len(v) == 8 {
			last = binary.BigEndian.Uint64(v)
		}
		var evs []AggEvent
		if b := tx.Bucket(bktAggEvents).Bucket([]byte(batchID)); b != nil {
			c := b.Cursor()
			for k, v := c.Seek(u64key(last + 1)); k != nil; k, v = c.Next() {
				ev, err := decodeAggEvent(batchID, binary.BigEndian.Uint64(k), v)
				if err != nil {
					return err
				}
				evs = append(evs, ev)
			}
		}
		if len(evs) > 0 {
			items, err := build(evs)
			if err != nil {
				return fmt.Errorf("aggregation report of batch %s: %w", batchID, err)
			}
			for _, it := range items {
				if it.Kind == "" {
					return fmt.Errorf("%w: outbox kind is empty", ErrInvalid)
				}
				if _, err := outboxPutTx(tx, it.Kind, it.Payload, at, batchID); err != nil {
					return err
				}
			}
			last = evs[len(evs)-1].Seq
			n = len(evs)
		}
		return rep.Put([]byte(batchID), u64key(last))
	})
	return n, err
}

// AggReporting reports whether the batch's aggregation events are being
// reported (ReportAgg was called) and how many wait to be.
func (j *Journal) AggReporting(batchID string) (reporting bool, pending int, err error) {
	err = j.view(func(tx *bolt.Tx) error {
		reporting, pending, err = aggPendingTx(tx, batchID)
		return err
	})
	return reporting, pending, err
}

// AggEvents returns the batch's aggregation event log, in order.
func (j *Journal) AggEvents(batchID string) ([]AggEvent, error) {
	var out []AggEvent
	err := j.view(func(tx *bolt.Tx) error {
		b := aggBatchBucket(tx, bktAggEvents, batchID)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			ev, err := decodeAggEvent(batchID, binary.BigEndian.Uint64(k), v)
			if err == nil {
				out = append(out, ev)
			}
			return err
		})
	})
	return out, err
}

// ---- lookups ----

// Parent returns a parent by code. The parent of an archived batch is read
// from its archive file in Options.ArchiveDir (Parent.Archive names it);
// without the folder, or once the file is deleted, ErrNotFound names the
// archive.
func (j *Journal) Parent(code string) (Parent, error) {
	var p Parent
	var arch uint32
	archived := false
	err := j.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bktParents) == nil {
			return fmt.Errorf("%w: parent %s (journal without aggregation)", ErrNotFound, code)
		}
		var err error
		if arch, archived, err = archivedCode(tx, code); err != nil || archived {
			return err
		}
		p, err = (&AggTx{tx: tx}).Parent(code)
		return err
	})
	if err == nil && archived {
		return j.archivedParent(code, arch)
	}
	return p, err
}

// CheckChild says why child may not go into the open parent code now (""
// when it may).
func (j *Journal) CheckChild(code, child string) (string, error) {
	var prob string
	err := j.view(func(tx *bolt.Tx) error {
		var err error
		prob, err = (&AggTx{tx: tx}).CheckChild(code, child)
		return err
	})
	return prob, err
}

// CheckCandidate says why child may not be aggregated at childLevel for
// batch now ("" when it may).
func (j *Journal) CheckCandidate(batch, childLevel, child string) (string, error) {
	var prob string
	err := j.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bktChildOf) == nil {
			return fmt.Errorf("%w: journal without aggregation", ErrNotFound)
		}
		var err error
		prob, err = (&AggTx{tx: tx}).CheckCandidate(batch, childLevel, child)
		return err
	})
	return prob, err
}

// ParentOf returns the code of the parent holding child ("" when none); a
// unit child is named by its serial (unit true), a parent by its code.
func (j *Journal) ParentOf(child string, unit bool) (string, error) {
	var in string
	err := j.view(func(tx *bolt.Tx) error {
		if co := tx.Bucket(bktChildOf); co != nil {
			in = string(co.Get(childKey(unit, child)))
		}
		return nil
	})
	return in, err
}

// Chain returns the parents holding a unit, innermost first (case, then
// pallet …); empty when it is in none. For an archived unit they are read
// from its archive (as Unit reads the unit).
func (j *Journal) Chain(serial string) ([]Parent, error) {
	var out []Parent
	var arch *tombstone
	err := j.view(func(tx *bolt.Tx) error {
		co := tx.Bucket(bktChildOf)
		if co == nil {
			return nil
		}
		if v := tx.Bucket(bktArchived).Get([]byte(serial)); v != nil && tx.Bucket(bktSerials).Get([]byte(serial)) == nil {
			t, err := decodeTombstone(serial, v)
			arch = &t
			return err
		}
		a := &AggTx{tx: tx}
		key := childKey(true, serial)
		for range 16 {
			in := co.Get(key)
			if in == nil {
				return nil
			}
			p, err := a.Parent(string(in))
			if err != nil {
				return err
			}
			out = append(out, p)
			key = childKey(false, p.Code)
		}
		return fmt.Errorf("%w: parent chain of %s deeper than 16", ErrCorrupt, serial)
	})
	if err == nil && arch != nil {
		return j.archivedChain(serial, arch.archive)
	}
	return out, err
}

// Tree is a parent with its contents down to the units.
type Tree struct {
	Parent
	Parents []Tree `json:"parents,omitempty"` // child parents (a pallet's cases)
	Units   []Unit `json:"units,omitempty"`   // child units (a case's packs)
}

// UnitCount is the number of units in the tree.
func (t Tree) UnitCount() int {
	n := len(t.Units)
	for _, c := range t.Parents {
		n += c.UnitCount()
	}
	return n
}

// Contents returns a parent with everything in it down to the units (the
// recall question: what is on this pallet?), in one read transaction; an
// archived parent's from its archive file (see Parent).
func (j *Journal) Contents(code string) (Tree, error) {
	var t Tree
	var arch uint32
	archived := false
	err := j.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bktParents) == nil {
			return fmt.Errorf("%w: parent %s (journal without aggregation)", ErrNotFound, code)
		}
		var err error
		if arch, archived, err = archivedCode(tx, code); err != nil || archived {
			return err
		}
		t, err = contentsTx(&AggTx{tx: tx}, newResolver(tx), code, 0)
		return err
	})
	if err == nil && archived {
		return j.archivedContents(code, arch)
	}
	return t, err
}

func contentsTx(a *AggTx, res *resolver, code string, depth int) (Tree, error) {
	if depth > 16 {
		return Tree{}, fmt.Errorf("%w: parent tree of %s deeper than 16", ErrCorrupt, code)
	}
	p, err := a.Parent(code)
	if err != nil {
		return Tree{}, err
	}
	t := Tree{Parent: p}
	if p.ChildLevel == UnitLevel {
		ser := a.tx.Bucket(bktSerials)
		for _, s := range p.Children {
			r, err := decodeSerial(s, ser.Get([]byte(s)))
			if err != nil {
				return Tree{}, err
			}
			if r.kind != kindUnit {
				return Tree{}, fmt.Errorf("%w: %s in %s is %s", ErrCorrupt, s, code, r.describe())
			}
			u, err := res.unit(s, &r)
			if err != nil {
				return Tree{}, err
			}
			t.Units = append(t.Units, u)
		}
		return t, nil
	}
	for _, c := range p.Children {
		ct, err := contentsTx(a, res, c, depth+1)
		if err != nil {
			return Tree{}, err
		}
		t.Parents = append(t.Parents, ct)
	}
	return t, nil
}

// Parents calls fn for each parent of the batch in the order they were
// opened (read first, so fn may call the journal).
func (j *Journal) Parents(batchID string, fn func(Parent) error) error {
	var all []Parent
	err := j.view(func(tx *bolt.Tx) error {
		a := &AggTx{tx: tx}
		return forEachBatchParent(tx, batchID, func(code string, r *idRec) error {
			p, err := a.resolve(code, r)
			if err == nil {
				all = append(all, p)
			}
			return err
		})
	})
	if err != nil {
		return err
	}
	for _, p := range all {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// OpenParentsError says that a batch still has aggregation parents open
// (AggOpen): its text names the first five ("case 00306… (3 of 4)") and
// what to do.
type OpenParentsError struct {
	Batch string
	Open  []string // "level code (children of capacity)", opening order
}

func (e *OpenParentsError) Error() string {
	list, n := e.Open, len(e.Open)
	more := ""
	if n > 5 {
		list, more = list[:5], fmt.Sprintf(" … and %d more", n-5)
	}
	return fmt.Sprintf("batch %q has %d aggregation parent(s) still open: %s%s; close (or unpack) them first",
		e.Batch, n, strings.Join(list, ", "), more)
}

// openParentsTx returns an *OpenParentsError when batch id has parents
// still open.
func openParentsTx(tx *bolt.Tx, id string) error {
	var open []string
	err := forEachBatchParent(tx, id, func(code string, r *idRec) error {
		if r.p.state == ParentOpen {
			open = append(open, fmt.Sprintf("%s %s (%d of %d)", r.p.level, code, len(r.p.children), r.p.capacity))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(open) > 0 {
		return &OpenParentsError{Batch: id, Open: open}
	}
	return nil
}

// AggOpen says whether batch id's aggregation still has parents open
// (cases, pallets not yet closed, unpacked or void): nil when none (or the
// batch never aggregated), an *OpenParentsError naming them, or the error
// reading the journal.
func (j *Journal) AggOpen(batchID string) error {
	var open error
	err := j.view(func(tx *bolt.Tx) error {
		open = openParentsTx(tx, batchID)
		var op *OpenParentsError
		if errors.As(open, &op) {
			return nil
		}
		return open
	})
	if err != nil {
		return err
	}
	return open
}

// AggOpenParents returns, for each batch of the live journal with
// aggregation parents still open, the *OpenParentsError naming them (as
// AggOpen would), by batch id.
func (j *Journal) AggOpenParents() ([]*OpenParentsError, error) {
	var open []*OpenParentsError
	err := j.view(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bktAggBatch)
		if ab == nil {
			return nil
		}
		return ab.ForEachBucket(func(name []byte) error {
			err := openParentsTx(tx, string(name))
			var op *OpenParentsError
			if errors.As(err, &op) {
				open = append(open, op)
				return nil
			}
			return err
		})
	})
	return open, err
}

// Orphans returns the batch's commissioned units that are in no parent,
// in draw order, and how many commissioned units are in one.
func (j *Journal) Orphans(batchID string) (orphans []string, aggregated int, err error) {
	err = j.view(func(tx *bolt.Tx) error {
		b, _, err := batchBucket(tx, batchID)
		if err != nil {
			return err
		}
		co := tx.Bucket(bktChildOf)
		ser := tx.Bucket(bktSerials)
		return b.Bucket(bktUnits).ForEach(func(_, serial []byte) error {
			r, err := decodeSerial(string(serial), ser.Get(serial))
			if err != nil {
				return err
			}
			if r.kind != kindUnit || r.unitData.state != Commissioned {
				return nil
			}
			if co != nil && co.Get(childKey(true, string(serial))) != nil {
				aggregated++
				return nil
			}
			orphans = append(orphans, string(serial))
			return nil
		})
	})
	return orphans, aggregated, err
}

// CheckCandidates checks many children at once, in one read transaction:
// the problem of each (by index; "" = it may be aggregated now) for
// childLevel in batch. A station checking a whole case read uses it.
func (j *Journal) CheckCandidates(batch, childLevel string, children []string) ([]string, error) {
	out := make([]string, len(children))
	err := j.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bktChildOf) == nil {
			return fmt.Errorf("%w: journal without aggregation", ErrNotFound)
		}
		a := &AggTx{tx: tx}
		for i, c := range children {
			p, err := a.CheckCandidate(batch, childLevel, c)
			if err != nil {
				return err
			}
			out[i] = p
		}
		return nil
	})
	return out, err
}

// UnitStates returns the state of each serial (0 when it is no unit of
// this line), in one read transaction.
func (j *Journal) UnitStates(serials []string) ([]State, error) {
	out := make([]State, len(serials))
	err := j.view(func(tx *bolt.Tx) error {
		ser := tx.Bucket(bktSerials)
		for i, s := range serials {
			v := ser.Get([]byte(s))
			if v == nil {
				continue
			}
			r, err := decodeSerial(s, v)
			if err != nil {
				return err
			}
			if r.kind == kindUnit {
				out[i] = r.unitData.state
			}
		}
		return nil
	})
	return out, err
}
