package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// Record encoding. Every value stored by the journal is
//
//	version byte (recVersion) | kind byte | payload | CRC-32C (4 bytes, little endian) of all before it
//
// Payload fields are unsigned/zig-zag varints, length-prefixed strings and
// single bytes. Decoding checks version, kind, bounds, enum ranges, that the
// payload is consumed exactly, and the checksum: a corrupt record is an
// error (ErrCorrupt), never a panic or a silently wrong value.
const recVersion = 1

// recVersionBatchNHRN is the batch definition record's version 2: version 1
// followed by the NHRN string. A batch without NHRN is still written as
// version 1, so both decode (old journals stay readable).
const recVersionBatchNHRN = 2

// Record kinds.
const (
	kindAvailable        = 1 // serials bucket: in a pool, not drawn
	kindReturnedUpstream = 2 // serials bucket: given back upstream by TakeUnused
	kindUnit             = 3 // serials bucket: drawn; a unit with history
	kindPool             = 4
	kindBatchDef         = 5
	kindCounters         = 6
	kindStateChange      = 7
	kindAudit            = 8
	kindOutbox           = 9
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type enc struct{ b []byte }

func newEnc(kind byte, sizeHint int) *enc {
	e := &enc{b: make([]byte, 0, sizeHint+6)}
	e.b = append(e.b, recVersion, kind)
	return e
}

func (e *enc) u(v uint64)       { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i(v int64)        { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) byte1(v byte)     { e.b = append(e.b, v) }
func (e *enc) str(s string)     { e.u(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(p []byte)   { e.u(uint64(len(p))); e.b = append(e.b, p...) }
func (e *enc) raw(p []byte)     { e.b = append(e.b, p...) }
func (e *enc) time(t time.Time) { e.i(t.UnixMilli()) }
func (e *enc) finish() []byte {
	return binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, crcTable))
}

type dec struct {
	b    []byte
	ver  byte // record version (newDecVersions)
	err  error
	what string // record kind ("serial", "pool" …)
	name string // its key, quoted in errors only (formatting is lazy: Verify decodes millions)
}

// newDec checks framing (length, version, checksum, kind) and returns a
// decoder positioned on the payload.
func newDec(what string, kind byte, b []byte) *dec { return newDecNamed(what, "", kind, b) }

func newDecNamed(what, name string, kind byte, b []byte) *dec {
	return newDecVersions(what, name, kind, b, recVersion)
}

// newDecVersions is newDecNamed for a record kind with versions
// recVersion..maxVersion; d.ver tells which one b is.
func newDecVersions(what, name string, kind byte, b []byte, maxVersion byte) *dec {
	d := &dec{what: what, name: name}
	if len(b) < 6 {
		d.fail("record of %d bytes is too short", len(b))
		return d
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if body[0] < recVersion || body[0] > maxVersion {
		if maxVersion == recVersion {
			d.fail("record version %d, want %d", body[0], recVersion)
		} else {
			d.fail("record version %d, want %d..%d", body[0], recVersion, maxVersion)
		}
		return d
	}
	d.ver = body[0]
	if crc32.Checksum(body, crcTable) != sum {
		d.fail("checksum mismatch")
		return d
	}
	if body[1] != kind {
		d.fail("record kind %d, want %d", body[1], kind)
		return d
	}
	d.b = body[2:]
	return d
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		what := d.what
		if d.name != "" {
			what += fmt.Sprintf(" %q", d.name)
		}
		d.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, what, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *dec) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// uint bounded to max (inclusive).
func (d *dec) ub(max uint64) uint64 {
	v := d.u()
	if v > max {
		d.fail("value %d out of range (max %d)", v, max)
		return 0
	}
	return v
}

func (d *dec) int() int { return int(d.ub(math.MaxInt32)) }

func (d *dec) i() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) rawN(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.u()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("string length %d beyond record", n)
		return nil
	}
	return append([]byte(nil), d.rawN(int(n))...)
}

func (d *dec) str() string {
	n := d.u()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string length %d beyond record", n)
		return ""
	}
	return string(d.rawN(int(n)))
}

