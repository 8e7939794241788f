// Package tij drives CLARiTY-class thermal-inkjet / thermal-transfer
// printers over their text communications protocol (CR-terminated,
// '|'-separated ASCII) on TCP or RS-232. Client implements printer.Driver.
package tij

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/printer"
)

// Options configure a Client. Where the protocol facts are silent the
// behaviour is an option here rather than a guess.
type Options struct {
	// Addr is the printer's host:port for TCP. The port is set on the
	// printer (3003 is used by one public driver; not a verified default).
	Addr string
	// Dial opens the transport; it overrides Addr. Use it for RS-232
	// (devices/serialport, whose reads time out with an error rather than
	// (0, nil)).
	Dial func(ctx context.Context) (io.ReadWriteCloser, error)
	// Job is the job (message) selected at Connect. Required.
	Job string
	// Fields are the job's variable field names, sent with the job selection.
	Fields []string
	// IDField is the job field that carries the record ID (the serial), added
	// to every queued record as IDField=Record.ID unless the record sets it.
	// "" sends no ID field (the printer then reports prints by counter only).
	IDField string
	// Enqueue is the command that queues a record: "JDI" (default, update the
	// current job with allocation) or "SLI" (select the job with allocation).
	Enqueue string
	// AsyncArgs are the arguments of EAN at Connect (default ["1"]).
	AsyncArgs []string
	// ClearOnConnect sends CQI after selecting the job, so records left from
	// an earlier connection are never printed.
	ClearOnConnect bool
	// NoTrailingSeparator drops the '|' before the CR of commands.
	NoTrailingSeparator bool
	// Layout says where PRS/PRC carry the counter and record ID (default
	// DefaultLayout()).
	Layout *Layout
	// Codes names the printer's queue-full, no-data and queue-cleared codes.
	Codes Codes
	// ReplyTimeout bounds the wait for a reply (default 2s). After a timeout
	// the connection is closed.
	ReplyTimeout time.Duration
	// DialTimeout bounds a TCP dial (default 5s).
	DialTimeout time.Duration
	// KeepAlive, when > 0, finds a hung printer (connection open, no
	// answers): whenever nothing has come from the printer for this long
	// and no command is waiting for its reply, the driver asks its state
	// (GST). No reply within ReplyTimeout closes the connection (Next then
	// returns an error wrapping ErrTimeout), so a hang is noticed within
	// KeepAlive + ReplyTimeout even while the line is idle. 0 = off.
	KeepAlive time.Duration
	// Backoff paces Connect after connections that failed before a valid
	// reply (a port that answers garbage or nothing): Connect then returns
	// a devices.RetryAfter error until the wait is over, so the caller's
	// devices.Retry follows it. Default devices.DefaultBackoff().
	Backoff *devices.Backoff
	// Logger (default: discard).
	Logger *slog.Logger
	// Now is the clock stamping events (default time.Now).
	Now func() time.Time
}

// SerialDial returns an Options.Dial for an RS-232 port (devices/serialport:
// its read timeouts come back as errors, which the reader skips).
func SerialDial(cfg serialport.Config) func(ctx context.Context) (io.ReadWriteCloser, error) {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		if p := cfg.Validate(); len(p) > 0 {
			return nil, p.Err()
		}
		return serialport.Open(cfg)
	}
}

// Client is a text-protocol printer driver (printer.Driver).
type Client struct {
	o      Options
	layout Layout

	cmdMu sync.Mutex // one command at a time

	mu     sync.Mutex
	gate   devices.Gate // backoff across reconnects; reset by a valid reply only
	conn   *conn
	closed bool   // Close was called (and no Connect since)
	closes uint64 // Close calls so far: a Connect racing a Close must not install its connection
	wbuf   []byte
}

var _ printer.Driver = (*Client)(nil)

