package pattern

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
	o    ClientOptions
	conn link.Conn
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
	return &Client{o: o, conn: link.Conn{Source: "pattern"}}
}

// Connect dials the reader. Errors: ErrDisconnected (dial failure: retry
// with backoff through devices.Retry), ErrClosed.
func (c *Client) Connect(ctx context.Context) error {
	if c.o.Format == nil {
		return errors.New("pattern: client has no Format")
	}
	return c.conn.Connect(ctx, c.o.Addr, c.o.Dial, link.AnyEOL, func([]byte) bool { return false }, nil)
}

// Read blocks for the next result. Errors as vision.Camera documents:
// *vision.LineError (garbled line, read on), ErrDisconnected (reconnect),
// ctx.Err(), ErrNotConnected, ErrClosed.
func (c *Client) Read(ctx context.Context) (vision.Result, error) {
	return c.conn.Read(ctx, c.o.Addr, func(line []byte) (vision.Result, error) { return c.o.Format.Parse(string(line)) }, c.o.Now)
}

// Close closes the connection. Idempotent.
func (c *Client) Close(ctx context.Context) error {
	l := c.conn.Shut()
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
	link.ValidateEndpoint(&p, c.Address, c.Serial)
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
	o := ClientOptions{Format: f}
	o.Addr, o.Dial = link.Endpoint(c.Address, c.Serial)
	return o, nil
}
