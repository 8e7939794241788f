package plcsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/server/attrs"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/opcua"
)

// node kinds served in namespace 1
type nodeKind int

const (
	kSeq nodeKind = iota + 1
	kPresent
	kPLCHB
	kCtlHB
	kDecision
	kConfirmation
	kLineStop
	kLight
	kHorn
)

type nodeInfo struct {
	kind nodeKind
	slot uint64
	name string
}

func checkNamespace(m opcua.NodeMap) error {
	for _, s := range []string{m.ProductSeq, m.ProductPresent, m.PLCHeartbeat, m.ControllerHeartbeat,
		fmt.Sprintf(m.Decisions, 0), fmt.Sprintf(m.Confirmations, 0), m.LineStop, m.Light, m.Horn} {
		if s == "" {
			continue
		}
		n, err := ua.ParseNodeID(s)
		if err != nil {
			return fmt.Errorf("plcsim: node %q: %w", s, err)
		}
		if n.Namespace() != 1 || n.Type() != ua.NodeIDTypeString {
			return fmt.Errorf("plcsim: node %q: the simulator serves string node ids in namespace 1 only", s)
		}
	}
	return nil
}

// uaLog adapts gopcua's printf-style server logger to slog.
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

type uaServer struct {
	s        *Sim
	host     string
	port     int
	nodes    map[string]nodeInfo // key: node id string
	keys     []string
	ids      map[string]*ua.NodeID
	decision map[uint64]uint64

	px       *proxy
	pubHosts []string // host names the public endpoint is advertised under
	pubPort  int

	mu     sync.Mutex
	srv    *server.Server
	ns     *simNS
	cancel context.CancelFunc

	dmu   sync.Mutex
	dirty map[string]struct{}
	sig   chan struct{}
	stopN context.CancelFunc
	doneN chan struct{}
}

// StartOPCUA serves OPC UA (security policy None; anonymous and username
// tokens — the simulator accepts any username/password) on addr
// ("127.0.0.1:0" picks a free port) and returns the endpoint URL
// (opc.tcp://host:port). gopcua's server logs through the sim's logger,
// except a few lines it prints with the standard log package.
func (s *Sim) StartOPCUA(addr string) (string, error) {
	a, err := freeAddr(addr)
	if err != nil {
		return "", fmt.Errorf("plcsim: opcua listen %s: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(a)
	inner, err := freeAddr(net.JoinHostPort("127.0.0.1", "0"))
	if err != nil {
		return "", fmt.Errorf("plcsim: opcua: %w", err)
	}
	_, ps, _ := net.SplitHostPort(inner)
	port, _ := strconv.Atoi(ps)
	pubPort, _ := strconv.Atoi(strings.TrimPrefix(a[strings.LastIndex(a, ":"):], ":"))
	u := &uaServer{s: s, host: "127.0.0.1", port: port, px: newProxy(a, inner), pubPort: pubPort, pubHosts: advertised(host), nodes: map[string]nodeInfo{}, ids: map[string]*ua.NodeID{},
		decision: map[uint64]uint64{}, dirty: map[string]struct{}{}, sig: make(chan struct{}, 1), doneN: make(chan struct{})}
	m := s.nodes
	add := func(key string, k nodeKind, slot uint64) {
		if key == "" {
			return
		}
		n, _ := ua.ParseNodeID(key)
		u.nodes[n.String()] = nodeInfo{kind: k, slot: slot, name: n.StringID()}
		u.ids[key] = n
		u.ids[n.String()] = n
		u.keys = append(u.keys, n.String())
	}
	add(m.ProductSeq, kSeq, 0)
	add(m.ProductPresent, kPresent, 0)
	add(m.PLCHeartbeat, kPLCHB, 0)
	add(m.ControllerHeartbeat, kCtlHB, 0)
	for i := range m.Slots {
		add(fmt.Sprintf(m.Decisions, i), kDecision, uint64(i))
		add(fmt.Sprintf(m.Confirmations, i), kConfirmation, uint64(i))
	}
	add(m.LineStop, kLineStop, 0)
	add(m.Light, kLight, 0)
	add(m.Horn, kHorn, 0)
	if err := u.start(); err != nil {
		return "", err
	}
	if err := u.px.up(); err != nil {
		u.stopServer()
		return "", fmt.Errorf("plcsim: opcua listen %s: %w", a, err)
	}
	nctx, cancel := context.WithCancel(context.Background())
	u.stopN = cancel
	go u.notifier(nctx)
	s.mu.Lock()
	s.uaSrv = u
	s.mu.Unlock()
	ep := fmt.Sprintf("opc.tcp://%s", net.JoinHostPort(u.pubHosts[0], strconv.Itoa(pubPort)))
	s.log.Info("plcsim opcua listening", "endpoint", ep)
	return ep, nil
}

// selfSigned makes an ephemeral server application certificate.
func selfSigned(hosts []string) ([]byte, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	uri, _ := url.Parse("urn:serialine:plcsim")
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "serialine plcsim"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{uri},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return der, key, err
}

// advertised lists the host names to advertise for a listen host.
func advertised(host string) []string {
	switch host {
	case "", "0.0.0.0", "::":
		hs := []string{"127.0.0.1", "localhost"}
		if h, err := os.Hostname(); err == nil && h != "" {
			hs = append(hs, h)
		}
		return hs
	case "127.0.0.1", "::1":
		return []string{host, "localhost"}
	}
	return []string{host}
}

// restart takes the public port offline (down=true: listener and every
// connection closed) or brings it back; the server behind the proxy keeps
// running (building a gopcua server is expensive).
func (u *uaServer) restart(down bool) error {
	if down {
		u.px.down()
		return nil
	}
	return u.px.up()
}

func (u *uaServer) start() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	opts := []server.Option{server.EndPoint(u.host, u.port)} // listens here, behind the proxy
	// gopcua's GetEndpoints only answers for the exact URL asked for:
	// advertise the public address under the names clients may use.
	for _, h := range u.pubHosts {
		opts = append(opts, server.EndPoint(h, u.pubPort))
	}
	if u.s.o.SecureEndpoints {
		der, key, err := selfSigned(append([]string{u.host}, u.pubHosts...))
		if err != nil {
			return fmt.Errorf("plcsim: opcua certificate: %w", err)
		}
		opts = append(opts, server.Certificate(der), server.PrivateKey(key),
			server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSign),
			server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSignAndEncrypt))
	}
	srv := server.New(append(opts,
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.EnableAuthMode(ua.UserTokenTypeUserName),
		server.ServerName("serialine plcsim"),
		server.SetLogger(uaLog{u.s.log}),
	)...)
	ns := &simNS{u: u, srv: srv}
	srv.AddNamespace(ns)
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		cancel()
		return fmt.Errorf("plcsim: opcua start %s:%d: %w", u.host, u.port, err)
	}
	u.srv, u.ns, u.cancel = srv, ns, cancel
	return nil
}

