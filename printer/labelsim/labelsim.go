// Package labelsim is a simulated print-and-apply labeller speaking ZPL II
// on raw TCP (like a Zebra print engine inside a labeller), in the manner
// of net/http/httptest: Start listens on 127.0.0.1:0. It stores formats
// (^DF), recalls them with field values (^XF + ^FN/^FD, ^FH escapes),
// renders every label into an image (text, ^GB boxes, ^BC Code 128 with
// mode D = GS1-128, ^BX DataMatrix with an escape character for FNC1),
// keeps printed labels in its buffer and applies the head one when a
// product reaches the applicator (Apply, the photo-eye). ~HS reports the
// labels waiting ("formats in buffer") and the fault flags; ~JA clears.
package labelsim

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/printer/zpl"
)

// Label is one printed label.
type Label struct {
	Image *image.Gray
	// Fields are the recalled ^FN values (number → value as sent).
	Fields map[int]string
	// ID is the value of Options.IDField ("" when absent).
	ID string
	// Track is the value of Options.TrackField ("" when absent).
	Track string
	At    time.Time
}

// Options configure a Server.
type Options struct {
	// Addr is the listen address (default "127.0.0.1:0").
	Addr string
	// IDField is the ^FN number carrying the label's ID (record ID).
	IDField int
	// TrackField is the ^FN number carrying the product the label is meant
	// for (a tracking labeller synchronised to the line PLC): ApplyTo
	// applies only a label for that product. 0 = none.
	TrackField int
	// BufferCap is the most labels the printer buffers (default 16):
	// further labels are dropped and BufferFull is reported.
	BufferCap int
	// Logger (default: discard).
	Logger *slog.Logger
	// Now (default time.Now).
	Now func() time.Time
}

// Stats count what the labeller did.
type Stats struct {
	Received int // labels received
	Rendered int // labels rendered into the buffer
	Applied  int // labels applied (Apply with a label waiting)
	Missed   int // Apply with no label waiting: the product went unlabelled
	Errors   int // labels that could not be rendered
	Cleared  int // labels dropped by ~JA
	// Discarded: labels for a product that had passed the applicator
	// (ApplyTo): printed and thrown away.
	Discarded int
}

// Server is a running labeller.
type Server struct {
	o  Options
	ln net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	formats map[string][]zpl.Cmd
	buf     []Label
	conns   map[net.Conn]struct{}
	stats   Stats
	onLabel []func(Label)
	paperOut,
	paused bool
	closed bool
}

// Start starts the labeller.
func Start(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.BufferCap <= 0 {
		o.BufferCap = 16
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("labelsim: listen %s: %w", o.Addr, err)
	}
	s := &Server{o: o, ln: ln, formats: map[string][]zpl.Cmd{}, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// OnLabel registers fn to receive every label as it is rendered
// (synchronously, in the connection's goroutine).
func (s *Server) OnLabel(fn func(Label)) {
	s.mu.Lock()
	s.onLabel = append(s.onLabel, fn)
	s.mu.Unlock()
}

// Apply takes the label at the head of the buffer and applies it to the
// product at the applicator; ok false (and Missed counted) when none waits.
func (s *Server) Apply() (Label, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) == 0 || s.paperOut || s.paused {
		s.stats.Missed++
		return Label{}, false
	}
	l := s.buf[0]
	s.buf = s.buf[1:]
	s.stats.Applied++
	return l, true
}

// ApplyTo applies the label meant for product track (a tracking
// labeller): labels for earlier products (whose product passed without
// them) are discarded first; a label for a later product stays for it.
// ok false (Missed counted) when no label is there for track.
func (s *Server) ApplyTo(track uint64) (Label, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.buf) > 0 {
		t, err := strconv.ParseUint(s.buf[0].Track, 10, 64)
		if err != nil || t >= track {
			break
		}
		s.buf = s.buf[1:]
		s.stats.Discarded++
	}
	if len(s.buf) == 0 || s.paperOut || s.paused || s.buf[0].Track != strconv.FormatUint(track, 10) {
		s.o.Logger.Debug("labelsim: no label for the product at the applicator", "track", track, "waiting", len(s.buf))
		s.stats.Missed++
		return Label{}, false
	}
	l := s.buf[0]
	s.buf = s.buf[1:]
	s.stats.Applied++
	return l, true
}

