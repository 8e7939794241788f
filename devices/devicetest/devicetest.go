// Package devicetest holds fault fixtures for device driver tests, in the
// style of net/http/httptest: a TCP port that answers garbage (or nothing,
// or whatever a test scripts), and a clock that moves only when told.
package devicetest

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
)

// Handler serves one accepted connection; it returns when done with it
// (the fixture then closes it).
type Handler func(c net.Conn)

// Port is a TCP listener on 127.0.0.1:0 whose connections are served by
// the current Handler. It counts the connections it accepted, so a test can
// tell how often a driver dialled. It closes when the test ends.
type Port struct {
	ln       net.Listener
	accepted atomic.Int64
	handler  atomic.Pointer[Handler]

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Garbage answers every read with reply, whatever was asked: a port that
// accepts connections but speaks no device protocol (an HTTP server, a
// wrong device on the configured port, line noise).
func Garbage(reply []byte) Handler {
	return func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := c.Write(reply); err != nil {
				return
			}
		}
	}
}

// Silent reads and never answers (a device that hangs with its
// connection open).
func Silent() Handler {
	return func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}
}

// NewPort listens on 127.0.0.1:0 and serves every connection with h.
func NewPort(t testing.TB, h Handler) *Port {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Port{ln: ln, conns: map[net.Conn]struct{}{}}
	p.handler.Store(&h)
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

func (p *Port) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		if p.conns == nil { // closed
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		h := *p.handler.Load()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() {
				p.mu.Lock()
				delete(p.conns, c)
				p.mu.Unlock()
				c.Close()
			}()
			h(c)
		}()
	}
}

// Addr is the port's host:port.
func (p *Port) Addr() string { return p.ln.Addr().String() }

// Accepted is the number of connections accepted so far.
func (p *Port) Accepted() int { return int(p.accepted.Load()) }

// Become serves connections accepted from now on with h (open ones keep
// their handler).
func (p *Port) Become(h Handler) { p.handler.Store(&h) }

// DropAll closes every open connection.
func (p *Port) DropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Close stops listening, closes every connection and waits for the
// handlers.
func (p *Port) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// Clock is a clock that moves only by Advance, for the drivers' Now option:
// a test can then say exactly when a driver's backoff allows the next
// attempt, without sleeping.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now is the current fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// WantBackoff checks a driver's reconnect backoff against p: for each
// wait, connect (the driver's Connect) must make one attempt — one
// connection accepted — and fail; an immediate second call must be refused
// without dialling, with a devices.RetryAfter error carrying exactly that
// wait; then clk advances by it. Use a Backoff without jitter.
func WantBackoff(t testing.TB, p *Port, clk *Clock, connect func() error, waits ...time.Duration) {
	t.Helper()
	for i, want := range waits {
		before := p.Accepted()
		err := connect()
		if err == nil {
			t.Fatalf("attempt %d: connected to a port that does not speak the protocol", i+1)
		}
		if w, ok := devices.RetryWait(err); ok {
			t.Fatalf("attempt %d: refused by the backoff (wait %s) instead of made: %v", i+1, w, err)
		}
		if got := p.Accepted() - before; got != 1 {
			t.Fatalf("attempt %d: %d connections for one attempt (%v)", i+1, got, err)
		}
		err = connect()
		wait, ok := devices.RetryWait(err)
		if !ok || wait != want {
			t.Fatalf("attempt %d: a second Connect at once: %v (RetryAfter %v, wait %s), want refused for %s", i+1, err, ok, wait, want)
		}
		if got := p.Accepted() - before; got != 1 {
			t.Fatalf("attempt %d: the refused Connect dialled", i+1)
		}
		clk.Advance(wait)
	}
}

// Proxy forwards each connection to addr (a simulator), both ways, until
// either side closes.
func Proxy(addr string) Handler {
	return func(c net.Conn) {
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(up, c); up.Close(); done <- struct{}{} }()
		go func() { _, _ = io.Copy(c, up); c.Close(); done <- struct{}{} }()
		<-done
		<-done
	}
}

// SerialLine is the receiving side of a serial line as go.bug.st/serial
// presents it: Read hands out data in the chunks the script asks for (each
// script byte is a chunk length; 0 means a read that timed out, which
// go.bug.st/serial reports as (0, nil) — never twice in a row, so the data
// always comes), then io.EOF. Wrap it with serialport.Wrap as the drivers
// do. Writes are discarded.
type SerialLine struct {
	data     []byte
	script   []byte
	step     int
	timedOut bool
}

// NewSerialLine returns a SerialLine delivering data in chunks per script
// (an empty script delivers everything at once).
func NewSerialLine(data, script []byte) *SerialLine {
	return &SerialLine{data: data, script: script}
}

func (s *SerialLine) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := len(s.data)
	if len(s.script) > 0 {
		n = int(s.script[s.step%len(s.script)])
		s.step++
		if n == 0 && !s.timedOut {
			s.timedOut = true
			return 0, nil // the port's read timeout
		}
		n = max(n, 1)
	}
	s.timedOut = false
	n = min(n, len(p), len(s.data))
	copy(p, s.data[:n])
	s.data = s.data[n:]
	return n, nil
}

func (s *SerialLine) Write(p []byte) (int, error) { return len(p), nil }
func (s *SerialLine) Close() error                { return nil }

// Attempts adapts a driver's Connect for WantBackoff: each call connects
// with ctx, and an error that is none of kinds (errors.Is) fails the test.
func Attempts(t testing.TB, ctx context.Context, connect func(context.Context) error, kinds ...error) func() error {
	return func() error {
		t.Helper()
		err := connect(ctx)
		if err == nil {
			return nil
		}
		for _, k := range kinds {
			if errors.Is(err, k) {
				return err
			}
		}
		t.Fatalf("connect: %v, want an error wrapping one of %v", err, kinds)
		return err
	}
}
