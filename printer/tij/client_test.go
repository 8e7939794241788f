package tij_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/printer/tij"
)

// ctxT is the test's context: no wall-clock limit of its own (a hang is
// reported by go test -timeout with every goroutine's stack).
func ctxT(t *testing.T) context.Context { return t.Context() }

func startSim(t *testing.T, o printersim.Options) *printersim.Server {
	t.Helper()
	s, err := printersim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func connect(t *testing.T, o tij.Options) *tij.Client {
	t.Helper()
	if o.Job == "" {
		o.Job = "CARTON"
	}
	if o.IDField == "" {
		o.IDField = "ID"
	}
	c, err := tij.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func next(t *testing.T, c *tij.Client) printer.Event {
	t.Helper()
	ev, err := c.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestClientAgainstSimulator(t *testing.T) {
	s := startSim(t, printersim.Options{QueueCap: 2})
	c := connect(t, tij.Options{Addr: s.Addr(), Fields: []string{"ID", "GS1"}})
	ctx := ctxT(t)

	if st, _, err := c.State(ctx); err != nil || st != "RUNNING" {
		t.Fatalf("GST: %q %v", st, err)
	}
	if err := c.SetState(ctx, "OFFLINE"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c); ev.Kind != printer.Status || ev.Code != "OFFLINE" {
		t.Errorf("after SST OFFLINE: %v", ev)
	}
	if err := c.SetState(ctx, "RUNNING"); err != nil {
		t.Fatal(err)
	}
	next(t, c)
	if err := c.SetState(ctx, "DANCING"); !errors.Is(err, printer.ErrRefused) {
		t.Errorf("SST DANCING: %v", err)
	}

	for _, id := range []string{"SN1", "SN2"} {
		if err := c.Enqueue(ctx, printer.Record{ID: id, Fields: map[string]string{"GS1": "0109501101530003\x1d21" + id}}); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Enqueue(ctx, printer.Record{ID: "SN3"})
	var re *printer.ReplyError
	if !errors.Is(err, printer.ErrQueueFull) || !errors.As(err, &re) || re.Command != "JDI" {
		t.Fatalf("third record: %v, want ErrQueueFull from JDI", err)
	}
	if n, err := c.QueueDepth(ctx); err != nil || n != 2 {
		t.Fatalf("QSZ: %d %v", n, err)
	}
	if ids := s.QueueIDs(); !reflect.DeepEqual(ids, []string{"SN1", "SN2"}) {
		t.Errorf("printer queue %v", ids)
	}

	s.Print(100)
	if ev := next(t, c); ev.Kind != printer.PrintStart || ev.RecordID != "SN1" || ev.Counter != 1 {
		t.Errorf("PRS: %v", ev)
	}
	if ev := next(t, c); ev.Kind != printer.PrintComplete || ev.RecordID != "SN1" || ev.Counter != 1 || ev.At.IsZero() {
		t.Errorf("PRC: %v", ev)
	}
	if n, err := c.PrintCount(ctx); err != nil || n != 1 {
		t.Errorf("GPC: %d %v", n, err)
	}
	if err := c.SetPrintCount(ctx, 500); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.PrintCount(ctx); n != 500 {
		t.Errorf("GPC after SPC: %d", n)
	}
	if err := c.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.QueueDepth(ctx); n != 0 {
		t.Errorf("QSZ after CQI: %d", n)
	}

	s.InjectFault(printersim.FaultInkLow)
	if ev := next(t, c); ev.Kind != printer.Warning || ev.Code != "INKLOW" {
		t.Errorf("ink low: %v", ev)
	}
	s.InjectFault(printersim.FaultHead)
	if ev := next(t, c); ev.Kind != printer.Fault || ev.Code != "HEAD" {
		t.Errorf("head fault: %v", ev)
	}
	if ev := next(t, c); ev.Kind != printer.Status || ev.Code != "FAULT" {
		t.Errorf("state change: %v", ev)
	}
	if f, err := c.Faults(ctx, false); err != nil || len(f) != 1 || f[0].Code != "HEAD" {
		t.Errorf("GFT: %v %v", f, err)
	}
	if w, err := c.Faults(ctx, true); err != nil || len(w) != 1 || w[0].Code != "INKLOW" {
		t.Errorf("GWN: %v %v", w, err)
	}
	if err := c.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c); ev.Kind != printer.Status || ev.Code != "RUNNING" {
		t.Errorf("after CAF: %v", ev)
	}
	if f, _ := c.Faults(ctx, false); len(f) != 0 {
		t.Errorf("GFT after CAF: %v", f)
	}
	if w, _ := c.Faults(ctx, true); len(w) != 0 {
		t.Errorf("GWN after CEM: %v", w)
	}

	// Values that would break the framing never leave the driver.
	if err := c.Enqueue(ctx, printer.Record{ID: "SN|4"}); err == nil || !strings.Contains(err.Error(), "contains '|'") {
		t.Errorf("record with '|': %v", err)
	}

	// The printer drops the connection: Next reports it, Enqueue too.
	s.Disconnect()
	if _, err := c.Next(ctx); !errors.Is(err, printer.ErrDisconnected) {
		t.Errorf("Next after disconnect: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(ctx, printer.Record{ID: "SN5"}); !errors.Is(err, printer.ErrClosed) {
		t.Errorf("Enqueue after Close: %v", err)
	}
	if _, err := c.Next(ctx); !errors.Is(err, printer.ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
}

func TestClientSLIAndCounterOnlyLayout(t *testing.T) {
	layout := tij.Layout{Counter: 0, RecordID: -1}
	s := startSim(t, printersim.Options{Layout: &layout})
	c := connect(t, tij.Options{Addr: s.Addr(), Enqueue: "SLI", Layout: &layout, ClearOnConnect: true, NoTrailingSeparator: true})
	if err := c.Enqueue(ctxT(t), printer.Record{ID: "SN1"}); err != nil {
		t.Fatal(err)
	}
	s.Print(1)
	next(t, c)
	if ev := next(t, c); ev.Kind != printer.PrintComplete || ev.RecordID != "" || ev.Counter != 1 {
		t.Errorf("PRC without ID: %v", ev)
	}
}

func TestNewValidates(t *testing.T) {
	for _, o := range []tij.Options{{}, {Addr: "x:1"}, {Job: "J"}, {Addr: "x:1", Job: "J", Enqueue: "SEL"}} {
		if _, err := tij.New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

// fakePrinter serves a scripted printer on one end of a net.Pipe.
type fakePrinter struct {
	conn net.Conn
	r    *bufio.Reader
}

func (f *fakePrinter) expect(t *testing.T, want string) {
	t.Helper()
	line, err := f.r.ReadString('\r')
	if err != nil {
		t.Fatalf("fake printer: %v", err)
	}
	if line != want {
		t.Fatalf("fake printer got %q, want %q", line, want)
	}
}

func (f *fakePrinter) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(f.conn, s); err != nil {
		t.Fatalf("fake printer: %v", err)
	}
}

// pipeConnect starts Connect of a client (job o.Job, default "J") whose
// transport is wrap(one end of a net.Pipe) (wrap nil: the pipe itself); the
// test plays the printer on the other end. connected waits for Connect.
func pipeConnect(t *testing.T, o tij.Options, wrap func(net.Conn) io.ReadWriteCloser) (c *tij.Client, f *fakePrinter, connected func() error) {
	t.Helper()
	a, b := net.Pipe()
	if o.Job == "" {
		o.Job = "J"
	}
	o.Dial = func(context.Context) (io.ReadWriteCloser, error) {
		if wrap != nil {
			return wrap(a), nil
		}
		return a, nil
	}
	c, err := tij.New(o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Connect(context.Background()) }()
	return c, &fakePrinter{conn: b, r: bufio.NewReader(b)}, func() error { return <-done }
}

// pipeClient is pipeConnect with the printer accepting the job and the
// asynchronous messages.
func pipeClient(t *testing.T, o tij.Options) (*tij.Client, *fakePrinter, func() error) {
	t.Helper()
	return pipeClientWrapped(t, o, nil)
}

func pipeClientWrapped(t *testing.T, o tij.Options, wrap func(net.Conn) io.ReadWriteCloser) (*tij.Client, *fakePrinter, func() error) {
	t.Helper()
	c, f, connected := pipeConnect(t, o, wrap)
	f.expect(t, "SLA|J|\r")
	f.send(t, "ACK\r")
	f.expect(t, "EAN|1|\r")
	f.send(t, "ACK\r")
	return c, f, connected
}

// The reply timeout, tested in a synctest bubble: no real time passes.
func TestClientReplyTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, f, connected := pipeClient(t, tij.Options{ReplyTimeout: 3 * time.Second})
		if err := connected(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- c.Enqueue(context.Background(), printer.Record{ID: "SN1"}) }()
		f.expect(t, "JDI|\r")
		// The printer never answers.
		err := <-done
		if !errors.Is(err, printer.ErrTimeout) {
			t.Fatalf("Enqueue: %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("timed out after %v, want the configured 3s", d)
		}
		// The connection is closed: a late reply cannot be taken for the next one.
		if _, err := c.Next(context.Background()); !errors.Is(err, printer.ErrNotConnected) {
			t.Errorf("Next after timeout: %v", err)
		}
		f.conn.Close()
	})
}

// Events the printer sent before dropping the line are delivered before
// the disconnect; a garbled line closes the connection with ErrProtocol.
func TestClientEventsBeforeDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, f, connected := pipeClient(t, tij.Options{})
		if err := connected(); err != nil {
			t.Fatal(err)
		}
		f.send(t, "PRS|1|A|\rPRC|1|A|\r")
		f.conn.Close()
		ctx := context.Background()
		for _, want := range []printer.EventKind{printer.PrintStart, printer.PrintComplete} {
			ev, err := c.Next(ctx)
			if err != nil || ev.Kind != want || ev.RecordID != "A" {
				t.Fatalf("Next: %v %v, want %v", ev, err, want)
			}
		}
		if _, err := c.Next(ctx); !errors.Is(err, printer.ErrDisconnected) {
			t.Errorf("Next: %v, want ErrDisconnected", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c, f, connected := pipeClient(t, tij.Options{})
		if err := connected(); err != nil {
			t.Fatal(err)
		}
		f.send(t, "what is this\r")
		if _, err := c.Next(context.Background()); !errors.Is(err, printer.ErrProtocol) {
			t.Errorf("Next after garbage: %v, want ErrProtocol", err)
		}
		f.conn.Close()
	})
}

// flakyPort behaves like go.bug.st/serial: reads time out with (0, nil).
type flakyPort struct {
	net.Conn
	mu    sync.Mutex
	calls int
}

func (p *flakyPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	p.calls++
	odd := p.calls%2 == 1
	p.mu.Unlock()
	if odd {
		return 0, nil
	}
	return p.Conn.Read(b)
}

// Over RS-232 (devices/serialport's wrapper) the (0, nil) timeouts are
// skipped, not taken for end of stream.
func TestClientOverSerialWrapper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, f, connected := pipeClientWrapped(t, tij.Options{}, func(a net.Conn) io.ReadWriteCloser {
			return serialport.Wrap("ttyFAKE", &flakyPort{Conn: a})
		})
		if err := connected(); err != nil {
			t.Fatal(err)
		}
		go func() {
			f.expect(t, "QSZ|\r")
			f.send(t, "QSZ|3|16|\r")
		}()
		if n, err := c.QueueDepth(context.Background()); err != nil || n != 3 {
			t.Errorf("QSZ over serial: %d %v", n, err)
		}
		c.Close(context.Background())
		f.conn.Close()
	})
}

