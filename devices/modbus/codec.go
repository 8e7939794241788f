package modbus

import (
	"encoding/binary"
	"fmt"

	"github.com/serialine/serialine/devices"
)

// Words32 joins two registers in the map's word order.
func Words32(w0, w1 uint16, order string) uint32 {
	if order == LowWordFirst {
		return uint32(w1)<<16 | uint32(w0)
	}
	return uint32(w0)<<16 | uint32(w1)
}

// Split32 splits v into two registers in the map's word order.
func Split32(v uint32, order string) (w0, w1 uint16) {
	if order == LowWordFirst {
		return uint16(v), uint16(v >> 16)
	}
	return uint16(v >> 16), uint16(v)
}

// Regs decodes a register reply (big-endian bytes) into registers.
func Regs(b []byte) ([]uint16, error) {
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%w: odd register byte count %d", devices.ErrBadValue, len(b))
	}
	r := make([]uint16, len(b)/2)
	for i := range r {
		r[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return r, nil
}

// RegBytes encodes registers for a write request.
func RegBytes(r []uint16) []byte {
	b := make([]byte, 2*len(r))
	for i, v := range r {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	return b
}

// Snapshot is one decoded poll of the trigger block.
type Snapshot struct {
	// Counter is the raw product counter.
	Counter uint64
	// Heartbeat is the PLC heartbeat register.
	Heartbeat uint16
	// Ring is the sequence-id ring (nil without one).
	Ring []uint32
}

// block is one contiguous read.
type block struct{ start, qty uint16 } // PDU addresses

// PollPlan is the set of reads that fetch the trigger block: counter,
// PLC heartbeat and sequence-id ring, merged into as few reads (<= 125
// registers) as the map allows.
type PollPlan struct {
	m      RegisterMap
	blocks []block
}

// NewPollPlan plans the trigger-block reads for a valid map.
func NewPollPlan(m RegisterMap) PollPlan {
	type rg struct{ start, end int } // PDU, end exclusive
	cw := 1
	if m.CounterWidth == 32 {
		cw = 2
	}
	rs := []rg{{int(m.pdu(m.Counter)), int(m.pdu(m.Counter)) + cw}, {int(m.pdu(m.PLCHeartbeat)), int(m.pdu(m.PLCHeartbeat)) + 1}}
	if m.SeqRingLen > 0 {
		rs = append(rs, rg{int(m.pdu(m.SeqRing)), int(m.pdu(m.SeqRing)) + 2*m.SeqRingLen})
	}
	// sort by start
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].start < rs[j-1].start; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	var out []block
	cur := rs[0]
	for _, r := range rs[1:] {
		if r.end-cur.start <= 125 {
			cur.end = max(cur.end, r.end)
			continue
		}
		out = append(out, block{uint16(cur.start), uint16(cur.end - cur.start)})
		cur = r
	}
	out = append(out, block{uint16(cur.start), uint16(cur.end - cur.start)})
	return PollPlan{m: m, blocks: out}
}

// Reads is the number of requests one poll takes.
func (p PollPlan) Reads() int { return len(p.blocks) }

// reg finds PDU address a among the fetched blocks.
func (p PollPlan) reg(data [][]uint16, a uint16) (uint16, error) {
	for i, b := range p.blocks {
		if a >= b.start && int(a) < int(b.start)+int(b.qty) {
			if int(a-b.start) >= len(data[i]) {
				return 0, fmt.Errorf("%w: short reply for register %d", devices.ErrBadValue, a)
			}
			return data[i][a-b.start], nil
		}
	}
	return 0, fmt.Errorf("%w: register %d not in poll plan", devices.ErrBadValue, a)
}

// Decode turns the registers read for each block (in plan order) into a
// Snapshot. Short or missing replies are ErrBadValue.
func (p PollPlan) Decode(data [][]uint16) (Snapshot, error) {
	var s Snapshot
	if len(data) != len(p.blocks) {
		return s, fmt.Errorf("%w: %d replies for %d reads", devices.ErrBadValue, len(data), len(p.blocks))
	}
	m := p.m
	c0, err := p.reg(data, m.pdu(m.Counter))
	if err != nil {
		return s, err
	}
	if m.CounterWidth == 32 {
		c1, err := p.reg(data, m.pdu(m.Counter)+1)
		if err != nil {
			return s, err
		}
		s.Counter = uint64(Words32(c0, c1, m.WordOrder))
	} else {
		s.Counter = uint64(c0)
	}
	if s.Heartbeat, err = p.reg(data, m.pdu(m.PLCHeartbeat)); err != nil {
		return s, err
	}
	if m.SeqRingLen > 0 {
		s.Ring = make([]uint32, m.SeqRingLen)
		base := m.pdu(m.SeqRing)
		for i := range s.Ring {
			w0, err := p.reg(data, base+uint16(2*i))
			if err != nil {
				return s, err
			}
			w1, err := p.reg(data, base+uint16(2*i+1))
			if err != nil {
				return s, err
			}
			s.Ring[i] = Words32(w0, w1, m.WordOrder)
		}
	}
	return s, nil
}

// EncodeSlot encodes one decision or confirmation slot: [seq (2 words in
// order), code].
func EncodeSlot(seq uint32, code uint16, order string) [3]uint16 {
	w0, w1 := Split32(seq, order)
	return [3]uint16{w0, w1, code}
}

// DecodeSlot decodes a decision slot (verdict codes 0..2) or confirmation
// slot (result codes 0..3); maxCode bounds the code. An out-of-range code
// is ErrBadValue.
func DecodeSlot(r []uint16, order string, maxCode uint16) (seq uint32, code uint16, err error) {
	if len(r) != 3 {
		return 0, 0, fmt.Errorf("%w: slot needs 3 registers, got %d", devices.ErrBadValue, len(r))
	}
	seq = Words32(r[0], r[1], order)
	if r[2] > maxCode {
		return seq, r[2], fmt.Errorf("%w: slot code %d out of range 0..%d", devices.ErrBadValue, r[2], maxCode)
	}
	return seq, r[2], nil
}

// slotAddr is the PDU address of slot i of a table starting at map address t.
func (m RegisterMap) slotAddr(t uint16, seq uint64) uint16 {
	return m.pdu(t) + uint16(3*(seq%uint64(m.Slots)))
}

// SlotPDU is the PDU address of the slot for product seq in the table at
// map address table (exported for the simulator).
func (m RegisterMap) SlotPDU(table uint16, seq uint64) uint16 { return m.slotAddr(table, seq) }

// PDU converts a map address to its PDU (wire) address.
func (m RegisterMap) PDU(addr uint16) uint16 { return m.pdu(addr) }

// maxWriteRegs is the most registers one Write Multiple Registers (FC 16)
// request carries (Modbus Application Protocol V1.1b3, 6.12).
const maxWriteRegs = 123

// maxReadRegs is the most registers one Read Holding Registers (FC 3)
// request returns (Modbus Application Protocol V1.1b3, 6.3).
const maxReadRegs = 125

// VerdictWrite is one Write Multiple Registers request of a verdict batch:
// consecutive decision slots starting at PDU address Addr.
type VerdictWrite struct {
	// Addr is the PDU address of the first slot written.
	Addr uint16
	// Regs are the registers written: 3 per slot, [seq (2 words in the
	// map's word order), verdict].
	Regs []uint16
	// Seqs are the products whose verdicts this request carries, in slot
	// order.
	Seqs []uint64
}

// VerdictWrites plans the requests for a batch of verdicts (the batched
// verdict write of the PLC contract): verdicts of consecutive products
// whose decision slots are adjacent (seq+1 in slot (seq+1) mod Slots, no
// wrap from the last slot to the first) go in one request of up to
// min(Slots, 41) slots (123 registers); a gap in the sequence ids, a slot
// wrap or a full request starts the next one. Requests keep the order of
// vs, so a later verdict for a reused slot overwrites an earlier one just
// as single writes would.
func (m RegisterMap) VerdictWrites(vs []devices.Verdict) []VerdictWrite {
	var out []VerdictWrite
	per := min(m.Slots, maxWriteRegs/3)
	for i, v := range vs {
		if n := len(out); n > 0 && i > 0 {
			w := &out[n-1]
			prev := vs[i-1].Seq
			if v.Seq == prev+1 && v.Seq%uint64(m.Slots) != 0 && len(w.Seqs) < per {
				slot := EncodeSlot(uint32(v.Seq), v.Code(), m.WordOrder)
				w.Regs = append(w.Regs, slot[:]...)
				w.Seqs = append(w.Seqs, v.Seq)
				continue
			}
		}
		slot := EncodeSlot(uint32(v.Seq), v.Code(), m.WordOrder)
		out = append(out, VerdictWrite{Addr: m.slotAddr(m.Decisions, v.Seq), Regs: slot[:], Seqs: []uint64{v.Seq}})
	}
	return out
}
