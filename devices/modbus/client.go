// Package modbus is the controller's Modbus TCP / RTU PLC client on
// github.com/goburrow/modbus: trigger source (polled product counter with
// sequence-id ring), reject gate (verdict and confirmation tables),
// interlock outputs and heartbeats both ways, per a declarative
// RegisterMap.
//
// goburrow/modbus leaves a late reply in the socket after a timeout, and
// every later request then fails; this client closes the handler after ANY
// error and reconnects (its trigger poller with backoff, other calls one
// attempt gated by the same backoff). Trigger state (last counter value)
// survives reconnects, so no count is lost or counted twice.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gb "github.com/goburrow/modbus"

	"github.com/serialine/serialine/devices"
)

// Options are the non-config dependencies of a Client.
type Options struct {
	// Logger receives connection and counter events (default: discard).
	Logger *slog.Logger
	// Now is the clock used for trigger timestamps, the heartbeat watchdog
	// and the confirm window (default time.Now).
	Now func() time.Time
}

type handler interface {
	Connect() error
	Close() error
}

// Stats are counters for monitoring and tests.
type Stats struct {
	// Triggers returned by NextTrigger.
	Triggers uint64
	// Missed counts reported in Trigger.Missed so far.
	Missed uint64
	// Wraps of the product counter seen.
	Wraps uint64
	// Resets: counter went backwards (PLC restart), resynchronised.
	Resets uint64
	// Reconnects after a failed connection.
	Reconnects uint64
	// Errors: requests that failed (each closed the connection).
	Errors uint64
	// Polls of the trigger block.
	Polls uint64
	// VerdictRequests: Write Multiple Registers requests sent for verdicts
	// (Decide and DecideBatch), failed ones included.
	VerdictRequests uint64
	// VerdictRetries: DecideBatch re-sends after a failed request.
	VerdictRetries uint64
	// GateReads: reads of the confirmation table for NextGateResult.
	GateReads uint64
}

// Client is one Modbus PLC. NextTrigger must be called from one goroutine
// at a time; Decide, Confirm and SetOutputs may be called concurrently with
// it and each other (requests are serialised on the one connection).
type Client struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	plan PollPlan

	mu        sync.Mutex // guards everything below and the wire
	h         handler
	mb        gb.Client
	gate      devices.Gate
	connected bool
	everConn  bool
	closed    bool
	stats     Stats
	hbOut     uint16

	// trigger state: only the poller touches these (Connect before it
	// starts)
	counter    devices.Counter
	seqExt     devices.SeqExtender
	wd         devices.Watchdog
	pending    []devices.Trigger
	missed     uint64
	stallSince time.Time // last ErrHeartbeatStalled reported
	// lastPoll is when the trigger block was last read successfully
	// (poller only): the products a poll counts passed the trigger point
	// after it, so it dates their triggers (Trigger.At) at the earliest
	// they can have happened, also after a reconnect.
	lastPoll time.Time

	events   chan event    // poller -> NextTrigger
	pollDone chan struct{} // closed when the poller has stopped

	hbCancel context.CancelFunc
	hbDone   chan struct{}

	primeMu sync.Mutex // one Connect at a time primes the trigger state

	gc *gateConn // Config.GateConnection; nil otherwise

	gr *gateReader // NextGateResult; nil with gate_results "none"
}

// event is one poller result for NextTrigger: a trigger or an error.
type event struct {
	t   devices.Trigger
	err error
}