// A printer that refuses the job selection fails Connect with its reply.
func TestClientConnectRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, f, connected := pipeConnect(t, tij.Options{Job: "NOPE"}, nil)
		f.expect(t, "SLA|NOPE|\r")
		f.send(t, "ERR|NOJOB|no such job|\r")
		err := connected()
		var re *printer.ReplyError
		if !errors.Is(err, printer.ErrRefused) || !errors.As(err, &re) || re.Code != "NOJOB" {
			t.Errorf("Connect: %v, want the NOJOB refusal", err)
		}
		f.conn.Close()
	})
}

// A reply no command waits for (a repeated or unsolicited ACK) must not be
// kept and taken as the answer to the next command: the connection ends
// with ErrProtocol. An asynchronous message the driver cannot read (here a
// print-complete without a counter) is not dropped silently either: it
// could be a print or a fault.
func TestClientUnreadableInputEndsConnection(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"unsolicited ACK", "ACK\r", `reply "ACK" with no command waiting`},
		{"bad print-complete", "PRC|x|SN1|\r", `asynchronous message "PRC|x|SN1|"`},
		{"unknown severity", "ERS|X|HEAD|head|\r", `ERS severity "X"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, f, connected := pipeClient(t, tij.Options{})
				if err := connected(); err != nil {
					t.Fatal(err)
				}
				f.send(t, tc.line)
				_, err := c.Next(context.Background())
				if !errors.Is(err, printer.ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Next: %v, want ErrProtocol naming %s", err, tc.want)
				}
				// The next command is not answered by the stale reply.
				if err := c.Enqueue(context.Background(), printer.Record{ID: "SN2"}); err == nil {
					t.Error("Enqueue after the connection ended: nil error")
				}
				f.conn.Close()
			})
		})
	}
}

// A Close that comes while Connect is dialling wins: Connect fails with
// ErrClosed and leaves no connection (or reader goroutine) behind.
func TestClientCloseDuringConnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		release := make(chan struct{})
		c, err := tij.New(tij.Options{Job: "J", Dial: func(context.Context) (io.ReadWriteCloser, error) {
			<-release
			return a, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Connect(context.Background()) }()
		synctest.Wait() // Connect is dialling
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		close(release)
		if err := <-done; !errors.Is(err, printer.ErrClosed) {
			t.Errorf("Connect: %v, want ErrClosed", err)
		}
		if _, err := c.Next(context.Background()); !errors.Is(err, printer.ErrClosed) {
			t.Errorf("Next: %v, want ErrClosed", err)
		}
		// The dialled connection was closed: the printer side sees EOF.
		if _, err := b.Read(make([]byte, 1)); err == nil {
			t.Error("printer side still open")
		}
		b.Close()
	})
}
