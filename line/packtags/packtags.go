// Package packtags serves the line's PackML state, modes and counters to
// the plant's SCADA over OPC UA as the OPC 30050 (PackML) companion
// specification models them, on gopcua v0.8.0's server.
//
// Address space: namespace "http://opcfoundation.org/UA/PackML/" holds the
// specification's type model, generated from its node set (model_gen.go:
// data types with their DataTypeDefinition, reference types, object types
// with every instance declaration, the states and transitions of the three
// state machines, method declarations with their arguments, the
// PackMLObjects folder). Namespace "urn:serialine:packtags" holds the line:
// one PackMLBaseObjectType object organized by PackMLObjects, string node
// id "PackTags", its members named by browse path ("PackTags.Status.
// UnitModeCurrent", "PackTags.Admin.ProdProcessedCount",
// "PackTags.BaseStateMachine.MachineState.ExecuteState.CurrentState"),
// every mandatory member of the types and the optional ones listed in
// optional (address.go), plus a "Serialine" object with the line's own tags
// (batch, printer queue, pool level, devices down). What each value means
// is in line/README.md (PackTags).
//
// Commands: the state machines' methods (Start, Hold, …, Abort, Clear) and
// SetUnitMode are served by Call for sessions logged in with a user name
// and password of the line's users (line/auth), role-checked and audited
// like the HTTP API (methods.go). Everything else is read-only.
//
// Limits of gopcua v0.8.0's server, and what this package does about them,
// are listed in line/README.md.
package packtags

import (
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/auth"
)

// Namespace is the OPC UA namespace URI of the line's nodes.
const Namespace = "urn:serialine:packtags"

// PackMLNamespace is the namespace URI of the OPC 30050 type model.
const PackMLNamespace = modelURI

// StateNumber returns the PackML state number of ISA-TR88.00.02 for a
// state name (0 = Undefined for an unknown name).
func StateNumber(state string) int32 { return stateNumbers[state] }

var stateNumbers = map[string]int32{
	"Undefined": 0, "Clearing": 1, "Stopped": 2, "Starting": 3, "Idle": 4, "Suspended": 5, "Execute": 6,
	"Stopping": 7, "Aborting": 8, "Aborted": 9, "Holding": 10, "Held": 11, "Unholding": 12, "Suspending": 13,
	"Unsuspending": 14, "Resetting": 15, "Completing": 16, "Complete": 17,
}

// Source is what the PackTags read; api.Controller satisfies it. When the
// source also implements Alarms (api.Controller does), Admin.Alarm and
// Admin.Warning list the active alarms.
type Source interface {
	Status(ctx context.Context) (api.Status, error)
}

type alarmSource interface {
	Alarms(ctx context.Context, activeOnly bool) ([]api.Alarm, error)
}

// Commander is what the PackML methods need: api.Controller's Command, and
// for SetUnitMode the controller's SetUnitMode (line.Controller has both).
type Commander interface {
	Command(ctx context.Context, id string, cmd api.Command, by api.Actor) error
}

// ModeSetter changes the unit mode (api.ModeController).
type ModeSetter interface {
	SetUnitMode(ctx context.Context, mode, reason string, by api.Actor) error
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
	// Name is the browse and display name of the machine object (the
	// line's name); default "Line".
	Name string
	// DesignSpeed is the line's design (maximum) speed in units per
	// minute: Admin.MachDesignSpeed and the high end of the speeds'
	// EURange; 0 = unknown.
	DesignSpeed float32
	// Speed is the nominal speed the PLC runs the line at, units per
	// minute (Status.MachSpeed); 0 = DesignSpeed.
	Speed float32
	// Commands, when set, serves the PackML methods; they also need Auth
	// and Audit. Without it every Call is refused (BadNotSupported).
	Commands Commander
	// Auth checks the user name and password of OPC UA sessions against
	// the line's users; sessions without them (anonymous) can read only.
	Auth *auth.Service
	// Audit receives an entry for every method call, accepted or refused.
	Audit api.AuditTrail
	// Certificate and Key (DER certificate, RSA key) let clients encrypt
	// their password for the server (user token policy Basic256Sha256).
	// Without them user names and passwords are not offered: a password
	// never crosses the network in clear text.
	Certificate []byte
	Key         *rsa.PrivateKey
	// Logger receives the OPC UA server's log; nil discards.
	Logger *slog.Logger
	// Now is the clock of alarm times and state timestamps; nil =
	// time.Now.
	Now func() time.Time
}