func (u *uaServer) stopServer() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv != nil {
		u.srv.Close()
		u.cancel()
		u.srv, u.ns, u.cancel = nil, nil, nil
	}
}

func (u *uaServer) stop() error {
	u.px.down()
	u.stopServer()
	u.stopN()
	select {
	case <-u.doneN:
	case <-time.After(5 * time.Second):
		// gopcua's ChangeNotification blocks on a full subscription channel;
		// do not hang Close on it.
	}
	return nil
}

// changed marks node keys (as configured in the node map) for notification.
func (u *uaServer) changed(keys ...string) {
	u.dmu.Lock()
	for _, k := range keys {
		if k != "" {
			u.dirty[k] = struct{}{}
		}
	}
	u.dmu.Unlock()
	select {
	case u.sig <- struct{}{}:
	default:
	}
}

// notifier sends change notifications outside the sim's lock (gopcua reads
// the value back through Attribute while notifying, and may block).
func (u *uaServer) notifier(ctx context.Context) {
	defer close(u.doneN)
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.sig:
		}
		u.dmu.Lock()
		d := u.dirty
		u.dirty = map[string]struct{}{}
		u.dmu.Unlock()
		u.mu.Lock()
		srv := u.srv
		u.mu.Unlock()
		if srv == nil {
			continue
		}
		for k := range d {
			if n := u.ids[k]; n != nil {
				srv.ChangeNotification(n)
			}
		}
	}
}

// simNS is the sim's address space: namespace 1, one variable per node of
// the node map, values read from and written to the sim synchronously (no
// ExternalNotification channel, whose sends gopcua drops when nobody waits).
type simNS struct {
	u   *uaServer
	srv *server.Server
	id  uint16
}

func (ns *simNS) Name() string                        { return "urn:serialine:plcsim" }
func (ns *simNS) AddNode(n *server.Node) *server.Node { return n }
func (ns *simNS) Node(*ua.NodeID) *server.Node        { return nil }
func (ns *simNS) ID() uint16                          { return ns.id }
func (ns *simNS) SetID(id uint16)                     { ns.id = id }

