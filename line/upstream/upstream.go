// Package upstream is the controller's client of the site server (the plant's
// serial-number manager): it requests pools of serial numbers for a GTIN,
// returns unused serials at batch end and reports EPCIS events. The contract
// is documented in openapi.yaml beside this file; line/upstreamsim is a
// reference server implementing it.
//
// Every call carries a request id (header Idempotency-Key and the request_id
// field) generated once per logical call and reused on every retry, so a
// retry after a lost reply gets the same pool back instead of a second one.
// Returns are per serial (ReturnResult) and idempotent too.
// Retries use exponential backoff with jitter (a 429/503 reply's Retry-After
// in seconds lengthens a wait, capped at Retry.MaxDelay); 4xx replies are not
// retried. RequestSerialsWithID lets a caller keep one request id across
// calls and restarts.
package upstream

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Pool is one batch of serial numbers issued by the site server.
type Pool struct {
	// ID identifies the pool (the site server's allocation id).
	ID string `json:"pool_id"`
	// RequestID is the idempotency key the pool was requested with.
	RequestID string `json:"request_id"`
	// GTIN the serials are for (14 digits).
	GTIN string `json:"gtin"`
	// Serials are the AI (21) values, in issue order.
	Serials []string `json:"serials"`
}

// SerialRequest is the body of POST /v1/serials/requests.
type SerialRequest struct {
	RequestID string `json:"request_id"`
	GTIN      string `json:"gtin"`
	Count     int    `json:"count"`
	Line      string `json:"line,omitempty"`
	// Lot and Order select a pool on servers keeping pools per lot or
	// production order (informational otherwise).
	Lot   string `json:"lot,omitempty"`
	Order string `json:"order,omitempty"`
}

// ReturnRequest is the body of POST /v1/serials/returns.
type ReturnRequest struct {
	RequestID string   `json:"request_id"`
	GTIN      string   `json:"gtin"`
	Serials   []string `json:"serials"`
	Line      string   `json:"line,omitempty"`
}

// ReturnReply is the reply to POST /v1/serials/returns.
type ReturnReply struct {
	RequestID string `json:"request_id"`
	Accepted  int    `json:"accepted"`
	// Refused lists the serials not taken back (unknown, returned already),
	// each with its reason; the others are taken.
	Refused []Refusal `json:"refused,omitempty"`
}

// ErrorReply is the body of every non-2xx reply.
type ErrorReply struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Retry is the backoff policy for transient failures.
type Retry struct {
	// Attempts is the total number of tries per call (>= 1). Default 5.
	Attempts int
	// BaseDelay is the wait before the second try; it doubles per try. Default 200ms.
	BaseDelay time.Duration
	// MaxDelay caps one wait. Default 5s.
	MaxDelay time.Duration
}

// Options configure a Client. Only BaseURL is required.
type Options struct {
	// BaseURL of the site server, e.g. https://site.example:8443 (no trailing /v1).
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>" when not empty.
	Token string
	// Line names this line in requests (informational for the server).
	Line string
	// TLS is the client TLS configuration (CA pool, client certificates);
	// nil uses the system defaults. Ignored when HTTPClient is set.
	TLS *tls.Config
	// Timeout bounds one HTTP attempt. Default 10s.
	Timeout time.Duration
	// Retry is the backoff policy.
	Retry Retry
	// HTTPClient replaces the client built from TLS and Timeout (tests).
	HTTPClient *http.Client
	// NewID makes request ids. Default: 16 random bytes in hex.
	NewID func() string
	// Logger receives retry warnings. Default: discard.
	Logger *slog.Logger
}

// Client talks to the site server. It is safe for concurrent use.
type Client struct {
	o    Options
	http *http.Client
	base string
}