// New validates cfg and returns an unconnected client.
func New(cfg Config, o Options) (*Client, error) {
	if err := cfg.Validate().Err(); err != nil {
		return nil, fmt.Errorf("modbus: %w", err)
	}
	c := &Client{cfg: cfg, log: o.Logger, now: o.Now, plan: NewPollPlan(cfg.Registers)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.gate = devices.Gate{Backoff: cfg.Backoff, Now: c.now}
	if cfg.GateConnection {
		c.gc = &gateConn{gate: devices.Gate{Backoff: cfg.Backoff, Now: c.now}}
	}
	c.counter.Width = uint(cfg.Registers.CounterWidth)
	if cfg.Registers.SeqRingLen > 0 {
		c.seqExt.Width = 32
	} else {
		c.seqExt.Width = uint(cfg.Registers.CounterWidth)
	}
	c.wd.Timeout = cfg.HeartbeatTimeout
	c.gr = newGateReader(cfg.GateResults)
	return c, nil
}

// Config returns the validated config.
func (c *Client) Config() Config { return c.cfg }

// Stats returns a copy of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	s := c.stats
	c.mu.Unlock()
	if c.gc != nil {
		c.gc.mu.Lock()
		g := c.gc.stats
		c.gc.mu.Unlock()
		s.Errors += g.Errors
		s.Reconnects += g.Reconnects
		s.VerdictRequests += g.VerdictRequests
		s.VerdictRetries += g.VerdictRetries
	}
	return s
}

func (c *Client) dialLocked() error {
	if c.connected {
		return nil
	}
	var h handler
	var mb gb.Client
	switch c.cfg.Transport {
	case "rtu":
		r := gb.NewRTUClientHandler(c.cfg.Serial.Device)
		r.BaudRate = c.cfg.Serial.Baud
		r.DataBits = c.cfg.Serial.DataBits
		r.Parity = c.cfg.Serial.ParityLetter()
		r.StopBits = c.cfg.Serial.StopBitsInt()
		r.SlaveId = byte(c.cfg.UnitID)
		r.Timeout = c.cfg.Timeout
		r.IdleTimeout = 0
		h, mb = r, gb.NewClient(r)
	default:
		t := gb.NewTCPClientHandler(c.cfg.Address)
		t.SlaveId = byte(c.cfg.UnitID)
		t.Timeout = c.cfg.Timeout
		t.IdleTimeout = 0 // no idle-close timer goroutines
		h, mb = t, gb.NewClient(t)
	}
	if err := h.Connect(); err != nil {
		h.Close()
		c.gate.Failed()
		return fmt.Errorf("%s: connect: %w: %w", c.cfg, devices.ErrDisconnected, err)
	}
	c.h, c.mb, c.connected = h, mb, true
	c.gate.Connected() // the backoff resets on the first valid reply, not here
	if c.everConn {
		c.stats.Reconnects++
		c.log.Info("plc reconnected", "plc", c.cfg.String())
	}
	c.everConn = true
	return nil
}

// dropLocked closes the handler after any error (late-reply trap) and
// tells the backoff gate what the error says about the PLC (judge).
func (c *Client) dropLocked(op string, err error) error {
	c.stats.Errors++
	judge(&c.gate, err)
	if c.h != nil {
		c.h.Close()
	}
	c.h, c.mb, c.connected = nil, nil, false
	c.log.Warn("plc request failed; connection closed", "plc", c.cfg.String(), "op", op, "err", err)
	return fmt.Errorf("%s: %s: %w: %w", c.cfg, op, devices.ErrDisconnected, err)
}

// ensureLocked reconnects once if allowed by the backoff gate.
func (c *Client) ensureLocked() error {
	if c.closed {
		return devices.ErrClosed
	}
	if !c.everConn {
		return devices.ErrNotConnected
	}
	if c.connected {
		return nil
	}
	if err := c.backoffLocked("reconnect"); err != nil {
		return err
	}
	return c.dialLocked()
}

// backoffLocked refuses an attempt the backoff gate does not allow yet
// (devices.RetryAfter wrapping ErrDisconnected, so devices.Retry waits for
// the gate); nil while connected.
func (c *Client) backoffLocked(op string) error {
	if c.connected {
		return nil
	}
	if ok, wait := c.gate.Allow(); !ok {
		return devices.RetryAfter(fmt.Errorf("%s: %s: %w (backing off after %d failed attempt(s) without a valid reply; next attempt in %s)",
			c.cfg, op, devices.ErrDisconnected, c.gate.Failures(), wait), wait)
	}
	return nil
}

