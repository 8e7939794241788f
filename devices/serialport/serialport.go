// Package serialport opens RS-232/485 ports with validated settings on
// go.bug.st/serial and fixes its read-timeout trap: go.bug.st/serial returns
// (0, nil) when a read times out, which makes io.ReadFull and bufio spin;
// Port.Read returns an error wrapping ErrTimeout instead. Printer and camera
// RS-232 transports use it too.
package serialport

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.bug.st/serial"

	"github.com/serialine/serialine/configs"
)

// Config is one serial port's settings (yaml, decoded strictly).
type Config struct {
	// Device is the OS device, e.g. /dev/ttyUSB0 or COM3.
	Device string `yaml:"device"`
	// Baud is the baud rate (e.g. 9600, 19200, 115200).
	Baud int `yaml:"baud"`
	// DataBits is 5, 6, 7 or 8.
	DataBits int `yaml:"data_bits"`
	// Parity is "none", "odd", "even", "mark" or "space".
	Parity string `yaml:"parity"`
	// StopBits is "1", "1.5" or "2".
	StopBits string `yaml:"stop_bits"`
	// ReadTimeout bounds each Read; a read that gets no byte within it
	// returns ErrTimeout. Must be > 0.
	ReadTimeout time.Duration `yaml:"read_timeout"`
}

// DefaultConfig is 9600 8N1 with a 1s read timeout (Device still needed).
func DefaultConfig() Config {
	return Config{Baud: 9600, DataBits: 8, Parity: "none", StopBits: "1", ReadTimeout: time.Second}
}

var standardBauds = map[int]bool{
	300: true, 600: true, 1200: true, 2400: true, 4800: true, 9600: true, 14400: true, 19200: true,
	38400: true, 57600: true, 115200: true, 230400: true, 460800: true, 921600: true,
}

// Validate reports every mistake, paths relative to the serial block.
func (c Config) Validate() configs.Problems {
	var p configs.Problems
	if strings.TrimSpace(c.Device) == "" {
		p.Add("device", "must be set (e.g. /dev/ttyUSB0)")
	}
	if !standardBauds[c.Baud] {
		p.Add("baud", "%d is not a standard baud rate (300..921600)", c.Baud)
	}
	if c.DataBits < 5 || c.DataBits > 8 {
		p.Add("data_bits", "must be 5, 6, 7 or 8, got %d", c.DataBits)
	}
	if _, err := parseParity(c.Parity); err != nil {
		p.Add("parity", "%v", err)
	}
	if _, err := parseStopBits(c.StopBits); err != nil {
		p.Add("stop_bits", "%v", err)
	}
	if c.ReadTimeout <= 0 {
		p.Add("read_timeout", "must be > 0")
	}
	return p
}

// ParityLetter is the classic one-letter parity code ("N", "O", "E", "M",
// "S") used by Modbus RTU libraries.
func (c Config) ParityLetter() string {
	switch strings.ToLower(c.Parity) {
	case "odd":
		return "O"
	case "even":
		return "E"
	case "mark":
		return "M"
	case "space":
		return "S"
	}
	return "N"
}

// StopBitsInt is 1 or 2 (1.5 reported as 1; not every library supports it).
func (c Config) StopBitsInt() int {
	if c.StopBits == "2" {
		return 2
	}
	return 1
}

func parseParity(s string) (serial.Parity, error) {
	switch strings.ToLower(s) {
	case "none", "n":
		return serial.NoParity, nil
	case "odd", "o":
		return serial.OddParity, nil
	case "even", "e":
		return serial.EvenParity, nil
	case "mark", "m":
		return serial.MarkParity, nil
	case "space", "s":
		return serial.SpaceParity, nil
	}
	return 0, fmt.Errorf("must be none, odd, even, mark or space, got %q", s)
}

func parseStopBits(s string) (serial.StopBits, error) {
	switch s {
	case "1":
		return serial.OneStopBit, nil
	case "1.5":
		return serial.OnePointFiveStopBits, nil
	case "2":
		return serial.TwoStopBits, nil
	}
	return 0, fmt.Errorf("must be 1, 1.5 or 2, got %q", s)
}

// Port is an open serial port. Read returns ErrTimeout (wrapped) instead of
// (0, nil) when the read timeout passes with no data.
type Port struct {
	dev  string
	raw  io.ReadWriteCloser
	port serial.Port
}

// timeoutError wraps ErrTimeout and reports Timeout() true.
type timeoutError struct{ dev string }

func (e *timeoutError) Error() string   { return fmt.Sprintf("%s: %v", e.dev, ErrTimeout) }
func (e *timeoutError) Unwrap() error   { return ErrTimeout }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

// Open validates c and opens the port.
func Open(c Config) (*Port, error) {
	if err := c.Validate().Err(); err != nil {
		return nil, err
	}
	par, _ := parseParity(c.Parity)
	sb, _ := parseStopBits(c.StopBits)
	sp, err := serial.Open(c.Device, &serial.Mode{BaudRate: c.Baud, DataBits: c.DataBits, Parity: par, StopBits: sb})
	if err != nil {
		return nil, fmt.Errorf("serialport: open %s: %w", c.Device, err)
	}
	if err := sp.SetReadTimeout(c.ReadTimeout); err != nil {
		sp.Close()
		return nil, fmt.Errorf("serialport: %s: set read timeout: %w", c.Device, err)
	}
	return &Port{dev: c.Device, raw: sp, port: sp}, nil
}

// Wrap applies the (0, nil) fix to any reader/writer with the same
// semantics (used in tests and by transports over other port libraries).
func Wrap(name string, rw io.ReadWriteCloser) *Port { return &Port{dev: name, raw: rw} }

// Read reads into b. A read that returns no data and no error (the
// library's timeout signal) is reported as an error wrapping ErrTimeout.
func (p *Port) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := p.raw.Read(b)
	if n == 0 && err == nil {
		return 0, &timeoutError{dev: p.dev}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("serialport: %s: read: %w", p.dev, err)
	}
	return n, err
}

// Write writes b.
func (p *Port) Write(b []byte) (int, error) {
	n, err := p.raw.Write(b)
	if err != nil {
		err = fmt.Errorf("serialport: %s: write: %w", p.dev, err)
	}
	return n, err
}

// Close closes the port.
func (p *Port) Close() error { return p.raw.Close() }

// ResetInput discards received but unread bytes (after a timeout, so a late
// reply is not taken for the next one). No-op for wrapped readers.
func (p *Port) ResetInput() error {
	if p.port == nil {
		return nil
	}
	return p.port.ResetInputBuffer()
}
