// Package camerasim is a simulated inline verifying camera, like
// net/http/httptest for the camera drivers: it listens on TCP (127.0.0.1:0
// by default), speaks Cognex DMCC or Keyence SR on the wire, and for every
// printed symbol image fed to it (Feed) decodes the image for real with
// gozxing, measures the symbol contrast from the pixels, derives the other
// ISO/IEC 15415 parameter grades from the print defects the printer
// injected, and sends the result to its connected clients in the
// configured result format, after a configurable latency.
//
// Faults can be injected for the next shots: no-read, mismatch (other
// content reported), grade drop on one parameter, late result (held until
// released), disconnect (all connections dropped), garbled line.
package camerasim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/grade"
	"github.com/serialine/serialine/vision/internal/link"
	"github.com/serialine/serialine/vision/keyence"
	"github.com/serialine/serialine/vision/pattern"
)

// Protocol is the wire protocol the simulator speaks.
type Protocol string

// Protocols.
const (
	DMCC    Protocol = "dmcc"
	Keyence Protocol = "keyence"
)

// Options configure a Server. The zero value is a DMCC camera on
// 127.0.0.1:0 with no latency.
type Options struct {
	// Protocol is DMCC (default) or Keyence.
	Protocol Protocol
	// Addr is the listen address (default "127.0.0.1:0").
	Addr string
	// Format is the result layout (default dmcc.DefaultFormat() or
	// keyence.DefaultFormat()); keep it equal to the driver's.
	Format *pattern.Format
	// Extended starts DMCC in extended response mode (otherwise a client
	// switches it with SET COM.DMCC-RESPONSE 1).
	Extended bool
	// Latency delays every result after its shot (0 = sent before Feed
	// returns).
	Latency time.Duration
	// NoSymbologyID leaves the AIM identifier (]d2) out of results.
	NoSymbologyID bool
	// Aperture (mils) and Wavelength (nm) reported with the overall grade
	// (default 8 and 660: "…/08/660").
	Aperture, Wavelength int
	// Refuse makes the camera refuse commands: command text → DMCC status
	// or Keyence error code (e.g. {"TRIGGER ON": 104}).
	Refuse map[string]int
	// Logger (default: discard).
	Logger *slog.Logger
}

// Shot is one printed symbol passing the camera.
type Shot struct {
	// Image is the printed symbol (nil = nothing printed: a no-read).
	Image image.Image
	// Defects are the print defects injected by the printer; they set
	// the grades of the parameters they degrade.
	Defects []Defect
	// Seq and Ref identify the shot in logs (PLC seq, record id).
	Seq uint64
	Ref string
}

// FaultKind names an injected fault.
type FaultKind string

// Fault kinds.
const (
	// FaultNoRead: the shot is reported as a no-read.
	FaultNoRead FaultKind = "no-read"
	// FaultMismatch: Fault.Data is reported instead of the decoded data.
	FaultMismatch FaultKind = "mismatch"
	// FaultGradeDrop: parameter Fault.Param is graded Fault.Grade.
	FaultGradeDrop FaultKind = "grade-drop"
	// FaultLate: the result is held until Fault.Release is closed (or
	// Fault.Delay has passed); later results overtake it.
	FaultLate FaultKind = "late"
	// FaultDisconnect: every client connection is dropped instead of
	// sending the result. The server keeps listening.
	FaultDisconnect FaultKind = "disconnect"
	// FaultGarble: Fault.Data is sent as a raw line instead of the result.
	FaultGarble FaultKind = "garble"
)

// Fault is one injected fault for the next shot.
type Fault struct {
	// Kind is the fault.
	Kind FaultKind
	// Data: reported content (FaultMismatch) or raw line (FaultGarble).
	Data string
	// Param and Grade: FaultGradeDrop.
	Param grade.Param
	Grade float64
	// Release and Delay: FaultLate (Release wins; Delay used when nil).
	Release <-chan struct{}
	Delay   time.Duration
}

// Stats counts what the camera did.
type Stats struct {
	Shots       int // shots fed
	Decoded     int // shots reported with data
	NoReads     int // shots reported as no-read
	Sent        int // lines written to the clients (results, garbled lines)
	Dropped     int // shots fed while reading was off
	Connections int // clients connected now
}

