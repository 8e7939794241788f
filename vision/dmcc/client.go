package dmcc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/internal/link"
	"github.com/serialine/serialine/vision/pattern"
)

// DefaultPattern is the result layout assumed when none is configured: the
// AIM identifier and data, a tab, the overall grade in ISO notation, a tab,
// and the parameter grades as NAME=letter pairs. DataMan output formats are
// set per installation; configure Format to match the reader.
const DefaultPattern = "{symid}{data}\t{overall}\t{grades}"

// DefaultNoRead is the no-read string assumed when none is configured.
const DefaultNoRead = "NOREAD"

// DefaultFormat compiles DefaultPattern / DefaultNoRead.
func DefaultFormat() *pattern.Format {
	return pattern.MustCompile(pattern.Options{Pattern: DefaultPattern, NoRead: DefaultNoRead, Source: "dmcc"})
}

// Options configure a Client. Every field is optional except Addr or Dial.
type Options struct {
	// Addr is the reader's TCP address host:port (DMCC port 23).
	Addr string
	// Dial opens the transport instead of TCP to Addr, e.g. an RS-232 port
	// from devices/serialport (Config.Options sets it for a serial config).
	Dial func(ctx context.Context) (io.ReadWriteCloser, error)
	// Extended switches the reader to extended response mode at Connect
	// (SET COM.DMCC-RESPONSE 1): every command is answered with a status,
	// results arrive base64-framed. Off: silent mode, commands are not
	// answered and results are plain lines.
	Extended bool
	// Checksum sends commands in checksum mode 1 (XOR byte before CR LF).
	Checksum bool
	// Trigger sends TRIGGER ON at Connect and TRIGGER OFF at Close (reading
	// enabled by software); off when the photo-eye triggers the reader.
	Trigger bool
	// Setup are further commands sent at Connect, in order (e.g.
	// "SET SYMBOL.DATAMATRIX ON").
	Setup []string
	// Format parses the result string (default DefaultFormat()).
	Format *pattern.Format
	// CommandTimeout bounds the wait for each command's answer in extended
	// mode, and each write (default 2s).
	CommandTimeout time.Duration
	// KeepAlive, in extended mode, finds a hung reader (connection open, no
	// answers): whenever nothing has come from the reader for this long,
	// KeepAliveCommand is sent; no answer within CommandTimeout ends the
	// connection, and Read returns ErrDisconnected wrapping ErrTimeout. Any
	// answer counts, an error status too. 0 = off. Silent mode answers no
	// command, so it has no keep-alive.
	KeepAlive time.Duration
	// KeepAliveCommand is the probe (default DefaultKeepAliveCommand).
	KeepAliveCommand string
	// Backoff paces Connect after connections that failed before a valid
	// reply (default devices.DefaultBackoff()).
	Backoff *devices.Backoff
	// Now is the clock stamping Result.At and pacing the backoff (default
	// time.Now).
	Now func() time.Time
	// Logger receives connection events (default: discard).
	Logger *slog.Logger
}

// DefaultCommandTimeout bounds a command's answer when none is configured.
const DefaultCommandTimeout = 2 * time.Second

// DefaultKeepAliveCommand asks the reader its type: answered at once,
// changes nothing.
const DefaultKeepAliveCommand = "GET DEVICE.TYPE"

// Client is a DMCC connection to one reader. It implements vision.Camera.
// Methods may be called from different goroutines; Read is meant to be
// called by one goroutine at a time.
type Client struct {
	o    Options
	conn link.Conn

	cmdMu  sync.Mutex
	nextID int
}

var _ vision.Camera = (*Client)(nil)

// New returns an unconnected Client.
func New(o Options) *Client {
	if o.Format == nil {
		o.Format = DefaultFormat()
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.KeepAliveCommand == "" {
		o.KeepAliveCommand = DefaultKeepAliveCommand
	}
	c := &Client{o: o, conn: link.Conn{Source: "dmcc", Now: o.Now}}
	if o.Backoff != nil {
		c.conn.Backoff = *o.Backoff
	}
	if o.Extended && o.KeepAlive > 0 {
		c.conn.KeepAlive = o.KeepAlive
		c.conn.Probe = func(ctx context.Context, l *link.Link) error {
			_, err := c.command(ctx, l, o.KeepAliveCommand)
			var re *vision.ReplyError
			if errors.As(err, &re) {
				return nil // an error status is an answer: the reader is there
			}
			return err
		}
	}
	return c
}

func isReply(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("||")) {
		return false
	}
	i := bytes.IndexByte(line, '[')
	if i < 0 {
		return true // garbled frame: the waiting command reports it
	}
	return !bytes.HasPrefix(line[i:], []byte("[1]"))
}

