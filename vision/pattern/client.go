package pattern

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/internal/link"
)

// ClientOptions configure a Client: a reader that just sends one result
// line per read (CR, LF or CR LF terminated) in Format, and takes no
// commands.
type ClientOptions struct {
	// Addr is the reader's TCP address host:port.
	Addr string
	// Dial opens the transport instead of TCP (e.g. RS-232 through
	// devices/serialport).
	Dial func(ctx context.Context) (io.ReadWriteCloser, error)
	// Format parses each line (required).
	Format *Format
	// Now stamps Result.At (default time.Now).
	Now func() time.Time
	// Logger receives connection events (default: discard).
	Logger *slog.Logger
}

// Client is a listen-only camera connection. It implements vision.Camera.
type Client struct {
	o      ClientOptions
	mu     sync.Mutex
	l      *link.Link
	closed bool
}

var _ vision.Camera = (*Client)(nil)

// NewClient returns an unconnected Client.
func NewClient(o ClientOptions) *Client {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{o: o}
}

// Connect dials the reader. Errors: ErrDisconnected (dial failure: retry
// with backoff through devices.Retry), ErrClosed.
func (c *Client) Connect(ctx context.Context) error {
	if c.o.Format == nil {
		return errors.New("pattern: client has no Format")
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("pattern: connect: %w", vision.ErrClosed)
	}
	old := c.l
	c.l = nil
	c.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	var rwc io.ReadWriteCloser
	var err error
	if c.o.Dial != nil {
		rwc, err = c.o.Dial(ctx)
	} else {
		var d net.Dialer
		rwc, err = d.DialContext(ctx, "tcp", c.o.Addr)
	}
	if err != nil {
		return fmt.Errorf("pattern: connect %s: %w: %w", c.o.Addr, vision.ErrDisconnected, err)
	}
	l := link.Start(rwc, link.AnyEOL, func([]byte) bool { return false })
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = l.Close()
		return fmt.Errorf("pattern: connect: %w", vision.ErrClosed)
	}
	c.l = l
	return nil
}

// Read blocks for the next result. Errors as vision.Camera documents:
// *vision.LineError (garbled line, read on), ErrDisconnected (reconnect),
// ctx.Err(), ErrNotConnected, ErrClosed.
func (c *Client) Read(ctx context.Context) (vision.Result, error) {
	c.mu.Lock()
	l, closed := c.l, c.closed
	c.mu.Unlock()
	if closed {
		return vision.Result{}, fmt.Errorf("pattern: read: %w", vision.ErrClosed)
	}
	if l == nil {
		return vision.Result{}, fmt.Errorf("pattern: read: %w", vision.ErrNotConnected)
	}
	parse := func(it link.Item) (vision.Result, error) {
		if it.Err != nil {
			return vision.Result{Raw: string(it.Line)}, &vision.LineError{Source: "pattern", Line: string(it.Line), Msg: it.Err.Error()}
		}
		r, err := c.o.Format.Parse(string(it.Line))
		r.At = c.o.Now()
		return r, err
	}
	select {
	case it := <-l.Results():
		return parse(it)
	case <-l.Done():
		select {
		case it := <-l.Results():
			return parse(it)
		default:
		}
		err := l.Err()
		_ = l.Close()
		c.mu.Lock()
		if c.l == l {
			c.l = nil
		}
		c.mu.Unlock()
		return vision.Result{}, fmt.Errorf("pattern: read %s: %w: %w", c.o.Addr, vision.ErrDisconnected, err)
	case <-ctx.Done():
		return vision.Result{}, ctx.Err()
	}
}

// Close closes the connection. Idempotent.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	l := c.l
	c.l = nil
	c.closed = true
	c.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.Close()
}

// ClientConfig is a listen-only reader as configured (yaml).
type ClientConfig struct {
	// Address is the reader's host:port (TCP).
	Address string `yaml:"address"`
	// Serial selects RS-232 instead of TCP.
	Serial *serialport.Config `yaml:"serial"`
	// Format is the result line layout (required; see package doc).
	Format string `yaml:"format"`
	// NoRead is the reader's no-read line ("" = it sends none).
	NoRead string `yaml:"no_read"`
}

// Validate reports every problem with its path (relative to this block).
func (c ClientConfig) Validate() configs.Problems {
	var p configs.Problems
	switch {
	case c.Address == "" && c.Serial == nil:
		p.Add("address", "must be set (host:port), or configure serial")
	case c.Address != "" && c.Serial != nil:
		p.Add("serial", "set either address or serial, not both")
	case c.Address != "":
		if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
			p.Add("address", "%q is not host:port", c.Address)
		} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			p.Add("address", "bad port %q", port)
		}
	}
	if c.Serial != nil {
		p.Merge("serial", c.Serial.Validate())
	}
	if c.Format == "" {
		p.Add("format", "must be set: the reader's result layout, e.g. \"{data}:{grades}\"")
	} else if _, err := Compile(Options{Pattern: c.Format, NoRead: c.NoRead}); err != nil {
		p.Add("format", "%v", err)
	}
	return p
}

// Options converts a validated ClientConfig into ClientOptions (logger and
// clock left for the caller).
func (c ClientConfig) Options() (ClientOptions, error) {
	if err := c.Validate().Err(); err != nil {
		return ClientOptions{}, err
	}
	f, err := Compile(Options{Pattern: c.Format, NoRead: c.NoRead})
	if err != nil {
		return ClientOptions{}, err
	}
	o := ClientOptions{Addr: c.Address, Format: f}
	if c.Serial != nil {
		sc := *c.Serial
		o.Addr = sc.Device
		o.Dial = func(context.Context) (io.ReadWriteCloser, error) { return serialport.Open(sc) }
	}
	return o, nil
}