// Server is a running simulated camera.
type Server struct {
	o      Options
	format *pattern.Format
	ln     net.Listener

	mu       sync.Mutex
	conns    map[*conn]struct{}
	faults   []Fault
	reading  bool
	extended bool
	checksum bool
	stats    Stats
	closed   bool
	changed  chan struct{} // closed and replaced when the connection set changes

	queue  chan delivery
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type conn struct {
	c   net.Conn
	wmu sync.Mutex
}

type delivery struct {
	line    string
	due     time.Time
	release <-chan struct{}
}

// New starts a simulated camera listening on o.Addr.
func New(o Options) (*Server, error) {
	if o.Protocol == "" {
		o.Protocol = DMCC
	}
	if o.Protocol != DMCC && o.Protocol != Keyence {
		return nil, fmt.Errorf("camerasim: unknown protocol %q (want dmcc or keyence)", o.Protocol)
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Format == nil {
		if o.Protocol == DMCC {
			o.Format = dmcc.DefaultFormat()
		} else {
			o.Format = keyence.DefaultFormat()
		}
	}
	if o.Aperture == 0 {
		o.Aperture = 8
	}
	if o.Wavelength == 0 {
		o.Wavelength = 660
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("camerasim: listen %s: %w", o.Addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{o: o, format: o.Format, ln: ln, conns: map[*conn]struct{}{}, reading: true,
		extended: o.Extended, changed: make(chan struct{}), queue: make(chan delivery, 4096), ctx: ctx, cancel: cancel}
	s.wg.Add(2)
	go s.accept()
	go s.deliver()
	return s, nil
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitConnections blocks until at least n clients are connected (n = 0:
// until none is), or ctx ends. Tests use it instead of sleeping.
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		have, ch := len(s.conns), s.changed
		s.mu.Unlock()
		if (n == 0 && have == 0) || (n > 0 && have >= n) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("camerasim: waiting for %d connections (have %d): %w", n, have, ctx.Err())
		}
	}
}

// Addr is the listening address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Connections = len(s.conns)
	return st
}

// Reading reports whether reading is switched on (TRIGGER ON / LON; on at
// start). Shots fed while it is off are dropped.
func (s *Server) Reading() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reading
}

// Inject queues a fault for the next shot fed (faults apply one per shot,
// in order).
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// Close stops listening, drops every connection and waits for the
// simulator's goroutines. Held late results are discarded.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		_ = c.c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// Feed passes one printed symbol under the camera: it decodes and grades
// it, applies the next injected fault, and sends the result (now, or
// after the latency / release). It returns the result as reported. When
// reading is off the shot is dropped (ok false).
func (s *Server) Feed(sh Shot) (r vision.Result, ok bool) {
	s.mu.Lock()
	s.stats.Shots++
	if !s.reading || s.closed {
		s.stats.Dropped++
		s.mu.Unlock()
		return vision.Result{}, false
	}
	var f *Fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()

	r = s.measure(sh)
	if f != nil {
		switch f.Kind {
		case FaultNoRead:
			r = vision.Result{NoRead: true}
		case FaultMismatch:
			if !r.NoRead {
				r.Data = f.Data
			}
		case FaultGradeDrop:
			if r.Grade.Graded() {
				r.Grade.Params[f.Param] = f.Grade
				keepAp, keepWl := r.Grade.Aperture, r.Grade.Wavelength
				sc := grade.Scan{}
				for p, v := range r.Grade.Params {
					sc[p] = v
				}
				r.Grade = grade.FromScans(sc)
				r.Grade.Aperture, r.Grade.Wavelength = keepAp, keepWl
			}
		}
	}
	s.mu.Lock()
	if r.NoRead {
		s.stats.NoReads++
	} else {
		s.stats.Decoded++
	}
	s.mu.Unlock()
	line := s.format.Render(r)
	if f != nil {
		switch f.Kind {
		case FaultDisconnect:
			s.dropAll()
			return r, true
		case FaultGarble:
			line = f.Data
			s.sendRaw(line)
			return r, true
		case FaultLate:
			rel := f.Release
			if rel == nil {
				ch := make(chan struct{})
				d := f.Delay
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					t := time.NewTimer(d)
					defer t.Stop()
					select {
					case <-t.C:
						close(ch)
					case <-s.ctx.Done():
					}
				}()
				rel = ch
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				select {
				case <-rel:
					s.send(line)
				case <-s.ctx.Done():
				}
			}()
			return r, true
		}
	}
	if s.o.Latency > 0 {
		select {
		case s.queue <- delivery{line: line, due: time.Now().Add(s.o.Latency)}:
		case <-s.ctx.Done():
		}
		return r, true
	}
	s.send(line)
	return r, true
}

// Send reports a ready-made result as the camera would (no image, no
// decoding, no fault): for benchmarks and for tests that need exact
// content. It honours Latency.
func (s *Server) Send(r vision.Result) {
	line := s.format.Render(r)
	if s.o.Latency > 0 {
		select {
		case s.queue <- delivery{line: line, due: time.Now().Add(s.o.Latency)}:
		case <-s.ctx.Done():
		}
		return
	}
	s.send(line)
}

// measure decodes and grades a shot.
func (s *Server) measure(sh Shot) vision.Result {
	d, err := Decode(sh.Image)
	if err != nil {
		s.o.Logger.Debug("camerasim: no read", "seq", sh.Seq, "ref", sh.Ref, "err", err)
		return vision.Result{NoRead: true}
	}
	r := vision.Result{Data: d.Data}
	if !s.o.NoSymbologyID {
		r.SymbologyID = d.SymbologyID
	}
	r.Grade = grade.FromScans(Grade(true, Contrast(sh.Image), sh.Defects))
	r.Grade.Aperture, r.Grade.Wavelength = s.o.Aperture, s.o.Wavelength
	return r
}

