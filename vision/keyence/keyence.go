// Package keyence is a driver for Keyence SR-series code readers in their
// serial command style, over TCP or RS-232 (see
// ../shared/reference/device-protocols.md):
//
//	host:   LON CR          start reading (timing on)
//	        LOFF CR         stop reading
//	reader: OK,LON CR       accepted
//	        ER,LON,ee CR    refused, ee = error code
//	        data[:grades] CR      one read; no-read "ERROR"
//
// Print-quality grades are appended to the read data after ':' (ALL
// overall, DEC, SC, MOD, RM, FPD, AN, GN, UEC; letters or numbers). The
// layout of the appended part is configurable with a vision/pattern Format;
// the default is "{data}:{grades}" with NAME=grade items, e.g.
// "]d2010950110153000321ABC:ALL=B,SC=A,MOD=B". The data is matched
// shortest-first, so ':' inside the data (allowed in GS1 AI values) is
// fine.
package keyence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/internal/link"
	"github.com/serialine/serialine/vision/pattern"
)

// DefaultPattern is the read-data layout assumed when none is configured.
const DefaultPattern = "{data}:{grades}"

// DefaultNoRead is the SR series' no-read string.
const DefaultNoRead = "ERROR"

// DefaultFormat compiles DefaultPattern / DefaultNoRead.
func DefaultFormat() *pattern.Format {
	return pattern.MustCompile(pattern.Options{Pattern: DefaultPattern, NoRead: DefaultNoRead, Source: "keyence"})
}

// Reply is a parsed command reply.
type Reply struct {
	OK      bool   // "OK,cmd"
	Command string // the command echoed
	Code    int    // error code of "ER,cmd,ee"
	Rest    string // further fields after OK,cmd (e.g. a value), joined by ","
}

// IsReply reports whether a line is a command reply rather than read data.
// Read data that itself begins with "OK," or "ER," would be taken for a
// reply; GS1 element strings begin with digits (or "]d2"), so this cannot
// happen for the codes Serialine prints.
func IsReply(line []byte) bool {
	return bytes.HasPrefix(line, []byte("OK,")) || bytes.HasPrefix(line, []byte("ER,"))
}

// ParseReply parses "OK,cmd[,…]" or "ER,cmd,ee".
func ParseReply(line []byte) (Reply, error) {
	s := string(line)
	parts := strings.Split(s, ",")
	if len(parts) < 2 || (parts[0] != "OK" && parts[0] != "ER") || parts[1] == "" {
		return Reply{}, &vision.LineError{Source: "keyence", Line: s, Pos: 1, Msg: "reply is not OK,cmd or ER,cmd,code"}
	}
	r := Reply{OK: parts[0] == "OK", Command: parts[1]}
	if r.OK {
		r.Rest = strings.Join(parts[2:], ",")
		return r, nil
	}
	if len(parts) != 3 {
		return Reply{}, &vision.LineError{Source: "keyence", Line: s, Pos: len(parts[0]) + len(parts[1]) + 2, Msg: "ER reply needs exactly one error code"}
	}
	code, err := strconv.Atoi(parts[2])
	if err != nil || len(parts[2]) == 0 || len(parts[2]) > 3 || parts[2][0] == '-' || parts[2][0] == '+' {
		return Reply{}, &vision.LineError{Source: "keyence", Line: s, Pos: len(parts[0]) + len(parts[1]) + 3, Msg: fmt.Sprintf("error code %q is not a number", parts[2])}
	}
	r.Code = code
	return r, nil
}

// Options configure a Client. Addr or Dial is required.
type Options struct {
	// Addr is the reader's TCP address host:port.
	Addr string
	// Dial opens the transport instead of TCP to Addr (RS-232 through
	// devices/serialport; Config.Options sets it).
	Dial func(ctx context.Context) (io.ReadWriteCloser, error)
	// Format parses read data (default DefaultFormat()).
	Format *pattern.Format
	// CommandTimeout bounds the wait for each command's reply and each
	// write (default 2s).
	CommandTimeout time.Duration
	// KeepAlive finds a hung reader (connection open, no answers): whenever
	// nothing has come from the reader for this long, KeepAliveCommand is
	// sent; no reply within CommandTimeout ends the connection, and Read
	// returns ErrDisconnected wrapping ErrTimeout. 0 = off.
	KeepAlive time.Duration
	// KeepAliveCommand is the probe (default DefaultKeepAliveCommand). Any
	// reply counts, "ER,cmd,ee" too: an SR reader answers even an unknown
	// command (error 00), which proves it is there as well as OK does.
	KeepAliveCommand string
	// Backoff paces Connect after connections that failed before a valid
	// reply (default devices.DefaultBackoff()).
	Backoff *devices.Backoff
	// Now stamps Result.At and paces the backoff (default time.Now).
	Now func() time.Time
	// Logger receives connection events (default: discard).
	Logger *slog.Logger
}

// DefaultCommandTimeout bounds a command's answer when none is configured.
const DefaultCommandTimeout = 2 * time.Second

// DefaultKeepAliveCommand is the default probe. Whether a reader knows it
// or answers "ER,KEYENCE,00", the reply shows it is alive; set
// Config.KeepAliveCommand to a command your reader documents if you prefer.
const DefaultKeepAliveCommand = "KEYENCE"

