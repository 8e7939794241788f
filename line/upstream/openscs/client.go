// Package openscs is the controller as an OPC UA client of an OPC 30260
// Open-SCS site server (gopcua v0.8.0): serial numbers are requested with
// SNRequestAllocated / SNRequestUnallocated (pool selection criteria GTIN,
// lot, order; Count; SNFormat; RequestToken paging followed until done;
// InsufficientSerialNumbers handled), returned with SNReturnAllocated /
// SNReturnUnallocated (per-serial outcome found by bisection, the methods
// answering for a whole collection), and the line's EPCIS documents are
// reported as the Open-SCS state changes they stand for (SNtoEncoded, then
// SIDCommissioningEvent, LabelsScrappingEvent, SIDDecommissioningEvent,
// SIDDestroyingEvent or SIDInspectingEvent; see line/README.md for the
// mapping). Method signatures, structures and enumerations are generated
// from the node set (nodeset_gen.go).
//
// Security as for the PLC's OPC UA client (devices/opcua.SessionOptions):
// None or Basic256Sha256 Sign/SignAndEncrypt, anonymous or username.
//
// The client connects on first use and after any connection error (one
// attempt per call; the line's pool and outbox loops retry). Every call is
// serialised on one session.
package openscs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/line/upstream"
)

// Options are a Client's non-config dependencies.
type Options struct {
	// Line names this line (sent as event context "Line").
	Line string
	// Logger (default: discard).
	Logger *slog.Logger
}

// Client is the Open-SCS upstream driver. It satisfies line.Upstream.
type Client struct {
	cfg Config
	o   Options

	mu   sync.Mutex
	sess *session
}

// session is one connected OPC UA session with the resolved nodes.
type session struct {
	cl      *gopcua.Client
	ns      uint16
	pool    *ua.NodeID
	events  *ua.NodeID
	methods map[string]*ua.NodeID // method browse name -> node id (pool and event managers)
	format  string
	// limits from the pool manager's properties (0 = not given)
	maxRequest, maxReturn uint32
}

// New validates cfg and returns an unconnected client.
func New(cfg Config, o Options) (*Client, error) {
	if err := cfg.Validate().Err(); err != nil {
		return nil, fmt.Errorf("openscs: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, o: o}, nil
}

func (c *Client) String() string { return "open-scs " + c.cfg.Endpoint }

func parseNodeID(s string) (*ua.NodeID, error) { return ua.ParseNodeID(s) }

// Close ends the session.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil
	}
	err := c.sess.cl.Close(ctx)
	c.sess = nil
	return err
}

// classify maps an OPC UA error onto the upstream sentinels: refused
// credentials → ErrUnauthorized; a Bad status the server gave for the
// call's content → ErrRejected; anything else (no connection, timeouts,
// a server that is shutting down) → ErrUnavailable.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, upstream.ErrRejected) || errors.Is(err, upstream.ErrUnauthorized) || errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, upstream.ErrBadResponse) {
		return fmt.Errorf("openscs: %s: %w", op, err)
	}
	if opcua.RefusedCredentials(err) || errors.Is(err, ua.StatusBadUserAccessDenied) {
		return fmt.Errorf("openscs: %s: %w: %w", op, upstream.ErrUnauthorized, err)
	}
	if devices.IsPermanent(err) {
		return fmt.Errorf("openscs: %s: %w: %w", op, upstream.ErrRejected, err)
	}
	var sc ua.StatusCode
	if errors.As(err, &sc) {
		switch sc {
		case ua.StatusBadMethodInvalid, ua.StatusBadArgumentsMissing, ua.StatusBadTooManyArguments,
			ua.StatusBadTypeMismatch, ua.StatusBadInvalidArgument, ua.StatusBadNodeIDUnknown, ua.StatusBadNotExecutable,
			ua.StatusBadUserAccessDenied, ua.StatusBadNotSupported, ua.StatusBadServiceUnsupported:
			return fmt.Errorf("openscs: %s: %w: %w", op, upstream.ErrRejected, err)
		}
	}
	return fmt.Errorf("openscs: %s: %w: %w", op, upstream.ErrUnavailable, err)
}

// with runs fn on a connected session; a transport failure drops the
// session so that the next call connects again.
func (c *Client) with(ctx context.Context, op string, fn func(ctx context.Context, s *session) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		s, err := c.dial(ctx)
		if err != nil {
			return classify(op, err)
		}
		c.sess = s
	}
	err := fn(ctx, c.sess)
	if err != nil && errors.Is(classify(op, err), upstream.ErrUnavailable) {
		c.sess.cl.Close(context.WithoutCancel(ctx))
		c.sess = nil
	}
	return classify(op, err)
}