func (s *Server) deliver() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case d := <-s.queue:
			if w := time.Until(d.due); w > 0 {
				t := time.NewTimer(w)
				select {
				case <-t.C:
				case <-s.ctx.Done():
					t.Stop()
					return
				}
			}
			s.send(d.line)
		}
	}
}

// send frames a result line for the protocol and writes it to every client.
func (s *Server) send(line string) {
	s.mu.Lock()
	ext, cs := s.extended, s.checksum
	s.mu.Unlock()
	var frame []byte
	switch {
	case s.o.Protocol == Keyence:
		frame = append([]byte(line), '\r')
	case ext:
		frame = dmcc.AppendResponse(nil, dmcc.Response{Status: dmcc.StatusReadString, Checksum: cs, Payload: []byte(line)})
	default:
		frame = append([]byte(line), dmcc.Footer...)
	}
	s.broadcast(frame)
}

func (s *Server) sendRaw(line string) {
	term := dmcc.Footer
	if s.o.Protocol == Keyence {
		term = "\r"
	}
	s.broadcast([]byte(line + term))
}

func (s *Server) broadcast(frame []byte) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.stats.Sent++
	s.mu.Unlock()
	for _, c := range conns {
		if err := c.write(frame); err != nil {
			s.remove(c)
		}
	}
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.c.Write(b)
	return err
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.notifyLocked()
	s.mu.Unlock()
	_ = c.c.Close()
}

// Disconnect drops every client connection now (the server keeps
// listening), like FaultDisconnect.
func (s *Server) Disconnect() { s.dropAll() }

func (s *Server) dropAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns = map[*conn]struct{}{}
	s.notifyLocked()
	s.mu.Unlock()
	for c := range conns {
		_ = c.c.Close()
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &conn{c: nc}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.notifyLocked()
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
		}()
	}
}

// serve answers one client's commands until it disconnects.
func (s *Server) serve(c *conn) {
	defer s.remove(c)
	sc := bufio.NewScanner(c.c)
	sc.Buffer(make([]byte, 4096), 64<<10)
	if s.o.Protocol == DMCC {
		sc.Split(link.CRLF.ScanFunc())
	} else {
		sc.Split(link.AnyEOL.ScanFunc())
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var reply []byte
		if s.o.Protocol == DMCC {
			reply = s.dmccCommand(line)
		} else {
			reply = s.keyenceCommand(string(line))
		}
		if reply != nil {
			if err := c.write(reply); err != nil {
				return
			}
		}
	}
}

func (s *Server) dmccCommand(line []byte) []byte {
	cmd, err := dmcc.ParseCommand(line)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if !s.extended {
			return nil
		}
		st := dmcc.StatusBadCommand
		if errors.Is(err, vision.ErrChecksum) {
			st = dmcc.StatusBadChecksum
		}
		return dmcc.AppendResponse(nil, dmcc.Response{Status: st})
	}
	s.checksum = cmd.Checksum
	status, payload := dmcc.StatusOK, ""
	text := strings.ToUpper(strings.TrimSpace(cmd.Text))
	if code, ok := s.o.Refuse[cmd.Text]; ok {
		status = code
	} else {
		switch {
		case text == "SET COM.DMCC-RESPONSE 1":
			s.extended = true
		case text == "SET COM.DMCC-RESPONSE 0":
			s.extended = false
			return nil
		case strings.HasPrefix(text, "SET COM.DMCC-RESPONSE"):
			status = dmcc.StatusBadParam
		case text == "TRIGGER ON":
			s.reading = true
		case text == "TRIGGER OFF":
			s.reading = false
		case text == "GET SYMBOL.DATAMATRIX":
			payload = "ON"
		case text == "SET SYMBOL.DATAMATRIX ON" || text == "SET SYMBOL.DATAMATRIX OFF":
		case strings.HasPrefix(text, "SET SYMBOL.DATAMATRIX"):
			status = dmcc.StatusBadParam
		case text == "GET DEVICE.TYPE":
			payload = "DataMan (serialine camerasim)"
		default:
			status = dmcc.StatusBadCommand
		}
	}
	if !s.extended {
		return nil
	}
	return dmcc.AppendResponse(nil, dmcc.Response{ID: cmd.ID, HasID: cmd.HasID, Checksum: cmd.Checksum, Status: status, Payload: []byte(payload)})
}

func (s *Server) keyenceCommand(cmd string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code, ok := s.o.Refuse[cmd]; ok {
		return []byte(fmt.Sprintf("ER,%s,%02d\r", cmd, code))
	}
	switch cmd {
	case "LON":
		s.reading = true
	case "LOFF":
		s.reading = false
	default:
		return []byte(fmt.Sprintf("ER,%s,00\r", cmd))
	}
	return []byte("OK," + cmd + "\r")
}
