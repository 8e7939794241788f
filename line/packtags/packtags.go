// Package packtags exposes the line's PackML state and counters as OPC UA
// PackTags (after OMAC PackML / ISA-TR88.00.02) for the plant's SCADA, using
// gopcua v0.8.0's server package.
//
// Limits of that server: security policy None only (anonymous sessions),
// and a few lines logged with the standard log package at start. Put the
// endpoint on the control network only, read-only by design: every node
// is read-only; commands go through the authenticated HTTP API.
//
// Nodes (namespace "urn:serialine:packtags", string node ids):
//
//	PackTags.Status.StateCurrent        Int32   PackML state number (Execute = 6, Held = 11, …)
//	PackTags.Status.StateCurrentName    String  PackML state name
//	PackTags.Status.UnitModeCurrent     Int32   1 = Production
//	PackTags.Status.CurMachSpeed        Float   units per minute (recent)
//	PackTags.Status.MachSpeed           Float   same (no separate set-point)
//	PackTags.Admin.ProdProcessedCount   Int32   units decided in the current batch (good + rejected)
//	PackTags.Admin.ProdDefectiveCount   Int32   rejected units in the current batch
//	PackTags.Admin.ProdGoodCount        Int32   commissioned units in the current batch
//	PackTags.Admin.AlarmCount           Int32   active or unacknowledged alarms
//	Serialine.BatchID                   String  current batch
//	Serialine.BatchTarget               Int32   its target quantity
//	Serialine.PrinterQueue              Int32   printer queue depth
//	Serialine.PoolAvailable             Int32   serials available for the batch's GTIN
//	Serialine.DevicesDown               Int32   devices whose link is not up
package packtags

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"

	"github.com/serialine/serialine/line/api"
)

// Namespace is the OPC UA namespace URI of the PackTags nodes.
const Namespace = "urn:serialine:packtags"

// StateNumber returns the PackML state number of ISA-TR88.00.02 for a
// state name (0 = Undefined for an unknown name).
func StateNumber(state string) int32 { return stateNumbers[state] }

var stateNumbers = map[string]int32{
	"Undefined": 0, "Clearing": 1, "Stopped": 2, "Starting": 3, "Idle": 4, "Suspended": 5, "Execute": 6,
	"Stopping": 7, "Aborting": 8, "Aborted": 9, "Holding": 10, "Held": 11, "Unholding": 12, "Suspending": 13,
	"Unsuspending": 14, "Resetting": 15, "Completing": 16, "Complete": 17,
}

// Source is what the PackTags read; api.Controller satisfies it.
type Source interface {
	Status(ctx context.Context) (api.Status, error)
}

// Options configures Start.
type Options struct {
	// Source gives the line status; required.
	Source Source
	// Addr is the listen address "host:port"; port 0 picks a free port.
	Addr string
	// Interval is how often the status is polled and subscribers are
	// notified of changes; default 1s.
	Interval time.Duration
	// Logger receives the OPC UA server's log; nil discards.
	Logger *slog.Logger
}

// Server is a running PackTags OPC UA server.
type Server struct {
	o        Options
	endpoint string
	srv      *server.Server
	ns       *server.NodeNameSpace
	nodes    map[string]*server.Node
	log      *slog.Logger

	mu   sync.Mutex
	vals map[string]any

	cancel context.CancelFunc
	done   chan struct{}
}

type tag struct {
	name string
	zero any
}

var tags = []tag{
	{"PackTags.Status.StateCurrent", int32(0)},
	{"PackTags.Status.StateCurrentName", "Undefined"},
	{"PackTags.Status.UnitModeCurrent", int32(1)},
	{"PackTags.Status.CurMachSpeed", float32(0)},
	{"PackTags.Status.MachSpeed", float32(0)},
	{"PackTags.Admin.ProdProcessedCount", int32(0)},
	{"PackTags.Admin.ProdDefectiveCount", int32(0)},
	{"PackTags.Admin.ProdGoodCount", int32(0)},
	{"PackTags.Admin.AlarmCount", int32(0)},
	{"Serialine.BatchID", ""},
	{"Serialine.BatchTarget", int32(0)},
	{"Serialine.PrinterQueue", int32(0)},
	{"Serialine.PoolAvailable", int32(0)},
	{"Serialine.DevicesDown", int32(0)},
}

