// Package upstreamsim is a reference site server (the plant's serial-number
// manager) implementing line/upstream/openapi.yaml: it issues serial numbers
// per GTIN — sequential, or randomised as GS1 recommends for non-predictable
// serials — takes unused serials back, accepts EPCIS documents, and records
// everything it received so tests can assert on it. Start it like an
// httptest server: it listens on 127.0.0.1:0 unless told otherwise.
package upstreamsim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/line/upstream"
)

// Mode chooses how serials are generated.
type Mode string

const (
	// Sequential serials: a prefix and a zero-padded counter per GTIN.
	Sequential Mode = "sequential"
	// Random serials: drawn with crypto/rand from an alphabet of digits and
	// upper-case letters (no I, O), so they cannot be predicted from their
	// neighbours (GS1 General Specifications recommend non-sequential,
	// randomised serials for pharmaceuticals).
	Random Mode = "random"
)

const randomAlphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// Options configure a Server.
type Options struct {
	// Addr to listen on. Default "127.0.0.1:0".
	Addr string
	// Token clients must present as a bearer token; "" accepts any client.
	Token string
	// Mode of serial generation. Default Random.
	Mode Mode
	// SerialLength is the serial length (1..20, AI 21). Default 12.
	SerialLength int
	// Prefix starts every sequential serial. Default "".
	Prefix string
	// MaxPerRequest caps one request. Default 100000.
	MaxPerRequest int
	// TLS, when set, makes the server speak HTTPS.
	TLS *tls.Config
	// Logger for requests. Default: discard.
	Logger *slog.Logger
}

// Received is one EPCIS document the server accepted.
type Received struct {
	ID  string
	Doc []byte
	At  time.Time
}

// Server is a running reference site server.
type Server struct {
	o   Options
	ln  net.Listener
	srv *http.Server
	wg  sync.WaitGroup

	mu        sync.Mutex
	issued    map[string][]string      // gtin -> serials in issue order
	seen      map[string]bool          // every serial ever issued
	next      map[string]int           // gtin -> sequential counter
	requests  map[string]upstream.Pool // request id -> pool (idempotency)
	returnsBy map[string]upstream.ReturnReply
	returned  map[string][]string
	events    []Received
	eventIDs  map[string]bool
	jobs      map[string]captureJob
	failCap   int
	down      bool
	failNext  int
	dropNext  int
	badNext   int
	calls     int
	sscc      ssccState // SSCCs issued and returned (sscc.go)
}

// Start listens and serves until Close.
func Start(o Options) (*Server, error) {
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	addr := s.o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("upstreamsim: listen %s: %w", addr, err)
	}
	if s.o.TLS != nil {
		ln = tls.NewListener(ln, s.o.TLS)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.o.Logger.Error("upstreamsim serve", "err", err)
		}
	}()
	return s, nil
}

// New returns a Server that does not listen: use Handler with your own
// listener (httptest.NewTLSServer for instance).
func New(o Options) (*Server, error) {
	if o.Mode == "" {
		o.Mode = Random
	}
	if o.Mode != Sequential && o.Mode != Random {
		return nil, fmt.Errorf("upstreamsim: mode %q: want sequential or random", o.Mode)
	}
	if o.SerialLength == 0 {
		o.SerialLength = 12
	}
	if o.SerialLength < 1 || o.SerialLength > 20 {
		return nil, fmt.Errorf("upstreamsim: serial length %d: want 1..20", o.SerialLength)
	}
	if len(o.Prefix) >= o.SerialLength {
		return nil, fmt.Errorf("upstreamsim: prefix %q leaves no room in %d characters", o.Prefix, o.SerialLength)
	}
	if o.MaxPerRequest <= 0 {
		o.MaxPerRequest = 100000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{o: o, issued: map[string][]string{}, seen: map[string]bool{}, next: map[string]int{},
		requests: map[string]upstream.Pool{}, returnsBy: map[string]upstream.ReturnReply{},
		returned: map[string][]string{}, eventIDs: map[string]bool{}, jobs: map[string]captureJob{}}, nil
}

// URL is the base URL clients use (http://127.0.0.1:port).
func (s *Server) URL() string {
	scheme := "http"
	if s.o.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Close stops the server and waits for it.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// A connection a client dialled but never sent a request on
		// (its request was cancelled while dialling: Go's transport keeps
		// such a connection) counts as active for 5 s: close it.
		err = s.srv.Close()
	}
	s.wg.Wait()
	return err
}

