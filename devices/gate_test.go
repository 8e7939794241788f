package devices

import (
	"errors"
	"testing"
	"time"
)

// ring is a confirmation table of n slots as a PLC fills it.
type ring struct {
	n     uint64
	bits  uint
	slots map[uint64]GateSlot
}

func newRing(n uint64, bits uint) *ring { return &ring{n: n, bits: bits, slots: map[uint64]GateSlot{}} }

func (r *ring) put(seq uint64, result int, noVerdict bool) {
	mask := uint64(1)<<r.bits - 1
	r.slots[seq%r.n] = GateSlot{Seq: seq & mask, Value: uint64(EncodeGateResult(result, noVerdict))}
}

func (r *ring) slot(seq uint64) (GateSlot, error) { return r.slots[seq%r.n], nil }

func TestGateTrackerInOrderOnce(t *testing.T) {
	g := GateTracker{SeqBits: 32}
	r := newRing(4, 32)
	at := time.Unix(0, 0)
	if res, _ := g.Take(at, r.slot); len(res) != 0 {
		t.Fatalf("results before any trigger: %v", res)
	}
	for s := uint64(10); s <= 13; s++ {
		g.Expect(s)
	}
	if from, to, ok := g.Pending(); !ok || from != 10 || to != 13 {
		t.Fatalf("pending %d..%d %v", from, to, ok)
	}
	r.put(10, GatePassed, false)
	r.put(11, GateRejected, true)
	res, err := g.Take(at, r.slot)
	if err != nil || len(res) != 2 || res[0].Seq != 10 || res[0].Result != GatePassed || res[1].Seq != 11 || !res[1].NoVerdict || !res[1].PushedOff() {
		t.Fatalf("take: %+v %v", res, err)
	}
	if res, _ := g.Take(at, r.slot); len(res) != 0 {
		t.Fatalf("results twice: %+v", res)
	}
	r.put(13, GateUnconfirmed, false) // 12 has not reached the gate: 13 waits
	if res, _ := g.Take(at, r.slot); len(res) != 0 {
		t.Fatalf("out of order: %+v", res)
	}
	r.put(12, GatePassed, false)
	res, _ = g.Take(at, r.slot)
	if len(res) != 2 || res[0].Seq != 12 || res[1].Seq != 13 || res[1].Result != GateUnconfirmed {
		t.Fatalf("take: %+v", res)
	}
	if _, _, ok := g.Pending(); ok {
		t.Fatal("nothing should be pending")
	}
}

func TestGateTrackerCountsOverwrittenAsMissed(t *testing.T) {
	g := GateTracker{SeqBits: 32}
	r := newRing(4, 32)
	for s := uint64(1); s <= 9; s++ {
		g.Expect(s)
	}
	// products 1..9 reached the gate while nobody read: 1..5 are overwritten
	for s := uint64(1); s <= 9; s++ {
		r.put(s, GatePassed, false)
	}
	res, err := g.Take(time.Time{}, r.slot)
	if err != nil || len(res) != 4 || res[0].Seq != 6 || res[0].Missed != 5 || res[3].Seq != 9 || res[3].Missed != 0 {
		t.Fatalf("take: %+v %v", res, err)
	}
}

func TestGateTrackerIgnoresStaleEntries(t *testing.T) {
	g := GateTracker{SeqBits: 32}
	r := newRing(4, 32)
	// left over from before a PLC restart: far higher ids than the line's
	for s := uint64(5000); s < 5004; s++ {
		r.put(s, GateRejected, false)
	}
	g.Expect(1)
	g.Expect(2)
	if res, _ := g.Take(time.Time{}, r.slot); len(res) != 0 {
		t.Fatalf("stale entries taken as results or misses: %+v", res)
	}
	r.put(1, GatePassed, false)
	if res, _ := g.Take(time.Time{}, r.slot); len(res) != 1 || res[0].Seq != 1 || res[0].Missed != 0 {
		t.Fatalf("take: %+v", res)
	}
}

func TestGateTrackerWrapsSeqBits(t *testing.T) {
	g := GateTracker{SeqBits: 32}
	r := newRing(8, 32)
	base := uint64(1)<<32 - 2 // ids cross 2^32; slots keep the low 32 bits
	for s := base; s < base+4; s++ {
		g.Expect(s)
		r.put(s, GatePassed, false)
	}
	res, _ := g.Take(time.Time{}, r.slot)
	if len(res) != 4 || res[3].Seq != base+3 {
		t.Fatalf("take across the wrap: %+v", res)
	}
}

func TestGateTrackerRestart(t *testing.T) {
	g := GateTracker{SeqBits: 32}
	r := newRing(4, 32)
	g.Expect(100)
	g.Expect(101)
	g.Expect(1) // PLC restarted its numbering
	r.put(1, GatePassed, false)
	if res, _ := g.Take(time.Time{}, r.slot); len(res) != 1 || res[0].Seq != 1 {
		t.Fatalf("after restart: %+v", res)
	}
}

func TestGateResultCodec(t *testing.T) {
	for _, c := range []struct {
		v        uint64
		result   int
		noVerdit bool
		bad      bool
	}{
		{0, GatePending, false, false},
		{1, GatePassed, false, false},
		{2, GateRejected, false, false},
		{3, GateUnconfirmed, false, false},
		{0x12, GateRejected, true, false},
		{0x13, GateUnconfirmed, true, false},
		{4, 0, false, true},
		{0x20, 0, false, true},
		{0x102, 0, false, true},
	} {
		r, nv, err := DecodeGateResult(c.v)
		if c.bad {
			if !errors.Is(err, ErrBadValue) {
				t.Errorf("%#x: err %v, want ErrBadValue", c.v, err)
			}
			continue
		}
		if err != nil || r != c.result || nv != c.noVerdit {
			t.Errorf("%#x: %d %v %v", c.v, r, nv, err)
		}
		if back := EncodeGateResult(r, nv); uint64(back) != c.v {
			t.Errorf("%#x: encodes back to %#x", c.v, back)
		}
	}
}