// New checks the options and returns an unconnected Client.
func New(o Options) (*Client, error) {
	if o.Job == "" {
		return nil, errors.New("tij: Options.Job is required")
	}
	if o.Addr == "" && o.Dial == nil {
		return nil, errors.New("tij: Options.Addr or Options.Dial is required")
	}
	if o.Enqueue == "" {
		o.Enqueue = CmdUpdateAllocate
	}
	if o.Enqueue != CmdUpdateAllocate && o.Enqueue != CmdSelectAllocate {
		return nil, fmt.Errorf("tij: Options.Enqueue %q: want JDI or SLI", o.Enqueue)
	}
	if o.AsyncArgs == nil {
		o.AsyncArgs = []string{"1"}
	}
	if o.ReplyTimeout <= 0 {
		o.ReplyTimeout = 2 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Codes = o.Codes.withDefaults()
	c := &Client{o: o, layout: DefaultLayout()}
	if o.Layout != nil {
		c.layout = *o.Layout
	}
	c.gate = devices.Gate{Backoff: devices.DefaultBackoff(), Now: o.Now}
	if o.Backoff != nil {
		c.gate.Backoff = *o.Backoff
	}
	return c, nil
}

// conn is one connection's state: the reader goroutine fills events and
// hands replies to the single waiting command.
type conn struct {
	rwc     io.ReadWriteCloser
	replies chan Message  // maxPipeline-buffered; written only for commands waiting
	done    chan struct{} // closed when the reader ends
	wg      sync.WaitGroup

	mu      sync.Mutex
	waiting int // commands written whose replies are not yet read
	events  []printer.Event
	signal  chan struct{} // 1-buffered: events appended
	err     error         // why the reader ended

	born   time.Time    // when the connection was made (monotonic base)
	lastRx atomic.Int64 // time since born of the last line received, ns
}

// idle is how long nothing has come from the printer.
func (cn *conn) idle() time.Duration {
	return time.Since(cn.born) - time.Duration(cn.lastRx.Load())
}

func (c *Client) dial(ctx context.Context) (io.ReadWriteCloser, error) {
	if c.o.Dial != nil {
		return c.o.Dial(ctx)
	}
	d := net.Dialer{Timeout: c.o.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", c.o.Addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return nc, nil
}

// Connect dials the printer, selects the job with its named fields (SLA),
// optionally clears the queue (CQI) and switches the asynchronous messages
// on (EAN). Connect on a connected Client closes the old connection first
// (call it only once Next has reported the old connection gone, or its
// undelivered events are lost). An error means the printer is unusable now;
// the caller retries. A Close while Connect runs wins: Connect then returns
// an error wrapping ErrClosed and leaves nothing open.
func (c *Client) Connect(ctx context.Context) error {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	c.mu.Lock()
	old := c.conn
	c.conn = nil
	closes := c.closes
	c.mu.Unlock()
	if old != nil {
		old.close(printer.ErrDisconnected)
	}
	c.mu.Lock()
	ok, wait := c.gate.Allow()
	fails := c.gate.Failures()
	c.mu.Unlock()
	if !ok {
		return devices.RetryAfter(fmt.Errorf("tij: connect %s: %w (backing off after %d connection(s) without a valid reply; next attempt in %s)",
			c.o.Addr, printer.ErrDisconnected, fails, wait), wait)
	}
	rwc, err := c.dial(ctx)
	if err != nil {
		c.mu.Lock()
		c.gate.Failed()
		c.mu.Unlock()
		return fmt.Errorf("tij: connect %s: %w: %w", c.o.Addr, printer.ErrDisconnected, err)
	}
	c.mu.Lock()
	c.gate.Connected()
	c.mu.Unlock()
	cn := &conn{rwc: rwc, replies: make(chan Message, maxPipeline), done: make(chan struct{}), signal: make(chan struct{}, 1), born: time.Now()}
	cn.wg.Add(1)
	go c.read(cn)
	c.mu.Lock()
	if c.closes != closes {
		// Close was called while we dialled: it wins, and the new
		// connection (and its reader) must not outlive it.
		c.mu.Unlock()
		cn.close(printer.ErrClosed)
		return fmt.Errorf("tij: connect: %w", printer.ErrClosed)
	}
	c.conn, c.closed = cn, false
	c.mu.Unlock()

	sel := Command{Name: CmdSelectNamed, Args: []string{c.o.Job}}
	for _, f := range c.o.Fields {
		sel.Args = append(sel.Args, f+"=")
	}
	steps := []Command{sel}
	if c.o.ClearOnConnect {
		steps = append(steps, Command{Name: CmdClearQueueItem})
	}
	steps = append(steps, Command{Name: CmdAsyncNotify, Args: c.o.AsyncArgs})
	for _, cmd := range steps {
		m, err := c.roundTrip(ctx, cn, cmd)
		if err == nil {
			err = ReplyErr(cmd.Name, m, c.o.Codes)
			if errors.Is(err, printer.ErrProtocol) {
				c.garbage() // an answer that is no answer to this command
			}
		}
		if err != nil {
			c.dropConn(cn, err)
			return fmt.Errorf("tij: connect: %s: %w", cmd.Name, err)
		}
	}
	if c.o.KeepAlive > 0 {
		cn.wg.Add(1)
		go c.keepAlive(cn)
	}
	return nil
}

// garbage records, for the backoff, that the printer sent something that
// is not its protocol.
func (c *Client) garbage() {
	c.mu.Lock()
	c.gate.Failed()
	c.mu.Unlock()
}

// keepAlive asks the printer's state (GST) whenever the connection has been
// silent for KeepAlive and no command is waiting for its reply. A probe
// without reply within ReplyTimeout ends the connection with ErrTimeout.
func (c *Client) keepAlive(cn *conn) {
	defer cn.wg.Done()
	t := time.NewTimer(c.o.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-t.C:
		}
		if idle := cn.idle(); idle < c.o.KeepAlive {
			t.Reset(c.o.KeepAlive - idle)
			continue
		}
		if !c.cmdMu.TryLock() {
			// A command is under way: its own reply timeout watches.
			t.Reset(c.o.KeepAlive)
			continue
		}
		_, err := c.roundTripThen(context.Background(), cn, Command{Name: CmdGetState}, c.shutConn)
		c.cmdMu.Unlock()
		if err != nil {
			c.mu.Lock()
			closed := c.closed
			c.mu.Unlock()
			if !closed {
				c.o.Logger.Warn("tij: keep-alive failed; connection closed", "addr", c.o.Addr, "err", err)
			}
			return
		}
		t.Reset(c.o.KeepAlive)
	}
}

func (c *Client) dropConn(cn *conn, err error) {
	c.shutConn(cn, err)
	cn.wg.Wait()
}

// shutConn is dropConn without waiting for the connection's goroutines
// (for use by one of them).
func (c *Client) shutConn(cn *conn, err error) {
	c.mu.Lock()
	if c.conn == cn {
		c.conn = nil
	}
	c.mu.Unlock()
	cn.shut(err)
}

func (cn *conn) close(err error) {
	cn.shut(err)
	cn.wg.Wait()
}

func (cn *conn) shut(err error) {
	cn.mu.Lock()
	if cn.err == nil {
		cn.err = err
	}
	cn.mu.Unlock()
	_ = cn.rwc.Close()
}

// read is the connection's reader goroutine: it splits lines, appends
// asynchronous messages as events and hands the rest to the waiting command.
func (c *Client) read(cn *conn) {
	defer cn.wg.Done()
	defer close(cn.done)
	defer func() {
		// A connection that ends without a valid reply was a failed
		// attempt for the backoff; one that gave valid replies was not.
		c.mu.Lock()
		c.gate.Dropped()
		c.mu.Unlock()
	}()
	proven := false
	valid := func() {
		if !proven {
			proven = true
			c.mu.Lock()
			c.gate.Succeeded()
			c.mu.Unlock()
		}
	}
	fail := func(err error) {
		cn.mu.Lock()
		if cn.err == nil {
			cn.err = err
		}
		cn.mu.Unlock()
		_ = cn.rwc.Close()
		select {
		case cn.signal <- struct{}{}:
		default:
		}
	}
	lr := lineReader{r: cn.rwc}
	for {
		line, err := lr.next()
		if err != nil {
			if errors.Is(err, printer.ErrProtocol) {
				c.garbage()
			}
			fail(fmt.Errorf("%w: %w", printer.ErrDisconnected, err))
			return
		}
		cn.lastRx.Store(int64(time.Since(cn.born)))
		if len(line) == 0 {
			continue
		}
		m, err := ParseMessage(line)
		if err != nil {
			c.garbage()
			fail(fmt.Errorf("tij: %w (connection closed)", err))
			return
		}
		if m.IsAsync() {
			ev, err := ParseEvent(m, c.layout, c.o.Codes)
			if err != nil {
				// Dropping it could lose a print-complete or a fault: the
				// connection ends instead, and the queue treats every record
				// in flight as uncertain.
				c.o.Logger.Error("tij: bad asynchronous message", "msg", m.String(), "err", err)
				c.garbage()
				fail(fmt.Errorf("tij: asynchronous message %q: %w (connection closed)", m.String(), err))
				return
			}
			valid()
			ev.At = c.o.Now()
			cn.mu.Lock()
			cn.events = append(cn.events, ev)
			cn.mu.Unlock()
			select {
			case cn.signal <- struct{}{}:
			default:
			}
			continue
		}
		// A reply is handed over only to a command waiting for one: an
		// unsolicited or repeated reply would otherwise be taken as the
		// answer to the next command (e.g. an ACK for a refused record).
		cn.mu.Lock()
		waiting := cn.waiting > 0
		if waiting {
			cn.waiting--
		}
		cn.mu.Unlock()
		if !waiting {
			c.garbage()
			fail(fmt.Errorf("tij: %w: reply %q with no command waiting (connection closed)", printer.ErrProtocol, m.String()))
			return
		}
		valid()
		cn.replies <- m // never blocks: room for every command waiting
	}
}

// lineReader reads CR-terminated lines, tolerating read timeouts (a serial
// port's timeout error) and LF after CR.
type lineReader struct {
	r   io.Reader
	buf []byte
	off int
	n   int
}

func (l *lineReader) next() ([]byte, error) {
	if l.buf == nil {
		l.buf = make([]byte, 16<<10)
	}
	for {
		for i := l.off; i < l.n; i++ {
			if l.buf[i] == '\r' || l.buf[i] == '\n' {
				line := l.buf[l.off:i]
				l.off = i + 1
				return line, nil
			}
		}
		if l.off > 0 {
			copy(l.buf, l.buf[l.off:l.n])
			l.n -= l.off
			l.off = 0
		}
		if l.n >= MaxLine {
			return nil, fmt.Errorf("%w: line longer than %d bytes", printer.ErrProtocol, MaxLine)
		}
		k, err := l.r.Read(l.buf[l.n:])
		l.n += k
		if err != nil {
			if errors.Is(err, serialport.ErrTimeout) {
				continue // serial port read timeout: nothing arrived yet
			}
			return nil, err
		}
	}
}

// current returns the connected conn or ErrNotConnected.
func (c *Client) current() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		if c.closed {
			return nil, printer.ErrClosed
		}
		return nil, printer.ErrNotConnected
	}
	return c.conn, nil
}

