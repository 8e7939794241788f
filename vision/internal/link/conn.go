package link

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/vision"
)

// DialFunc opens a driver's transport (TCP, or RS-232 through
// devices/serialport).
type DialFunc func(ctx context.Context) (io.ReadWriteCloser, error)

// ValidateEndpoint reports the problems of a driver config's transport
// choice: exactly one of address (host:port) and serial, and the serial
// block's own problems under "serial".
func ValidateEndpoint(p *configs.Problems, address string, serial *serialport.Config) {
	switch {
	case address == "" && serial == nil:
		p.Add("address", "must be set (host:port), or configure serial")
	case address != "" && serial != nil:
		p.Add("serial", "set either address or serial, not both")
	case address != "":
		if err := configs.CheckHostPort(address); err != nil {
			p.Add("address", "%v", err)
		}
	}
	if serial != nil {
		p.Merge("serial", serial.Validate())
	}
}

// ValidateCommandTimeout reports a negative command_timeout (0 means the
// driver's default, 2s).
func ValidateCommandTimeout(p *configs.Problems, d time.Duration) {
	if d < 0 {
		p.Add("command_timeout", "must be >= 0 (0 = 2s)")
	}
}

// Endpoint turns a validated config's transport choice into the address a
// driver names in its messages and, for serial, the DialFunc opening the
// port (nil for TCP to address).
func Endpoint(address string, serial *serialport.Config) (string, DialFunc) {
	if serial == nil {
		return address, nil
	}
	sc := *serial
	return sc.Device, func(context.Context) (io.ReadWriteCloser, error) { return serialport.Open(sc) }
}

// Dial opens the transport: dial when set, else TCP to addr.
func Dial(ctx context.Context, addr string, dial DialFunc) (io.ReadWriteCloser, error) {
	if dial != nil {
		return dial(ctx)
	}
	if addr == "" {
		return nil, errors.New("no address configured")
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// Conn is a driver's connection state: the current Link (nil when not
// connected) and whether the driver was closed. Its methods implement the
// parts of vision.Camera every driver shares; the zero value is ready.
type Conn struct {
	// Source names the driver in errors ("dmcc", "keyence", "pattern").
	Source string

	mu     sync.Mutex
	l      *Link
	closed bool
}

// Connect closes the previous link (if any), dials, starts a new Link on
// the connection and runs setup on it (the driver's commands; nil for
// none). The Link is installed only when setup succeeds and the driver was
// not closed meanwhile. Errors: vision.ErrClosed, vision.ErrDisconnected
// (dial failure, wrapped with its cause), or setup's error (wrapped).
func (c *Conn) Connect(ctx context.Context, addr string, dial DialFunc, split Split, isReply func([]byte) bool, setup func(*Link) error) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("%s: connect: %w", c.Source, vision.ErrClosed)
	}
	old := c.l
	c.l = nil
	c.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	rwc, err := Dial(ctx, addr, dial)
	if err != nil {
		return fmt.Errorf("%s: connect %s: %w: %w", c.Source, addr, vision.ErrDisconnected, err)
	}
	l := Start(rwc, split, isReply)
	if setup != nil {
		if err := setup(l); err != nil {
			_ = l.Close()
			return fmt.Errorf("%s: connect %s: %w", c.Source, addr, err)
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = l.Close()
		return fmt.Errorf("%s: connect: %w", c.Source, vision.ErrClosed)
	}
	c.l = l
	c.mu.Unlock()
	return nil
}

// Current returns the connected Link, or vision.ErrClosed /
// vision.ErrNotConnected prefixed with op.
func (c *Conn) Current(op string) (*Link, error) {
	c.mu.Lock()
	l, closed := c.l, c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%s: %s: %w", c.Source, op, vision.ErrClosed)
	}
	if l == nil {
		return nil, fmt.Errorf("%s: %s: %w", c.Source, op, vision.ErrNotConnected)
	}
	return l, nil
}

// Drop closes l and forgets it if it is still the current link. It
// reports whether the driver has been closed.
func (c *Conn) Drop(l *Link) (closed bool) {
	_ = l.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.l == l {
		c.l = nil
	}
	return c.closed
}

// Shut marks the driver closed and returns the link the driver must close
// (nil when not connected). Later Connect and Read return vision.ErrClosed.
func (c *Conn) Shut() *Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.l
	c.l = nil
	c.closed = true
	return l
}

// Read is vision.Camera's Read for every driver: it waits for the next
// result line and parses it with parse, stamping Result.At with now.
// Results that arrived before the connection ended are delivered first.
// Errors: *vision.LineError (an over-long line, or parse's error: read on),
// vision.ErrDisconnected (the connection ended and is closed: reconnect),
// ctx.Err(), vision.ErrNotConnected, vision.ErrClosed.
func (c *Conn) Read(ctx context.Context, addr string, parse func([]byte) (vision.Result, error), now func() time.Time) (vision.Result, error) {
	l, err := c.Current("read")
	if err != nil {
		return vision.Result{}, err
	}
	result := func(it Item) (vision.Result, error) {
		if it.Err != nil {
			return vision.Result{Raw: string(it.Line)}, &vision.LineError{Source: c.Source, Line: string(it.Line), Msg: it.Err.Error()}
		}
		r, err := parse(it.Line)
		r.At = now()
		return r, err
	}
	select {
	case it := <-l.Results():
		return result(it)
	case <-l.Done():
		select {
		case it := <-l.Results():
			return result(it)
		default:
		}
		err := l.Err()
		if c.Drop(l) {
			return vision.Result{}, fmt.Errorf("%s: read: %w", c.Source, vision.ErrClosed)
		}
		return vision.Result{}, fmt.Errorf("%s: read %s: %w: %w", c.Source, addr, vision.ErrDisconnected, err)
	case <-ctx.Done():
		return vision.Result{}, ctx.Err()
	}
}
