package modbus

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/serialine/serialine/devices"
)

// gateReader reads the PLC's confirmation table back for NextGateResult
// (Timing.GateResults). Mode "every": every product's slot, walked in
// sequence order by a devices.GateTracker fed with the triggers the poller
// sees. Mode "rejects": only the slots of products that got a reject
// verdict (Decide / DecideBatch register them in a devices.RejectWatch).
// The trigger poller reads the table every ConfirmPoll while results are
// pending, on the main connection.
type gateReader struct {
	mode    string
	tracker devices.GateTracker // poller only
	next    time.Time           // poller only: when the table is read next
	rejects devices.RejectWatch
	q       *devices.GateQueue
}

func newGateReader(mode string) *gateReader {
	if mode == "" {
		mode = devices.GateResultsEvery
	}
	if mode == devices.GateResultsNone {
		return nil
	}
	return &gateReader{mode: mode, tracker: devices.GateTracker{SeqBits: 32}, rejects: devices.RejectWatch{SeqBits: 32},
		q: devices.NewGateQueue()}
}

// NextGateResult returns what the reject gate did to the next product, as
// the PLC's confirmation table reports it (Timing.GateResults): in mode
// "every" every product seen at the trigger point, in sequence order, each
// exactly once (products whose slot was overwritten before it could be
// read are counted in the next result's Missed); in mode "rejects" the
// products given a reject verdict, each once, as GateUnconfirmed when no
// result showed within ConfirmWindow of the verdict write. The trigger
// poller started by Connect reads the table; a broken connection is
// reported by NextTrigger, and reading resumes after its reconnect.
//
// Errors: ErrNotConnected (Connect never succeeded), ErrClosed (closed, or
// mode "none": nothing is ever read back), ctx.Err().
func (c *Client) NextGateResult(ctx context.Context) (devices.GateResult, error) {
	c.mu.Lock()
	g, done, closed := c.gr, c.pollDone, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return devices.GateResult{}, devices.ErrClosed
	case g == nil:
		return devices.GateResult{}, fmt.Errorf("%s: gate_results %q: %w", c.cfg, devices.GateResultsNone, devices.ErrClosed)
	case done == nil:
		return devices.GateResult{}, devices.ErrNotConnected
	}
	return g.q.Next(ctx, done)
}

// confirmRejects registers reject verdicts for read-back (mode rejects; a
// reject whose write failed is registered too: the gate rejects a product
// without verdict as well).
func (c *Client) confirmRejects(vs []devices.Verdict) {
	if c.gr == nil || c.gr.mode != devices.GateResultsRejects {
		return
	}
	var seqs []uint64
	for _, v := range vs {
		if v.Reject {
			seqs = append(seqs, v.Seq)
		}
	}
	c.gr.rejects.Add(c.now().Add(c.cfg.ConfirmWindow), seqs...)
}

// pollGate reads the confirmation slots of the products whose results are
// pending (poller goroutine, every ConfirmPoll) and queues the results.
func (c *Client) pollGate(now time.Time) error {
	g := c.gr
	if g == nil || now.Before(g.next) {
		return nil
	}
	g.next = now.Add(c.cfg.ConfirmPoll)
	n := uint64(c.cfg.Registers.Slots)
	if g.mode == devices.GateResultsRejects {
		// Read every waiting product's slot, then settle them at once:
		// the results are queued in product order.
		slots := map[uint64]devices.GateSlot{}
		for _, seq := range g.rejects.Waiting() {
			if _, ok := slots[seq%n]; ok {
				continue
			}
			got, err := c.readSlots(seq%n, 1)
			if err != nil {
				return err
			}
			maps.Copy(slots, got)
		}
		g.q.Push(g.rejects.Check(now, func(s uint64) (devices.GateSlot, bool) {
			v, ok := slots[s%n]
			return v, ok
		})...)
		return nil
	}
	from, to, ok := g.tracker.Pending()
	if !ok {
		return nil
	}
	slots, err := c.readSlots(from%n, min(to-from+1, n))
	if err != nil {
		return err
	}
	rs, err := g.tracker.Take(now, func(seq uint64) (devices.GateSlot, error) {
		return slots[seq%n], nil // a slot not read this round reads as an older product's
	})
	g.q.Push(rs...)
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.dropLocked("decode gate results", err)
	}
	return nil
}

// readSlots reads count consecutive confirmation slots starting at slot
// index first (wrapping to slot 0), in requests of at most 41 slots, and
// returns them by slot index.
func (c *Client) readSlots(first, count uint64) (map[uint64]devices.GateSlot, error) {
	m := c.cfg.Registers
	n := uint64(m.Slots)
	per := uint64(maxReadRegs / 3)
	out := make(map[uint64]devices.GateSlot, count)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensureLocked(); err != nil {
		return nil, err
	}
	for done := uint64(0); done < count; {
		i := (first + done) % n
		k := min(count-done, n-i, per) // up to the end of the table, one request
		addr := m.pdu(m.Confirmations) + uint16(3*i)
		raw, err := c.mb.ReadHoldingRegisters(addr, uint16(3*k))
		if err != nil {
			return nil, c.dropLocked(fmt.Sprintf("read gate results %d+%d", addr, 3*k), err)
		}
		r, err := Regs(raw)
		if err == nil && len(r) != int(3*k) {
			err = fmt.Errorf("%w: %d registers for %d requested", devices.ErrBadValue, len(r), 3*k)
		}
		if err != nil {
			return nil, c.dropLocked("decode gate results", err)
		}
		for j := range k {
			w := r[3*j : 3*j+3]
			out[i+j] = devices.GateSlot{Seq: uint64(Words32(w[0], w[1], m.WordOrder)), Value: uint64(w[2])}
		}
		done += k
	}
	c.stats.GateReads++
	c.gate.Succeeded()
	return out, nil
}