// dial connects and resolves the namespace, the managers, their methods
// and properties.
func (c *Client) dial(ctx context.Context) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*c.cfg.Timeout)
	defer cancel()
	if c.cfg.Security().Unchecked() {
		c.o.Logger.Warn("open-scs: the site server's certificate is not checked: set trusted_server_certs", "endpoint", c.cfg.Endpoint)
	}
	opts, err := opcua.SessionOptions(ctx, c.cfg.Endpoint, c.cfg.Security(), c.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	cl, err := gopcua.NewClient(c.cfg.Endpoint, opts...)
	if err != nil {
		return nil, devices.Permanent(fmt.Errorf("client options: %w", err))
	}
	if err := cl.Connect(ctx); err != nil {
		cl.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("connect: %w", err)
	}
	s := &session{cl: cl, methods: map[string]*ua.NodeID{}}
	if err := c.resolve(ctx, s); err != nil {
		cl.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	c.o.Logger.Info("open-scs session", "endpoint", c.cfg.Endpoint, "namespace", s.ns, "pool_manager", s.pool, "event_manager", s.events, "sn_format", s.format)
	return s, nil
}

func (c *Client) resolve(ctx context.Context, s *session) error {
	nsa, err := s.cl.NamespaceArray(ctx)
	if err != nil {
		return fmt.Errorf("read namespace array: %w", err)
	}
	found := false
	for i, u := range nsa {
		if u == NamespaceURI {
			s.ns, found = uint16(i), true
		}
	}
	if !found {
		return fmt.Errorf("%w: the server has no Open-SCS namespace %s (namespaces %v)", upstream.ErrRejected, NamespaceURI, nsa)
	}
	if err := Register(s.ns); err != nil {
		return devices.Permanent(err)
	}
	find := func(cfgID string, typ uint32, what string) (*ua.NodeID, error) {
		if cfgID != "" {
			n, _ := parseNodeID(cfgID) // validated
			return n, nil
		}
		n, err := findInstance(ctx, s.cl, ua.NewNumericNodeID(s.ns, typ))
		if err != nil {
			return nil, fmt.Errorf("find the %s: %w", what, err)
		}
		return n, nil
	}
	if s.pool, err = find(c.cfg.PoolManager, PoolManagerObjectTypeID, "pool manager (OPENSCSPoolManagerObjectType)"); err != nil {
		return err
	}
	// The event manager is optional in a server that takes no events.
	if s.events, err = find(c.cfg.EventManager, EventManagerObjectTypeID, "event manager (OPENSCSEventManagerObjectType)"); err != nil {
		c.o.Logger.Warn("open-scs: no event manager; state changes cannot be reported", "err", err)
		s.events = nil
	}
	props := map[string]*ua.NodeID{}
	for _, obj := range []*ua.NodeID{s.pool, s.events} {
		if obj == nil {
			continue
		}
		refs, err := s.cl.Node(obj).References(ctx, id.HierarchicalReferences, ua.BrowseDirectionForward, ua.NodeClassMethod|ua.NodeClassVariable, true)
		if err != nil {
			return fmt.Errorf("browse %s: %w", obj, err)
		}
		for _, r := range refs {
			if r.BrowseName == nil || r.NodeID == nil {
				continue
			}
			switch r.NodeClass {
			case ua.NodeClassMethod:
				s.methods[r.BrowseName.Name] = r.NodeID.NodeID
			case ua.NodeClassVariable:
				props[r.BrowseName.Name] = r.NodeID.NodeID
			}
		}
	}
	for _, m := range []string{c.requestMethod(), c.returnMethod(), "SNtoEncoded"} {
		if s.methods[m] == nil {
			return fmt.Errorf("%w: pool manager %s has no method %s", upstream.ErrRejected, s.pool, m)
		}
	}
	read := func(name string) any {
		n := props[name]
		if n == nil {
			return nil
		}
		v, err := s.cl.Node(n).Value(ctx)
		if err != nil || v == nil {
			return nil
		}
		return v.Value()
	}
	if v, ok := read("MaxSNRequestable").(uint32); ok {
		s.maxRequest = v
	}
	if v, ok := read("MaxSNReturnable").(uint32); ok {
		s.maxReturn = v
	}
	offered, _ := read("SNFormat").([]string)
	s.format = c.cfg.SNFormat
	switch {
	case s.format == "" && len(offered) > 0:
		s.format = offered[0]
	case s.format != "" && len(offered) > 0:
		ok := false
		for _, f := range offered {
			ok = ok || f == s.format
		}
		if !ok {
			return devices.Permanent(fmt.Errorf("%w: sn_format %q is not offered by the pool manager (SNFormat: %s)", upstream.ErrRejected, s.format, strings.Join(offered, ", ")))
		}
	}
	return nil
}

// findInstance browses Objects and its children for an object whose type
// definition is typ.
func findInstance(ctx context.Context, cl *gopcua.Client, typ *ua.NodeID) (*ua.NodeID, error) {
	level := []*ua.NodeID{ua.NewNumericNodeID(0, id.ObjectsFolder)}
	for depth := 0; depth < 3; depth++ {
		var next []*ua.NodeID
		for _, n := range level {
			refs, err := cl.Node(n).References(ctx, id.HierarchicalReferences, ua.BrowseDirectionForward, ua.NodeClassObject, true)
			if err != nil {
				return nil, fmt.Errorf("browse %s: %w", n, err)
			}
			for _, r := range refs {
				if r.NodeID == nil {
					continue
				}
				if r.TypeDefinition != nil && r.TypeDefinition.NodeID != nil && r.TypeDefinition.NodeID.String() == typ.String() {
					return r.NodeID.NodeID, nil
				}
				if r.NodeID.NodeID.Namespace() != 0 {
					next = append(next, r.NodeID.NodeID)
				}
			}
		}
		level = next
	}
	return nil, fmt.Errorf("%w: no object of type %s under Objects", upstream.ErrRejected, typ)
}

func (c *Client) requestMethod() string {
	if c.cfg.Request == RequestUnallocated {
		return "SNRequestUnallocated"
	}
	return "SNRequestAllocated"
}

func (c *Client) returnMethod() string {
	if c.cfg.Request == RequestUnallocated {
		return "SNReturnUnallocated"
	}
	return "SNReturnAllocated"
}

// call invokes method on obj and checks the ReturnStatus (first output).
func (s *session) call(ctx context.Context, obj *ua.NodeID, method string, in ...*ua.Variant) (Status, []*ua.Variant, error) {
	m := s.methods[method]
	if m == nil {
		return 0, nil, fmt.Errorf("%w: the server has no method %s", upstream.ErrRejected, method)
	}
	res, err := s.cl.Call(ctx, &ua.CallMethodRequest{ObjectID: obj, MethodID: m, InputArguments: in})
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", method, err)
	}
	if res.StatusCode != ua.StatusOK {
		return 0, nil, fmt.Errorf("%s: %w", method, res.StatusCode)
	}
	if len(res.OutputArguments) == 0 {
		return 0, nil, fmt.Errorf("%w: %s: no ReturnStatus", upstream.ErrBadResponse, method)
	}
	st, err := ArgStatus(res.OutputArguments[0])
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s: %v", upstream.ErrBadResponse, method, err)
	}
	return st, res.OutputArguments, nil
}

