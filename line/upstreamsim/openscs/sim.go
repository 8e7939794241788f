// Package openscs is a simulated OPC 30260 Open-SCS site server: an OPC UA
// server (gopcua's server package, security policy None, anonymous and
// username tokens — the simulator accepts any username) whose address space
// has a PoolManager (OPENSCSPoolManagerObjectType) and an EventManager
// (OPENSCSEventManagerObjectType) built from the node set's facts
// (line/upstream/openscs, generated from Opc.Ua.OPENSCS.NodeSet2.xml): every
// method with its InputArguments/OutputArguments, the properties, the
// Open-SCS namespace. It issues serial numbers per GTIN (RequestToken pages
// of PageSize; InsufficientSerialNumbers past Capacity), takes them back,
// follows every serial's Open-SCS state through the pool and event methods
// (refusing a change from a state the model does not allow), and records
// every call so tests can assert on it. gopcua's server answers Call with
// BadServiceUnsupported; the simulator registers its own Call handler.
package openscs

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/server/attrs"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"

	scs "github.com/serialine/serialine/line/upstream/openscs"
)

// Options configure a Server.
type Options struct {
	// Addr to listen on, host:port ("127.0.0.1:0" = a free port).
	Addr string
	// SerialLength of the random serials (1..20). Default 12.
	SerialLength int
	// PageSize is the most serials one call returns; more come in pages
	// behind a ReturnedRequestToken. Default 500.
	PageSize int
	// Capacity is how many serials each GTIN's pool holds in all (0 =
	// unlimited); past it requests answer InsufficientSerialNumbers.
	Capacity int
	// MaxSNRequestable and MaxSNReturnable are the pool manager's
	// properties (0 = no limit). Defaults 100000 and 10000.
	MaxSNRequestable, MaxSNReturnable uint32
	// SNFormats are the formats offered (property SNFormat). Default
	// ["GS1-AI21"].
	SNFormats []string
	// RequestKey, when set, is a PoolSelectionCriteria key whose value
	// identifies a request: asked again with it, the server hands back the
	// serials it already issued for it. Default "RequestID".
	RequestKey string
	// Logger. Default: discard.
	Logger *slog.Logger
}

// Call is one method call the server answered.
type Call struct {
	Method  string
	Status  scs.Status
	Serials []string
	Context []scs.KeyValue
	At      time.Time
}

type serialRec struct {
	gtin  string
	state scs.SerialState
}

type pending struct {
	gtin, key string
	left      int
	issued    []string
}

// Server is a running simulated Open-SCS site server.
type Server struct {
	o        Options
	endpoint string
	srv      *server.Server
	ns       uint16
	methods  map[string]*scs.MethodDef // method node id string -> definition

	mu       sync.Mutex
	serials  map[string]*serialRec
	byGTIN   map[string]int
	byKey    map[string][]string // request key -> serials issued
	tokens   map[string]*pending
	calls    []Call
	refuse   map[string]scs.Status // method -> status to answer once
	tokenSeq int
	pools    int
}