// Server is a running PackTags OPC UA server.
type Server struct {
	o        Options
	endpoint string
	srv      *server.Server
	m        *model
	log      *slog.Logger

	mu      sync.Mutex
	vals    map[string]any // browse path -> current value
	stamp   map[string]time.Time
	acc     accCounts
	batchID string // status.Batch.ID at the last refresh (for method calls)

	sess *sessions

	cancel  context.CancelFunc
	started atomic.Bool // the server is listening: tell subscribers of changes
	done    chan struct{}
	calls   sync.WaitGroup // method calls and logins in flight
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
	if o.Commands != nil && (o.Auth == nil || o.Audit == nil) {
		return nil, fmt.Errorf("packtags: Options.Commands needs Auth and Audit: %w", ErrOptions)
	}
	if (o.Certificate == nil) != (o.Key == nil) {
		return nil, fmt.Errorf("packtags: Options.Certificate and Key go together: %w", ErrOptions)
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Name == "" {
		o.Name = "Line"
	}
	if o.Speed == 0 {
		o.Speed = o.DesignSpeed
	}
	if o.Now == nil {
		o.Now = time.Now
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
	s := &Server{o: o, log: log, vals: map[string]any{}, stamp: map[string]time.Time{}, done: make(chan struct{}),
		endpoint: "opc.tcp://" + net.JoinHostPort(host, strconv.Itoa(port)), sess: newSessions()}
	opts := []server.Option{
		server.EndPoint(host, port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.ServerName("Serialine PackTags"),
		server.ManufacturerName("Serialine"),
		server.ProductName("Serialine"),
		server.SetLogger(uaLog{log}),
	}
	if o.Key != nil {
		opts = append(opts, server.Certificate(o.Certificate), server.PrivateKey(o.Key),
			server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSignAndEncrypt),
			server.EnableAuthMode(ua.UserTokenTypeUserName))
	}
	s.srv = server.New(opts...)
	rt := newRefTypes()
	s.m = &model{}
	s.m.pk = newSpace(s.srv, modelURI, rt)
	s.m.ln = newSpace(s.srv, Namespace, rt)
	s.m.buildTypes(rt)
	s.m.buildInstance(o.Name)
	s.bindValues()
	// Refuse every Write before the server registers its own handler
	// (RegisterHandler keeps the first one): gopcua v0.8.0's Write lets
	// anonymous clients overwrite nodes of the server's namespace 0 and
	// dereferences a nil namespace for an unknown namespace index, which
	// would crash the whole controller.
	s.srv.RegisterHandler(id.WriteRequest_Encoding_DefaultBinary, refuseWrites)
	s.srv.RegisterHandler(id.ActivateSessionRequest_Encoding_DefaultBinary, s.activateSession)
	s.srv.RegisterHandler(id.CallRequest_Encoding_DefaultBinary, s.call)
	s.srv.RegisterHandler(id.TranslateBrowsePathsToNodeIDsRequest_Encoding_DefaultBinary, s.translate)
	s.srv.RegisterHandler(id.GetEndpointsRequest_Encoding_DefaultBinary, s.getEndpoints)
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	if err := s.srv.Start(lctx); err != nil {
		cancel()
		return nil, fmt.Errorf("packtags: start %s: %w", s.endpoint, err)
	}
	s.cancel = cancel
	s.started.Store(true)
	go s.loop(lctx)
	log.Info("packtags OPC UA server listening", "endpoint", s.endpoint)
	return s, nil
}

// refuseWrites answers every OPC UA Write with BadNotWritable: the
// PackTags are read-only; commands are methods.
func refuseWrites(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
	req, ok := r.(*ua.WriteRequest)
	if !ok {
		return nil, ua.StatusBadRequestTypeInvalid
	}
	results := make([]ua.StatusCode, len(req.NodesToWrite))
	for i := range results {
		results[i] = ua.StatusBadNotWritable
	}
	return &ua.WriteResponse{ResponseHeader: header(req.RequestHeader, ua.StatusOK), Results: results,
		DiagnosticInfos: []*ua.DiagnosticInfo{}}, nil
}

func header(h *ua.RequestHeader, status ua.StatusCode) *ua.ResponseHeader {
	var handle uint32
	if h != nil {
		handle = h.RequestHandle
	}
	return &ua.ResponseHeader{Timestamp: time.Now(), RequestHandle: handle, ServiceResult: status,
		ServiceDiagnostics: &ua.DiagnosticInfo{}, StringTable: []string{}, AdditionalHeader: ua.NewExtensionObject(nil)}
}

// Endpoint is the server's URL, opc.tcp://host:port.
func (s *Server) Endpoint() string { return s.endpoint }

// NodeID returns the node id of a member of the machine object by its
// browse path below it ("Status.CurMachSpeed"; "" = the machine object).
func (s *Server) NodeID(path string) *ua.NodeID {
	if path == "" {
		return ua.NewStringNodeID(s.m.ln.id, Root)
	}
	return ua.NewStringNodeID(s.m.ln.id, Root+"."+path)
}

// Tags lists the browse paths (below the machine object) of the variables
// whose value follows the line, in a stable order.
func Tags() []string { return append([]string(nil), tagPaths...) }

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

// Close stops the server, its poll loop and the method calls in flight.
// gopcua delivers change notifications with a blocking send per
// subscription; if a stuck subscriber blocks the loop, Close gives up
// waiting after 5s.
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
	s.calls.Wait()
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