// Connect dials the PLC (one attempt), reads the trigger block once to
// prime the product counter (products counted before Connect are not
// triggers) and starts the controller-heartbeat writer and the trigger
// poller (both stopped by Close). Errors wrap
// ErrDisconnected (dial or first read failed; call Connect again, e.g.
// through devices.Retry) or ErrClosed. Calling Connect on a connected
// client is a no-op.
func (c *Client) Connect(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err // goburrow's dial takes no context: at least do not start one
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return devices.ErrClosed
	}
	if err := c.backoffLocked("connect"); err != nil {
		c.mu.Unlock()
		return err
	}
	if err := c.dialLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	started := c.hbCancel != nil
	c.mu.Unlock()
	if c.gc != nil {
		c.gc.mu.Lock()
		err := c.gc.dialLocked(c)
		if c.gc.closed {
			err = devices.ErrClosed
		}
		c.gc.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if started {
		return nil // connected before: the poller owns the trigger state
	}
	c.primeMu.Lock()
	defer c.primeMu.Unlock()
	if !c.counter.Primed() {
		s, err := c.poll()
		if err != nil {
			return err
		}
		c.counter.Observe(s.Counter)
		c.primeSeq(s)
		c.wd.Observe(uint64(s.Heartbeat), c.now())
	}
	// Start the goroutines once, and never after Close: the check and the
	// hand-over to Close happen under one lock.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return devices.ErrClosed
	}
	if c.hbCancel == nil {
		hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.hbCancel, c.hbDone = cancel, make(chan struct{})
		c.events, c.pollDone = make(chan event, 1024), make(chan struct{})
		go c.heartbeat(hctx)
		go c.poller(hctx)
	}
	return nil
}

func (c *Client) primeSeq(s Snapshot) {
	if s.Ring != nil {
		n := uint64(len(s.Ring))
		c.seqExt.Extend(uint64(s.Ring[s.Counter%n]))
		return
	}
	c.seqExt.Extend(s.Counter)
}

// heartbeat writes the controller heartbeat until Close.
func (c *Client) heartbeat(ctx context.Context) {
	defer close(c.hbDone)
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		if err := c.ensureLocked(); err == nil {
			c.hbOut++
			if _, err := c.mb.WriteSingleRegister(c.cfg.Registers.pdu(c.cfg.Registers.ControllerHeartbeat), c.hbOut); err != nil {
				c.dropLocked("write controller heartbeat", err)
			} else {
				c.gate.Succeeded()
			}
		}
		c.mu.Unlock()
	}
}

// poll reads the trigger block.
func (c *Client) poll() (Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensureLocked(); err != nil {
		return Snapshot{}, err
	}
	data := make([][]uint16, len(c.plan.blocks))
	for i, b := range c.plan.blocks {
		raw, err := c.mb.ReadHoldingRegisters(b.start, b.qty)
		if err != nil {
			return Snapshot{}, c.dropLocked(fmt.Sprintf("read trigger block %d+%d", b.start, b.qty), err)
		}
		r, err := Regs(raw)
		if err == nil && len(r) != int(b.qty) {
			err = fmt.Errorf("%w: %d registers for %d requested", devices.ErrBadValue, len(r), b.qty)
		}
		if err != nil {
			return Snapshot{}, c.dropLocked("decode trigger block", err)
		}
		data[i] = r
	}
	c.stats.Polls++
	s, err := c.plan.Decode(data)
	if err != nil {
		return s, c.dropLocked("decode trigger block", err)
	}
	c.gate.Succeeded()
	return s, nil
}

