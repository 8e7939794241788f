// Package modbus is the controller's Modbus TCP / RTU PLC client on
// github.com/goburrow/modbus: trigger source (polled product counter with
// sequence-id ring), reject gate (verdict and confirmation tables),
// interlock outputs and heartbeats both ways, per a declarative
// RegisterMap.
//
// goburrow/modbus leaves a late reply in the socket after a timeout, and
// every later request then fails; this client closes the handler after ANY
// error and reconnects (NextTrigger with backoff, other calls one attempt
// gated by the same backoff). Trigger state (last counter value) survives
// reconnects, so no count is lost or counted twice.
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

	// trigger state: only NextTrigger touches these (plus Stats under mu)
	counter  devices.Counter
	seqExt   devices.SeqExtender
	wd       devices.Watchdog
	pending  []devices.Trigger
	missed   uint64
	nextPoll time.Time

	hbCancel context.CancelFunc
	hbDone   chan struct{}
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
	c.counter.Width = uint(cfg.Registers.CounterWidth)
	if cfg.Registers.SeqRingLen > 0 {
		c.seqExt.Width = 32
	} else {
		c.seqExt.Width = uint(cfg.Registers.CounterWidth)
	}
	c.wd.Timeout = cfg.HeartbeatTimeout
	return c, nil
}

// Config returns the validated config.
func (c *Client) Config() Config { return c.cfg }

// Stats returns a copy of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
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
	c.gate.Succeeded()
	if c.everConn {
		c.stats.Reconnects++
		c.log.Info("plc reconnected", "plc", c.cfg.String())
	}
	c.everConn = true
	return nil
}

// dropLocked closes the handler after any error (late-reply trap).
func (c *Client) dropLocked(op string, err error) error {
	c.stats.Errors++
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
	if ok, wait := c.gate.Allow(); !ok {
		return fmt.Errorf("%s: %w (next reconnect attempt in %s)", c.cfg, devices.ErrDisconnected, wait)
	}
	return c.dialLocked()
}

// Connect dials the PLC (one attempt), reads the trigger block once to
// prime the product counter (products counted before Connect are not
// triggers) and starts the controller-heartbeat writer. Errors wrap
// ErrDisconnected (dial or first read failed; call Connect again, e.g.
// through devices.Retry) or ErrClosed. Calling Connect on a connected
// client is a no-op.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return devices.ErrClosed
	}
	if err := c.dialLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	first := c.hbCancel == nil
	c.mu.Unlock()
	if !c.counter.Primed() {
		s, err := c.poll()
		if err != nil {
			return err
		}
		c.counter.Observe(s.Counter)
		c.primeSeq(s)
		c.wd.Observe(uint64(s.Heartbeat), c.now())
		c.nextPoll = c.now()
	}
	if first {
		hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.mu.Lock()
		c.hbCancel, c.hbDone = cancel, make(chan struct{})
		c.mu.Unlock()
		go c.heartbeat(hctx)
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
	return s, nil
}