// SetDown makes every request fail with 503 (site server unreachable) until
// called with false.
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// FailNext makes the next n requests fail with 503 before doing anything.
func (s *Server) FailNext(n int) { s.mu.Lock(); s.failNext = n; s.mu.Unlock() }

// DropReplyNext makes the next n requests do their work and then answer 503,
// as if the reply were lost: the client's retry must get the same result.
func (s *Server) DropReplyNext(n int) { s.mu.Lock(); s.dropNext = n; s.mu.Unlock() }

// BadPoolNext makes the next n serial requests answer with a pool holding an
// invalid serial (too long, bad character) and a duplicate.
func (s *Server) BadPoolNext(n int) { s.mu.Lock(); s.badNext = n; s.mu.Unlock() }

// Issued returns the serials issued for gtin, in order.
func (s *Server) Issued(gtin string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued[gtin]...)
}

// Returned returns the serials returned for gtin, in order.
func (s *Server) Returned(gtin string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.returned[gtin]...)
}

// Events returns the EPCIS documents accepted, in order, each id once.
func (s *Server) Events() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.events...)
}

// Calls counts the HTTP requests received (including refused ones).
func (s *Server) Calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

// Handler serves the API of openapi.yaml.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/serials/requests", s.gate(http.HandlerFunc(s.handleRequest)))
	mux.Handle("POST /v1/serials/returns", s.gate(http.HandlerFunc(s.handleReturn)))
	mux.Handle("POST /v1/events", s.gate(http.HandlerFunc(s.handleEvents)))
	// EPCIS 2.0 capture interface (REST binding): capture jobs.
	mux.Handle("POST /capture", s.gate(http.HandlerFunc(s.handleCapture)))
	mux.Handle("GET /capture/{id}", s.gate(http.HandlerFunc(s.handleCaptureJob)))
	mux.Handle("OPTIONS /capture", s.gate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "OPTIONS, POST")
		w.Header().Set("GS1-EPCIS-Version", "2.0.0")
		w.WriteHeader(http.StatusNoContent)
	})))
	mux.Handle("POST /v1/sscc/requests", s.gate(http.HandlerFunc(s.handleSSCCRequest)))
	mux.Handle("POST /v1/sscc/returns", s.gate(http.HandlerFunc(s.handleSSCCReturn)))
	// Liveness needs no token (openapi.yaml: security: []).
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls++
		down := s.down
		s.mu.Unlock()
		if down {
			writeErr(w, http.StatusServiceUnavailable, "unavailable", "site server unavailable (simulated)")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// gate does auth and fault injection.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls++
		down := s.down
		fail := s.failNext > 0
		if fail {
			s.failNext--
		}
		s.mu.Unlock()
		if down || fail {
			writeErr(w, http.StatusServiceUnavailable, "unavailable", "site server unavailable (simulated)")
			return
		}
		if s.o.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.o.Token)) != 1 {
				writeErr(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// replyLocked unlocks s.mu and writes v with code, unless this reply is to
// be lost (DropReplyNext: the work is done, the client sees a 503).
func (s *Server) replyLocked(w http.ResponseWriter, code int, v any) {
	drop := s.dropNext > 0
	if drop {
		s.dropNext--
	}
	s.mu.Unlock()
	if drop {
		writeErr(w, http.StatusServiceUnavailable, "unavailable", "reply lost (simulated)")
		return
	}
	writeJSON(w, code, v)
}

// requestID checks the body's request_id against the Idempotency-Key
// header (openapi.yaml: equal); "" after writing a 400.
func requestID(w http.ResponseWriter, r *http.Request, body string) string {
	hdr := r.Header.Get("Idempotency-Key")
	switch {
	case body == "":
		writeErr(w, http.StatusBadRequest, "bad_request", "request_id is required")
	case hdr == "":
		writeErr(w, http.StatusBadRequest, "bad_request", "Idempotency-Key header is required")
	case hdr != body:
		writeErr(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("Idempotency-Key %q differs from request_id %q", hdr, body))
	default:
		return body
	}
	return ""
}

func (s *Server) handleRequest(w http.ResponseWriter, r *http.Request) {
	var req upstream.SerialRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if msg := checkGTIN(req.GTIN); msg != "" {
		writeErr(w, http.StatusBadRequest, "bad_gtin", msg)
		return
	}
	if requestID(w, r, req.RequestID) == "" {
		return
	}
	if req.Count <= 0 || req.Count > s.o.MaxPerRequest {
		writeErr(w, http.StatusBadRequest, "bad_count", fmt.Sprintf("count %d: want 1..%d", req.Count, s.o.MaxPerRequest))
		return
	}
	s.mu.Lock()
	p, ok := s.requests[req.RequestID]
	if ok && (p.GTIN != req.GTIN) {
		s.mu.Unlock()
		writeErr(w, http.StatusConflict, "request_id_reused", "request_id already used for another GTIN")
		return
	}
	if !ok && req.Count > s.remaining(req.GTIN) {
		n := s.remaining(req.GTIN)
		s.mu.Unlock()
		writeErr(w, http.StatusConflict, "exhausted",
			fmt.Sprintf("only %d more serials of %d characters can be issued for GTIN %s", n, s.o.SerialLength, req.GTIN))
		return
	}
	if !ok {
		p = upstream.Pool{ID: fmt.Sprintf("POOL-%06d", len(s.requests)+1), RequestID: req.RequestID, GTIN: req.GTIN}
		p.Serials = s.generate(req.GTIN, req.Count)
		if s.badNext > 0 {
			s.badNext--
			// Keep the count asked for: the last entries become a serial too
			// long for AI 21, one with a space, and a duplicate.
			bad := []string{strings.Repeat("X", 21), "BAD SERIAL", p.Serials[0]}
			if len(p.Serials) > len(bad) {
				copy(p.Serials[len(p.Serials)-len(bad):], bad)
			} else {
				p.Serials = append(p.Serials[:0], bad[:len(p.Serials)]...)
			}
		}
		s.requests[req.RequestID] = p
		s.issued[req.GTIN] = append(s.issued[req.GTIN], p.Serials...)
		s.o.Logger.Info("upstreamsim issued", "gtin", req.GTIN, "n", len(p.Serials), "pool", p.ID)
	}
	s.replyLocked(w, http.StatusOK, p)
}

// remaining is how many more serials generate can still issue for gtin
// (sequential: the numbers left in the width after the prefix; random: the
// values of the length never issued). s.mu is held.
func (s *Server) remaining(gtin string) int {
	const lots = 1 << 40
	space, base, n := 1, 10, s.o.SerialLength-len(s.o.Prefix)
	if s.o.Mode != Sequential {
		base, n = len(randomAlphabet), s.o.SerialLength
	}
	for range n {
		if space > lots/base {
			return lots
		}
		space *= base
	}
	if s.o.Mode == Sequential {
		return space - 1 - s.next[gtin] // 0 is never issued
	}
	return space - len(s.seen)
}

// generate returns n fresh serials never issued before (n <= remaining).
// s.mu is held.
func (s *Server) generate(gtin string, n int) []string {
	out := make([]string, 0, n)
	for len(out) < n {
		var v string
		if s.o.Mode == Sequential {
			s.next[gtin]++
			width := s.o.SerialLength - len(s.o.Prefix)
			v = fmt.Sprintf("%s%0*d", s.o.Prefix, width, s.next[gtin])
		} else {
			b := make([]byte, s.o.SerialLength)
			max := big.NewInt(int64(len(randomAlphabet)))
			for i := range b {
				k, _ := rand.Int(rand.Reader, max)
				b[i] = randomAlphabet[k.Int64()]
			}
			v = string(b)
		}
		if s.seen[v] {
			continue
		}
		s.seen[v] = true
		out = append(out, v)
	}
	return out
}

func (s *Server) handleReturn(w http.ResponseWriter, r *http.Request) {
	var req upstream.ReturnRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if requestID(w, r, req.RequestID) == "" {
		return
	}
	s.mu.Lock()
	rep, ok := s.returnsBy[req.RequestID]
	if !ok {
		// Per serial: unknown ones (never issued for the GTIN, or back
		// already) are refused and listed; the others are taken.
		issued := map[string]bool{}
		for _, v := range s.issued[req.GTIN] {
			issued[v] = true
		}
		for _, v := range s.returned[req.GTIN] {
			issued[v] = false // back already: a second return is refused
		}
		rep = upstream.ReturnReply{RequestID: req.RequestID}
		for _, v := range req.Serials {
			if !issued[v] {
				rep.Refused = append(rep.Refused, upstream.Refusal{Serial: v, Code: "unknown_serial",
					Message: fmt.Sprintf("serial %q was not issued for GTIN %s, or was returned already", v, req.GTIN)})
				continue
			}
			issued[v] = false
			rep.Accepted++
			s.returned[req.GTIN] = append(s.returned[req.GTIN], v)
		}
		s.returnsBy[req.RequestID] = rep
	}
	s.replyLocked(w, http.StatusOK, rep)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Idempotency-Key")
	if id == "" {
		writeErr(w, http.StatusBadRequest, "bad_request", "Idempotency-Key header is required")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var doc struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Type != "EPCISDocument" {
		writeErr(w, http.StatusBadRequest, "bad_epcis", "body must be an EPCIS 2.0 JSON-LD EPCISDocument")
		return
	}
	s.mu.Lock()
	if !s.eventIDs[id] {
		s.eventIDs[id] = true
		s.events = append(s.events, Received{ID: id, Doc: data, At: time.Now()})
	}
	s.replyLocked(w, http.StatusAccepted, map[string]string{"status": "accepted", "id": id})
}

// captureJob is one capture job of the EPCIS capture interface; it reports
// running on its first poll (so clients must poll) and then its result.
type captureJob struct {
	polls   int
	success bool
	errors  []string
}

// FailCaptureNext makes the next n capture jobs fail (the document is not
// kept), as a repository refusing a document would.
func (s *Server) FailCaptureNext(n int) { s.mu.Lock(); s.failCap = n; s.mu.Unlock() }

// handleCapture is POST /capture: the document is checked and kept (each
// event id once: a resend is accepted and adds nothing), and a capture job
// is created; 202 with its Location.
func (s *Server) handleCapture(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/ld+json") && !strings.HasPrefix(ct, "application/json") {
		writeErr(w, http.StatusUnsupportedMediaType, "epcisException:UnsupportedMediaType", "want application/ld+json")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "epcisException:ValidationException", err.Error())
		return
	}
	var doc struct {
		Type string `json:"type"`
		Body struct {
			EventList []struct {
				EventID string `json:"eventID"`
			} `json:"eventList"`
		} `json:"epcisBody"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Type != "EPCISDocument" {
		writeErr(w, http.StatusBadRequest, "epcisException:ValidationException", "body must be an EPCIS 2.0 EPCISDocument")
		return
	}
	s.mu.Lock()
	id := fmt.Sprintf("%d", len(s.jobs)+1)
	job := captureJob{success: true}
	if s.failCap > 0 {
		s.failCap--
		job = captureJob{errors: []string{"epcisException:ValidationException: refused (simulated)"}}
	} else {
		key := ""
		for _, e := range doc.Body.EventList {
			key += e.EventID + "\x00"
		}
		if key == "" || !s.eventIDs["capture:"+key] {
			s.eventIDs["capture:"+key] = true
			s.events = append(s.events, Received{ID: "capture-" + id, Doc: data, At: time.Now()})
		}
	}
	s.jobs[id] = job
	s.mu.Unlock()
	w.Header().Set("Location", "/capture/"+id)
	w.WriteHeader(http.StatusAccepted)
}

// handleCaptureJob is GET /capture/{id}.
func (s *Server) handleCaptureJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	job, ok := s.jobs[id]
	if ok {
		job.polls++
		s.jobs[id] = job
	}
	s.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, "epcisException:NoSuchResourceException", "no capture job "+id)
		return
	}
	running := job.polls == 1
	errs := []map[string]string{}
	for _, e := range job.errors {
		errs = append(errs, map[string]string{"type": "epcisException:ValidationException", "title": e})
	}
	writeJSON(w, http.StatusOK, map[string]any{"captureID": id, "running": running, "success": !running && job.success,
		"captureErrorBehaviour": "all_or_nothing", "errors": errs})
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

// checkGTIN returns "" for a 14-digit GTIN with a correct check digit.
func checkGTIN(g string) string {
	if len(g) != 14 {
		return fmt.Sprintf("gtin %q: want 14 digits", g)
	}
	sum := 0
	for i := 0; i < 14; i++ {
		c := g[i]
		if c < '0' || c > '9' {
			return fmt.Sprintf("gtin %q: character %d is not a digit", g, i+1)
		}
		if i == 13 {
			break
		}
		d := int(c - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	if want := (10 - sum%10) % 10; int(g[13]-'0') != want {
		return fmt.Sprintf("gtin %q: check digit %c, want %d", g, g[13], want)
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, c, msg string) {
	writeJSON(w, code, upstream.ErrorReply{Code: c, Message: msg})
}
