package bus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/serialine/serialine/devices"
)

// SubscriberOptions configure a Subscriber.
type SubscriberOptions struct {
	// Addr is the publisher's address (host:port); required.
	Addr string
	// Bus is the bus expected in the publisher's hello (BusPLC,
	// BusPrinter); another is ErrWrongBus. Required.
	Bus string
	// Backoff paces Run's connection attempts (default DefaultBackoff).
	Backoff devices.Backoff
	// HelloTimeout bounds the wait for the publisher's hello after the
	// connection opened (default 2s).
	HelloTimeout time.Duration
	// Logger receives skipped lines and reconnects (default: discard).
	Logger *slog.Logger
}

// DefaultBackoff is a subscriber's reconnect policy: 50ms doubling up to
// 1s, 20% jitter, until the context ends. A simulator's links come back
// within a second of their publisher.
func DefaultBackoff() devices.Backoff {
	return devices.Backoff{Initial: 50 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.2}
}

// Subscriber reads one publisher's messages. Connect, Read and Close are
// for one goroutine; Run drives them with reconnects.
type Subscriber struct {
	o    SubscriberOptions
	conn net.Conn
	sc   *bufio.Scanner

	// Skipped counts lines skipped since NewSubscriber (bad or unknown).
	Skipped int
}

// NewSubscriber checks o and returns an unconnected subscriber.
func NewSubscriber(o SubscriberOptions) (*Subscriber, error) {
	if o.Addr == "" || o.Bus == "" {
		return nil, errors.New("bus: subscriber: Addr and Bus must be set")
	}
	if o.Backoff == (devices.Backoff{}) {
		o.Backoff = DefaultBackoff()
	}
	if err := o.Backoff.Validate().Err(); err != nil {
		return nil, fmt.Errorf("bus: subscriber: backoff: %w", err)
	}
	if o.HelloTimeout < 0 {
		return nil, errors.New("bus: subscriber: HelloTimeout must be >= 0")
	}
	if o.HelloTimeout == 0 {
		o.HelloTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Subscriber{o: o}, nil
}

// Addr is the publisher's address.
func (s *Subscriber) Addr() string { return s.o.Addr }

// Connect dials the publisher and reads its hello. A hello of another bus
// or wire format version is ErrWrongBus, marked devices.Permanent (a
// miswired link: retrying will not help); anything else (refused, no hello
// within HelloTimeout, not a hello) is ErrDisconnected: try again later.
// An open connection is closed first.
func (s *Subscriber) Connect(ctx context.Context) error {
	s.Close()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.o.Addr)
	if err != nil {
		return fmt.Errorf("%w: %s bus %s: %w", ErrDisconnected, s.o.Bus, s.o.Addr, err)
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), MaxLine)
	_ = c.SetReadDeadline(time.Now().Add(s.o.HelloTimeout))
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if !sc.Scan() {
		c.Close()
		err := sc.Err()
		if err == nil {
			err = errors.New("connection closed before the hello")
		}
		return fmt.Errorf("%w: %s bus %s: %w", ErrDisconnected, s.o.Bus, s.o.Addr, err)
	}
	m, err := Decode(sc.Bytes())
	h, ok := m.(Hello)
	if err != nil || !ok {
		c.Close()
		if err == nil {
			err = fmt.Errorf("%s message before the hello", m.Type())
		}
		return fmt.Errorf("%w: %s bus %s: no hello: %w", ErrDisconnected, s.o.Bus, s.o.Addr, err)
	}
	if h.Bus != s.o.Bus || h.Version != Version {
		c.Close()
		return devices.Permanent(fmt.Errorf("%w: %s is the %s bus (version %d), want the %s bus (version %d)",
			ErrWrongBus, s.o.Addr, h.Bus, h.Version, s.o.Bus, Version))
	}
	_ = c.SetReadDeadline(time.Time{})
	s.conn, s.sc = c, sc
	return nil
}

// Read returns the next message. A line that does not decode, or of a type
// this version does not know, is skipped (logged, counted in Skipped). An
// error means the connection is gone (ErrDisconnected; the subscriber has
// closed it: Connect again) or ctx ended.
func (s *Subscriber) Read(ctx context.Context) (Message, error) {
	if s.conn == nil {
		return nil, fmt.Errorf("%w: %s bus %s: not connected", ErrDisconnected, s.o.Bus, s.o.Addr)
	}
	c := s.conn
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for s.sc.Scan() {
		m, err := Decode(s.sc.Bytes())
		if err == nil {
			return m, nil
		}
		s.Skipped++
		if errors.Is(err, ErrUnknownType) {
			s.o.Logger.Debug("bus: message of an unknown type skipped", "bus", s.o.Bus, "addr", s.o.Addr, "err", err)
		} else {
			s.o.Logger.Warn("bus: bad line skipped", "bus", s.o.Bus, "addr", s.o.Addr, "err", err)
		}
	}
	err := s.sc.Err()
	s.Close()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err == nil {
		err = errors.New("closed by the publisher")
	}
	return nil, fmt.Errorf("%w: %s bus %s: %w", ErrDisconnected, s.o.Bus, s.o.Addr, err)
}

// Close closes the connection, if any (Connect may be called again).
func (s *Subscriber) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn, s.sc = nil, nil
	return err
}

// Run connects (through devices.Retry with the Backoff; the backoff
// starts over after every connection that got its hello) and hands each
// message to fn, in order, until ctx ends (nil) or Connect fails
// permanently (ErrWrongBus). fn gets the publisher's Hello first on every
// connection, so it sees each (re)connect; messages published while the
// subscriber was away are lost (the bus has no replay).
func (s *Subscriber) Run(ctx context.Context, fn func(Message)) error {
	defer s.Close()
	for {
		err := devices.Retry(ctx, s.o.Backoff, s.Connect, func(n int, err error, wait time.Duration) {
			if n == 1 {
				s.o.Logger.Warn("bus: cannot connect; retrying", "bus", s.o.Bus, "addr", s.o.Addr, "err", err)
			} else {
				s.o.Logger.Debug("bus: connect failed", "bus", s.o.Bus, "addr", s.o.Addr, "attempt", n, "retry_in", wait, "err", err)
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		fn(Hello{Bus: s.o.Bus, Version: Version})
		for {
			m, err := s.Read(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				s.o.Logger.Warn("bus: connection lost; reconnecting (messages meanwhile are lost)", "bus", s.o.Bus, "addr", s.o.Addr, "err", err)
				break
			}
			fn(m)
		}
	}
}
