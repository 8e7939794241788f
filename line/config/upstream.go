package config

import (
	"strings"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/printer/gs1/gcp"
)

// Upstream drivers (upstream.driver).
const (
	// DriverHTTP is the site server's JSON API (line/upstream/openapi.yaml).
	DriverHTTP = "http"
	// DriverOpenSCS is an OPC 30260 Open-SCS site server over OPC UA.
	DriverOpenSCS = "open-scs"
)

// Where EPCIS documents go (upstream.events).
const (
	// EventsSite: to the site server through the upstream driver
	// (POST /v1/events, or Open-SCS event methods).
	EventsSite = "site"
	// EventsCapture: to an EPCIS 2.0 repository's capture interface
	// (upstream.capture).
	EventsCapture = "capture"
)

// Capture is an EPCIS 2.0 repository's capture interface.
type Capture struct {
	// URL is the repository's base URL; documents go to URL + "/capture".
	URL string `yaml:"url"`
	// Token is a bearer token (prefer TokenFile).
	Token string `yaml:"token"`
	// TokenFile holds the bearer token.
	TokenFile string `yaml:"token_file"`
	// CAFile is a PEM file of CAs trusted for the repository's certificate.
	CAFile string `yaml:"ca_file"`
	// PollInterval is how often a capture job is polled until it finishes.
	PollInterval time.Duration `yaml:"poll_interval"`
	// JobTimeout bounds the wait for one capture job.
	JobTimeout time.Duration `yaml:"job_timeout"`
}

// Kind names the driver for the devices list ("http", "open-scs").
func (u Upstream) Kind() string {
	if u.Driver == "" {
		return DriverHTTP
	}
	return u.Driver
}

// Configured reports whether a site server is configured.
func (u Upstream) Configured() bool {
	if u.Kind() == DriverOpenSCS {
		return u.OpenSCS != nil
	}
	return u.URL != ""
}

func (c Config) validateUpstreamDrivers(p *configs.Problems) {
	u := c.Upstream
	switch u.Kind() {
	case DriverHTTP:
		if u.OpenSCS != nil {
			p.Add("upstream.open_scs", `is only read with driver "open-scs"`)
		}
	case DriverOpenSCS:
		if u.OpenSCS == nil {
			p.Add("upstream.open_scs", `must be set with driver "open-scs"`)
		} else {
			p.Merge("upstream.open_scs", u.OpenSCS.Validate())
		}
	default:
		p.Add("upstream.driver", "must be %q or %q, got %q", DriverHTTP, DriverOpenSCS, u.Driver)
	}
	if u.HealthInterval <= 0 {
		p.Add("upstream.health_interval", "must be > 0")
	}
	switch u.Events {
	case "", EventsSite:
	case EventsCapture:
		cp := u.Capture
		if !strings.HasPrefix(cp.URL, "https://") && !strings.HasPrefix(cp.URL, "http://") {
			p.Add("upstream.capture.url", "must be the repository's https:// base URL, got %q", cp.URL)
		}
		if cp.Token != "" && cp.TokenFile != "" {
			p.Add("upstream.capture.token_file", "set token or token_file, not both")
		}
		if cp.PollInterval <= 0 {
			p.Add("upstream.capture.poll_interval", "must be > 0")
		}
		if cp.JobTimeout <= 0 {
			p.Add("upstream.capture.job_timeout", "must be > 0")
		}
	default:
		p.Add("upstream.events", "must be %q or %q, got %q", EventsSite, EventsCapture, u.Events)
	}
}

// Prefixes returns the GS1 Company Prefix lookup the line's EPCs use:
// first (when not nil) the product master's gcp_length of the product,
// then per-product lengths (line.company_prefixes), then the GCP prefix
// format list (line.gcp_file), then the one line-wide length
// (line.company_prefix_len) when set. Never a silent default: a GTIN none
// of them knows is a gcp.ErrUnknown naming it.
func (l Line) Prefixes(master gcp.Lookup) (gcp.Lookup, error) {
	var ch gcp.Chain
	if master != nil {
		ch = append(ch, master)
	}
	if len(l.CompanyPrefixes) > 0 {
		ch = append(ch, gcp.Products(l.CompanyPrefixes))
	}
	if l.GCPFile != "" {
		lst, err := gcp.Load(l.GCPFile)
		if err != nil {
			return nil, err
		}
		ch = append(ch, lst)
	}
	if l.CompanyPrefixLen != 0 {
		ch = append(ch, lineWide(l.CompanyPrefixLen))
	}
	return ch, nil
}

// lineWide is one company prefix length for every GTIN of the line.
type lineWide int

func (n lineWide) PrefixLength(string) (int, error) { return int(n), nil }

func (c Config) validateEPCs(p *configs.Problems) {
	l := c.Line
	if l.CompanyPrefixLen != 0 && (l.CompanyPrefixLen < 6 || l.CompanyPrefixLen > 12) {
		p.Add("line.company_prefix_len", "must be 6..12, got %d", l.CompanyPrefixLen)
	}
	if err := gcp.Products(l.CompanyPrefixes).Validate(); err != nil {
		p.Add("line.company_prefixes", "%v", err)
	}
	switch l.EPCFormat {
	case "", "sgtin":
		// the product master's gcp_length may be the only source: a
		// batch of a GTIN whose length nobody knows is refused when it is
		// defined (line.Controller.CreateBatch), naming the GTIN
	case "dl":
		if l.DLBase != "" && !strings.HasPrefix(l.DLBase, "https://") {
			p.Add("line.dl_base", "must be an https:// domain, got %q", l.DLBase)
		}
	default:
		p.Add("line.epc_format", `must be "sgtin" or "dl", got %q`, l.EPCFormat)
	}
}