// statusError is a ReturnStatus other than NoError as an error: refusals
// wrap upstream.ErrRejected.
func statusError(method string, st Status) error {
	return fmt.Errorf("%w: %s returned %s (%s)", upstream.ErrRejected, method, st, st.Description())
}

func (c *Client) criteria(gtin, lot, order, reqID string) []KeyValue {
	kv := []KeyValue{{Key: c.cfg.Criteria.GTIN, Value: gtin}}
	add := func(k, v string) {
		if k != "" && v != "" {
			kv = append(kv, KeyValue{Key: k, Value: v})
		}
	}
	add(c.cfg.Criteria.Lot, lot)
	add(c.cfg.Criteria.Order, order)
	add(c.cfg.Criteria.Request, reqID)
	return kv
}

// ErrInsufficient is wrapped (with upstream.ErrRejected) when the pool has
// no serial numbers left (InsufficientSerialNumbers and none given).
var ErrInsufficient = errors.New("openscs: insufficient serial numbers")

// RequestPool asks for r.Count serials, following RequestToken pages until
// the server returns no token. A server with fewer serials than asked
// (InsufficientSerialNumbers) gives what it has: the pool is shorter; with
// none at all the request is refused (ErrInsufficient). The pool id is
// "open-scs:" + the request id (Open-SCS collections are not unique per
// request).
func (c *Client) RequestPool(ctx context.Context, r upstream.PoolRequest) (upstream.Pool, error) {
	if r.Count <= 0 || r.ID == "" {
		return upstream.Pool{}, fmt.Errorf("openscs: request serials: count %d, request id %q: want > 0 and non-empty", r.Count, r.ID)
	}
	method := c.requestMethod()
	p := upstream.Pool{ID: "open-scs:" + r.ID, RequestID: r.ID, GTIN: r.GTIN}
	err := c.with(ctx, "request serials", func(ctx context.Context, s *session) error {
		count := uint32(r.Count)
		if s.maxRequest > 0 && count > s.maxRequest {
			count = s.maxRequest
		}
		crit := KeyValuesVariant(s.ns, c.criteria(r.GTIN, r.Lot, r.Order, r.ID))
		token := ""
		for page := 0; ; page++ {
			if page >= c.cfg.MaxPages {
				return fmt.Errorf("%w: %s: still a RequestToken after %d pages", upstream.ErrBadResponse, method, page)
			}
			st, out, err := s.call(ctx, s.pool, method, ua.MustVariant(""), ua.MustVariant(count), ua.MustVariant(s.format), crit, ua.MustVariant(token))
			if err != nil {
				return err
			}
			if st != StatusNoError && st != StatusInsufficientSerialNumbers {
				return statusError(method, st)
			}
			var coll *SNCollection
			if len(out) > 1 {
				if coll, err = ArgSNCollection(out[1], "SNCollection"); err != nil {
					return fmt.Errorf("%w: %s: %v", upstream.ErrBadResponse, method, err)
				}
				p.Serials = append(p.Serials, coll.SerialNumbers...)
			}
			if len(p.Serials) > r.Count {
				return fmt.Errorf("%w: %s: %d serials for a request of %d", upstream.ErrBadResponse, method, len(p.Serials), r.Count)
			}
			if st == StatusInsufficientSerialNumbers {
				if len(p.Serials) == 0 {
					return fmt.Errorf("%w: %w: %s for GTIN %s", upstream.ErrRejected, ErrInsufficient, method, r.GTIN)
				}
				c.o.Logger.Warn("open-scs: fewer serials than asked", "gtin", r.GTIN, "asked", r.Count, "got", len(p.Serials))
				return nil
			}
			if len(out) > 2 {
				if token, err = ArgString(out[2], "ReturnedRequestToken"); err != nil {
					return fmt.Errorf("%w: %s: %v", upstream.ErrBadResponse, method, err)
				}
			} else {
				token = ""
			}
			if token == "" {
				return nil
			}
		}
	})
	if err != nil {
		return upstream.Pool{}, err
	}
	if len(p.Serials) == 0 {
		return upstream.Pool{}, fmt.Errorf("openscs: request serials: %w: no serials and no error", upstream.ErrBadResponse)
	}
	return p, nil
}