// Waiting returns the number of labels in the buffer.
func (s *Server) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// SetFaults sets the paper-out and pause flags (~HS reports them; Apply
// applies nothing meanwhile).
func (s *Server) SetFaults(paperOut, paused bool) {
	s.mu.Lock()
	s.paperOut, s.paused = paperOut, paused
	s.mu.Unlock()
}

// Close stops the labeller and waits for its connections.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			_ = c.Close()
		}()
	}
}

func (s *Server) serve(c net.Conn) {
	zpl.Serve(c, s.tilde, func(body []byte) {
		if err := s.label(body); err != nil {
			s.o.Logger.Warn("labelsim: label not printed", "err", err)
			s.mu.Lock()
			s.stats.Errors++
			s.mu.Unlock()
		}
	})
}

// tilde answers a ~ command.
func (s *Server) tilde(name string) []byte {
	switch name {
	case "HS":
		return zpl.EncodeHostStatus(s.hostStatus())
	case "JA":
		s.mu.Lock()
		s.stats.Cleared += len(s.buf)
		s.buf = nil
		s.mu.Unlock()
	}
	return nil
}

func (s *Server) hostStatus() zpl.HostStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return zpl.HostStatus{PaperOut: s.paperOut, Paused: s.paused, FormatsInBuffer: len(s.buf),
		BufferFull: len(s.buf) >= s.o.BufferCap, LabelLength: 1218, ThermalTransfer: true}
}

// label handles one ^XA…^XZ body: a ^DF stores its commands; a ^XF
// recalls a stored format with the ^FN values; a label without either is
// printed as it is.
func (s *Server) label(body []byte) error {
	cmds, err := zpl.Tokenize(body)
	if err != nil {
		return err
	}
	var define, recall string
	values := map[int]string{}
	fn := -1
	var fh byte
	for _, c := range cmds {
		switch c.Name {
		case "DF":
			define = strings.TrimSuffix(c.Params, ",")
		case "XF":
			recall = c.Params
		case "FN":
			fn = atoi(c.Params, -1)
		case "FH":
			fh = '_'
			if c.Params != "" {
				fh = c.Params[0]
			}
		case "FD":
			v := c.Params
			if fh != 0 {
				if v, err = zpl.UnescapeFH(v, fh); err != nil {
					return err
				}
			}
			if fn >= 0 {
				values[fn] = v
			}
		case "FS":
			fn, fh = -1, 0
		}
	}
	s.mu.Lock()
	if define != "" {
		// the format body follows the ^DF name^FS
		for i, c := range cmds {
			if c.Name == "DF" {
				s.formats[define] = append([]zpl.Cmd(nil), cmds[i+2:]...)
				break
			}
		}
		s.mu.Unlock()
		return nil
	}
	s.stats.Received++
	layoutCmds := cmds
	if recall != "" {
		f, ok := s.formats[recall]
		if !ok {
			s.mu.Unlock()
			return fmt.Errorf("^XF of unknown format %q", recall)
		}
		layoutCmds = f
		// fields given directly in the recall label are data for ^FN placeholders
	} else {
		values = nil
	}
	s.mu.Unlock()
	l, err := parse(layoutCmds)
	if err != nil {
		return err
	}
	img, err := render(l, values)
	if err != nil {
		return err
	}
	lab := Label{Image: img, Fields: values, At: s.o.Now()}
	if values != nil {
		lab.ID = values[s.o.IDField]
		lab.Track = values[s.o.TrackField]
	}
	s.mu.Lock()
	if len(s.buf) >= s.o.BufferCap {
		s.mu.Unlock()
		return errors.New("label buffer full: label dropped")
	}
	s.buf = append(s.buf, lab)
	s.stats.Rendered++
	s.o.Logger.Debug("labelsim: label printed", "id", lab.ID, "track", lab.Track)
	hooks := s.onLabel
	s.mu.Unlock()
	for _, h := range hooks {
		h(lab)
	}
	return nil
}

// RenderZPL renders one self-contained ^XA…^XZ label (no stored format) to
// an image: for tests and tools.
func RenderZPL(label []byte) (*image.Gray, error) {
	b := bytes.TrimSpace(label)
	if !bytes.HasPrefix(bytes.ToUpper(b), []byte("^XA")) || !bytes.HasSuffix(bytes.ToUpper(b), []byte("^XZ")) {
		return nil, errors.New("labelsim: want one ^XA…^XZ label")
	}
	cmds, err := zpl.Tokenize(b[3 : len(b)-3])
	if err != nil {
		return nil, err
	}
	l, err := parse(cmds)
	if err != nil {
		return nil, err
	}
	return render(l, nil)
}
