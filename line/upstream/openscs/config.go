package openscs

import (
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices/opcua"
)

// Request modes: which pool-manager method serials are requested with
// (and returned with).
const (
	// RequestAllocated: SNRequestAllocated / SNReturnAllocated — serials
	// allocated to this line's production run (the default).
	RequestAllocated = "allocated"
	// RequestUnallocated: SNRequestUnallocated / SNReturnUnallocated.
	RequestUnallocated = "unallocated"
)

// Criteria names the PoolSelectionCriteria keys the site server knows; ""
// leaves a criterion out.
type Criteria struct {
	// GTIN key (default "GTIN").
	GTIN string `yaml:"gtin"`
	// Lot key (default "LotNumber").
	Lot string `yaml:"lot"`
	// Order key: the batch id as production order (default "OrderID").
	Order string `yaml:"order"`
	// Request key: the controller's request id, for site servers that
	// deduplicate repeated requests by it (Open-SCS itself has no
	// idempotency key); default "" (not sent).
	Request string `yaml:"request"`
}

// Config is one Open-SCS site server connection (yaml, decoded strictly).
type Config struct {
	// Session is the server's endpoint and the session's security
	// (endpoint, security_policy, security_mode, certificate,
	// private_key, auth, username, password at this level).
	opcua.Session `yaml:",inline"`
	// Timeout bounds the dial and each request.
	Timeout time.Duration `yaml:"timeout"`
	// PoolManager is the node id of the OPENSCSPoolManagerObjectType
	// instance; "" finds it by browsing the Objects folder (two levels).
	PoolManager string `yaml:"pool_manager"`
	// EventManager is the node id of the OPENSCSEventManagerObjectType
	// instance; "" finds it by browsing.
	EventManager string `yaml:"event_manager"`
	// Request is "allocated" (default) or "unallocated".
	Request string `yaml:"request"`
	// SNFormat is the serial number format asked for and reported with;
	// "" takes the first the pool manager's SNFormat property offers.
	SNFormat string `yaml:"sn_format"`
	// Criteria are the pool selection criteria keys.
	Criteria Criteria `yaml:"criteria"`
	// MaxPages bounds the RequestToken pages of one request (default 1000).
	MaxPages int `yaml:"max_pages"`
}

// DefaultConfig is an anonymous, security-None config for endpoint.
func DefaultConfig(endpoint string) Config {
	return Config{Session: opcua.AnonymousSession(endpoint), Timeout: 5 * time.Second, Request: RequestAllocated, Criteria: DefaultCriteria(), MaxPages: 1000}
}

// DefaultCriteria are the criteria keys used when none are configured.
func DefaultCriteria() Criteria { return Criteria{GTIN: "GTIN", Lot: "LotNumber", Order: "OrderID"} }

// Validate reports every mistake at once (paths relative to the block).
func (c Config) Validate() configs.Problems {
	p := c.Session.Validate()
	if c.Timeout <= 0 {
		p.Add("timeout", "must be > 0")
	}
	for _, n := range []struct{ path, id string }{{"pool_manager", c.PoolManager}, {"event_manager", c.EventManager}} {
		if n.id != "" {
			if _, err := parseNodeID(n.id); err != nil {
				p.Add(n.path, "bad node id %q: %v", n.id, err)
			}
		}
	}
	switch c.Request {
	case RequestAllocated, RequestUnallocated:
	default:
		p.Add("request", "must be %q or %q, got %q", RequestAllocated, RequestUnallocated, c.Request)
	}
	if c.Criteria.GTIN == "" {
		p.Add("criteria.gtin", "must be set (the GTIN selects the pool)")
	}
	if c.MaxPages < 1 {
		p.Add("max_pages", "must be >= 1")
	}
	return p
}