// ReturnSerials hands serials back with SNReturnAllocated (or
// SNReturnUnallocated), in parts of at most MaxSNReturnable. The method
// answers for the whole collection, so a refused part is split until each
// refused serial is found (upstream.Bisect); the others are taken. Open-SCS
// has no idempotency key: id only names the parts in logs.
func (c *Client) ReturnSerials(ctx context.Context, id, gtin string, serials []string) (upstream.ReturnResult, error) {
	var all upstream.ReturnResult
	method := c.returnMethod()
	var maxRet uint32
	if err := c.with(ctx, "return serials", func(ctx context.Context, s *session) error { maxRet = s.maxReturn; return nil }); err != nil {
		return all, err
	}
	step := len(serials)
	if maxRet > 0 {
		step = int(maxRet)
	}
	for start := 0; start < len(serials); start += step {
		part := serials[start:min(start+step, len(serials))]
		res, err := upstream.Bisect(ctx, id, part, func(ctx context.Context, part []string, key string) error {
			return c.with(ctx, "return serials", func(ctx context.Context, s *session) error {
				coll := &SNCollection{ID: key, Description: "returned unused by line " + c.o.Line, State: Allocated, SerialNumbers: part}
				if method == "SNReturnUnallocated" {
					coll.State = Unallocated
				}
				st, _, err := s.call(ctx, s.pool, method, SNCollectionVariant(s.ns, coll), KeyValuesVariant(s.ns, c.criteria(gtin, "", "", "")), ua.MustVariant(s.format))
				if err != nil {
					return err
				}
				if st != StatusNoError {
					return statusError(method, st)
				}
				return nil
			})
		})
		all.Accepted = append(all.Accepted, res.Accepted...)
		all.Refused = append(all.Refused, res.Refused...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

// Health reads the server's ServerStatus/State: Running (0) is up.
func (c *Client) Health(ctx context.Context) error {
	return c.with(ctx, "health", func(ctx context.Context, s *session) error {
		v, err := s.cl.Node(ua.NewNumericNodeID(0, id.Server_ServerStatus_State)).Value(ctx)
		if err != nil {
			return err
		}
		if st, ok := v.Value().(int32); ok && st != int32(ua.ServerStateRunning) {
			return fmt.Errorf("%w: server state %s", upstream.ErrUnavailable, ua.ServerState(st))
		}
		return nil
	})
}