// Client is a connection to one SR reader. It implements vision.Camera.
type Client struct {
	o     Options
	conn  link.Conn
	cmdMu sync.Mutex
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
	c := &Client{o: o, conn: link.Conn{Source: "keyence", Now: o.Now}}
	if o.Backoff != nil {
		c.conn.Backoff = *o.Backoff
	}
	if o.KeepAlive > 0 {
		c.conn.KeepAlive = o.KeepAlive
		c.conn.Probe = func(ctx context.Context, l *link.Link) error {
			_, err := c.command(ctx, l, o.KeepAliveCommand)
			var re *vision.ReplyError
			if errors.As(err, &re) {
				return nil // "ER,cmd,ee" is a reply: the reader is there
			}
			return err
		}
	}
	return c
}

// Connect dials the reader and sends LON. Errors: ErrDisconnected (dial or
// I/O failure, or no reply: retry with backoff through devices.Retry);
// *vision.ReplyError / ErrRefused ("ER,LON,ee": the reader refused);
// ErrClosed. A previous connection is closed first.
func (c *Client) Connect(ctx context.Context) error {
	err := c.conn.Connect(ctx, c.o.Addr, c.o.Dial, link.AnyEOL, IsReply, func(l *link.Link) error {
		_, err := c.command(ctx, l, "LON")
		return err
	})
	if err != nil {
		return err
	}
	c.o.Logger.Info("keyence: connected", "addr", c.o.Addr)
	return nil
}

// command sends cmd and waits for its reply.
func (c *Client) command(ctx context.Context, l *link.Link, cmd string) (Reply, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	var out Reply
	err := l.Command(ctx, cmd, []byte(cmd+"\r"), c.o.CommandTimeout, "reply", func(line []byte) (bool, error) {
		r, err := ParseReply(line)
		if err != nil {
			l.Garbage()
			return true, fmt.Errorf("%s: reply: %w", cmd, err)
		}
		l.Valid()
		if r.Command != cmd {
			return false, nil // stale reply to an abandoned command
		}
		out = r
		if !r.OK {
			return true, &vision.ReplyError{Source: "keyence", Command: cmd, Code: r.Code, Msg: ErrorText(r.Code)}
		}
		return true, nil
	})
	return out, err
}

// ErrorText gives the meaning of common SR error codes ("" when unknown).
// The codes follow the SR manuals' command-error table; treat them as
// informative.
func ErrorText(code int) string {
	switch code {
	case 0:
		return "undefined command"
	case 1:
		return "command format mismatch"
	case 2:
		return "parameter out of range"
	case 14:
		return "command cannot be executed in this state"
	}
	return ""
}

// Read blocks for the next read. Errors: *vision.LineError (ErrGarbled):
// one line not understood, call Read again; ErrDisconnected: the
// connection ended and is closed, call Connect; ctx.Err(); ErrNotConnected;
// ErrClosed.
func (c *Client) Read(ctx context.Context) (vision.Result, error) {
	return c.conn.Read(ctx, c.o.Addr, func(line []byte) (vision.Result, error) { return c.o.Format.Parse(string(line)) }, c.o.Now)
}

// Close sends LOFF (best effort), closes the connection and waits for its
// reader. Idempotent; afterwards Read and Connect return ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	l := c.conn.Shut()
	if l == nil {
		return nil
	}
	select {
	case <-l.Done():
	default:
		if _, err := c.command(ctx, l, "LOFF"); err != nil {
			c.o.Logger.Warn("keyence: LOFF at close failed", "err", err)
		}
	}
	return l.Close()
}

// Config is the Keyence camera as configured (yaml).
type Config struct {
	// Address is the reader's host:port (TCP).
	Address string `yaml:"address"`
	// Serial selects RS-232 instead of TCP.
	Serial *serialport.Config `yaml:"serial"`
	// Format is the read-data layout pattern (default DefaultPattern).
	Format string `yaml:"format"`
	// NoRead is the no-read string (default DefaultNoRead).
	NoRead string `yaml:"no_read"`
	// CommandTimeout bounds each command's reply (default 2s).
	CommandTimeout time.Duration `yaml:"command_timeout"`
	// KeepAlive is the silence after which KeepAliveCommand is sent to find
	// a hung reader (0 = link.DefaultKeepAlive, 500ms).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// KeepAliveCommand is the probe (default KEYENCE; any reply counts).
	KeepAliveCommand string `yaml:"keep_alive_command"`
}

// EffectiveCommandTimeout is the command timeout the driver runs with.
func (c Config) EffectiveCommandTimeout() time.Duration {
	if c.CommandTimeout == 0 {
		return DefaultCommandTimeout
	}
	return c.CommandTimeout
}

// EffectiveKeepAlive is the keep-alive the driver runs with.
func (c Config) EffectiveKeepAlive() time.Duration {
	if c.KeepAlive == 0 {
		return link.DefaultKeepAlive
	}
	return c.KeepAlive
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
	if c.KeepAliveCommand != "" {
		link.ValidateCommandText(&p, "keep_alive_command", c.KeepAliveCommand)
		if IsReply([]byte(c.KeepAliveCommand)) || strings.Contains(c.KeepAliveCommand, ",") {
			p.Add("keep_alive_command", "must be a command name (no comma), got %q", c.KeepAliveCommand)
		}
	}
	return p
}

func (c Config) format() (*pattern.Format, error) {
	return pattern.CompileDefault(pattern.Options{Pattern: c.Format, NoRead: c.NoRead, Source: "keyence"}, DefaultPattern, DefaultNoRead)
}

// Options converts a validated Config into Options.
func (c Config) Options() (Options, error) {
	if err := c.Validate().Err(); err != nil {
		return Options{}, err
	}
	f, _ := c.format()
	o := Options{Format: f, CommandTimeout: c.CommandTimeout, KeepAlive: c.EffectiveKeepAlive(), KeepAliveCommand: c.KeepAliveCommand}
	o.Addr, o.Dial = link.Endpoint(c.Address, c.Serial)
	return o, nil
}