// Start builds the address space and listens.
func Start(o Options) (*Server, error) {
	if o.SerialLength == 0 {
		o.SerialLength = 12
	}
	if o.SerialLength < 1 || o.SerialLength > 20 {
		return nil, fmt.Errorf("openscs sim: serial length %d: want 1..20", o.SerialLength)
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.MaxSNRequestable == 0 {
		o.MaxSNRequestable = 100000
	}
	if o.MaxSNReturnable == 0 {
		o.MaxSNReturnable = 10000
	}
	if len(o.SNFormats) == 0 {
		o.SNFormats = []string{"GS1-AI21"}
	}
	if o.RequestKey == "" {
		o.RequestKey = "RequestID"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := freePort(addr)
	if err != nil {
		return nil, fmt.Errorf("openscs sim: listen %s: %w", addr, err)
	}
	s := &Server{o: o, methods: map[string]*scs.MethodDef{}, serials: map[string]*serialRec{}, byGTIN: map[string]int{},
		byKey: map[string][]string{}, tokens: map[string]*pending{}, refuse: map[string]scs.Status{}}
	s.srv = server.New(
		server.EndPoint(host, port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.EnableAuthMode(ua.UserTokenTypeUserName),
		server.ServerName("Serialine Open-SCS site server (simulated)"),
		server.ManufacturerName("Serialine"),
		server.ProductName("Serialine"),
		server.SetLogger(uaLog{o.Logger}),
	)
	if err := s.build(); err != nil {
		return nil, err
	}
	// Registered before Start: gopcua keeps the first handler per service.
	s.srv.RegisterHandler(id.CallRequest_Encoding_DefaultBinary, s.handleCall)
	if err := s.srv.Start(context.Background()); err != nil {
		return nil, fmt.Errorf("openscs sim: start: %w", err)
	}
	s.endpoint = "opc.tcp://" + net.JoinHostPort(host, strconv.Itoa(port))
	o.Logger.Info("open-scs sim listening", "endpoint", s.endpoint)
	return s, nil
}

// Endpoint is the server's URL (opc.tcp://host:port).
func (s *Server) Endpoint() string { return s.endpoint }

// Namespace is the Open-SCS namespace index.
func (s *Server) Namespace() uint16 { return s.ns }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// freePort resolves port 0 to a free port (gopcua's server cannot report
// the port it bound).
func freePort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if ps == "0" || ps == "" {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", 0, err
		}
		_, ps, _ = net.SplitHostPort(ln.Addr().String())
		ln.Close()
	}
	port, err := strconv.Atoi(ps)
	return host, port, err
}

// uaLog adapts gopcua's printf-style server logger to slog (debug levels).
type uaLog struct{ l *slog.Logger }

func (u uaLog) log(level slog.Level, msg string, args ...any) {
	if u.l.Enabled(context.Background(), level) {
		u.l.Log(context.Background(), level, "opcua server: "+fmt.Sprintf(msg, args...))
	}
}
func (u uaLog) Debug(msg string, args ...any) { u.log(slog.LevelDebug-4, msg, args...) }
func (u uaLog) Info(msg string, args ...any)  { u.log(slog.LevelDebug-2, msg, args...) }
func (u uaLog) Warn(msg string, args ...any)  { u.log(slog.LevelDebug, msg, args...) }
func (u uaLog) Error(msg string, args ...any) { u.log(slog.LevelInfo, msg, args...) }

// build makes the address space: Objects/PoolManager and
// Objects/EventManager with every method and property of their types.
func (s *Server) build() error {
	ns := server.NewNodeNameSpace(s.srv, scs.NamespaceURI)
	s.ns = ns.ID()
	if err := scs.Register(s.ns); err != nil {
		return err
	}
	root, err := s.srv.Namespace(0)
	if err != nil {
		return err
	}
	objects := root.(*server.NodeNameSpace).Objects()
	for _, obj := range []struct {
		name, owner string
		typ         uint32
	}{{"PoolManager", "PoolManagerObjectType", scs.PoolManagerObjectTypeID}, {"EventManager", "EventManagerObjectType", scs.EventManagerObjectTypeID}} {
		on := s.node(ua.NewStringNodeID(s.ns, obj.name), ua.NodeClassObject, obj.name, nil)
		on.AddRef(s.typeNode(ns, obj.typ, obj.owner), id.HasTypeDefinition, true)
		for i := range scs.Methods {
			m := &scs.Methods[i]
			if m.Owner != obj.owner {
				continue
			}
			mid := ua.NewStringNodeID(s.ns, obj.name+"."+m.Name)
			mn := s.node(mid, ua.NodeClassMethod, m.Name, nil)
			mn.SetAttribute(ua.AttributeIDExecutable, server.DataValueFromValue(true))
			mn.SetAttribute(ua.AttributeIDUserExecutable, server.DataValueFromValue(true))
			for _, a := range []struct {
				name string
				args []scs.ArgDef
			}{{"InputArguments", m.In}, {"OutputArguments", m.Out}} {
				eos := make([]*ua.ExtensionObject, len(a.args))
				for k, d := range a.args {
					dt := ua.NewNumericNodeID(0, d.DataType)
					if d.Local {
						dt = ua.NewNumericNodeID(s.ns, d.DataType)
					}
					var dims []uint32
					if d.ValueRank == 1 {
						dims = []uint32{0}
					}
					eos[k] = ua.NewExtensionObject(&ua.Argument{Name: d.Name, DataType: dt, ValueRank: d.ValueRank, ArrayDimensions: dims,
						Description: &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: d.Description}})
				}
				an := s.node(ua.NewStringNodeID(s.ns, obj.name+"."+m.Name+"."+a.name), ua.NodeClassVariable, a.name, eos)
				an.SetAttribute(ua.AttributeIDBrowseName, server.DataValueFromValue(&ua.QualifiedName{Name: a.name}))
				mn.AddRef(an, id.HasProperty, true)
				ns.AddNode(an)
			}
			on.AddRef(mn, id.HasComponent, true)
			ns.AddNode(mn)
			s.methods[mid.String()] = m
		}
		for _, p := range scs.Properties {
			if p.Owner != obj.owner {
				continue
			}
			pn := s.node(ua.NewStringNodeID(s.ns, obj.name+"."+p.Name), ua.NodeClassVariable, p.Name, s.propValue(p.Name))
			on.AddRef(pn, id.HasProperty, true)
			ns.AddNode(pn)
		}
		ns.AddNode(on)
		objects.AddRef(on, id.Organizes, true)
	}
	return nil
}

