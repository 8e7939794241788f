package journal

import (
	"fmt"
	"math"
	"time"
)

// Record kinds of the aggregation layer (appended to codec.go's list).
const (
	kindIDAvailable = 10 // parents bucket: a code in an ID pool, not drawn
	kindIDReturned  = 11 // parents bucket: a code given back upstream
	kindParent      = 12 // parents bucket: a drawn code; a parent with children and history
	kindIDPool      = 13 // idpools bucket
	kindAggEvent    = 14 // aggevents/<batch> bucket
)

// idRec is the value stored under a code in the parents bucket.
type idRec struct {
	entry
	p       parentRec // kindParent
	archive uint32    // kindTombstone: the archive holding the parent (archive.go)
}

var parentKinds = entryKinds{what: "parent code", available: kindIDAvailable, returned: kindIDReturned, drawn: kindParent}

type parentRec struct {
	batch      uint32
	level      string
	childLevel string
	capacity   int
	station    string
	state      ParentState
	partial    bool
	packed     int
	children   []string
	steps      []ParentStep
}

func (r *idRec) describe() string {
	switch r.kind {
	case kindIDAvailable:
		return "available in an ID pool"
	case kindIDReturned:
		return "returned upstream"
	case kindParent:
		return "a " + r.p.level + " (" + r.p.state.String() + ")"
	case kindTombstone:
		return "an archived parent"
	}
	return "unknown"
}

func encodeID(r *idRec) []byte {
	if r.kind == kindTombstone {
		return encodeTombstone(tombstone{pool: r.pool, archive: r.archive})
	}
	if b := parentKinds.encode(r.entry); b != nil {
		return b
	}
	p := &r.p
	e := newEnc(kindParent, 48+len(p.children)*16+len(p.steps)*12)
	e.u(uint64(r.pool))
	e.u(uint64(p.batch))
	e.str(p.level)
	e.str(p.childLevel)
	e.u(uint64(p.capacity))
	e.str(p.station)
	e.byte1(byte(p.state))
	if p.partial {
		e.byte1(1)
	} else {
		e.byte1(0)
	}
	e.u(uint64(p.packed))
	e.u(uint64(len(p.children)))
	for _, c := range p.children {
		e.str(c)
	}
	e.u(uint64(len(p.steps)))
	for _, s := range p.steps {
		e.byte1(byte(s.Op))
		e.time(s.At)
		e.actor(s.Actor)
		e.u(uint64(s.N))
		e.str(s.Reason)
	}
	return e.finish()
}

func decodeID(code string, b []byte) (idRec, error) {
	var r idRec
	if len(b) >= 2 && b[1] == kindTombstone {
		t, err := decodeTombstoneNamed("archived parent code", code, b)
		r.kind, r.pool, r.archive = kindTombstone, t.pool, t.archive
		return r, err
	}
	var d *dec
	var err error
	if r.entry, d, err = parentKinds.decode(code, b); d == nil {
		return r, err
	}
	p := &r.p
	p.batch = uint32(d.ub(math.MaxUint32))
	p.level = d.str()
	p.childLevel = d.str()
	p.capacity = d.int()
	p.station = d.str()
	p.state = ParentState(d.byte1())
	if d.err == nil && (p.state < ParentOpen || p.state >= numParentStates) {
		d.fail("invalid parent state %d", p.state)
	}
	switch d.byte1() {
	case 0:
	case 1:
		p.partial = true
	default:
		d.fail("bad partial flag")
	}
	p.packed = d.int()
	n := d.ub(1 << 20)
	for i := uint64(0); i < n && d.err == nil; i++ {
		p.children = append(p.children, d.str())
	}
	if d.err == nil && p.packed > len(p.children) {
		d.fail("packed %d > %d children", p.packed, len(p.children))
	}
	ns := d.ub(1 << 16)
	if d.err == nil && ns == 0 {
		d.fail("parent without history")
	}
	for i := uint64(0); i < ns && d.err == nil; i++ {
		var s ParentStep
		s.Op = ParentOp(d.byte1())
		if d.err == nil && (s.Op < OpOpen || s.Op >= numParentOps) {
			d.fail("step %d: invalid op %d", i, s.Op)
		}
		s.At = d.time()
		s.Actor = d.actor()
		s.N = d.int()
		s.Reason = d.str()
		p.steps = append(p.steps, s)
	}
	return r, d.end()
}