func (ns *simNS) Objects() *server.Node {
	oid := ua.NewNumericNodeID(ns.id, id.ObjectsFolder)
	return server.NewNode(oid, map[ua.AttributeID]*ua.DataValue{
		ua.AttributeIDNodeClass:     server.DataValueFromValue(int32(ua.NodeClassObject)),
		ua.AttributeIDBrowseName:    server.DataValueFromValue(attrs.BrowseName(ns.Name())),
		ua.AttributeIDDisplayName:   server.DataValueFromValue(attrs.DisplayName(ns.Name(), ns.Name())),
		ua.AttributeIDDescription:   server.DataValueFromValue(uint32(ua.NodeClassObject)),
		ua.AttributeIDDataType:      server.DataValueFromValue(ua.NewNumericExpandedNodeID(0, id.ObjectsFolder)),
		ua.AttributeIDEventNotifier: server.DataValueFromValue(int16(0)),
	}, []*ua.ReferenceDescription{}, nil)
}

func (ns *simNS) Root() *server.Node {
	return server.NewNode(ua.NewNumericNodeID(ns.id, id.RootFolder), map[ua.AttributeID]*ua.DataValue{
		ua.AttributeIDNodeClass:   server.DataValueFromValue(int32(ua.NodeClassObject)),
		ua.AttributeIDBrowseName:  server.DataValueFromValue(attrs.BrowseName("Root")),
		ua.AttributeIDDisplayName: server.DataValueFromValue(attrs.DisplayName("Root", "")),
	}, []*ua.ReferenceDescription{}, nil)
}

func (ns *simNS) Browse(bd *ua.BrowseDescription) *ua.BrowseResult {
	if bd.NodeID.IntID() == id.RootFolder {
		oid := ua.NewNumericExpandedNodeID(ns.id, id.ObjectsFolder)
		return &ua.BrowseResult{StatusCode: ua.StatusGood, References: []*ua.ReferenceDescription{{
			ReferenceTypeID: ua.NewNumericNodeID(0, id.Organizes), IsForward: true, NodeID: oid,
			BrowseName:  &ua.QualifiedName{NamespaceIndex: ns.id, Name: "Objects"},
			DisplayName: &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: "Objects"},
			NodeClass:   ua.NodeClassObject, TypeDefinition: oid,
		}}}
	}
	if bd.NodeID.IntID() != id.ObjectsFolder {
		return &ua.BrowseResult{StatusCode: ua.StatusGood, References: []*ua.ReferenceDescription{}}
	}
	refs := make([]*ua.ReferenceDescription, 0, len(ns.u.keys))
	for _, k := range ns.u.keys {
		info := ns.u.nodes[k]
		refs = append(refs, &ua.ReferenceDescription{
			ReferenceTypeID: ua.NewNumericNodeID(0, id.HasComponent), IsForward: true,
			NodeID:         ua.NewStringExpandedNodeID(ns.id, info.name),
			BrowseName:     &ua.QualifiedName{NamespaceIndex: ns.id, Name: info.name},
			DisplayName:    &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: info.name},
			NodeClass:      ua.NodeClassVariable,
			TypeDefinition: ua.NewNumericExpandedNodeID(0, id.BaseDataVariableType),
		})
	}
	return &ua.BrowseResult{StatusCode: ua.StatusGood, References: refs}
}

// value returns the node's current value and its data type id.
func (ns *simNS) value(info nodeInfo) (any, uint32) {
	s := ns.u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch info.kind {
	case kSeq:
		switch s.nodes.SeqWidth {
		case 16:
			return uint16(s.st.LastSeq), id.UInt16
		case 32:
			return uint32(s.st.LastSeq), id.UInt32
		}
		return s.st.LastSeq, id.UInt64
	case kPresent:
		return s.present, id.Boolean
	case kPLCHB:
		return s.st.Heartbeat, id.UInt16
	case kCtlHB:
		return s.st.ControllerHeartbeat, id.UInt16
	case kDecision:
		return ns.u.decision[info.slot], id.UInt64
	case kConfirmation:
		return s.confirmUA[info.slot], id.UInt64
	case kLineStop:
		return s.st.Outputs.LineStop, id.Boolean
	case kLight:
		return uint16(s.st.Outputs.Light), id.UInt16
	case kHorn:
		return s.st.Outputs.Horn, id.Boolean
	}
	return nil, id.BaseDataType
}