func (s *Server) propValue(name string) any {
	switch name {
	case "MaxSNRequestable":
		return s.o.MaxSNRequestable
	case "MaxSNReturnable":
		return s.o.MaxSNReturnable
	case "MaxSNPushable":
		return uint32(0)
	case "SNFormat":
		return slices.Clone(s.o.SNFormats)
	case "PoolSelectionCriteria":
		kvs := []scs.KeyValue{{Key: "GTIN"}, {Key: "LotNumber"}, {Key: "OrderID"}, {Key: s.o.RequestKey}}
		return scs.KeyValuesVariant(s.ns, kvs).Value()
	case "MaxEvents", "MaxEPCISObjectEventSIDs":
		return uint32(10000)
	}
	return uint32(0)
}

// typeNode is the object type node (added once to the namespace).
func (s *Server) typeNode(ns *server.NodeNameSpace, typ uint32, name string) *server.Node {
	nid := ua.NewNumericNodeID(s.ns, typ)
	if n := ns.Node(nid); n != nil {
		return n
	}
	n := s.node(nid, ua.NodeClassObjectType, "OPENSCS"+name, nil)
	ns.AddNode(n)
	return n
}

// node makes a node with browse name name in the Open-SCS namespace;
// value (when not nil) is a variable's value.
func (s *Server) node(nid *ua.NodeID, class ua.NodeClass, name string, value any) *server.Node {
	a := map[ua.AttributeID]*ua.DataValue{
		ua.AttributeIDNodeClass:   server.DataValueFromValue(uint32(class)),
		ua.AttributeIDBrowseName:  server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: s.ns, Name: name}),
		ua.AttributeIDDisplayName: server.DataValueFromValue(attrs.DisplayName(name, name)),
	}
	var vf server.ValueFunc
	if value != nil {
		a[ua.AttributeIDAccessLevel] = server.DataValueFromValue(uint8(ua.AccessLevelTypeCurrentRead))
		a[ua.AttributeIDUserAccessLevel] = server.DataValueFromValue(uint8(ua.AccessLevelTypeCurrentRead))
		vf = func() *ua.DataValue { return server.DataValueFromValue(value) }
	}
	return server.NewNode(nid, a, nil, vf)
}

