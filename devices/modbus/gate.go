package modbus

import (
	"fmt"
	"sync"

	gb "github.com/goburrow/modbus"

	"github.com/serialine/serialine/devices"
)

// gateConn is the optional second Modbus TCP connection that verdict writes
// and confirmation reads use (Config.GateConnection), so a verdict never
// waits behind the round trip of a trigger poll on the main connection.
// Same rules as the main connection: closed after any error (late-reply
// trap), one reconnect per call when its backoff gate allows.
type gateConn struct {
	mu        sync.Mutex // guards everything below and the wire
	h         handler
	mb        gb.Client
	connected bool
	everConn  bool
	closed    bool
	gate      devices.Gate
	stats     Stats // Errors, Reconnects, VerdictRequests, VerdictRetries
}

func (g *gateConn) dialLocked(c *Client) error {
	if g.connected {
		return nil
	}
	t := gb.NewTCPClientHandler(c.cfg.Address)
	t.SlaveId = byte(c.cfg.UnitID)
	t.Timeout = c.cfg.Timeout
	t.IdleTimeout = 0
	if err := t.Connect(); err != nil {
		t.Close()
		g.gate.Failed()
		return fmt.Errorf("%s: gate connection: connect: %w: %w", c.cfg, devices.ErrDisconnected, err)
	}
	g.h, g.mb, g.connected = t, gb.NewClient(t), true
	g.gate.Connected() // the backoff resets on the first valid reply, not here
	if g.everConn {
		g.stats.Reconnects++
		c.log.Info("plc gate connection reconnected", "plc", c.cfg.String())
	}
	g.everConn = true
	return nil
}

func (g *gateConn) dropLocked(c *Client, op string, err error) error {
	g.stats.Errors++
	judge(&g.gate, err)
	if g.h != nil {
		g.h.Close()
	}
	g.h, g.mb, g.connected = nil, nil, false
	c.log.Warn("plc request failed; gate connection closed", "plc", c.cfg.String(), "op", op, "err", err)
	return fmt.Errorf("%s: %s: %w: %w", c.cfg, op, devices.ErrDisconnected, err)
}

func (g *gateConn) ensureLocked(c *Client) error {
	if g.closed {
		return devices.ErrClosed
	}
	if !g.everConn {
		return devices.ErrNotConnected
	}
	if g.connected {
		return nil
	}
	if ok, wait := g.gate.Allow(); !ok {
		return devices.RetryAfter(fmt.Errorf("%s: gate connection: %w (backing off after %d failed attempt(s) without a valid reply; next attempt in %s)",
			c.cfg, devices.ErrDisconnected, g.gate.Failures(), wait), wait)
	}
	return g.dialLocked(c)
}

func (g *gateConn) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.h != nil {
		g.h.Close()
	}
	g.h, g.mb, g.connected = nil, nil, false
}

// wire is the locked connection verdicts and confirmations go over: the
// gate connection when configured, else the main one.
type wire struct {
	c  *Client
	g  *gateConn // nil: main connection
	st *Stats
}

// lockWire locks the verdict/confirmation connection; unlock with w.unlock.
func (c *Client) lockWire() wire {
	if c.gc != nil {
		c.gc.mu.Lock()
		return wire{c: c, g: c.gc, st: &c.gc.stats}
	}
	c.mu.Lock()
	return wire{c: c, st: &c.stats}
}

func (w wire) unlock() {
	if w.g != nil {
		w.g.mu.Unlock()
		return
	}
	w.c.mu.Unlock()
}

// ensure reconnects once if needed and allowed.
func (w wire) ensure() error {
	if w.g != nil {
		return w.g.ensureLocked(w.c)
	}
	return w.c.ensureLocked()
}

// mb is the live client (after a successful ensure).
func (w wire) mb() gb.Client {
	if w.g != nil {
		return w.g.mb
	}
	return w.c.mb
}

// ok records a valid reply on the wire: its backoff resets.
func (w wire) ok() {
	if w.g != nil {
		w.g.gate.Succeeded()
		return
	}
	w.c.gate.Succeeded()
}

// drop closes the connection after a failed request.
func (w wire) drop(op string, err error) error {
	if w.g != nil {
		return w.g.dropLocked(w.c, op, err)
	}
	return w.c.dropLocked(op, err)
}