// Tags lists the node names (string node ids) served.
func Tags() []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.name
	}
	return out
}

type uaLog struct{ l *slog.Logger }

func (u uaLog) Debug(msg string, args ...any) { u.l.Debug("opcua: " + fmt.Sprintf(msg, args...)) }
func (u uaLog) Info(msg string, args ...any)  { u.l.Debug("opcua: " + fmt.Sprintf(msg, args...)) }
func (u uaLog) Warn(msg string, args ...any)  { u.l.Info("opcua: " + fmt.Sprintf(msg, args...)) }
func (u uaLog) Error(msg string, args ...any) {
	if strings.HasPrefix(msg, "Duplicate reference type") {
		// gopcua v0.8.0 reports these for its own standard namespace at
		// every start; they are not ours to fix and say nothing.
		u.l.Debug("opcua: " + fmt.Sprintf(msg, args...))
		return
	}
	u.l.Warn("opcua: " + fmt.Sprintf(msg, args...))
}

// Start serves the PackTags until ctx ends or Close is called. It reads
// the status once before returning (an error there is returned).
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Source == nil {
		return nil, fmt.Errorf("packtags: Options.Source is nil: %w", ErrOptions)
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr, err := freeAddr(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("packtags: listen %s: %w", o.Addr, err)
	}
	host, ps, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(ps)
	s := &Server{o: o, log: log, nodes: map[string]*server.Node{}, vals: map[string]any{}, done: make(chan struct{}),
		endpoint: "opc.tcp://" + net.JoinHostPort(host, strconv.Itoa(port))}
	for _, t := range tags {
		s.vals[t.name] = t.zero
	}
	s.srv = server.New(
		server.EndPoint(host, port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.ServerName("Serialine PackTags"),
		server.ManufacturerName("Serialine"),
		server.ProductName("Serialine"),
		server.SetLogger(uaLog{log}),
	)
	s.ns = server.NewNodeNameSpace(s.srv, Namespace)
	root, _ := s.srv.Namespace(0)
	objs := s.ns.Objects()
	root.Objects().AddRef(objs, id.HasComponent, true)
	for _, t := range tags {
		name := t.name
		n := s.ns.AddNewVariableStringNode(name, func() *ua.DataValue {
			s.mu.Lock()
			v := s.vals[name]
			s.mu.Unlock()
			return server.DataValueFromValue(v)
		})
		// read-only, and said so to browsing clients (gopcua treats a node
		// without access levels as writable)
		ro := server.DataValueFromValue(uint8(ua.AccessLevelTypeCurrentRead))
		n.SetAttribute(ua.AttributeIDAccessLevel, ro)
		n.SetAttribute(ua.AttributeIDUserAccessLevel, ro)
		objs.AddRef(n, id.HasComponent, true)
		s.nodes[name] = n
	}
	// Refuse every Write before the server registers its own handler
	// (RegisterHandler keeps the first one): gopcua v0.8.0's Write lets
	// anonymous clients overwrite nodes of the server's namespace 0 and
	// dereferences a nil namespace for an unknown namespace index, which
	// would crash the whole controller.
	s.srv.RegisterHandler(id.WriteRequest_Encoding_DefaultBinary, refuseWrites)
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	if err := s.srv.Start(lctx); err != nil {
		cancel()
		return nil, fmt.Errorf("packtags: start %s: %w", s.endpoint, err)
	}
	s.cancel = cancel
	go s.loop(lctx)
	log.Info("packtags OPC UA server listening", "endpoint", s.endpoint)
	return s, nil
}

// refuseWrites answers every OPC UA Write with BadNotWritable: the
// PackTags are read-only, commands go through the authenticated API.
func refuseWrites(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
	req, ok := r.(*ua.WriteRequest)
	if !ok {
		return nil, ua.StatusBadRequestTypeInvalid
	}
	results := make([]ua.StatusCode, len(req.NodesToWrite))
	for i := range results {
		results[i] = ua.StatusBadNotWritable
	}
	var handle uint32
	if req.RequestHeader != nil {
		handle = req.RequestHeader.RequestHandle
	}
	return &ua.WriteResponse{
		ResponseHeader: &ua.ResponseHeader{Timestamp: time.Now(), RequestHandle: handle, ServiceResult: ua.StatusOK,
			ServiceDiagnostics: &ua.DiagnosticInfo{}, StringTable: []string{}, AdditionalHeader: ua.NewExtensionObject(nil)},
		Results:         results,
		DiagnosticInfos: []*ua.DiagnosticInfo{},
	}, nil
}

// Endpoint is the server's URL, opc.tcp://host:port.
func (s *Server) Endpoint() string { return s.endpoint }

// NodeID returns the node id of a tag (see Tags) in this server.
func (s *Server) NodeID(tag string) *ua.NodeID { return ua.NewStringNodeID(s.ns.ID(), tag) }

func (s *Server) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("packtags: status", "err", err)
		}
	}
}

