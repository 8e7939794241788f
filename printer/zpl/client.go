// Package zpl drives Zebra ZPL II label printers over raw TCP (port 9100)
// or RS-232: a stored format (^DF) with ^FN variable fields is downloaded at
// Connect and recalled per label (^XF); ~HS host status is polled to report
// prints (formats leaving the receive buffer), faults (paper out, ribbon
// out, head open) and pause. A bitmap mode sends each record's symbol as a
// ^GF graphic field at the printer's resolution instead. Client implements
// printer.Driver.
package zpl

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/printer"
)

// BitmapOptions switch the client to the bitmap path.
type BitmapOptions struct {
	// Render returns the record's symbol rendered at the printer's DPI
	// (e.g. datamatrix Symbol.Image with Options.DPI set). Required.
	Render func(r printer.Record) (image.Image, error)
	// X, Y place the graphic on the label (dots).
	X, Y int
}

// Options configure a Client.
type Options struct {
	// Addr is host:port (raw TCP, usually port 9100).
	Addr string
	// Dial opens the transport instead of Addr (RS-232 via devices/serialport).
	Dial func(ctx context.Context) (io.ReadWriteCloser, error)
	// FormatName is the stored format's name (default "R:SERIAL.ZPL").
	FormatName string
	// Format is the label body between ^DF…^FS and ^XZ, with ^FNn
	// placeholders. Required unless Bitmap is set.
	Format string
	// Fields maps record field names to ^FN numbers.
	Fields map[string]int
	// IDField is the ^FN number that receives Record.ID (0 = not sent). In
	// bitmap mode any value > 0 adds the ID as a ^FX comment to the label.
	IDField int
	// MaxQueue is the most formats the client lets wait in the printer's
	// buffer; Enqueue beyond it returns ErrQueueFull (default 8).
	MaxQueue int
	// PollInterval is how often Next polls ~HS (default 100ms).
	PollInterval time.Duration
	// ReplyTimeout bounds the wait for the ~HS answer (default 2s); after a
	// timeout the connection is closed.
	ReplyTimeout time.Duration
	// Bitmap, if set, sends each record as a ^GF graphic instead of ^XF.
	Bitmap *BitmapOptions
	// Backoff paces Connect after connections that failed before a valid
	// ~HS answer (a port that answers garbage or nothing): Connect then
	// returns a devices.RetryAfter error until the wait is over. Default
	// devices.DefaultBackoff().
	Backoff *devices.Backoff
	// Logger (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Client is a ZPL printer driver.
type Client struct {
	o Options

	mu      sync.Mutex
	gate    devices.Gate // backoff across reconnects; reset by a valid ~HS answer only
	rwc     io.ReadWriteCloser
	rbuf    []byte
	sent    []string // record IDs in the printer's buffer, oldest first
	status  HostStatus
	counter uint64
	events  []printer.Event
	closed  bool
}

var _ printer.Driver = (*Client)(nil)

// New checks o and returns an unconnected Client.
func New(o Options) (*Client, error) {
	if o.Addr == "" && o.Dial == nil {
		return nil, errors.New("zpl: Options.Addr or Options.Dial is required")
	}
	if o.Bitmap == nil && o.Format == "" {
		return nil, errors.New("zpl: Options.Format is required (or Options.Bitmap)")
	}
	if o.Bitmap != nil && o.Bitmap.Render == nil {
		return nil, errors.New("zpl: Options.Bitmap.Render is required")
	}
	if o.FormatName == "" {
		o.FormatName = "R:SERIAL.ZPL"
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 8
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.ReplyTimeout <= 0 {
		o.ReplyTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Client{o: o, gate: devices.Gate{Backoff: devices.DefaultBackoff(), Now: o.Now}}
	if o.Backoff != nil {
		c.gate.Backoff = *o.Backoff
	}
	return c, nil
}

// Connect dials, downloads the stored format (not in bitmap mode) and
// reads the host status. An error means the printer is unusable now; the
// caller retries. Labels the printer still buffers from before are counted
// as unknown (QueueDepth shows them).
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
	if ok, wait := c.gate.Allow(); !ok {
		return devices.RetryAfter(fmt.Errorf("zpl: connect %s: %w (backing off after %d connection(s) without a valid answer; next attempt in %s)",
			c.o.Addr, printer.ErrDisconnected, c.gate.Failures(), wait), wait)
	}
	var rwc io.ReadWriteCloser
	var err error
	if c.o.Dial != nil {
		rwc, err = c.o.Dial(ctx)
	} else {
		d := net.Dialer{Timeout: 5 * time.Second}
		rwc, err = d.DialContext(ctx, "tcp", c.o.Addr)
	}
	if err != nil {
		c.gate.Failed()
		return fmt.Errorf("zpl: connect %s: %w: %w", c.o.Addr, printer.ErrDisconnected, err)
	}
	c.gate.Connected()
	c.rwc, c.closed, c.sent, c.events, c.rbuf = rwc, false, nil, nil, nil
	if c.o.Bitmap == nil {
		if err := c.writeLocked(StoredFormat(c.o.FormatName, c.o.Format)); err != nil {
			return fmt.Errorf("zpl: connect: download format: %w", err)
		}
	}
	h, err := c.hostStatusLocked(ctx)
	if err != nil {
		return fmt.Errorf("zpl: connect: %w", err)
	}
	c.status = h
	return nil
}

func (c *Client) dropLocked() {
	if c.rwc != nil {
		c.gate.Dropped()
		_ = c.rwc.Close()
		c.rwc = nil
	}
}

func (c *Client) writeLocked(b []byte) error {
	if c.rwc == nil {
		return printer.ErrNotConnected
	}
	if _, err := c.rwc.Write(b); err != nil {
		c.dropLocked()
		return fmt.Errorf("%w: %w", printer.ErrDisconnected, err)
	}
	return nil
}

// hostStatusLocked sends ~HS and reads the three strings.
func (c *Client) hostStatusLocked(ctx context.Context) (HostStatus, error) {
	if err := c.writeLocked([]byte("~HS\n")); err != nil {
		return HostStatus{}, err
	}
	deadline := time.Now().Add(c.o.ReplyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc, isNet := c.rwc.(net.Conn)
	if isNet {
		_ = nc.SetReadDeadline(deadline)
		defer nc.SetReadDeadline(time.Time{})
	}
	buf := make([]byte, 512)
	for {
		frames, used := SplitFrames(c.rbuf)
		if len(frames) >= 3 {
			// Frames come in threes; keep any surplus bytes.
			h, err := ParseHostStatus(c.rbuf[:used])
			c.rbuf = append(c.rbuf[:0], c.rbuf[used:]...)
			if err != nil {
				c.gate.Failed() // not a ~HS answer
				c.dropLocked()
				return HostStatus{}, err
			}
			c.gate.Succeeded()
			return h, nil
		}
		if err := ctx.Err(); err != nil {
			c.dropLocked()
			return HostStatus{}, err
		}
		if !isNet && time.Now().After(deadline) {
			c.dropLocked()
			return HostStatus{}, fmt.Errorf("zpl: ~HS: %w", printer.ErrTimeout)
		}
		n, err := c.rwc.Read(buf)
		c.rbuf = append(c.rbuf, buf[:n]...)
		if len(c.rbuf) > 4096 {
			c.gate.Failed()
			c.dropLocked()
			return HostStatus{}, fmt.Errorf("%w: ~HS answer longer than 4096 bytes", printer.ErrProtocol)
		}
		if err != nil {
			if errors.Is(err, serialport.ErrTimeout) {
				continue
			}
			c.dropLocked()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return HostStatus{}, fmt.Errorf("zpl: ~HS: %w", printer.ErrTimeout)
			}
			return HostStatus{}, fmt.Errorf("zpl: ~HS: %w: %w", printer.ErrDisconnected, err)
		}
	}
}

// Label returns the ZPL sent for r: a ^XF recall of the stored format with
// the record's fields, or in bitmap mode a ^GF graphic label.
func (c *Client) Label(r printer.Record) ([]byte, error) {
	if c.o.Bitmap != nil {
		img, err := c.o.Bitmap.Render(r)
		if err != nil {
			return nil, fmt.Errorf("zpl: render record %s: %w", r.ID, err)
		}
		bm := printer.ToBitmap(img)
		out := []byte("^XA")
		out = append(out, GraphicField(bm, c.o.Bitmap.X, c.o.Bitmap.Y)...)
		if c.o.IDField > 0 {
			out = fmt.Appendf(out, "^FX%s^FS", EscapeFH(r.ID)) // comment: the record ID
		}
		return append(out, "^XZ\n"...), nil
	}
	fields := map[int]string{}
	for name, v := range r.Fields {
		n, ok := c.o.Fields[name]
		if !ok {
			return nil, fmt.Errorf("zpl: record %s: field %q has no ^FN number in Options.Fields", r.ID, name)
		}
		fields[n] = v
	}
	if c.o.IDField > 0 {
		if _, ok := fields[c.o.IDField]; !ok {
			fields[c.o.IDField] = r.ID
		}
	}
	return Recall(c.o.FormatName, fields), nil
}

// Enqueue sends one label. ZPL has no per-label acknowledgement: nil means
// the bytes were written. ErrQueueFull: MaxQueue formats already wait in
// the printer (checked with ~HS), not sent. ErrDisconnected/ErrTimeout:
// unknown (connection closed; the caller reconnects).
func (c *Client) Enqueue(ctx context.Context, r printer.Record) error {
	label, err := c.Label(r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rwc == nil {
		return printer.ErrNotConnected
	}
	if len(c.sent) >= c.o.MaxQueue {
		if err := c.pollLocked(ctx); err != nil {
			return err
		}
		if c.status.FormatsInBuffer >= c.o.MaxQueue || c.status.BufferFull {
			return &printer.ReplyError{Command: "^XF", Code: "BUFFER", Text: fmt.Sprintf("%d formats waiting", c.status.FormatsInBuffer), Full: true}
		}
	}
	if err := c.writeLocked(label); err != nil {
		return err
	}
	c.sent = append(c.sent, r.ID)
	return nil
}

// pollLocked reads ~HS and turns the change into events.
func (c *Client) pollLocked(ctx context.Context) error {
	h, err := c.hostStatusLocked(ctx)
	if err != nil {
		return err
	}
	now := c.o.Now()
	prev := c.status
	c.status = h
	add := func(k printer.EventKind, code, text string) {
		c.events = append(c.events, printer.Event{Kind: k, Code: code, Text: text, At: now})
	}
	cond := func(was, is bool, code, text string, k printer.EventKind) {
		if !was && is {
			add(k, code, text)
		}
	}
	cond(prev.PaperOut, h.PaperOut, "PAPER_OUT", "paper out", printer.Fault)
	cond(prev.RibbonOut, h.RibbonOut, "RIBBON_OUT", "ribbon out", printer.Fault)
	cond(prev.HeadOpen, h.HeadOpen, "HEAD_OPEN", "head open", printer.Fault)
	cond(prev.Paused, h.Paused, "PAUSED", "paused", printer.Status)
	cond(prev.OverTemp, h.OverTemp, "OVER_TEMP", "head over temperature", printer.Warning)
	cond(prev.UnderTemp, h.UnderTemp, "UNDER_TEMP", "head under temperature", printer.Warning)
	if prev.Stopped() && !h.Stopped() {
		add(printer.Status, "READY", "ready")
	}
	if done := len(c.sent) - h.FormatsInBuffer; done > 0 {
		for _, id := range c.sent[:done] {
			c.counter++
			c.events = append(c.events, printer.Event{Kind: printer.PrintComplete, RecordID: id, Counter: c.counter, At: now})
		}
		c.sent = append(c.sent[:0], c.sent[done:]...)
	}
	return nil
}

// Next polls ~HS every PollInterval and returns the next event: a
// PrintComplete per format that left the buffer (record ID and a counter
// kept by the client, oldest first), Fault on paper out / ribbon out /
// head open, Status on pause and on ready, Warning on temperature.
// ErrDisconnected / ErrTimeout: connection closed, the caller reconnects.
func (c *Client) Next(ctx context.Context) (printer.Event, error) {
	for {
		c.mu.Lock()
		if len(c.events) > 0 {
			ev := c.events[0]
			c.events = c.events[1:]
			c.mu.Unlock()
			return ev, nil
		}
		if c.rwc == nil {
			closed := c.closed
			c.mu.Unlock()
			if closed {
				return printer.Event{}, printer.ErrClosed
			}
			return printer.Event{}, printer.ErrDisconnected
		}
		if err := ctx.Err(); err != nil {
			c.mu.Unlock()
			return printer.Event{}, err
		}
		// The poll is not cut short by ctx (that would desynchronise the
		// connection); ReplyTimeout bounds it.
		err := c.pollLocked(context.WithoutCancel(ctx))
		n := len(c.events)
		c.mu.Unlock()
		if err != nil {
			return printer.Event{}, err
		}
		if n > 0 {
			continue
		}
		t := time.NewTimer(c.o.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return printer.Event{}, ctx.Err()
		case <-t.C:
		}
	}
}

// QueueDepth returns the formats waiting in the printer's buffer (~HS).
func (c *Client) QueueDepth(ctx context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rwc == nil {
		return 0, printer.ErrNotConnected
	}
	if err := c.pollLocked(ctx); err != nil {
		return 0, err
	}
	return c.status.FormatsInBuffer, nil
}

// Clear cancels every buffered format (~JA) and checks with ~HS.
func (c *Client) Clear(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writeLocked([]byte("~JA\n")); err != nil {
		return err
	}
	h, err := c.hostStatusLocked(ctx)
	if err != nil {
		return err
	}
	c.status = h
	c.sent = nil
	if h.FormatsInBuffer != 0 {
		return fmt.Errorf("zpl: ~JA left %d formats: %w", h.FormatsInBuffer, printer.ErrRefused)
	}
	return nil
}

// Status returns the last host status read.
func (c *Client) Status() HostStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Close closes the connection; Next returns ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
	c.closed = true
	return nil
}