// NextTrigger blocks until the next product passes the trigger point and
// returns it; triggers come in counter order, each exactly once, across
// reconnects. A poller started by Connect reads the counter every
// PollInterval whether or not NextTrigger is being called (so a slow
// consumer does not make the PLC's sequence-id ring overflow) and queues
// triggers and errors for it.
//
// Errors:
//   - wraps ErrDisconnected: a poll failed and the connection was closed.
//     The poller reconnects in the background with backoff and resumes
//     from the last counter value seen, so nothing is lost or
//     double-counted; call NextTrigger again (it waits meanwhile). Counts
//     beyond the ring/backlog limit are reported as Missed.
//   - ErrHeartbeatStalled: the PLC heartbeat has not changed for
//     HeartbeatTimeout (reported again every HeartbeatTimeout while it
//     lasts). No triggers are accepted meanwhile; products counted during
//     the stall come back as Missed on the first trigger after it.
//   - ErrNotConnected (Connect never succeeded), ErrClosed, ctx.Err().
func (c *Client) NextTrigger(ctx context.Context) (devices.Trigger, error) {
	c.mu.Lock()
	events, done, closed := c.events, c.pollDone, c.closed
	c.mu.Unlock()
	if closed {
		return devices.Trigger{}, devices.ErrClosed
	}
	if events == nil {
		return devices.Trigger{}, devices.ErrNotConnected
	}
	select {
	case <-ctx.Done():
		return devices.Trigger{}, ctx.Err()
	case ev := <-events:
		if ev.err != nil {
			return devices.Trigger{}, ev.err
		}
		c.mu.Lock()
		c.stats.Triggers++
		c.stats.Missed += ev.t.Missed
		c.mu.Unlock()
		return ev.t, nil
	case <-done:
		return devices.Trigger{}, devices.ErrClosed
	}
}

// poller polls the trigger block until ctx ends (Close), reconnecting with
// backoff, and queues triggers and errors for NextTrigger. A full queue
// blocks it: the products meanwhile are still counted by the PLC and come
// back as triggers or Missed.
func (c *Client) poller(ctx context.Context) {
	defer close(c.pollDone)
	send := func(ev event) bool {
		select {
		case c.events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	next := c.now()
	for {
		if wait := next.Sub(c.now()); wait > 0 && !devices.Sleep(ctx, wait) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		next = c.now().Add(c.cfg.PollInterval)
		c.mu.Lock()
		conn := c.connected
		c.mu.Unlock()
		if !conn && !c.reconnect(ctx) {
			return // closed
		}
		s, err := c.poll()
		if err != nil {
			if !send(event{err: err}) {
				return
			}
			continue
		}
		now := c.now()
		err = c.take(s, now)
		c.lastPoll = now
		for _, t := range c.pending {
			if !send(event{t: t}) {
				return
			}
		}
		c.pending = c.pending[:0]
		if gerr := c.pollGate(now); gerr != nil {
			if !send(event{err: gerr}) {
				return
			}
			continue
		}
		if err != nil { // stalled: report on entry and every HeartbeatTimeout
			if c.stallSince.IsZero() || now.Sub(c.stallSince) >= c.cfg.HeartbeatTimeout {
				c.stallSince = now
				if !send(event{err: err}) {
					return
				}
			}
		} else {
			c.stallSince = time.Time{}
		}
	}
}

// reconnect dials the PLC again, each attempt when the backoff gate allows
// it, until connected; false once ctx ends or the client is closed.
func (c *Client) reconnect(ctx context.Context) bool {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return false
		}
		if c.connected { // the heartbeat writer or a Decide got there first
			c.mu.Unlock()
			return true
		}
		ok, wait := c.gate.Allow()
		if ok {
			err := c.dialLocked()
			n := c.gate.Failures()
			c.mu.Unlock()
			if err == nil {
				return true
			}
			c.log.Warn("plc reconnect failed", "plc", c.cfg.String(), "attempt", n, "err", err)
			continue
		}
		c.mu.Unlock()
		if !devices.Sleep(ctx, wait) {
			return false
		}
	}
}