// roundTrip writes cmd and waits for its reply. Any failure but an error
// reply closes the connection. Call with cmdMu held.
func (c *Client) roundTrip(ctx context.Context, cn *conn, cmd Command) (Message, error) {
	return c.roundTripThen(ctx, cn, cmd, c.dropConn)
}

// roundTripThen is roundTrip closing a failed connection with drop.
func (c *Client) roundTripThen(ctx context.Context, cn *conn, cmd Command, drop func(*conn, error)) (Message, error) {
	var err error
	c.wbuf, err = cmd.Append(c.wbuf[:0], c.o.NoTrailingSeparator)
	if err != nil {
		return Message{}, err
	}
	cn.mu.Lock()
	cn.waiting++
	cn.mu.Unlock()
	if _, err := cn.rwc.Write(c.wbuf); err != nil {
		err = fmt.Errorf("%w: write %s: %w", printer.ErrDisconnected, cmd.Name, err)
		drop(cn, err)
		return Message{}, err
	}
	return c.awaitReply(ctx, cn, cmd, drop)
}

// awaitReply waits ReplyTimeout for the next reply on cn (the reply to
// cmd: replies come in command order). Any failure but an error reply
// closes the connection with drop.
func (c *Client) awaitReply(ctx context.Context, cn *conn, cmd Command, drop func(*conn, error)) (Message, error) {
	t := time.NewTimer(c.o.ReplyTimeout)
	defer t.Stop()
	select {
	case m := <-cn.replies:
		return m, nil
	case <-cn.done:
		select {
		case m := <-cn.replies: // the reply came just before the connection ended
			return m, nil
		default:
		}
		cn.mu.Lock()
		err := cn.err
		cn.mu.Unlock()
		if errors.Is(err, printer.ErrClosed) {
			// The command was written: it must not read as "nothing sent"
			// (ErrClosed from Enqueue promises that).
			err = fmt.Errorf("%w: closed while waiting for the reply", printer.ErrDisconnected)
		}
		return Message{}, fmt.Errorf("tij: %s: %w", cmd.Name, err)
	case <-t.C:
		err := fmt.Errorf("tij: %s: %w after %v", cmd.Name, printer.ErrTimeout, c.o.ReplyTimeout)
		drop(cn, err)
		return Message{}, err
	case <-ctx.Done():
		drop(cn, fmt.Errorf("%w: %s cancelled", printer.ErrDisconnected, cmd.Name))
		return Message{}, ctx.Err()
	}
}