// New checks o and returns a Client. It does not connect.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" {
		return nil, fmt.Errorf("upstream: base URL is empty")
	}
	if !strings.HasPrefix(o.BaseURL, "http://") && !strings.HasPrefix(o.BaseURL, "https://") {
		return nil, fmt.Errorf("upstream: base URL %q: want http:// or https://", o.BaseURL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Retry.Attempts <= 0 {
		o.Retry.Attempts = 5
	}
	if o.Retry.BaseDelay <= 0 {
		o.Retry.BaseDelay = 200 * time.Millisecond
	}
	if o.Retry.MaxDelay <= 0 {
		o.Retry.MaxDelay = 5 * time.Second
	}
	if o.NewID == nil {
		o.NewID = NewRequestID
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	hc := o.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.TLS != nil {
			tr.TLSClientConfig = o.TLS.Clone()
		}
		hc = &http.Client{Transport: tr, Timeout: o.Timeout}
	}
	return &Client{o: o, http: hc, base: strings.TrimRight(o.BaseURL, "/")}, nil
}

// NewRequestID returns a fresh random request id (32 hex characters).
func NewRequestID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RequestSerials asks for n serials for gtin with a fresh request id.
func (c *Client) RequestSerials(ctx context.Context, gtin string, n int) (Pool, error) {
	return c.RequestPool(ctx, PoolRequest{ID: c.o.NewID(), GTIN: gtin, Count: n})
}

// RequestPool asks for r.Count serials. The returned pool is checked to
// belong to this request and GTIN; serial validity is the journal's job
// (ImportPool refuses a bad pool whole). A caller that keeps r.ID (durably)
// until the pool is imported, and asks again with the same id after a
// failed call or a restart, gets the pool the site server may already have
// issued instead of stranding it there.
func (c *Client) RequestPool(ctx context.Context, r PoolRequest) (Pool, error) {
	gtin, n := r.GTIN, r.Count
	if n <= 0 {
		return Pool{}, fmt.Errorf("upstream: request serials: count %d must be > 0", n)
	}
	if r.ID == "" {
		return Pool{}, fmt.Errorf("upstream: request serials: empty request id")
	}
	req := SerialRequest{RequestID: r.ID, GTIN: gtin, Count: n, Line: c.o.Line, Lot: r.Lot, Order: r.Order}
	var p Pool
	body, _ := json.Marshal(req) // strings and ints only: cannot fail
	if err := c.do(ctx, "/v1/serials/requests", req.RequestID, "application/json", body, &p); err != nil {
		return Pool{}, fmt.Errorf("upstream: request %d serials for %s: %w", n, gtin, err)
	}
	if p.ID == "" {
		return Pool{}, fmt.Errorf("upstream: request serials: %w: reply without pool_id", ErrBadResponse)
	}
	if p.RequestID != req.RequestID || p.GTIN != gtin {
		return Pool{}, fmt.Errorf("upstream: request serials: %w: reply for request %q gtin %q, want %q %q",
			ErrBadResponse, p.RequestID, p.GTIN, req.RequestID, gtin)
	}
	if len(p.Serials) == 0 || len(p.Serials) > n {
		return Pool{}, fmt.Errorf("upstream: request serials: %w: %d serials for a request of %d",
			ErrBadResponse, len(p.Serials), n)
	}
	return p, nil
}

// ReturnSerials hands unused serials for gtin back to the site server with
// the idempotency key id (the caller keeps it across retries: the journal
// outbox id makes a good one). The outcome is per serial: a server that
// refuses some (unknown, returned already) takes the others and lists the
// refused ones; a server that refuses the whole call (422) is asked again
// in halves until every refused serial is found (Bisect). The error is
// non-nil only when the outcome of some serials is unknown.
func (c *Client) ReturnSerials(ctx context.Context, id, gtin string, serials []string) (ReturnResult, error) {
	if len(serials) == 0 {
		return ReturnResult{}, nil
	}
	if id == "" {
		return ReturnResult{}, fmt.Errorf("upstream: return serials: empty request id")
	}
	var refused []Refusal
	res, err := Bisect(ctx, id, serials, func(ctx context.Context, part []string, key string) error {
		req := ReturnRequest{RequestID: key, GTIN: gtin, Serials: part, Line: c.o.Line}
		var rep ReturnReply
		body, _ := json.Marshal(req) // strings only: cannot fail
		if err := c.do(ctx, "/v1/serials/returns", key, "application/json", body, &rep); err != nil {
			return err
		}
		in := make(map[string]bool, len(part))
		for _, s := range part {
			in[s] = true
		}
		for _, r := range rep.Refused {
			if !in[r.Serial] {
				return fmt.Errorf("%w: refusal of serial %q that was not returned", ErrBadResponse, r.Serial)
			}
		}
		if rep.Accepted+len(rep.Refused) != len(part) {
			return fmt.Errorf("%w: accepted %d + refused %d of %d", ErrBadResponse, rep.Accepted, len(rep.Refused), len(part))
		}
		refused = append(refused, rep.Refused...)
		return nil
	})
	// Serials the server listed as refused inside a part it answered for.
	if len(refused) > 0 {
		out := map[string]bool{}
		for _, r := range refused {
			out[r.Serial] = true
		}
		acc := res.Accepted[:0]
		for _, s := range res.Accepted {
			if !out[s] {
				acc = append(acc, s)
			}
		}
		res.Accepted = acc
		res.Refused = append(res.Refused, refused...)
	}
	if err != nil {
		return res, fmt.Errorf("upstream: %s: %w", gtin, err)
	}
	return res, nil
}

// Health asks the site server whether it is up (GET /v1/health, no
// token). It is the link state the controller shows, checked periodically
// and not only when a pool is requested.
func (c *Client) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/health", nil)
	if err != nil {
		return fmt.Errorf("upstream: health: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("upstream: health: %w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upstream: health: %w: HTTP %d: %s", ErrUnavailable, resp.StatusCode, errText(data))
	}
	return nil
}

// ReportEvents posts one EPCIS 2.0 JSON-LD document. id is the idempotency
// key (the journal outbox id makes a good one): the server ignores a second
// delivery of the same id, so store-and-forward may resend after a crash.
func (c *Client) ReportEvents(ctx context.Context, id string, doc []byte) error {
	if id == "" {
		return fmt.Errorf("upstream: report events: empty id")
	}
	if err := c.do(ctx, "/v1/events", id, "application/ld+json", doc, nil); err != nil {
		return fmt.Errorf("upstream: report events %s: %w", id, err)
	}
	return nil
}

// do posts body to path with retries; out (if not nil) receives the JSON reply.
func (c *Client) do(ctx context.Context, path, id, ctype string, body []byte, out any) error {
	var last error
	var after time.Duration // the server's Retry-After, if any
	for attempt := 1; attempt <= c.o.Retry.Attempts; attempt++ {
		if attempt > 1 {
			d := max(c.backoff(attempt-1), min(after, c.o.Retry.MaxDelay))
			c.o.Logger.Warn("upstream retry", "path", path, "attempt", attempt, "wait", d, "err", last)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w: %w (last error: %v)", ErrUnavailable, ctx.Err(), last)
			case <-t.C:
			}
		}
		retry, ra, err := c.once(ctx, path, id, ctype, body, out)
		after = ra
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			return err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w after %d attempts: %w", ErrUnavailable, c.o.Retry.Attempts, last)
}

func (c *Client) backoff(n int) time.Duration {
	d := c.o.Retry.BaseDelay << (n - 1)
	if d <= 0 || d > c.o.Retry.MaxDelay {
		d = c.o.Retry.MaxDelay
	}
	// full jitter in [d/2, d]
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// once makes one attempt; retry reports whether a failure is transient,
// after the wait a 429/503 reply asked for in Retry-After (seconds).
func (c *Client) once(ctx context.Context, path, id, ctype string, body []byte, out any) (retry bool, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", id)
	if c.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return true, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return true, 0, fmt.Errorf("read reply: %w", err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if out == nil {
			return false, 0, nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return false, 0, fmt.Errorf("%w: %s: %v", ErrBadResponse, path, err)
		}
		return false, 0, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, 0, fmt.Errorf("%w: HTTP %d: %s", ErrUnauthorized, resp.StatusCode, errText(data))
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && secs > 0 {
			after = time.Duration(secs) * time.Second
		}
		return true, after, fmt.Errorf("HTTP %d: %s", resp.StatusCode, errText(data))
	default:
		return false, 0, fmt.Errorf("%w: HTTP %d: %s", ErrRejected, resp.StatusCode, errText(data))
	}
}

// errText is the site server's error reply as a short, printable text
// (it ends up in alarms and logs): the JSON code and message, else the
// body; invalid UTF-8 and control characters replaced, at most 200 bytes.
func errText(data []byte) string {
	var e ErrorReply
	s := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &e) == nil && e.Message != "" {
		s = e.Code + ": " + e.Message
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// IsTransient reports whether err means "try later" (the site server is down)
// rather than a refusal.
func IsTransient(err error) bool { return errors.Is(err, ErrUnavailable) }
