// Package capture delivers EPCIS 2.0 documents to any EPCIS 2.0
// repository through the standard capture interface of the REST binding:
// POST {base}/capture with the EPCISDocument (application/ld+json); the
// repository answers 202 Accepted with the capture job in Location, which
// is polled (GET) until it is no longer running; the job's success decides.
// Status handling: 202 → poll; 401/403 → upstream.ErrUnauthorized; other
// 4xx (400 malformed, 413 too large, 415 media type…) and a failed capture
// job → upstream.ErrRejected (the document stays in the outbox and a
// person looks); 408, 429, 5xx and network errors → upstream.ErrUnavailable
// (retried later). Documents carry deterministic eventIDs, so a resend after
// a lost reply is recognised by a repository that deduplicates events.
package capture

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/serialine/serialine/line/upstream"
)

// Options configure a Client. Only URL is required.
type Options struct {
	// URL is the repository's base URL (documents go to URL/capture).
	URL string
	// Token is sent as a bearer token when not empty.
	Token string
	// TLS is the client TLS configuration; nil = system defaults.
	TLS *tls.Config
	// Timeout bounds one HTTP request. Default 10s.
	Timeout time.Duration
	// PollInterval between capture job polls. Default 500ms.
	PollInterval time.Duration
	// JobTimeout bounds the wait for one job. Default 1m.
	JobTimeout time.Duration
	// HTTPClient replaces the client built from TLS and Timeout (tests).
	HTTPClient *http.Client
}

// Client is an EPCIS 2.0 capture client; it satisfies the event half of
// line.Upstream (ReportEvents, Health).
type Client struct {
	o    Options
	http *http.Client
	base *url.URL
}

// Job is a capture job as the REST binding describes it.
type Job struct {
	CaptureID string          `json:"captureID"`
	Running   bool            `json:"running"`
	Success   bool            `json:"success"`
	Errors    json.RawMessage `json:"errors,omitempty"`
}

// New checks o and returns a Client.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("capture: base URL %q: want http(s)://host[/path]", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = time.Minute
	}
	hc := o.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.TLS != nil {
			tr.TLSClientConfig = o.TLS.Clone()
		}
		hc = &http.Client{Transport: tr, Timeout: o.Timeout}
	}
	return &Client{o: o, http: hc, base: u}, nil
}

func (c *Client) req(ctx context.Context, method, u string, body []byte) (*http.Response, []byte, error) {
	r, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/ld+json")
	}
	r.Header.Set("Accept", "application/json")
	r.Header.Set("GS1-EPCIS-Version", "2.0.0")
	if c.o.Token != "" {
		r.Header.Set("Authorization", "Bearer "+c.o.Token)
	}
	resp, err := c.http.Do(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", upstream.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read reply: %w", upstream.ErrUnavailable, err)
	}
	return resp, data, nil
}

func statusErr(code int, data []byte) error {
	text := strings.TrimSpace(string(data))
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%w: HTTP %d: %s", upstream.ErrUnauthorized, code, text)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("%w: HTTP %d: %s", upstream.ErrUnavailable, code, text)
	}
	return fmt.Errorf("%w: HTTP %d: %s", upstream.ErrRejected, code, text)
}

// ReportEvents captures one EPCIS document and waits for its capture job.
// id names the document in errors.
func (c *Client) ReportEvents(ctx context.Context, id string, doc []byte) error {
	resp, data, err := c.req(ctx, http.MethodPost, c.base.String()+"/capture", doc)
	if err != nil {
		return fmt.Errorf("capture %s: %w", id, err)
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil // captured synchronously
	default:
		return fmt.Errorf("capture %s: %w", id, statusErr(resp.StatusCode, data))
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return fmt.Errorf("capture %s: %w: 202 without Location", id, upstream.ErrBadResponse)
	}
	ju, err := c.base.Parse(loc)
	if err != nil {
		return fmt.Errorf("capture %s: %w: Location %q: %v", id, upstream.ErrBadResponse, loc, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.JobTimeout)
	defer cancel()
	t := time.NewTicker(c.o.PollInterval)
	defer t.Stop()
	for {
		resp, data, err := c.req(ctx, http.MethodGet, ju.String(), nil)
		if err != nil {
			return fmt.Errorf("capture %s: job %s: %w", id, loc, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("capture %s: job %s: %w", id, loc, statusErr(resp.StatusCode, data))
		}
		var j Job
		if err := json.Unmarshal(data, &j); err != nil {
			return fmt.Errorf("capture %s: job %s: %w: %v", id, loc, upstream.ErrBadResponse, err)
		}
		if !j.Running {
			if j.Success {
				return nil
			}
			return fmt.Errorf("capture %s: %w: capture job %s failed: %s", id, upstream.ErrRejected, j.CaptureID, j.Errors)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("capture %s: %w: capture job %s still running: %w", id, upstream.ErrUnavailable, j.CaptureID, ctx.Err())
		case <-t.C:
		}
	}
}

// Health asks the capture interface which methods it allows (OPTIONS
// /capture): any 2xx is up.
func (c *Client) Health(ctx context.Context) error {
	resp, data, err := c.req(ctx, http.MethodOptions, c.base.String()+"/capture", nil)
	if err != nil {
		return fmt.Errorf("capture: health: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return fmt.Errorf("capture: health: %w", statusErr(resp.StatusCode, data))
	}
	return nil
}