// Calls returns the method calls answered so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// State returns a serial's Open-SCS state (ok false if never issued).
func (s *Server) State(serial string) (scs.SerialState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.serials[serial]
	if r == nil {
		return 0, false
	}
	return r.state, true
}

// Issued returns every serial issued for gtin (any state).
func (s *Server) Issued(gtin string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, r := range s.serials {
		if r.gtin == gtin {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Counts returns how many serials are in each state.
func (s *Server) Counts() map[scs.SerialState]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[scs.SerialState]int{}
	for _, r := range s.serials {
		out[r.state]++
	}
	return out
}

// RefuseNext makes the next call of method answer st (once).
func (s *Server) RefuseNext(method string, st scs.Status) {
	s.mu.Lock()
	s.refuse[method] = st
	s.mu.Unlock()
}

// handleCall is the Call service.
func (s *Server) handleCall(sc *uasc.SecureChannel, r ua.Request, reqID uint32) (ua.Response, error) {
	req, ok := r.(*ua.CallRequest)
	if !ok {
		return nil, ua.StatusBadRequestTypeInvalid
	}
	resp := &ua.CallResponse{ResponseHeader: &ua.ResponseHeader{Timestamp: time.Now(), RequestHandle: req.RequestHeader.RequestHandle,
		ServiceDiagnostics: &ua.DiagnosticInfo{}, StringTable: []string{}, AdditionalHeader: ua.NewExtensionObject(nil)}}
	for _, m := range req.MethodsToCall {
		resp.Results = append(resp.Results, s.call(m))
	}
	return resp, nil
}

func (s *Server) call(m *ua.CallMethodRequest) *ua.CallMethodResult {
	bad := func(sc ua.StatusCode) *ua.CallMethodResult { return &ua.CallMethodResult{StatusCode: sc} }
	if m.MethodID == nil || m.ObjectID == nil {
		return bad(ua.StatusBadMethodInvalid)
	}
	def := s.methods[m.MethodID.String()]
	if def == nil {
		return bad(ua.StatusBadMethodInvalid)
	}
	if want := map[string]string{"PoolManagerObjectType": "PoolManager", "EventManagerObjectType": "EventManager"}[def.Owner]; m.ObjectID.String() != ua.NewStringNodeID(s.ns, want).String() {
		return bad(ua.StatusBadMethodInvalid)
	}
	switch {
	case len(m.InputArguments) < len(def.In):
		return bad(ua.StatusBadArgumentsMissing)
	case len(m.InputArguments) > len(def.In):
		return bad(ua.StatusBadTooManyArguments)
	}
	out, call, err := s.dispatch(def, m.InputArguments)
	if err != nil {
		s.o.Logger.Debug("open-scs sim: bad arguments", "method", def.Name, "err", err)
		return &ua.CallMethodResult{StatusCode: ua.StatusBadTypeMismatch, InputArgumentResults: []ua.StatusCode{ua.StatusBadTypeMismatch}}
	}
	call.Method, call.At = def.Name, time.Now()
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	return &ua.CallMethodResult{StatusCode: ua.StatusOK, OutputArguments: out}
}

// dispatch runs one method: its outputs, the call record, or an argument error.
func (s *Server) dispatch(def *scs.MethodDef, in []*ua.Variant) ([]*ua.Variant, Call, error) {
	s.mu.Lock()
	st, refused := s.refuse[def.Name]
	delete(s.refuse, def.Name)
	s.mu.Unlock()
	switch def.Name {
	case "SNRequestAllocated", "SNRequestUnallocated", "SNRequestUnassigned":
		count, err := scs.ArgUInt32(in[1], "Count")
		if err != nil {
			return nil, Call{}, err
		}
		format, err := scs.ArgString(in[2], "SNFormat")
		if err != nil {
			return nil, Call{}, err
		}
		crit, err := scs.ArgKeyValues(in[3], "PoolSelectionCriteria")
		if err != nil {
			return nil, Call{}, err
		}
		token, err := scs.ArgString(in[4], "RequestToken")
		if err != nil {
			return nil, Call{}, err
		}
		state := map[string]scs.SerialState{"SNRequestAllocated": scs.Allocated, "SNRequestUnallocated": scs.Unallocated, "SNRequestUnassigned": scs.Unassigned}[def.Name]
		coll := &scs.SNCollection{State: state}
		next := ""
		if !refused {
			st, next = s.request(coll, count, format, crit, token)
		}
		return []*ua.Variant{scs.StatusVariant(st), scs.SNCollectionVariant(s.ns, coll), ua.MustVariant(next)},
			Call{Status: st, Serials: coll.SerialNumbers, Context: crit}, nil
	case "SNReturnAllocated", "SNReturnUnallocated", "SNtoEncoded", "SNtoAllocated", "SNtoUnallocated":
		coll, err := scs.ArgSNCollection(in[0], "SNCollection")
		if err != nil {
			return nil, Call{}, err
		}
		crit, err := scs.ArgKeyValues(in[1], "PoolSelectionCriteria")
		if err != nil {
			return nil, Call{}, err
		}
		if _, err := scs.ArgString(in[2], "SNFormat"); err != nil {
			return nil, Call{}, err
		}
		if !refused {
			st = s.change(def.Name, coll.SerialNumbers, value(crit, "GTIN"))
		}
		return []*ua.Variant{scs.StatusVariant(st)}, Call{Status: st, Serials: coll.SerialNumbers, Context: crit}, nil
	default: // event manager: LabelCollection, SNFormat, OPENSCSEventContext
		var serials []string
		if def.Name == "SNInvalidatingEvent" {
			c, err := scs.ArgSNCollection(in[0], "SNCollection")
			if err != nil {
				return nil, Call{}, err
			}
			serials = c.SerialNumbers
		} else {
			c, err := scs.ArgLabelCollection(in[0], "LabelCollection")
			if err != nil {
				return nil, Call{}, err
			}
			serials = c.SerialNumbers
			for _, l := range c.Labels {
				if !slices.Contains(serials, l.ID) {
					serials = append(serials, l.ID)
				}
			}
		}
		if _, err := scs.ArgString(in[1], "SNFormat"); err != nil {
			return nil, Call{}, err
		}
		ctx, err := scs.ArgKeyValues(in[2], "OPENSCSEventContext")
		if err != nil {
			return nil, Call{}, err
		}
		if !refused {
			st = s.change(def.Name, serials, value(ctx, "GTIN"))
		}
		return []*ua.Variant{scs.StatusVariant(st)}, Call{Status: st, Serials: serials, Context: ctx}, nil
	}
}

func value(kvs []scs.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// request issues serials (one page) for the criteria.
func (s *Server) request(coll *scs.SNCollection, count uint32, format string, crit []scs.KeyValue, token string) (scs.Status, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.o.SNFormats, format) {
		return scs.StatusInvalidSerialNumbersFormat, ""
	}
	var p *pending
	if token != "" {
		if p = s.tokens[token]; p == nil {
			return scs.StatusInvalidRequestToken, ""
		}
		delete(s.tokens, token)
	} else {
		gtin := value(crit, "GTIN")
		if len(gtin) != 14 {
			return scs.StatusInvalidSelectionCriteria, ""
		}
		for _, kv := range crit {
			switch kv.Key {
			case "GTIN", "LotNumber", "OrderID", s.o.RequestKey:
			default:
				return scs.StatusInvalidSelectionCriteria, ""
			}
		}
		if count == 0 || count > s.o.MaxSNRequestable {
			return scs.StatusInvalidSelectionCriteria, ""
		}
		key := value(crit, s.o.RequestKey)
		p = &pending{gtin: gtin, key: key, left: int(count)}
		if key != "" {
			p.issued = slices.Clone(s.byKey[key]) // a repeated request: the same serials first
		}
		s.pools++
	}
	coll.ID = fmt.Sprintf("POOL-%06d", s.pools)
	coll.AssociatedPoolID = "GTIN-" + p.gtin
	n := min(p.left, s.o.PageSize)
	var page []string
	for len(page) < n && len(p.issued) > 0 {
		page, p.issued = append(page, p.issued[0]), p.issued[1:]
	}
	insufficient := false
	for len(page) < n {
		if s.o.Capacity > 0 && s.byGTIN[p.gtin] >= s.o.Capacity {
			insufficient = true
			break
		}
		v := s.generate()
		s.serials[v] = &serialRec{gtin: p.gtin, state: coll.State}
		s.byGTIN[p.gtin]++
		if p.key != "" {
			s.byKey[p.key] = append(s.byKey[p.key], v)
		}
		page = append(page, v)
	}
	coll.SerialNumbers = page
	p.left -= len(page)
	if insufficient {
		return scs.StatusInsufficientSerialNumbers, ""
	}
	if p.left == 0 {
		return scs.StatusNoError, ""
	}
	s.tokenSeq++
	next := fmt.Sprintf("T%d", s.tokenSeq)
	s.tokens[next] = p
	return scs.StatusNoError, next
}

const alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// generate returns a random serial never issued before. s.mu is held.
func (s *Server) generate() string {
	for {
		b := make([]byte, s.o.SerialLength)
		for i := range b {
			k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
			b[i] = alphabet[k.Int64()]
		}
		if v := string(b); s.serials[v] == nil {
			return v
		}
	}
}

// transitions: method -> target state and the states it may come from
// (the target itself included: a repeated report is not an error).
var transitions = map[string]struct {
	to   scs.SerialState
	from []scs.SerialState
}{
	"SNReturnAllocated":       {scs.Unallocated, []scs.SerialState{scs.Allocated}},
	"SNReturnUnallocated":     {scs.Unassigned, []scs.SerialState{scs.Unallocated}},
	"SNtoAllocated":           {scs.Allocated, []scs.SerialState{scs.Unallocated}},
	"SNtoUnallocated":         {scs.Unallocated, []scs.SerialState{scs.Allocated}},
	"SNtoEncoded":             {scs.Encoded, []scs.SerialState{scs.Allocated}},
	"LabelsEncodingEvent":     {scs.Encoded, []scs.SerialState{scs.Allocated}},
	"SIDCommissioningEvent":   {scs.Commissioned, []scs.SerialState{scs.Encoded}},
	"LabelsScrappingEvent":    {scs.LabelScrapped, []scs.SerialState{scs.Encoded}},
	"LabelsSamplingEvent":     {scs.LabelSampled, []scs.SerialState{scs.Encoded}},
	"SIDInspectingEvent":      {scs.Sampled, []scs.SerialState{scs.Commissioned}},
	"LabelsInspectingEvent":   {scs.Encoded, []scs.SerialState{scs.Encoded}},
	"SIDDecommissioningEvent": {scs.Inactive, []scs.SerialState{scs.Commissioned, scs.Sampled}},
	"SIDDestroyingEvent":      {scs.Destroyed, []scs.SerialState{scs.Commissioned, scs.Sampled, scs.Inactive}},
	"SIDShippingEvent":        {scs.Released, []scs.SerialState{scs.Commissioned}},
	"SNInvalidatingEvent":     {scs.SNInvalid, []scs.SerialState{scs.Unassigned, scs.Unallocated, scs.Allocated}},
}

// change moves every serial (all or none) to the method's target state.
func (s *Server) change(method string, serials []string, gtin string) scs.Status {
	t, ok := transitions[method]
	if !ok {
		return scs.StatusUnableToAcceptSIDEvents
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range serials {
		r := s.serials[v]
		if r == nil || (gtin != "" && r.gtin != gtin) || (r.state != t.to && !slices.Contains(t.from, r.state)) {
			return scs.StatusInvalidSerialNumberCollection
		}
	}
	for _, v := range serials {
		s.serials[v].state = t.to
	}
	return scs.StatusNoError
}
