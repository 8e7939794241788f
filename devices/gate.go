package devices

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Gate read-back modes (Timing.GateResults): what the PLC reports about the
// products that reached its reject gate.
const (
	// GateResultsEvery: the PLC writes every product's gate result
	// (passed, pushed off and confirmed, pushed off unconfirmed) into its
	// confirmation table. The controller commissions a unit only when the
	// gate reports its product passed, and reads every result back
	// (NextGateResult). The default.
	GateResultsEvery = "every"
	// GateResultsRejects: the PLC reports rejects only (its confirmation
	// sensor); a pass verdict delivered before the product's deadline is
	// taken as the product having passed.
	GateResultsRejects = "rejects"
	// GateResultsNone: no read-back at all; passes as for "rejects", and
	// rejects are not confirmed.
	GateResultsNone = "none"
)

// GateNoVerdict is the flag bit of a gate result value (in the confirmation
// slot's result register / node, above the result code in bits 0..3): the
// product reached the gate without a verdict and was pushed off fail-safe.
// A PLC that does not report it leaves the bit 0.
const GateNoVerdict = 0x10

// gateCodeMask selects the result code (GatePending..GateUnconfirmed) of a
// gate result value.
const gateCodeMask = 0x0f

// GateResult is what the reject gate did to one product, read back from
// the PLC's confirmation table.
type GateResult struct {
	// Seq is the product's sequence id (Trigger.Seq).
	Seq uint64
	// Result is GatePassed, GateRejected (pushed off, the sensor saw it) or
	// GateUnconfirmed (pushed off, the sensor did not see it).
	Result int
	// NoVerdict: the product reached the gate without a verdict (none had
	// arrived: late or never sent) and was pushed off fail-safe.
	NoVerdict bool
	// Missed counts products before this one whose results could not be
	// read back (overwritten in the PLC's table before the controller read
	// them, e.g. during a disconnect). Results come in sequence order, so
	// every product before Seq without a result of its own is one of them.
	Missed uint64
	// Unread (read-back mode "rejects"): the product's own result was
	// never read; its confirmation slot showed a later product, or its
	// confirm window ended with nothing written. Result is then
	// GateUnconfirmed, but the gate may as well have let the product pass
	// (e.g. a reject verdict that never reached the PLC's table).
	Unread bool
	// At is when the controller read the result (client clock).
	At time.Time
}

// PushedOff reports whether the gate pushed the product off (whether or
// not the confirmation sensor saw it).
func (r GateResult) PushedOff() bool { return r.Result == GateRejected || r.Result == GateUnconfirmed }

func (r GateResult) String() string {
	s := fmt.Sprintf("product %d ", r.Seq)
	if r.Unread {
		return s + "has no gate result (its confirmation slot was not read in time)"
	}
	switch r.Result {
	case GatePassed:
		s += "passed the gate"
	case GateRejected:
		s += "pushed off (confirmed)"
	case GateUnconfirmed:
		s += "pushed off (the confirmation sensor did not see it)"
	default:
		s += fmt.Sprintf("gate result %d", r.Result)
	}
	if r.NoVerdict {
		s += ", no verdict at the gate"
	}
	return s
}

// EncodeGateResult is the value a PLC writes for a gate result: the result
// code in bits 0..3, GateNoVerdict when the product had no verdict.
func EncodeGateResult(result int, noVerdict bool) uint16 {
	v := uint16(result) & gateCodeMask
	if noVerdict {
		v |= GateNoVerdict
	}
	return v
}

// DecodeGateResult splits a gate result value. Bits other than the code
// and GateNoVerdict, or a code above GateUnconfirmed, are ErrBadValue.
func DecodeGateResult(v uint64) (result int, noVerdict bool, err error) {
	if v&^uint64(gateCodeMask|GateNoVerdict) != 0 || v&gateCodeMask > GateUnconfirmed {
		return 0, false, fmt.Errorf("%w: gate result value %#x (want code 0..3, flag %#x)", ErrBadValue, v, GateNoVerdict)
	}
	return int(v & gateCodeMask), v&GateNoVerdict != 0, nil
}

// GateSlot is one confirmation-table slot as read from the PLC: the
// sequence id it holds (as wide as the table stores it) and its raw result
// value.
type GateSlot struct {
	Seq   uint64
	Value uint64
}

// GateTracker turns successive readings of a PLC's confirmation table (a
// ring of slots, product seq in slot seq mod n) into gate results in
// sequence order, each exactly once, with the products whose slot was
// overwritten before it was read counted as Missed. It is pure logic: the
// drivers feed it the triggers they see and the slots they read.
type GateTracker struct {
	// SeqBits is how many low bits of the sequence id a slot stores (32
	// for the Modbus map, 56 for the OPC UA slot value).
	SeqBits uint

	started bool
	next    uint64 // next product whose result is expected
	newest  uint64 // newest product seen at the trigger point
	missed  uint64 // missed before the next result
}

// Expect records product seq at the trigger point: its result will be
// read back. The first call starts the tracker (products before it are not
// followed).
func (g *GateTracker) Expect(seq uint64) {
	if !g.started {
		g.started, g.next = true, seq
	}
	if seq >= g.newest {
		g.newest = seq
	}
	if seq < g.next {
		// the PLC's sequence went back (restart): follow the new numbering
		g.next, g.newest = seq, seq
	}
}