// Connect dials the reader, switches extended mode on when configured,
// sends the Setup commands and TRIGGER ON (when Trigger). Errors:
// ErrDisconnected (dial/I/O failure or no answer: retry with backoff via
// devices.Retry), *vision.ReplyError / ErrRefused (the reader refused a
// setup command: configuration), ErrClosed. A previous connection is
// closed first.
func (c *Client) Connect(ctx context.Context) error {
	cmds := []string{}
	if c.o.Extended {
		cmds = append(cmds, "SET COM.DMCC-RESPONSE 1")
	}
	cmds = append(cmds, c.o.Setup...)
	if c.o.Trigger {
		cmds = append(cmds, "TRIGGER ON")
	}
	err := c.conn.Connect(ctx, c.o.Addr, c.o.Dial, link.CRLF, isReply, func(l *link.Link) error {
		for _, cmd := range cmds {
			if _, err := c.command(ctx, l, cmd); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.o.Logger.Info("dmcc: connected", "addr", c.o.Addr, "extended", c.o.Extended)
	return nil
}

// Command sends one DMCC command (e.g. "GET SYMBOL.DATAMATRIX") and, in
// extended mode, returns the reader's answer payload; in silent mode it
// returns "" once written. Errors: *vision.ReplyError (status 100–104),
// ErrDisconnected (the connection failed or the answer did not come within
// CommandTimeout: the connection is closed, call Connect), ErrNotConnected.
func (c *Client) Command(ctx context.Context, cmd string) (string, error) {
	l, err := c.conn.Current(cmd)
	if err != nil {
		return "", err
	}
	out, err := c.command(ctx, l, cmd)
	if err != nil && errors.Is(err, vision.ErrDisconnected) {
		c.conn.Drop(l)
	}
	return out, err
}

func (c *Client) command(ctx context.Context, l *link.Link, cmd string) (string, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	c.nextID = c.nextID%999999 + 1
	id := c.nextID
	frame := AppendCommand(nil, Command{ID: id, HasID: true, Checksum: c.o.Checksum, Text: cmd})
	if !c.o.Extended {
		return "", l.Command(ctx, cmd, frame, c.o.CommandTimeout, "answer", nil)
	}
	var out string
	err := l.Command(ctx, cmd, frame, c.o.CommandTimeout, "answer", func(line []byte) (bool, error) {
		r, err := ParseResponse(line)
		if err != nil {
			l.Garbage()
			return true, fmt.Errorf("%s: answer: %w", cmd, err)
		}
		l.Valid()
		if r.HasID && r.ID != id {
			return false, nil // stale answer to an earlier, abandoned command
		}
		if r.Status != StatusOK {
			return true, &vision.ReplyError{Source: "dmcc", Command: cmd, Code: r.Status, Msg: StatusText(r.Status)}
		}
		out = string(r.Payload)
		return true, nil
	})
	return out, err
}

// Read blocks for the next result. Errors: *vision.LineError (ErrGarbled,
// possibly ErrChecksum): one result line not understood, call Read again;
// ErrDisconnected: the connection ended and is closed, call Connect;
// ctx.Err(); ErrNotConnected; ErrClosed.
func (c *Client) Read(ctx context.Context) (vision.Result, error) {
	return c.conn.Read(ctx, c.o.Addr, func(line []byte) (vision.Result, error) { return ParseResult(line, c.o.Format) }, c.o.Now)
}

// ParseResult turns one received line (footer removed) into a Result: an
// extended-mode frame with status 1 (base64 result string) or, in silent
// mode, the plain result string; both parsed with format.
func ParseResult(line []byte, format *pattern.Format) (vision.Result, error) {
	payload := line
	if bytes.HasPrefix(line, []byte("||")) {
		r, err := ParseResponse(line)
		if err != nil {
			return vision.Result{Raw: string(line)}, err
		}
		if r.Status != StatusReadString {
			return vision.Result{Raw: string(line)}, garbled(line, 0, "unexpected status %d (%s) where a result was expected", r.Status, StatusText(r.Status))
		}
		payload = r.Payload
	}
	return format.Parse(string(payload))
}

// Close sends TRIGGER OFF (when Trigger; best effort, bounded by ctx and
// CommandTimeout), closes the connection and waits for its reader. Later
// calls return ErrClosed from Read and Connect. Close is idempotent.
func (c *Client) Close(ctx context.Context) error {
	l := c.conn.Shut()
	if l == nil {
		return nil
	}
	if c.o.Trigger {
		select {
		case <-l.Done():
		default:
			if _, err := c.command(ctx, l, "TRIGGER OFF"); err != nil {
				c.o.Logger.Warn("dmcc: TRIGGER OFF at close failed", "err", err)
			}
		}
	}
	return l.Close()
}

// Config is the DMCC camera as configured (yaml).
type Config struct {
	// Address is the reader's host:port (TCP, port 23 on DataMan).
	Address string `yaml:"address"`
	// Serial selects RS-232 instead of TCP.
	Serial *serialport.Config `yaml:"serial"`
	// Extended switches on extended response mode (status per command).
	Extended bool `yaml:"extended"`
	// Checksum sends commands with an XOR checksum byte.
	Checksum bool `yaml:"checksum"`
	// Trigger sends TRIGGER ON/OFF at connect/close.
	Trigger bool `yaml:"trigger"`
	// Setup are further commands sent at connect.
	Setup []string `yaml:"setup"`
	// Format is the result layout pattern (default DefaultPattern).
	Format string `yaml:"format"`
	// NoRead is the reader's no-read string (default DefaultNoRead).
	NoRead string `yaml:"no_read"`
	// CommandTimeout bounds each command's answer (default 2s).
	CommandTimeout time.Duration `yaml:"command_timeout"`
	// KeepAlive is the silence after which KeepAliveCommand is sent to find
	// a hung reader (extended mode only; 0 = link.DefaultKeepAlive, 500ms).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// KeepAliveCommand is the probe (default GET DEVICE.TYPE).
	KeepAliveCommand string `yaml:"keep_alive_command"`
}

// Validate reports every problem with its path (relative to this block).
func (c Config) Validate() configs.Problems {
	var p configs.Problems
	link.ValidateEndpoint(&p, c.Address, c.Serial)
	if _, err := c.format(); err != nil {
		p.Add("format", "%v", err)
	}
	link.ValidateCommandTimeout(&p, c.CommandTimeout)
	link.ValidateKeepAlive(&p, c.KeepAlive)
	for i, cmd := range c.Setup {
		link.ValidateCommandText(&p, fmt.Sprintf("setup[%d]", i), cmd)
	}
	if c.KeepAliveCommand != "" {
		link.ValidateCommandText(&p, "keep_alive_command", c.KeepAliveCommand)
	}
	return p
}

// EffectiveCommandTimeout is the command timeout the driver runs with.
func (c Config) EffectiveCommandTimeout() time.Duration {
	if c.CommandTimeout == 0 {
		return DefaultCommandTimeout
	}
	return c.CommandTimeout
}

// EffectiveKeepAlive is the keep-alive the driver runs with (0: none, in
// silent mode).
func (c Config) EffectiveKeepAlive() time.Duration {
	switch {
	case !c.Extended:
		return 0
	case c.KeepAlive == 0:
		return link.DefaultKeepAlive
	}
	return c.KeepAlive
}

func (c Config) format() (*pattern.Format, error) {
	return pattern.CompileDefault(pattern.Options{Pattern: c.Format, NoRead: c.NoRead, Source: "dmcc"}, DefaultPattern, DefaultNoRead)
}

// Options converts a validated Config into Options (logger and clock
// left for the caller).
func (c Config) Options() (Options, error) {
	if err := c.Validate().Err(); err != nil {
		return Options{}, err
	}
	f, _ := c.format()
	o := Options{Extended: c.Extended, Checksum: c.Checksum, Trigger: c.Trigger,
		Setup: append([]string(nil), c.Setup...), Format: f, CommandTimeout: c.CommandTimeout,
		KeepAlive: c.EffectiveKeepAlive(), KeepAliveCommand: c.KeepAliveCommand}
	o.Addr, o.Dial = link.Endpoint(c.Address, c.Serial)
	return o, nil
}