// Do sends one command and returns its reply (ACK, ERR/NAK or a query
// reply). Errors: ErrNotConnected / ErrClosed (nothing sent);
// ErrTimeout/ErrDisconnected/ctx errors
// after which the connection is closed.
func (c *Client) Do(ctx context.Context, cmd Command) (Message, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	cn, err := c.current()
	if err != nil {
		return Message{}, err
	}
	return c.roundTrip(ctx, cn, cmd)
}

func (c *Client) ack(ctx context.Context, cmd Command) error {
	m, err := c.Do(ctx, cmd)
	if err != nil {
		return err
	}
	return ReplyErr(cmd.Name, m, c.o.Codes)
}

// RecordCommand builds the command that queues r (JDI|F=v|… or
// SLI|job|F=v|…), fields sorted by name after the ID field.
func (c *Client) RecordCommand(r printer.Record) Command {
	cmd := Command{Name: c.o.Enqueue}
	if c.o.Enqueue == CmdSelectAllocate {
		cmd.Args = append(cmd.Args, c.o.Job)
	}
	if _, ok := r.Fields[c.o.IDField]; c.o.IDField != "" && !ok {
		cmd.Args = append(cmd.Args, c.o.IDField+"="+r.ID)
	}
	keys := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Args = append(cmd.Args, k+"="+r.Fields[k])
	}
	return cmd
}