func (d *dec) time() time.Time {
	ms := d.i()
	if ms < -1e15 || ms > 1e15 {
		d.fail("time out of range")
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func (d *dec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// ---- actors ----

const actorCustom = 0xFF

func (e *enc) actor(a Actor) {
	a = a.orSystem()
	for i, s := range systemActors {
		if a == s {
			e.byte1(byte(i))
			return
		}
	}
	e.byte1(actorCustom)
	e.str(a.User)
	e.str(a.Role)
}

func (d *dec) actor() Actor {
	c := d.byte1()
	if c == actorCustom {
		return Actor{User: d.str(), Role: d.str()}
	}
	if int(c) >= len(systemActors) {
		d.fail("unknown actor code %d", c)
		return Actor{}
	}
	return systemActors[c]
}

// ---- grades: tenths in one byte ----

func gradeByte(g float32) byte {
	if g != g || g < 0 { // NaN or negative
		return 0
	}
	if g > 25 {
		return 250
	}
	return byte(math.Round(float64(g) * 10))
}

func (d *dec) grade() float32 {
	b := d.byte1()
	if b > 250 {
		d.fail("grade byte %d out of range", b)
	}
	return float32(b) / 10
}

// ---- pool entries ----

// Serials (serials bucket) and parent codes (parents bucket) are pool
// entries. Their records share two short kinds, in a pool and not drawn
// (pool index, key in the available list) and given back upstream (pool
// index, time), and have one drawn kind each whose payload starts with the
// pool index.

// entry is what every pool entry's record holds (serialRec and idRec
// embed it).
type entry struct {
	kind  byte
	pool  uint32    // pool index
	order uint64    // available: key in the entry's available list
	at    time.Time // returned upstream: when
}

// entryKinds are one bucket's record kinds, what names its entries in
// errors.
type entryKinds struct {
	what                       string
	available, returned, drawn byte
}

var serialKinds = entryKinds{what: "serial", available: kindAvailable, returned: kindReturnedUpstream, drawn: kindUnit}

// encode returns the record of an available or returned entry, nil for a
// drawn one (its bucket's encoder writes those).
func (k entryKinds) encode(r entry) []byte {
	switch r.kind {
	case k.available:
		e := newEnc(k.available, 12)
		e.u(uint64(r.pool))
		e.u(r.order)
		return e.finish()
	case k.returned:
		e := newEnc(k.returned, 12)
		e.u(uint64(r.pool))
		e.time(r.at)
		return e.finish()
	}
	return nil
}

// decode reads record b of the entry name: the whole of an available or
// returned one (d is nil), or the pool index of a drawn one, d positioned
// on the rest of its payload.
func (k entryKinds) decode(name string, b []byte) (r entry, d *dec, err error) {
	if len(b) < 2 {
		return r, nil, fmt.Errorf("%w: %s %q: record of %d bytes is too short", ErrCorrupt, k.what, name, len(b))
	}
	r.kind = b[1]
	d = newDecNamed(k.what, name, r.kind, b)
	switch r.kind {
	case k.available:
		r.pool = uint32(d.ub(math.MaxUint32))
		r.order = d.u()
		return r, nil, d.end()
	case k.returned:
		r.pool = uint32(d.ub(math.MaxUint32))
		r.at = d.time()
		return r, nil, d.end()
	case k.drawn:
		r.pool = uint32(d.ub(math.MaxUint32))
		return r, d, nil
	}
	if d.err != nil {
		return r, nil, d.err
	}
	return r, nil, fmt.Errorf("%w: %s %q: unknown record kind %d", ErrCorrupt, k.what, name, r.kind)
}

// ---- serial records ----

// serialRec is the value stored under a serial in the serials bucket.
type serialRec struct {
	entry
	unitData unitRec // kindUnit
}

// unitRec is the stored part of a Unit (names resolved through indexes).
type unitRec struct {
	batch    uint32
	index    uint32
	state    State
	seq      uint64
	grade    *Grade
	readData string
	steps    []Step
}

const (
	uflagGrade = 1 << iota
	uflagRead
)

const (
	sflagReason = 1 << iota
	sflagDetail
)

func encodeSerial(r *serialRec) []byte {
	if b := serialKinds.encode(r.entry); b != nil {
		return b
	}
	u := &r.unitData
	e := newEnc(kindUnit, 48+len(u.steps)*4+len(u.readData))
	e.u(uint64(r.pool))
	e.u(uint64(u.batch))
	e.u(uint64(u.index))
	e.byte1(byte(u.state))
	e.u(u.seq)
	var fl byte
	if u.grade != nil {
		fl |= uflagGrade
	}
	if u.readData != "" {
		fl |= uflagRead
	}
	e.byte1(fl)
	if u.grade != nil {
		e.byte1(gradeByte(u.grade.Overall))
		e.str(u.grade.Param)
		e.byte1(gradeByte(u.grade.ParamGrade))
	}
	if u.readData != "" {
		e.str(u.readData)
	}
	e.u(uint64(len(u.steps)))
	var last int64
	for i, s := range u.steps {
		var sf byte
		if s.Reason != ReasonNone {
			sf |= sflagReason
		}
		if s.Detail != "" {
			sf |= sflagDetail
		}
		e.byte1(byte(s.State)<<4 | sf)
		ms := s.At.UnixMilli()
		if i == 0 {
			e.i(ms)
		} else {
			e.i(ms - last)
		}
		last = ms
		e.actor(s.Actor)
		if s.Reason != ReasonNone {
			e.byte1(byte(s.Reason))
		}
		if s.Detail != "" {
			e.str(s.Detail)
		}
	}
	return e.finish()
}

func decodeSerial(serial string, b []byte) (serialRec, error) {
	var r serialRec
	var d *dec
	var err error
	if r.entry, d, err = serialKinds.decode(serial, b); d == nil {
		return r, err
	}
	u := &r.unitData
	u.batch = uint32(d.ub(math.MaxUint32))
	u.index = uint32(d.ub(math.MaxUint32))
	u.state = State(d.byte1())
	u.seq = d.u()
	fl := d.byte1()
	if fl&^(uflagGrade|uflagRead) != 0 {
		d.fail("unknown unit flags %#x", fl)
	}
	if fl&uflagGrade != 0 {
		u.grade = &Grade{Overall: d.grade(), Param: d.str(), ParamGrade: d.grade()}
	}
	if fl&uflagRead != 0 {
		u.readData = d.str()
		if u.readData == "" {
			d.fail("empty read data with flag set")
		}
	}
	n := d.ub(64)
	if d.err == nil && n == 0 {
		d.fail("unit without history")
	}
	if d.err == nil {
		u.steps = make([]Step, 0, n)
	}
	var last int64
	for i := uint64(0); i < n && d.err == nil; i++ {
		h := d.byte1()
		var s Step
		s.State = State(h >> 4)
		sf := h & 0x0F
		if !s.State.Valid() {
			d.fail("step %d: invalid state %d", i, h>>4)
			break
		}
		if sf&^(sflagReason|sflagDetail) != 0 {
			d.fail("step %d: unknown flags %#x", i, sf)
			break
		}
		v := d.i()
		if i == 0 {
			last = v
		} else {
			last += v
		}
		if last < -1e15 || last > 1e15 {
			d.fail("step %d: time out of range", i)
			break
		}
		s.At = time.UnixMilli(last).UTC()
		s.Actor = d.actor()
		if sf&sflagReason != 0 {
			s.Reason = Reason(d.byte1())
			if s.Reason == ReasonNone || !s.Reason.Valid() {
				d.fail("step %d: invalid reason %d", i, s.Reason)
			}
		}
		if sf&sflagDetail != 0 {
			s.Detail = d.str()
			if s.Detail == "" {
				d.fail("step %d: empty detail with flag set", i)
			}
		}
		u.steps = append(u.steps, s)
	}
	if err := d.end(); err != nil {
		return r, err
	}
	if !u.state.Valid() || u.steps[len(u.steps)-1].State != u.state {
		return r, fmt.Errorf("%w: serial %q: state %s differs from last history step", ErrCorrupt, serial, u.state)
	}
	return r, nil
}

// ---- small records ----

type poolRec struct {
	idx        uint32
	gtin       string
	count      int
	importedAt time.Time
}

func encodePool(p poolRec) []byte {
	e := newEnc(kindPool, 32)
	e.u(uint64(p.idx))
	e.str(p.gtin)
	e.u(uint64(p.count))
	e.time(p.importedAt)
	return e.finish()
}

func decodePool(id string, b []byte) (poolRec, error) {
	d := newDec("pool "+fmt.Sprintf("%q", id), kindPool, b)
	var p poolRec
	p.idx = uint32(d.ub(math.MaxUint32))
	p.gtin = d.str()
	p.count = d.int()
	p.importedAt = d.time()
	return p, d.end()
}

type batchDefRec struct {
	idx       uint32
	def       BatchDef
	createdAt time.Time
	state     string
}

func encodeBatchDef(r batchDefRec) []byte {
	e := newEnc(kindBatchDef, 64)
	if r.def.NHRN != "" {
		e.b[0] = recVersionBatchNHRN
	}
	e.u(uint64(r.idx))
	e.str(r.def.ID)
	e.str(r.def.GTIN)
	e.str(r.def.Lot)
	e.str(r.def.Expiry)
	e.str(r.def.Profile)
	e.u(uint64(r.def.Target))
	e.str(r.def.Template)
	e.time(r.createdAt)
	e.str(r.state)
	if r.def.NHRN != "" {
		e.str(r.def.NHRN)
	}
	return e.finish()
}

func decodeBatchDef(id string, b []byte) (batchDefRec, error) {
	d := newDecVersions("batch", id, kindBatchDef, b, recVersionBatchNHRN)
	var r batchDefRec
	r.idx = uint32(d.ub(math.MaxUint32))
	r.def.ID = d.str()
	r.def.GTIN = d.str()
	r.def.Lot = d.str()
	r.def.Expiry = d.str()
	r.def.Profile = d.str()
	r.def.Target = d.int()
	r.def.Template = d.str()
	r.createdAt = d.time()
	r.state = d.str()
	if d.ver >= recVersionBatchNHRN {
		r.def.NHRN = d.str()
		if d.err == nil && r.def.NHRN == "" {
			d.fail("version %d record with an empty NHRN", d.ver)
		}
	}
	return r, d.end()
}

func encodeCounters(c Counters) []byte {
	e := newEnc(kindCounters, 20)
	for _, s := range States() {
		e.u(uint64(c.Of(s)))
	}
	return e.finish()
}

func decodeCounters(id string, b []byte) (Counters, error) {
	d := newDec("counters of batch "+fmt.Sprintf("%q", id), kindCounters, b)
	var c Counters
	for _, s := range States() {
		*c.ptr(s) = d.int()
	}
	return c, d.end()
}

func encodeStateChange(s StateChange) []byte {
	e := newEnc(kindStateChange, 32)
	e.str(s.State)
	e.time(s.At)
	e.actor(s.Actor)
	e.str(s.Reason)
	return e.finish()
}

func decodeStateChange(what string, b []byte) (StateChange, error) {
	d := newDec(what, kindStateChange, b)
	var s StateChange
	s.State = d.str()
	s.At = d.time()
	s.Actor = d.actor()
	s.Reason = d.str()
	return s, d.end()
}

// auditBody is what the audit hash covers (everything but Hash).
func auditBody(a *AuditEntry) []byte {
	e := newEnc(kindAudit, 64+len(a.Before)+len(a.After))
	e.u(a.Seq)
	e.i(a.At.UnixNano())
	e.str(a.Who)
	e.str(a.Role)
	e.str(a.Action)
	e.str(a.Reason)
	e.str(a.Before)
	e.str(a.After)
	e.raw(a.Prev[:])
	return e.b
}

func encodeAudit(a *AuditEntry) []byte {
	e := &enc{b: auditBody(a)}
	e.raw(a.Hash[:])
	return e.finish()
}

func decodeAudit(b []byte) (AuditEntry, error) {
	d := newDec("audit entry", kindAudit, b)
	var a AuditEntry
	a.Seq = d.u()
	a.At = time.Unix(0, d.i()).UTC()
	a.Who = d.str()
	a.Role = d.str()
	a.Action = d.str()
	a.Reason = d.str()
	a.Before = d.str()
	a.After = d.str()
	copy(a.Prev[:], d.rawN(32))
	copy(a.Hash[:], d.rawN(32))
	return a, d.end()
}

// recVersionOutboxBatch is the outbox record's version 2: version 1
// followed by the batch the item belongs to. An item without a batch is
// still written as version 1.
const recVersionOutboxBatch = 2

func encodeOutbox(kind string, payload []byte, at time.Time, batch string) []byte {
	e := newEnc(kindOutbox, 16+len(kind)+len(payload)+len(batch))
	if batch != "" {
		e.b[0] = recVersionOutboxBatch
	}
	e.str(kind)
	e.time(at)
	e.bytes(payload)
	if batch != "" {
		e.str(batch)
	}
	return e.finish()
}

func decodeOutbox(id uint64, b []byte) (OutboxItem, error) {
	d := newDecVersions(fmt.Sprintf("outbox item %d", id), "", kindOutbox, b, recVersionOutboxBatch)
	it := OutboxItem{ID: id}
	it.Kind = d.str()
	it.At = d.time()
	it.Payload = d.bytes()
	if d.ver >= recVersionOutboxBatch {
		it.Batch = d.str()
		if d.err == nil && it.Batch == "" {
			d.fail("version %d record with an empty batch", d.ver)
		}
	}
	return it, d.end()
}

func u32key(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64key(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// peekUnitSlot reads only the batch index and slot of a unit record (no
// checksum, no history): Verify's batch-slot pass uses it, the full decode
// and checksum of every record happen in its serials pass.
func peekUnitSlot(b []byte) (batch, index uint32, ok bool) {
	if len(b) < 6 || b[0] != recVersion || b[1] != kindUnit {
		return 0, 0, false
	}
	p := b[2 : len(b)-4]
	var v [3]uint64
	for i := range v {
		x, n := binary.Uvarint(p)
		if n <= 0 || x > math.MaxUint32 {
			return 0, 0, false
		}
		v[i], p = x, p[n:]
	}
	return uint32(v[1]), uint32(v[2]), true
}