// take turns one snapshot into pending triggers.
func (c *Client) take(s Snapshot, now time.Time) error {
	stalled := c.wd.Observe(uint64(s.Heartbeat), now)
	delta, reset := c.counter.Observe(s.Counter)
	c.mu.Lock()
	c.stats.Wraps, c.stats.Resets = c.counter.Wraps(), c.counter.Resets()
	c.mu.Unlock()
	if reset {
		// a PLC restart: the counter starts again from zero, so its value
		// is the number of products since the restart
		c.log.Warn("plc product counter went backwards; resynchronised", "plc", c.cfg.String(), "counter", s.Counter)
		c.seqExt = devices.SeqExtender{Width: c.seqExt.Width}
		delta = s.Counter
		if s.Ring == nil && delta > 0 {
			c.seqExt.Extend(0)
		}
	}
	if stalled {
		c.missed += delta
		if s.Ring == nil && delta > 0 { // keep the id extender in step
			c.seqExt.Extend(s.Counter)
		}
		return fmt.Errorf("%s: %w (unchanged for more than %s)", c.cfg, devices.ErrHeartbeatStalled, c.cfg.HeartbeatTimeout)
	}
	if delta == 0 {
		return nil
	}
	limit := uint64(c.cfg.backlog())
	if delta > limit {
		// products too far back to follow: account for them as missed
		c.missed += delta - limit
		if s.Ring == nil { // keep the id extender stepping in small moves
			c.seqExt.Extend((s.Counter - limit) & (uint64(1)<<c.cfg.Registers.CounterWidth - 1))
		}
		delta = limit
	}
	mask := uint64(1)<<c.cfg.Registers.CounterWidth - 1
	at := c.lastPoll
	if at.IsZero() {
		at = now
	}
	for k := delta; k >= 1; k-- {
		cv := (s.Counter - (k - 1)) & mask
		var seq uint64
		if s.Ring != nil {
			seq = c.seqExt.Extend(uint64(s.Ring[cv%uint64(len(s.Ring))]))
		} else {
			seq = c.seqExt.Extend(cv)
		}
		c.pending = append(c.pending, devices.Trigger{Seq: seq, Missed: c.missed, At: at})
		c.missed = 0
		if c.gr != nil && c.gr.mode == devices.GateResultsEvery {
			c.gr.tracker.Expect(seq)
		}
	}
	return nil
}

// Decide writes the verdict for product seq into its decision slot
// (before the product reaches the gate; the PLC rejects products without a
// verdict, fail-safe). Errors wrap ErrDisconnected (the write failed, the
// connection was closed; one reconnect is tried on the next call when the
// backoff allows; a Modbus exception is reachable with errors.As
// *gb.ModbusError), ErrNotConnected or ErrClosed.
func (c *Client) Decide(ctx context.Context, seq uint64, reject bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v := uint16(devices.VerdictAccept)
	if reject {
		v = devices.VerdictReject
	}
	m := c.cfg.Registers
	slot := EncodeSlot(uint32(seq), v, m.WordOrder)
	w := c.lockWire()
	defer w.unlock()
	if err := w.ensure(); err != nil {
		return err
	}
	addr := m.slotAddr(m.Decisions, seq)
	w.st.VerdictRequests++
	if _, err := w.mb().WriteMultipleRegisters(addr, 3, RegBytes(slot[:])); err != nil {
		return w.drop(fmt.Sprintf("write verdict for product %d (register %d)", seq, addr), err)
	}
	w.ok()
	if reject {
		c.confirmRejects([]devices.Verdict{{Seq: seq, Reject: true}})
	}
	return nil
}