// Refresh reads the status now, updates the tags and notifies
// subscribers of the ones that changed. The server calls it every
// Options.Interval; tests call it to make a change visible at once.
func (s *Server) Refresh(ctx context.Context) error {
	st, err := s.o.Source.Status(ctx)
	if err != nil {
		return fmt.Errorf("packtags: status: %w", err)
	}
	v := map[string]any{}
	v["PackTags.Status.StateCurrent"] = StateNumber(st.State)
	v["PackTags.Status.StateCurrentName"] = st.State
	v["PackTags.Status.UnitModeCurrent"] = int32(1)
	v["PackTags.Status.CurMachSpeed"] = float32(st.RatePerMin)
	v["PackTags.Status.MachSpeed"] = float32(st.RatePerMin)
	v["PackTags.Admin.AlarmCount"] = int32(st.ActiveAlarms)
	v["Serialine.PrinterQueue"] = int32(st.PrinterQueue)
	down := 0
	for _, d := range st.Devices {
		if d.Link != api.LinkUp {
			down++
		}
	}
	v["Serialine.DevicesDown"] = int32(down)
	var good, bad, target int
	batch, gtin := "", ""
	if b := st.Batch; b != nil {
		good, bad, target, batch, gtin = b.Counters.Commissioned, b.Counters.Rejected, b.Target, b.ID, b.GTIN
	}
	v["PackTags.Admin.ProdProcessedCount"] = int32(good + bad)
	v["PackTags.Admin.ProdDefectiveCount"] = int32(bad)
	v["PackTags.Admin.ProdGoodCount"] = int32(good)
	v["Serialine.BatchID"] = batch
	v["Serialine.BatchTarget"] = int32(target)
	pool := 0
	for _, p := range st.Pools {
		if p.GTIN == gtin || (gtin == "" && len(st.Pools) == 1) {
			pool = p.Available
		}
	}
	v["Serialine.PoolAvailable"] = int32(pool)

	var changed []string
	s.mu.Lock()
	for k, nv := range v {
		if s.vals[k] != nv {
			s.vals[k] = nv
			changed = append(changed, k)
		}
	}
	s.mu.Unlock()
	if s.cancel != nil { // started: tell subscribers
		for _, k := range changed {
			s.srv.ChangeNotification(s.nodes[k].ID())
		}
	}
	return nil
}

// Close stops the server and its poll loop. gopcua delivers change
// notifications with a blocking send per subscription; if a stuck
// subscriber blocks the loop, Close gives up waiting after 5s.
func (s *Server) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	err := s.srv.Close()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		s.log.Warn("packtags: poll loop blocked in a change notification; not waiting for it")
	}
	return err
}

// freeAddr resolves "host:0" to a free port (gopcua's server does not
// report the port it bound). Another process could take the port between
// this check and the server's listen; Start then fails with the error.
func freeAddr(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