// maxPipeline is the most commands EnqueueBatch writes before reading their
// replies.
const maxPipeline = 256

// EnqueueBatch queues several records, pipelined: the commands of up to
// 256 records are written at once and their replies read afterwards, in
// order (the text protocol answers commands in the order received), so a
// batch costs one reply latency instead of one per record. errs[i] is
// record i's result with Enqueue's meaning: nil held; ErrQueueFull or a
// *printer.ReplyError refused (ErrRefused too for a record whose field
// values cannot be sent: it is not written); ErrNotConnected / ErrClosed
// nothing sent; ErrTimeout / ErrDisconnected / ctx
// errors unknown (the connection is closed: the record and those after it
// are unknown).
func (c *Client) EnqueueBatch(ctx context.Context, rs []printer.Record) []error {
	errs := make([]error, len(rs))
	for start := 0; start < len(rs); start += maxPipeline {
		end := min(len(rs), start+maxPipeline)
		if c.enqueuePipelined(ctx, rs[start:end], errs[start:end]) {
			for i := end; i < len(rs); i++ {
				errs[i] = fmt.Errorf("tij: %s not sent: %w", c.o.Enqueue, printer.ErrNotConnected)
			}
			break
		}
	}
	return errs
}

// enqueuePipelined sends one pipelined group; it reports whether the
// connection is gone (the rest must not be sent).
func (c *Client) enqueuePipelined(ctx context.Context, rs []printer.Record, errs []error) (gone bool) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	cn, err := c.current()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return true
	}
	c.wbuf = c.wbuf[:0]
	var sent []int
	for i, r := range rs {
		cmd := c.RecordCommand(r)
		n := len(c.wbuf)
		var aerr error
		c.wbuf, aerr = cmd.Append(c.wbuf, c.o.NoTrailingSeparator)
		if aerr != nil {
			c.wbuf = c.wbuf[:n]
			errs[i] = fmt.Errorf("tij: record %s not sent: %w: %w", r.ID, printer.ErrRefused, aerr)
			continue
		}
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return false
	}
	cn.mu.Lock()
	cn.waiting += len(sent)
	cn.mu.Unlock()
	if _, err := cn.rwc.Write(c.wbuf); err != nil {
		err = fmt.Errorf("%w: write %s: %w", printer.ErrDisconnected, c.o.Enqueue, err)
		c.dropConn(cn, err)
		for _, i := range sent {
			errs[i] = err
		}
		return true
	}
	cmd := Command{Name: c.o.Enqueue}
	for k, i := range sent {
		m, err := c.awaitReply(ctx, cn, cmd, c.dropConn)
		if err != nil {
			for _, j := range sent[k:] {
				errs[j] = err
			}
			return true
		}
		errs[i] = ReplyErr(cmd.Name, m, c.o.Codes)
	}
	return false
}

