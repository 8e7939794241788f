package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line/linesim/bus"
)

var at = time.Date(2026, 3, 2, 10, 0, 0, 123456789, time.UTC)

func listen(t *testing.T, o bus.PublisherOptions) *bus.Publisher {
	t.Helper()
	p, err := bus.Listen("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func subscriber(t *testing.T, addr, name string) *bus.Subscriber {
	t.Helper()
	s, err := bus.NewSubscriber(bus.SubscriberOptions{Addr: addr, Bus: name,
		Backoff: devices.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run starts s.Run in a goroutine owned by the test; its messages come on
// the returned channel, Run's result on done.
func run(t *testing.T, ctx context.Context, s *bus.Subscriber) (<-chan bus.Message, <-chan error) {
	t.Helper()
	msgs := make(chan bus.Message, 1024)
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		done <- s.Run(ctx, func(m bus.Message) { msgs <- m })
	}()
	t.Cleanup(wg.Wait)
	return msgs, done
}

func next(t *testing.T, ctx context.Context, msgs <-chan bus.Message) bus.Message {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-ctx.Done():
		t.Fatal("no message:", ctx.Err())
		return nil
	}
}

// Every subscriber gets the hello, then every message in order; a
// subscriber whose publisher closed reconnects to the next one on the
// same address, and Run ends with its context.
func TestPublishSubscribe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := listen(t, bus.PublisherOptions{Bus: bus.BusPLC})
	sent := []bus.Message{
		bus.Product{Seq: 1, At: at},
		bus.Printed{Seq: 1, At: at, Record: "R1", Data: "0109501101530003\x1d21S1", Defects: []bus.Defect{{Kind: "contrast", Severity: 0.5}}, Seed: 1 << 63},
		bus.Gate{Seq: 1, Verdict: bus.VerdictNone, Pushed: true, Result: bus.ResultRejected},
	}
	var chans []<-chan bus.Message
	var dones []<-chan error
	for range 2 {
		msgs, done := run(t, ctx, subscriber(t, p.Addr(), bus.BusPLC))
		chans, dones = append(chans, msgs), append(dones, done)
	}
	if err := p.WaitSubscribers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, m := range sent {
		if err := p.Publish(m); err != nil {
			t.Fatal(err)
		}
	}
	for i, msgs := range chans {
		if h := next(t, ctx, msgs); h != (bus.Hello{Bus: bus.BusPLC, Version: bus.Version}) {
			t.Fatalf("subscriber %d: first %#v, want the hello", i, h)
		}
		for _, want := range sent {
			got := next(t, ctx, msgs)
			if fmt.Sprint(got) != fmt.Sprint(want) || reflect.TypeOf(got) != reflect.TypeOf(want) {
				t.Fatalf("subscriber %d: got %#v, want %#v", i, got, want)
			}
		}
	}
	// The publisher goes; a new one on the same address is found again.
	addr := p.Addr()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(sent[0]); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	p2, err := bus.Listen(addr, bus.PublisherOptions{Bus: bus.BusPLC})
	if err != nil {
		t.Skipf("address %s taken meanwhile: %v", addr, err)
	}
	defer p2.Close()
	if err := p2.WaitSubscribers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := p2.Publish(bus.Product{Seq: 2, At: at}); err != nil {
		t.Fatal(err)
	}
	for i, msgs := range chans {
		if h := next(t, ctx, msgs); h.Type() != bus.TypeHello {
			t.Fatalf("subscriber %d: after the reconnect %#v, want the hello", i, h)
		}
		if m := next(t, ctx, msgs); m != (bus.Product{Seq: 2, At: at}) {
			t.Fatalf("subscriber %d: after the reconnect %#v", i, m)
		}
	}
	cancel()
	for i, done := range dones {
		if err := <-done; err != nil {
			t.Fatalf("subscriber %d: Run = %v, want nil when its context ends", i, err)
		}
	}
}

// Close hands every subscriber what is still buffered for it before the
// connection ends.
func TestCloseFlushes(t *testing.T) {
	ctx := t.Context()
	p := listen(t, bus.PublisherOptions{Bus: bus.BusPrinter})
	s := subscriber(t, p.Addr(), bus.BusPrinter)
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := p.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		if err := p.Publish(bus.Printed{Seq: uint64(i + 1), At: at, Record: "R", Data: "0109501101530003"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("message %d of %d: %v", i+1, n, err)
		}
		if p, ok := m.(bus.Printed); !ok || p.Seq != uint64(i+1) {
			t.Fatalf("message %d: %#v", i+1, m)
		}
	}
	if m, err := s.Read(ctx); !errors.Is(err, bus.ErrDisconnected) {
		t.Fatalf("after the last message: %#v, %v; want ErrDisconnected", m, err)
	}
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A subscriber that stops reading never blocks Publish: once it is Buffer
// messages behind (its socket full) it is dropped, with a warning; the
// others carry on.
func TestSlowSubscriberDropped(t *testing.T) {
	ctx := t.Context()
	var logs lockedBuffer
	p := listen(t, bus.PublisherOptions{Bus: bus.BusPrinter, Buffer: 8, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	stuck, err := net.Dial("tcp", p.Addr()) // connects, never reads
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if err := p.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	big := bus.Printed{At: at, Record: "R", Data: strings.Repeat("1", 60<<10)}
	// Socket buffers on loopback hold a few MB: the drop comes well
	// within 100,000 messages (6 GB); Publish returning each time is the
	// point.
	for i := 1; p.Dropped() == 0; i++ {
		if i > 100_000 {
			t.Fatal("the stuck subscriber was never dropped")
		}
		big.Seq = uint64(i)
		if err := p.Publish(big); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after the drop", n)
	}
	if !strings.Contains(logs.String(), "subscriber too slow: dropped") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
	s := subscriber(t, p.Addr(), bus.BusPrinter)
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := p.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(bus.Product{Seq: 5, At: at}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Read(ctx); err != nil || m != (bus.Product{Seq: 5, At: at}) {
		t.Fatalf("after the drop: %#v, %v", m, err)
	}
}

// A subscriber started before its publisher keeps trying (a port that
// closes at once, one that says something else than a hello), then
// connects.
func TestSubscriberWaitsForPublisher(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	msgs, done := run(t, ctx, subscriber(t, ln.Addr().String(), bus.BusPLC))
	for _, greet := range []string{"", "HTTP/1.1 400 Bad Request\r\n\r\n", `{"type":"product","seq":1,"at":"2026-03-02T10:00:00Z"}` + "\n"} {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(greet))
		c.Close()
	}
	p, err := bus.NewPublisher(ln, bus.PublisherOptions{Bus: bus.BusPLC})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(bus.Product{Seq: 9, At: at}); err != nil {
		t.Fatal(err)
	}
	if h := next(t, ctx, msgs); h.Type() != bus.TypeHello {
		t.Fatalf("first %#v", h)
	}
	if m := next(t, ctx, msgs); m != (bus.Product{Seq: 9, At: at}) {
		t.Fatalf("got %#v", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A subscriber pointed at the wrong bus stops with ErrWrongBus instead of
// retrying.
func TestWrongBus(t *testing.T) {
	p := listen(t, bus.PublisherOptions{Bus: bus.BusPrinter})
	err := subscriber(t, p.Addr(), bus.BusPLC).Run(t.Context(), func(bus.Message) { t.Error("message from the wrong bus") })
	if !errors.Is(err, bus.ErrWrongBus) || !strings.Contains(err.Error(), "is the printer bus") {
		t.Fatalf("Run = %v, want ErrWrongBus naming the bus found", err)
	}
}

// Lines that do not decode, and types this version does not know, are
// skipped; the messages around them arrive. Read ends with its context.
func TestBadLinesSkipped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(served)
			return
		}
		_, _ = c.Write([]byte(`{"type":"hello","bus":"plc","version":1}` + "\n" + "garbage\n" +
			`{"type":"conveyor-speed","mm_s":1200}` + "\n" + `{"type":"product","seq":3,"at":"2026-03-02T10:00:00.123456789Z"}` + "\n"))
		served <- c
	}()
	s := subscriber(t, ln.Addr().String(), bus.BusPLC)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := <-served
	if c == nil {
		t.Fatal("accept failed")
	}
	defer c.Close()
	if m, err := s.Read(ctx); err != nil || m != (bus.Product{Seq: 3, At: at}) {
		t.Fatalf("Read = %#v, %v", m, err)
	}
	if s.Skipped != 2 {
		t.Fatalf("skipped %d lines, want 2", s.Skipped)
	}
	cancel() // the idle bus: Read waits until its context ends
	if m, err := s.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %#v, %v", m, err)
	}
}