// NextTrigger blocks until the next product passes the trigger point and
// returns it; triggers come in counter order, each exactly once, across
// reconnects. It polls the counter every PollInterval.
//
// Errors:
//   - wraps ErrDisconnected: a poll failed and the connection was closed.
//     The next call reconnects with backoff (blocking until connected or
//     ctx ends) and resumes from the last counter value seen, so nothing is
//     lost or double-counted; counts beyond the backlog limit are
//     reported as Missed.
//   - ErrHeartbeatStalled: the PLC heartbeat has not changed for
//     HeartbeatTimeout. No triggers are accepted while it lasts; call again
//     to keep watching. Products counted meanwhile come back as Missed on
//     the first trigger after the heartbeat resumes.
//   - ErrNotConnected (Connect never succeeded), ErrClosed, ctx.Err().
func (c *Client) NextTrigger(ctx context.Context) (devices.Trigger, error) {
	for {
		if len(c.pending) > 0 {
			t := c.pending[0]
			c.pending = c.pending[1:]
			c.mu.Lock()
			c.stats.Triggers++
			c.stats.Missed += t.Missed
			c.mu.Unlock()
			return t, nil
		}
		if err := ctx.Err(); err != nil {
			return devices.Trigger{}, err
		}
		c.mu.Lock()
		closed, ever, conn := c.closed, c.everConn, c.connected
		c.mu.Unlock()
		switch {
		case closed:
			return devices.Trigger{}, devices.ErrClosed
		case !ever:
			return devices.Trigger{}, devices.ErrNotConnected
		case !conn:
			err := devices.Retry(ctx, c.cfg.Backoff, func(context.Context) error {
				c.mu.Lock()
				defer c.mu.Unlock()
				if c.closed {
					return devices.Permanent(devices.ErrClosed)
				}
				return c.dialLocked()
			}, func(n int, err error, wait time.Duration) {
				c.log.Warn("plc reconnect failed", "plc", c.cfg.String(), "attempt", n, "retry_in", wait, "err", err)
			})
			if err != nil {
				return devices.Trigger{}, err
			}
		}
		if wait := c.nextPoll.Sub(c.now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return devices.Trigger{}, ctx.Err()
			case <-t.C:
			}
		}
		c.nextPoll = c.now().Add(c.cfg.PollInterval)
		s, err := c.poll()
		if err != nil {
			return devices.Trigger{}, err
		}
		if err := c.take(s, c.now()); err != nil {
			return devices.Trigger{}, err
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
	for k := delta; k >= 1; k-- {
		cv := (s.Counter - (k - 1)) & mask
		var seq uint64
		if s.Ring != nil {
			seq = c.seqExt.Extend(uint64(s.Ring[cv%uint64(len(s.Ring))]))
		} else {
			seq = c.seqExt.Extend(cv)
		}
		c.pending = append(c.pending, devices.Trigger{Seq: seq, Missed: c.missed, At: now})
		c.missed = 0
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensureLocked(); err != nil {
		return err
	}
	addr := m.slotAddr(m.Decisions, seq)
	if _, err := c.mb.WriteMultipleRegisters(addr, 3, RegBytes(slot[:])); err != nil {
		return c.dropLocked(fmt.Sprintf("write verdict for product %d (register %d)", seq, addr), err)
	}
	return nil
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
	deadline := c.now().Add(c.cfg.ConfirmWindow)
	addr := m.slotAddr(m.Confirmations, seq)
	var lastErr error
	for {
		got, code, err := c.readSlot(addr)
		if err == nil && uint64(got) == seq&0xffffffff && code != devices.GatePending {
			switch code {
			case devices.GateRejected:
				return true, nil
			case devices.GatePassed:
				return false, nil
			default:
				return false, fmt.Errorf("%s: product %d: %w (sensor did not see the reject)", c.cfg, seq, devices.ErrNotConfirmed)
			}
		}
		if err != nil {
			if errors.Is(err, devices.ErrClosed) || errors.Is(err, devices.ErrNotConnected) {
				return false, err
			}
			lastErr = err
		}
		left := deadline.Sub(c.now())
		if left <= 0 {
			return false, errors.Join(fmt.Errorf("%s: product %d: %w within %s", c.cfg, seq, devices.ErrNotConfirmed, c.cfg.ConfirmWindow), lastErr)
		}
		t := time.NewTimer(min(left, c.cfg.ConfirmPoll))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
	}
}

func (c *Client) readSlot(addr uint16) (uint32, uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensureLocked(); err != nil {
		return 0, 0, err
	}
	raw, err := c.mb.ReadHoldingRegisters(addr, 3)
	if err != nil {
		return 0, 0, c.dropLocked(fmt.Sprintf("read confirmation slot %d", addr), err)
	}
	r, err := Regs(raw)
	if err != nil {
		return 0, 0, c.dropLocked("decode confirmation slot", err)
	}
	seq, code, err := DecodeSlot(r, c.cfg.Registers.WordOrder, devices.GateUnconfirmed)
	if err != nil {
		return 0, 0, c.dropLocked(fmt.Sprintf("decode confirmation slot %d", addr), err)
	}
	return seq, code, nil
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
	cancel, done := c.hbCancel, c.hbDone
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
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