// Enqueue queues r with allocation (JDI or SLI) and waits for the ACK.
// nil: the printer holds r. ErrQueueFull / *printer.ReplyError: refused,
// not held. ErrTimeout, ErrDisconnected, ctx errors: unknown (connection
// closed; the caller reconnects and treats r as uncertain). A field value
// holding '|' or CR is refused before sending.
func (c *Client) Enqueue(ctx context.Context, r printer.Record) error {
	return c.ack(ctx, c.RecordCommand(r))
}

// Next returns the next asynchronous event, in the order the printer sent
// them. ErrDisconnected once the connection is gone and its events are all
// delivered; ErrNotConnected before Connect; ctx errors.
func (c *Client) Next(ctx context.Context) (printer.Event, error) {
	cn, err := c.current()
	if err != nil {
		return printer.Event{}, err
	}
	for {
		cn.mu.Lock()
		if len(cn.events) > 0 {
			ev := cn.events[0]
			cn.events[0] = printer.Event{}
			cn.events = cn.events[1:]
			cn.mu.Unlock()
			return ev, nil
		}
		cerr := cn.err
		cn.mu.Unlock()
		if cerr != nil {
			return printer.Event{}, cerr
		}
		select {
		case <-cn.signal:
		case <-cn.done:
		case <-ctx.Done():
			return printer.Event{}, ctx.Err()
		}
	}
}

// query sends a query command and returns its reply, which must repeat the
// command's name with at least one field: an ERR/NAK reply is returned as
// its *printer.ReplyError, anything else (an ACK without data) as
// ErrProtocol.
func (c *Client) query(ctx context.Context, name string) (Message, error) {
	m, err := c.Do(ctx, Command{Name: name})
	if err != nil {
		return Message{}, err
	}
	if m.Name != name || len(m.Fields) == 0 {
		if err := ReplyErr(name, m, c.o.Codes); err != nil {
			return Message{}, err
		}
		return Message{}, fmt.Errorf("%w: %s reply %q carries no data", printer.ErrProtocol, name, m.String())
	}
	return m, nil
}

// QueueDepth asks QSZ and returns the number of queued records.
func (c *Client) QueueDepth(ctx context.Context) (int, error) {
	m, err := c.query(ctx, CmdQueueSize)
	if err != nil {
		return 0, err
	}
	n, err := m.ParseUint(0)
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// Clear empties the printer queue (CQI with no argument: every item).
func (c *Client) Clear(ctx context.Context) error {
	return c.ack(ctx, Command{Name: CmdClearQueueItem})
}

// State asks GST and returns the state and its text.
func (c *Client) State(ctx context.Context) (state, text string, err error) {
	m, err := c.query(ctx, CmdGetState)
	if err != nil {
		return "", "", err
	}
	if m.Fields[0] == "" {
		return "", "", fmt.Errorf("%w: GST reply %q carries no state", printer.ErrProtocol, m.String())
	}
	return m.Fields[0], m.field(1), nil
}

// SetState sends SST|state|.
func (c *Client) SetState(ctx context.Context, state string) error {
	return c.ack(ctx, Command{Name: CmdSetState, Args: []string{state}})
}

// Faults asks GFT (faults) or, with warnings, GWN.
func (c *Client) Faults(ctx context.Context, warnings bool) ([]Fault, error) {
	name := CmdGetFaults
	if warnings {
		name = CmdGetWarnings
	}
	m, err := c.query(ctx, name)
	if err != nil {
		return nil, err
	}
	return ParseFaultList(m)
}

// ClearFaults sends CAF (clear all faults) and CEM (clear error messages).
func (c *Client) ClearFaults(ctx context.Context) error {
	if err := c.ack(ctx, Command{Name: CmdClearFaults}); err != nil {
		return err
	}
	return c.ack(ctx, Command{Name: CmdClearMessages})
}

// PrintCount asks GPC.
func (c *Client) PrintCount(ctx context.Context) (uint64, error) {
	m, err := c.query(ctx, CmdGetPrintCount)
	if err != nil {
		return 0, err
	}
	return m.ParseUint(0)
}

// SetPrintCount sends SPC|n|.
func (c *Client) SetPrintCount(ctx context.Context, n uint64) error {
	return c.ack(ctx, Command{Name: CmdSetPrintCount, Args: []string{strconv.FormatUint(n, 10)}})
}

// Close closes the connection. Next and the commands return ErrClosed
// afterwards (until Connect). Closing a closed Client is a no-op.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	cn := c.conn
	c.conn, c.closed = nil, true
	c.closes++
	c.mu.Unlock()
	if cn != nil {
		cn.close(printer.ErrClosed)
	}
	return nil
}