// idPoolRec is an ID pool (list) or an SSCC range.
type idPoolRec struct {
	idx        uint32
	kind       IDKind
	gtin       string
	count      int
	importedAt time.Time
	isRange    bool
	ext        int
	prefix     string
	first      uint64
	last       uint64
	next       uint64 // range: next serial reference to issue
}

func encodeIDPool(p idPoolRec) []byte {
	e := newEnc(kindIDPool, 48)
	e.u(uint64(p.idx))
	e.byte1(byte(p.kind))
	e.str(p.gtin)
	e.u(uint64(p.count))
	e.time(p.importedAt)
	if p.isRange {
		e.byte1(1)
		e.u(uint64(p.ext))
		e.str(p.prefix)
		e.u(p.first)
		e.u(p.last)
		e.u(p.next)
	} else {
		e.byte1(0)
	}
	return e.finish()
}

func decodeIDPool(id string, b []byte) (idPoolRec, error) {
	d := newDecNamed("id pool", id, kindIDPool, b)
	var p idPoolRec
	p.idx = uint32(d.ub(math.MaxUint32))
	p.kind = IDKind(d.byte1())
	if d.err == nil && p.kind != IDSSCC && p.kind != IDSGTIN {
		d.fail("invalid id kind %d", p.kind)
	}
	p.gtin = d.str()
	p.count = d.int()
	p.importedAt = d.time()
	switch d.byte1() {
	case 0:
	case 1:
		p.isRange = true
		p.ext = int(d.ub(9))
		p.prefix = d.str()
		p.first = d.u()
		p.last = d.u()
		p.next = d.u()
		if d.err == nil && (p.first > p.last || p.next < p.first || p.next > p.last+1) {
			d.fail("range %d..%d with cursor %d", p.first, p.last, p.next)
		}
	default:
		d.fail("bad range flag")
	}
	return p, d.end()
}

func encodeAggEvent(ev *AggEvent) []byte {
	e := newEnc(kindAggEvent, 32+len(ev.Parent)+len(ev.Children)*16)
	e.byte1(byte(ev.Op))
	e.str(ev.Parent)
	e.str(ev.Level)
	if ev.Units {
		e.byte1(1)
	} else {
		e.byte1(0)
	}
	e.u(uint64(len(ev.Children)))
	for _, c := range ev.Children {
		e.str(c)
	}
	e.time(ev.At)
	e.actor(ev.Actor)
	e.str(ev.Reason)
	return e.finish()
}

func decodeAggEvent(batch string, seq uint64, b []byte) (AggEvent, error) {
	d := newDecNamed("aggregation event", fmt.Sprintf("%s/%d", batch, seq), kindAggEvent, b)
	ev := AggEvent{Seq: seq, Batch: batch}
	ev.Op = AggOp(d.byte1())
	if d.err == nil && (ev.Op < AggCommission || ev.Op >= numAggOps) {
		d.fail("invalid op %d", ev.Op)
	}
	ev.Parent = d.str()
	ev.Level = d.str()
	switch d.byte1() {
	case 0:
	case 1:
		ev.Units = true
	default:
		d.fail("bad units flag")
	}
	n := d.ub(1 << 20)
	for i := uint64(0); i < n && d.err == nil; i++ {
		ev.Children = append(ev.Children, d.str())
	}
	ev.At = d.time()
	ev.Actor = d.actor()
	ev.Reason = d.str()
	return ev, d.end()
}