// DecideBatch writes several verdicts with as few requests as the register
// map allows: verdicts of consecutive products in adjacent decision slots
// share one Write Multiple Registers request (RegisterMap.VerdictWrites:
// up to 41 slots; a sequence gap or the wrap from the last slot to the
// first starts a new request). Requests go out in order.
//
// Failure rule: a failed request closes the connection (late-reply trap);
// DecideBatch then reconnects once (if the backoff gate allows) and
// re-sends the failed request and every later one, once. Rewriting a slot
// with the same [seq, verdict] is idempotent, so a request that did reach
// the PLC before its reply was lost does no harm when sent again. When the
// retry fails too (or the client is closed / not connected / ctx ended) the
// error is a *devices.VerdictError listing the products whose verdict was
// not acknowledged; every other verdict was. Its Err wraps ErrDisconnected
// and the cause (a Modbus exception is reachable with ExceptionCode). A
// Modbus exception reply means the PLC did not execute the request.
func (c *Client) DecideBatch(ctx context.Context, vs []devices.Verdict) error {
	if len(vs) == 0 {
		return nil
	}
	ws := c.cfg.Registers.VerdictWrites(vs)
	undelivered := func(from int, err error) error {
		var seqs []uint64
		for _, w := range ws[from:] {
			seqs = append(seqs, w.Seqs...)
		}
		return &devices.VerdictError{Undelivered: seqs, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return undelivered(0, err)
	}
	defer c.confirmRejects(vs)
	w := c.lockWire()
	defer w.unlock()
	next, err := writeVerdicts(w, ws, 0)
	if err == nil {
		return nil
	}
	if errors.Is(err, devices.ErrClosed) || errors.Is(err, devices.ErrNotConnected) || ctx.Err() != nil {
		return undelivered(next, err)
	}
	w.st.VerdictRetries++
	next, err2 := writeVerdicts(w, ws, next)
	if err2 == nil {
		return nil
	}
	return undelivered(next, errors.Join(err2, fmt.Errorf("first attempt: %w", err)))
}

// writeVerdicts sends ws[from:] in order over the locked wire w; on
// failure it returns the index of the request that failed (the connection
// is closed then).
func writeVerdicts(w wire, ws []VerdictWrite, from int) (int, error) {
	if err := w.ensure(); err != nil {
		return from, err
	}
	for i := from; i < len(ws); i++ {
		v := ws[i]
		w.st.VerdictRequests++
		if _, err := w.mb().WriteMultipleRegisters(v.Addr, uint16(len(v.Regs)), RegBytes(v.Regs)); err != nil {
			return i, w.drop(fmt.Sprintf("write verdicts for products %d..%d (registers %d+%d)", v.Seqs[0], v.Seqs[len(v.Seqs)-1], v.Addr, len(v.Regs)), err)
		}
		w.ok()
	}
	return len(ws), nil
}

// Confirm waits up to ConfirmWindow (from the call) for the gate result of
// product seq, reading its confirmation slot every ConfirmPoll. confirmed
// reports that the product was pushed off and the confirmation sensor saw
// it.
//
// Results: (true, nil) pushed off and seen; (false, nil) the product passed
// the gate (accepted). For a product the controller asked to reject, or
// when no result arrives in the window, or the sensor reports the reject
// unseen: (false, err) with err wrapping ErrNotConfirmed (the line marks
// the unit rejected-unconfirmed, stops the line and raises an alarm).
// Connection errors within the window are retried (one reconnect per poll,
// gated by the backoff) and joined to ErrNotConfirmed if the window ends.
// ctx.Err() when ctx ends first.
func (c *Client) Confirm(ctx context.Context, seq uint64) (bool, error) {
	m := c.cfg.Registers
	addr := m.slotAddr(m.Confirmations, seq)
	var code uint16
	done, err := devices.PollWindow(ctx, c.cfg.ConfirmWindow, c.cfg.ConfirmPoll, c.now, func() (bool, error) {
		got, cd, err := c.readSlot(addr)
		if err != nil {
			// closed / never connected end the wait; I/O errors are retried
			return errors.Is(err, devices.ErrClosed) || errors.Is(err, devices.ErrNotConnected), err
		}
		code = cd
		return uint64(got) == seq&0xffffffff && cd != devices.GatePending, nil
	})
	return confirmResult(ctx, c.cfg.String(), seq, c.cfg.ConfirmWindow, done, code, err)
}

// confirmResult maps a gate result (or its absence) to Confirm's results.
func confirmResult(ctx context.Context, dev string, seq uint64, window time.Duration, done bool, code uint16, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if !done {
		return false, errors.Join(fmt.Errorf("%s: product %d: %w within %s", dev, seq, devices.ErrNotConfirmed, window), err)
	}
	if err != nil {
		return false, err
	}
	switch code {
	case devices.GateRejected:
		return true, nil
	case devices.GatePassed:
		return false, nil
	}
	return false, fmt.Errorf("%s: product %d: %w (sensor did not see the reject)", dev, seq, devices.ErrNotConfirmed)
}

func (c *Client) readSlot(addr uint16) (uint32, uint16, error) {
	w := c.lockWire()
	defer w.unlock()
	if err := w.ensure(); err != nil {
		return 0, 0, err
	}
	raw, err := w.mb().ReadHoldingRegisters(addr, 3)
	if err != nil {
		return 0, 0, w.drop(fmt.Sprintf("read confirmation slot %d", addr), err)
	}
	r, err := Regs(raw)
	if err != nil {
		return 0, 0, w.drop("decode confirmation slot", err)
	}
	seq, v, err := DecodeSlot(r, c.cfg.Registers.WordOrder, 0xffff)
	if err == nil {
		var res int
		res, _, err = devices.DecodeGateResult(uint64(v))
		v = uint16(res)
	}
	if err != nil {
		return 0, 0, w.drop(fmt.Sprintf("decode confirmation slot %d", addr), err)
	}
	w.ok()
	return seq, v, nil
}

// SetOutputs writes the interlock outputs (line stop, stack light, horn);
// one request when the three registers are consecutive. Errors as Decide.
func (c *Client) SetOutputs(ctx context.Context, o devices.Outputs) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !o.Light.Valid() {
		return fmt.Errorf("%w: stack light %d", devices.ErrBadValue, o.Light)
	}
	b := func(v bool) uint16 {
		if v {
			return 1
		}
		return 0
	}
	m := c.cfg.Registers
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensureLocked(); err != nil {
		return err
	}
	if m.Light == m.LineStop+1 && m.Horn == m.Light+1 {
		vals := []uint16{b(o.LineStop), uint16(o.Light), b(o.Horn)}
		if _, err := c.mb.WriteMultipleRegisters(m.pdu(m.LineStop), 3, RegBytes(vals)); err != nil {
			return c.dropLocked("write outputs", err)
		}
		c.gate.Succeeded()
		return nil
	}
	for _, w := range []struct {
		name string
		a    uint16
		v    uint16
	}{{"line_stop", m.LineStop, b(o.LineStop)}, {"light", m.Light, uint16(o.Light)}, {"horn", m.Horn, b(o.Horn)}} {
		if _, err := c.mb.WriteSingleRegister(m.pdu(w.a), w.v); err != nil {
			return c.dropLocked("write "+w.name, err)
		}
		c.gate.Succeeded()
	}
	return nil
}

// Close stops the heartbeat writer (waiting for it) and closes the
// connection. Later calls return ErrClosed. Safe to call twice.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cancel, done, pdone := c.hbCancel, c.hbDone, c.pollDone
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
		<-pdone
	}
	if c.gc != nil {
		c.gc.close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h != nil {
		c.h.Close()
	}
	c.h, c.mb, c.connected = nil, nil, false
	return nil
}

// ExceptionCode reports the Modbus exception code carried by err, if any.
func ExceptionCode(err error) (byte, bool) {
	var me *gb.ModbusError
	if errors.As(err, &me) {
		return me.ExceptionCode, true
	}
	return 0, false
}
