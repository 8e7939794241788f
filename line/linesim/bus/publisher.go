package bus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// Bus names the bus in the hello (BusPLC, BusPrinter); required.
	Bus string
	// Buffer is how many messages a subscriber may fall behind (not yet
	// written to its connection) before it is dropped (default 4096).
	Buffer int
	// FlushTimeout bounds how long Close waits for each subscriber to take
	// the messages still buffered for it (default 1s).
	FlushTimeout time.Duration
	// Logger receives subscriber arrivals, departures and drops (default:
	// discard).
	Logger *slog.Logger
}

// Publisher streams messages to every subscriber connected to its
// listener. Publish never blocks on a subscriber: each has a bounded
// buffer, and one that falls further behind is dropped (its connection
// closed, a warning logged; it may reconnect). Safe for concurrent use.
type Publisher struct {
	o  PublisherOptions
	ln net.Listener

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	closed  bool
	changed chan struct{} // closed and replaced when subs changes
	dropped int
	wg      sync.WaitGroup
}

// subscriber is one connected subscriber: its connection and its buffer.
type subscriber struct {
	conn     net.Conn
	ch       chan []byte // closed when detached
	attached bool        // guarded by Publisher.mu: in subs, ch open
}

// Listen listens on addr (host:port; port 0 = a free one) and publishes on
// it; see NewPublisher.
func Listen(addr string, o PublisherOptions) (*Publisher, error) {
	if o.Bus == "" {
		return nil, fmt.Errorf("bus: publisher: Bus must be set")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bus: %s bus: %w", o.Bus, err)
	}
	return NewPublisher(ln, o)
}

// NewPublisher publishes on ln, which it owns from now on (Close closes
// it): every connection accepted gets the hello, then every message
// published while it stays connected.
func NewPublisher(ln net.Listener, o PublisherOptions) (*Publisher, error) {
	if o.Bus == "" {
		ln.Close()
		return nil, fmt.Errorf("bus: publisher: Bus must be set")
	}
	if o.Buffer < 0 || o.FlushTimeout < 0 {
		ln.Close()
		return nil, fmt.Errorf("bus: publisher: Buffer and FlushTimeout must be >= 0")
	}
	if o.Buffer == 0 {
		o.Buffer = 4096
	}
	if o.FlushTimeout == 0 {
		o.FlushTimeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{o: o, ln: ln, subs: map[*subscriber]struct{}{}, changed: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address subscribers connect to (host:port).
func (p *Publisher) Addr() string { return p.ln.Addr().String() }

// Publish sends m to every connected subscriber, without waiting for any
// of them. It fails only for a message that cannot be encoded
// (ErrBadMessage) or after Close (ErrClosed).
func (p *Publisher) Publish(m Message) error {
	line, err := Encode(m)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	for s := range p.subs {
		select {
		case s.ch <- line:
		default:
			p.o.Logger.Warn("bus: subscriber too slow: dropped", "bus", p.o.Bus, "subscriber", s.conn.RemoteAddr().String(), "behind", p.o.Buffer)
			p.dropped++
			p.detachLocked(s)
			s.conn.Close() // unblocks its writer
		}
	}
	return nil
}

// Subscribers is the number of subscribers connected now.
func (p *Publisher) Subscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs)
}

// Dropped is the number of subscribers dropped for falling behind.
func (p *Publisher) Dropped() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// WaitSubscribers waits until at least n subscribers are connected (or
// ctx ends, or the publisher is closed).
func (p *Publisher) WaitSubscribers(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		ok, closed, ch := len(p.subs) >= n, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case ok:
			return nil
		case closed:
			return ErrClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Close stops listening, gives every subscriber up to FlushTimeout to take
// what is still buffered for it, closes the connections and waits for its
// goroutines. Publish fails with ErrClosed afterwards.
func (p *Publisher) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		deadline := time.Now().Add(p.o.FlushTimeout)
		for s := range p.subs {
			_ = s.conn.SetWriteDeadline(deadline)
			p.detachLocked(s) // its writer flushes the rest, then closes
		}
		p.notifyLocked()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("bus: %s bus: %w", p.o.Bus, err)
	}
	return nil
}

// notifyLocked wakes WaitSubscribers.
func (p *Publisher) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// detachLocked forgets s and closes its buffer (its writer then ends). It
// reports whether s was still attached.
func (p *Publisher) detachLocked(s *subscriber) bool {
	if !s.attached {
		return false
	}
	s.attached = false
	delete(p.subs, s)
	close(s.ch)
	p.notifyLocked()
	return true
}

func (p *Publisher) accept() {
	defer p.wg.Done()
	hello, err := Encode(Hello{Bus: p.o.Bus, Version: Version})
	if err != nil { // a constant message: cannot happen
		panic(err)
	}
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		s := &subscriber{conn: c, ch: make(chan []byte, p.o.Buffer+1), attached: true}
		s.ch <- hello
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.subs[s] = struct{}{}
		p.notifyLocked()
		p.mu.Unlock()
		p.o.Logger.Info("bus: subscriber connected", "bus", p.o.Bus, "subscriber", c.RemoteAddr().String())
		p.wg.Add(2)
		go p.write(s)
		go p.watch(s)
	}
}

// write sends s its buffered lines until its buffer is closed (Close: the
// rest goes out within FlushTimeout; a drop: the closed connection fails
// the writes) or its connection fails.
func (p *Publisher) write(s *subscriber) {
	defer p.wg.Done()
	w := bufio.NewWriterSize(s.conn, 32<<10)
	ok := true
	for line := range s.ch {
		if _, err := w.Write(line); err != nil {
			ok = false
			break
		}
		if len(s.ch) == 0 {
			if err := w.Flush(); err != nil {
				ok = false
				break
			}
		}
	}
	if ok {
		_ = w.Flush()
	}
	p.mu.Lock()
	if p.detachLocked(s) {
		p.o.Logger.Info("bus: subscriber gone", "bus", p.o.Bus, "subscriber", s.conn.RemoteAddr().String())
	}
	p.mu.Unlock()
	s.conn.Close()
	for range s.ch { // closed by now: let the rest go
	}
}

// watch notices a subscriber hanging up (subscribers only read: whatever
// they send is discarded) and ends its writer.
func (p *Publisher) watch(s *subscriber) {
	defer p.wg.Done()
	_, _ = io.Copy(io.Discard, s.conn)
	p.mu.Lock()
	if p.detachLocked(s) {
		p.o.Logger.Info("bus: subscriber left", "bus", p.o.Bus, "subscriber", s.conn.RemoteAddr().String())
	}
	p.mu.Unlock()
	s.conn.Close()
}