func (ns *simNS) Attribute(n *ua.NodeID, a ua.AttributeID) *ua.DataValue {
	bad := func(st ua.StatusCode) *ua.DataValue {
		return &ua.DataValue{EncodingMask: ua.DataValueServerTimestamp | ua.DataValueStatusCode, ServerTimestamp: time.Now(), Status: st}
	}
	if n.IntID() == id.ObjectsFolder {
		av, err := ns.Objects().Attribute(a)
		if err != nil {
			return bad(ua.StatusBadAttributeIDInvalid)
		}
		return av.Value
	}
	info, ok := ns.u.nodes[n.String()]
	if !ok {
		return bad(ua.StatusBadNodeIDUnknown)
	}
	dv := &ua.DataValue{EncodingMask: ua.DataValueServerTimestamp | ua.DataValueStatusCode | ua.DataValueValue, ServerTimestamp: time.Now(), Status: ua.StatusOK}
	switch a {
	case ua.AttributeIDNodeID:
		dv.Value = ua.MustVariant(n)
	case ua.AttributeIDValue:
		v, _ := ns.value(info)
		dv.Value = ua.MustVariant(v)
	case ua.AttributeIDDescription:
		dv.Value = ua.MustVariant(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: ""})
	case ua.AttributeIDBrowseName:
		dv.Value = ua.MustVariant(attrs.BrowseName(info.name))
	case ua.AttributeIDDisplayName:
		dv.Value = ua.MustVariant(attrs.DisplayName(info.name, info.name))
	case ua.AttributeIDAccessLevel, ua.AttributeIDUserAccessLevel:
		level := byte(ua.AccessLevelTypeCurrentRead)
		switch info.kind {
		case kCtlHB, kDecision, kLineStop, kLight, kHorn:
			level |= byte(ua.AccessLevelTypeCurrentWrite)
		}
		dv.Value = ua.MustVariant(level)
	case ua.AttributeIDNodeClass:
		dv.Value = ua.MustVariant(int32(ua.NodeClassVariable))
	case ua.AttributeIDEventNotifier:
		dv.Value = ua.MustVariant(int16(0))
	case ua.AttributeIDDataType:
		_, t := ns.value(info)
		dv.Value = ua.MustVariant(ua.NewNumericNodeID(0, t))
	case ua.AttributeIDValueRank:
		dv.Value = ua.MustVariant(int32(-1))
	case ua.AttributeIDArrayDimensions:
		dv.Value = ua.MustVariant([]uint32{})
	default:
		return bad(ua.StatusBadAttributeIDInvalid)
	}
	return dv
}

func (ns *simNS) SetAttribute(n *ua.NodeID, a ua.AttributeID, val *ua.DataValue) ua.StatusCode {
	info, ok := ns.u.nodes[n.String()]
	if !ok {
		return ua.StatusBadNodeIDUnknown
	}
	if a != ua.AttributeIDValue {
		return ua.StatusBadNotWritable
	}
	if val == nil || val.Value == nil {
		return ua.StatusBadTypeMismatch
	}
	v := val.Value.Value()
	s := ns.u.s
	s.mu.Lock()
	st := ua.StatusOK
	switch info.kind {
	case kCtlHB:
		u, err := opcua.Uint(v, 16)
		if err != nil {
			st = ua.StatusBadTypeMismatch
			break
		}
		s.controllerBeatLocked(uint16(u))
	case kDecision:
		if f := &s.faults; f.RefuseVerdicts > 0 {
			if f.RefuseVerdictsAfter > 0 {
				f.RefuseVerdictsAfter--
			} else {
				f.RefuseVerdicts--
				st = ua.StatusBadDeviceFailure
				break
			}
		}
		u, err := opcua.Uint(v, 64)
		if err != nil {
			st = ua.StatusBadTypeMismatch
			break
		}
		seq, code := opcua.UnpackSlot(u)
		if seq%uint64(s.nodes.Slots) != info.slot {
			st = ua.StatusBadOutOfRange
			break
		}
		if err := s.setVerdictLocked(s.uaVerdicts, info.slot, seq, int(code)); err != nil {
			st = ua.StatusBadOutOfRange
			break
		}
		ns.u.decision[info.slot] = u
	case kLineStop, kHorn:
		b, err := opcua.Bool(v)
		if err != nil {
			st = ua.StatusBadTypeMismatch
			break
		}
		if info.kind == kLineStop {
			s.st.Outputs.LineStop = b
		} else {
			s.st.Outputs.Horn = b
		}
	case kLight:
		u, err := opcua.Uint(v, 16)
		if err != nil || !devices.StackLight(u).Valid() {
			st = ua.StatusBadOutOfRange
			break
		}
		s.st.Outputs.Light = devices.StackLight(u)
	default:
		st = ua.StatusBadNotWritable
	}
	s.mu.Unlock()
	if st == ua.StatusOK {
		ns.u.changed(n.String())
	}
	return st
}
