package link

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
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

// ValidateCommandText reports a command text holding a control character
// (CR or LF would end the frame early and smuggle in a second command) or
// a non-ASCII byte.
func ValidateCommandText(p *configs.Problems, path, cmd string) {
	if strings.TrimSpace(cmd) == "" {
		p.Add(path, "must not be empty")
		return
	}
	for i := 0; i < len(cmd); i++ {
		if b := cmd[i]; b < 0x20 || b > 0x7e {
			p.Add(path, "byte %d is 0x%02x: commands are printable ASCII (no CR, LF, NUL or other control characters)", i+1, b)
			return
		}
	}
}

// ValidateKeepAlive reports a keep_alive that is negative or, when set,
// shorter than MinKeepAlive.
func ValidateKeepAlive(p *configs.Problems, d time.Duration) {
	if d < 0 || (d > 0 && d < MinKeepAlive) {
		p.Add("keep_alive", "must be 0 (default %s) or >= %s, got %s", DefaultKeepAlive, MinKeepAlive, d)
	}
}

// DefaultKeepAlive is the keep-alive of a camera config that sets none: a
// probe command after this much silence.
const DefaultKeepAlive = 500 * time.Millisecond

// MinKeepAlive is the shortest keep_alive a config may set.
const MinKeepAlive = 100 * time.Millisecond

// Conn is a driver's connection state: the current Link (nil when not
// connected), whether the driver was closed, and the backoff across
// reconnects. Its methods implement the parts of vision.Camera every driver
// shares; the zero value is ready (default backoff, no keep-alive).
type Conn struct {
	// Source names the driver in errors ("dmcc", "keyence", "pattern").
	Source string
	// Backoff paces Connect after connections that failed before a valid
	// reply (zero: devices.DefaultBackoff()). Connect then returns a
	// devices.RetryAfter error wrapping vision.ErrDisconnected.
	Backoff devices.Backoff
	// Now is the backoff's clock (default time.Now).
	Now func() time.Time
	// KeepAlive, with Probe, finds a hung device: Probe runs whenever the
	// link has been silent this long; its error ends the connection.
	KeepAlive time.Duration
	// Probe sends one command and returns nil once the device answered
	// (any answer of the protocol, an error reply included).
	Probe func(ctx context.Context, l *Link) error

	mu       sync.Mutex
	l        *Link
	closed   bool
	gate     devices.Gate
	gateInit bool
}

// gateLocked returns the backoff gate, set up on first use.
func (c *Conn) gateLocked() *devices.Gate {
	if !c.gateInit {
		c.gate = devices.Gate{Backoff: c.Backoff, Now: c.Now}
		if c.gate.Backoff == (devices.Backoff{}) {
			c.gate.Backoff = devices.DefaultBackoff()
		}
		c.gateInit = true
	}
	return &c.gate
}

func (c *Conn) withGate(f func(g *devices.Gate)) {
	c.mu.Lock()
	f(c.gateLocked())
	c.mu.Unlock()
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
	g := c.gateLocked()
	ok, wait := g.Allow()
	fails := g.Failures()
	c.mu.Unlock()
	if old != nil {
		c.drop(old)
	}
	if !ok {
		return devices.RetryAfter(fmt.Errorf("%s: connect %s: %w (backing off after %d connection(s) without a valid reply; next attempt in %s)",
			c.Source, addr, vision.ErrDisconnected, fails, wait), wait)
	}
	rwc, err := Dial(ctx, addr, dial)
	if err != nil {
		c.withGate((*devices.Gate).Failed)
		return fmt.Errorf("%s: connect %s: %w: %w", c.Source, addr, vision.ErrDisconnected, err)
	}
	c.withGate((*devices.Gate).Connected)
	l := Start(rwc, split, isReply)
	l.onValid = func() { c.withGate((*devices.Gate).Succeeded) }
	l.onGarbage = func() { c.withGate((*devices.Gate).Failed) }
	if setup != nil {
		if err := setup(l); err != nil {
			c.drop(l)
			return fmt.Errorf("%s: connect %s: %w", c.Source, addr, err)
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.drop(l)
		return fmt.Errorf("%s: connect: %w", c.Source, vision.ErrClosed)
	}
	c.l = l
	if c.KeepAlive > 0 && c.Probe != nil {
		l.aux.Add(1)
		go l.keepAlive(c.KeepAlive, c.Probe)
	}
	c.mu.Unlock()
	return nil
}

// drop closes l and tells the backoff the connection ended.
func (c *Conn) drop(l *Link) {
	_ = l.Close()
	c.withGate((*devices.Gate).Dropped)
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
	c.drop(l)
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
		if err == nil {
			l.Valid()
		}
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