// Pending reports the products whose results are still expected: the
// range [from, to] (empty when ok is false). Drivers read the slots of
// this range.
func (g *GateTracker) Pending() (from, to uint64, ok bool) {
	if !g.started || g.next > g.newest {
		return 0, 0, false
	}
	return g.next, g.newest, true
}

// Take reads the slots of the pending products through slot (slot(seq)
// returns the slot where seq's result would be) and returns the results
// now available, in order. A slot holding an older product (or pending)
// stops the walk: that product has not reached the gate yet. A slot
// holding a later product that the trigger point has seen means seq's
// result was overwritten: it is counted as missed and reported with the
// next result.
func (g *GateTracker) Take(at time.Time, slot func(seq uint64) (GateSlot, error)) ([]GateResult, error) {
	var out []GateResult
	mask := ^uint64(0)
	if g.SeqBits > 0 && g.SeqBits < 64 {
		mask = 1<<g.SeqBits - 1
	}
	for g.started && g.next <= g.newest {
		s, err := slot(g.next)
		if err != nil {
			return out, err
		}
		want := g.next & mask
		got := s.Seq & mask
		if got == want {
			res, nov, err := DecodeGateResult(s.Value)
			if err != nil {
				return out, fmt.Errorf("product %d: %w", g.next, err)
			}
			if res == GatePending {
				break
			}
			out = append(out, GateResult{Seq: g.next, Result: res, NoVerdict: nov, Missed: g.missed, At: at})
			g.missed = 0
			g.next++
			continue
		}
		// a product after the expected one, and one the trigger point has
		// seen (not a stale entry from before a PLC restart): the expected
		// result was overwritten before it was read
		if d := (got - want) & mask; d != 0 && d <= g.newest-g.next {
			g.missed++
			g.next++
			continue
		}
		break // an older product still sits there: not at the gate yet
	}
	return out, nil
}

// GateQueue hands gate results from a driver's reader (which must never
// block on a slow consumer) to NextGateResult. Safe for concurrent use.
type GateQueue struct {
	mu      sync.Mutex
	queue   []GateResult
	signal  chan struct{} // cap 1: queue not empty
	dropped uint64        // results lost to a full queue, reported as Missed
}

// maxGateQueue bounds the results waiting in a GateQueue; beyond it the
// oldest are dropped and counted in the next result's Missed.
const maxGateQueue = 1 << 16

// NewGateQueue returns an empty queue.
func NewGateQueue() *GateQueue { return &GateQueue{signal: make(chan struct{}, 1)} }

// Push queues results (never blocks).
func (q *GateQueue) Push(rs ...GateResult) {
	if len(rs) == 0 {
		return
	}
	q.mu.Lock()
	for _, r := range rs {
		if len(q.queue) >= maxGateQueue {
			q.queue = q.queue[1:]
			q.dropped++
		}
		r.Missed += q.dropped
		q.dropped = 0
		q.queue = append(q.queue, r)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *GateQueue) pop() (GateResult, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		return GateResult{}, false
	}
	r := q.queue[0]
	q.queue = q.queue[1:]
	if len(q.queue) > 0 {
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	return r, true
}

// Next returns the oldest queued result, waiting for one until ctx ends
// (ctx.Err()) or done is closed (ErrClosed: the driver stopped).
func (q *GateQueue) Next(ctx context.Context, done <-chan struct{}) (GateResult, error) {
	for {
		if r, ok := q.pop(); ok {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return GateResult{}, ctx.Err()
		case <-q.signal:
		case <-done:
			return GateResult{}, ErrClosed
		}
	}
}

// RejectWatch follows the reject confirmations of gate read-back mode
// "rejects": the products given a reject verdict, each until its slot shows
// a result or its confirm window ends. Safe for concurrent use.
type RejectWatch struct {
	// SeqBits: as GateTracker.SeqBits.
	SeqBits uint

	mu    sync.Mutex
	until map[uint64]time.Time
}

// Add registers products whose reject is to be confirmed by until.
func (w *RejectWatch) Add(until time.Time, seqs ...uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.until == nil {
		w.until = map[uint64]time.Time{}
	}
	for _, s := range seqs {
		w.until[s] = until
	}
}

// Waiting returns the products still waiting for their confirmation.
func (w *RejectWatch) Waiting() []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]uint64, 0, len(w.until))
	for s := range w.until {
		out = append(out, s)
	}
	return out
}

// Check looks at each waiting product's slot and returns the results
// settled now, in product order: the slot's result when it holds the
// product and is not pending; GateUnconfirmed and Unread when the window
// has ended or a later product has taken the slot.
func (w *RejectWatch) Check(now time.Time, slot func(seq uint64) (GateSlot, bool)) []GateResult {
	mask := ^uint64(0)
	if w.SeqBits > 0 && w.SeqBits < 64 {
		mask = 1<<w.SeqBits - 1
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []GateResult
	for seq, until := range w.until {
		r := GateResult{Seq: seq, At: now}
		s, ok := slot(seq)
		want, got := seq&mask, s.Seq&mask
		later := ok && got != want && (got-want)&mask <= mask/2
		res, nov, err := DecodeGateResult(s.Value)
		switch {
		case ok && got == want && err == nil && res != GatePending:
			r.Result, r.NoVerdict = res, nov
		case !now.Before(until), later:
			r.Result, r.Unread = GateUnconfirmed, true
		default:
			continue
		}
		delete(w.until, seq)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b GateResult) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}
