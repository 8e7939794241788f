package packtags

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/packml"
)

// nonceLen is the length of gopcua's session nonces (and ours).
const nonceLen = 32

// sessions binds OPC UA sessions (by authentication token) to users of
// the line: a session activated with a user name and password holds the
// line/auth session of that login, so idle and absolute expiry, lockout,
// disabling and password changes apply to it as to an API session.
type sessions struct {
	mu sync.Mutex
	m  map[string]*uaSession
}

type uaSession struct {
	token  string // line/auth session token ("" = anonymous)
	user   string
	nonce  []byte // the server nonce of our last ActivateSession answer
	remote string
}

func newSessions() *sessions { return &sessions{m: map[string]*uaSession{}} }

func (ss *sessions) get(key string) *uaSession {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if u := ss.m[key]; u != nil {
		c := *u
		return &c
	}
	return nil
}

func (ss *sessions) put(key string, u *uaSession) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.m[key] = u
}

// secure reports whether the channel is signed (and maybe encrypted):
// gopcua v0.8.0 does not say which security mode a server channel uses,
// but NewSessionSignature answers without a signature exactly when it is
// None.
func secure(sc *uasc.SecureChannel) bool {
	sig, _, err := sc.NewSessionSignature(nil, nil)
	return err != nil || sig != nil
}

// activateSession replaces gopcua's ActivateSession, which accepts any
// identity token without looking at it. Anonymous sessions may read;
// user name tokens are checked against the line's users (line/auth) off
// the server's single request goroutine (an argon2id check takes ~0.3 s),
// and the answer is sent when the check is done.
func (s *Server) activateSession(sc *uasc.SecureChannel, r ua.Request, reqID uint32) (ua.Response, error) {
	req, ok := r.(*ua.ActivateSessionRequest)
	if !ok {
		return nil, ua.StatusBadRequestTypeInvalid
	}
	if req.RequestHeader == nil || req.RequestHeader.AuthenticationToken == nil || s.srv.Session(req.RequestHeader) == nil {
		return nil, ua.StatusBadSessionIDInvalid
	}
	key := req.RequestHeader.AuthenticationToken.String()
	remote := ""
	if a := sc.RemoteAddr(); a != nil {
		remote = a.String()
	}
	var tok any
	if req.UserIdentityToken != nil {
		tok = req.UserIdentityToken.Value
	}
	switch t := tok.(type) {
	case nil, *ua.AnonymousIdentityToken:
		return s.activated(req, key, &uaSession{remote: remote})
	case *ua.UserNameIdentityToken:
		if s.o.Auth == nil || s.o.Key == nil {
			return nil, ua.StatusBadIdentityTokenRejected
		}
		prev := s.sess.get(key)
		s.calls.Add(1)
		go func() {
			defer s.calls.Done()
			ctx := context.Background()
			resp, err := s.login(ctx, sc, req, key, remote, t, prev)
			if err != nil {
				code := ua.StatusBadIdentityTokenRejected
				var sc ua.StatusCode
				if errors.As(err, &sc) {
					code = sc
				}
				s.log.Info("packtags: OPC UA login refused", "remote", remote, "user", t.UserName, "err", err)
				resp = &ua.ServiceFault{ResponseHeader: header(req.RequestHeader, code)}
			}
			if err := sc.SendResponseWithContext(ctx, reqID, resp); err != nil {
				s.log.Warn("packtags: send ActivateSession answer", "err", err)
			}
		}()
		return nil, nil // answered by the goroutine
	}
	return nil, ua.StatusBadIdentityTokenInvalid
}

func (s *Server) activated(req *ua.ActivateSessionRequest, key string, u *uaSession) (ua.Response, error) {
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, ua.StatusBadInternalError
	}
	u.nonce = nonce
	s.sess.put(key, u)
	return &ua.ActivateSessionResponse{ResponseHeader: header(req.RequestHeader, ua.StatusOK), ServerNonce: nonce,
		Results: []ua.StatusCode{}, DiagnosticInfos: []*ua.DiagnosticInfo{}}, nil
}

// login decrypts the password (the client encrypted it with the server's
// certificate, user token policy Basic256Sha256), checks the nonce it
// carries when the server issued it, and logs the user in.
func (s *Server) login(ctx context.Context, sc *uasc.SecureChannel, req *ua.ActivateSessionRequest, key, remote string,
	t *ua.UserNameIdentityToken, prev *uaSession) (ua.Response, error) {
	var pw string
	switch t.EncryptionAlgorithm {
	case "":
		// A password in clear text is only acceptable inside a signed and
		// encrypted channel; gopcua cannot tell Sign from SignAndEncrypt,
		// so it is refused on every channel and clients encrypt it.
		return nil, fmt.Errorf("password sent unencrypted (secure channel %v): %w", secure(sc), ua.StatusBadIdentityTokenInvalid)
	case "http://www.w3.org/2001/04/xmlenc#rsa-oaep", "http://opcfoundation.org/UA/security/rsa-oaep-sha2-256":
		var h hash.Hash = sha1.New()
		if strings.HasSuffix(t.EncryptionAlgorithm, "sha2-256") {
			h = sha256.New()
		}
		plain, err := decryptBlocks(s.o.Key, h, t.Password)
		if err != nil || len(plain) < 4 {
			return nil, fmt.Errorf("password does not decrypt: %v: %w", err, ua.StatusBadIdentityTokenInvalid)
		}
		n := int(binary.LittleEndian.Uint32(plain))
		if n < nonceLen || 4+n > len(plain) {
			return nil, fmt.Errorf("password secret of %d bytes: %w", n, ua.StatusBadIdentityTokenInvalid)
		}
		secret := plain[4 : 4+n]
		nonce := secret[n-nonceLen:]
		if prev != nil && prev.nonce != nil && string(nonce) != string(prev.nonce) {
			return nil, fmt.Errorf("password encrypted with a stale server nonce: %w", ua.StatusBadIdentityTokenInvalid)
		}
		pw = string(secret[:n-nonceLen])
	default:
		return nil, fmt.Errorf("password encryption %q not accepted: %w", t.EncryptionAlgorithm, ua.StatusBadIdentityTokenInvalid)
	}
	as, err := s.o.Auth.Login(ctx, t.UserName, pw, "OPC UA "+remote) // audited by auth
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ua.StatusBadUserAccessDenied)
	}
	return s.activated(req, key, &uaSession{token: as.Token, user: as.User, remote: remote})
}

func decryptBlocks(key *rsa.PrivateKey, h hash.Hash, c []byte) ([]byte, error) {
	size := key.Size()
	if len(c) == 0 || len(c)%size != 0 {
		return nil, fmt.Errorf("cipher text of %d bytes for a %d-byte key", len(c), size)
	}
	var out []byte
	for i := 0; i < len(c); i += size {
		p, err := rsa.DecryptOAEP(h, nil, key, c[i:i+size], nil)
		if err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	return out, nil
}

// methodCommands maps the PackML state machines' methods to the line's
// commands.
var methodCommands = map[string]string{
	"Start": api.CmdStart, "Hold": api.CmdHold, "Unhold": api.CmdUnhold, "Suspend": api.CmdSuspend,
	"Unsuspend": api.CmdUnsuspend, "ToComplete": api.CmdComplete, "Reset": api.CmdReset, "Stop": api.CmdStop,
	"Abort": api.CmdAbort, "Clear": api.CmdClear,
}

// call serves the Call service: each method is run off the server's
// request goroutine (a command may wait for the journal or the site
// server) and the answer sent when all are done.
func (s *Server) call(sc *uasc.SecureChannel, r ua.Request, reqID uint32) (ua.Response, error) {
	req, ok := r.(*ua.CallRequest)
	if !ok {
		return nil, ua.StatusBadRequestTypeInvalid
	}
	if req.RequestHeader == nil || req.RequestHeader.AuthenticationToken == nil || s.srv.Session(req.RequestHeader) == nil {
		return nil, ua.StatusBadSessionIDInvalid
	}
	key := req.RequestHeader.AuthenticationToken.String()
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		results := make([]*ua.CallMethodResult, len(req.MethodsToCall))
		for i, m := range req.MethodsToCall {
			results[i] = s.callOne(ctx, key, m)
		}
		resp := &ua.CallResponse{ResponseHeader: header(req.RequestHeader, ua.StatusOK), Results: results,
			DiagnosticInfos: []*ua.DiagnosticInfo{}}
		if err := sc.SendResponseWithContext(ctx, reqID, resp); err != nil {
			s.log.Warn("packtags: send Call answer", "err", err)
		}
	}()
	return nil, nil
}

func result(code ua.StatusCode) *ua.CallMethodResult {
	return &ua.CallMethodResult{StatusCode: code, InputArgumentResults: []ua.StatusCode{},
		InputArgumentDiagnosticInfos: []*ua.DiagnosticInfo{}, OutputArguments: []*ua.Variant{}}
}

// callOne runs one method: it finds the method and its object, checks the
// session's user and role like the API (operator for the state commands,
// supervisor for Abort and SetUnitMode; a user who must change the
// password may do nothing), runs the command and audits it, accepted or
// refused.
func (s *Server) callOne(ctx context.Context, key string, m *ua.CallMethodRequest) *ua.CallMethodResult {
	if m == nil || m.MethodID == nil || m.ObjectID == nil {
		return result(ua.StatusBadMethodInvalid)
	}
	path, ok := s.m.methods[m.MethodID.String()]
	if !ok {
		return result(ua.StatusBadMethodInvalid)
	}
	parent, name := "", path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		parent, name = path[:i], path[i+1:]
	}
	if m.ObjectID.String() != s.NodeID(parent).String() {
		return result(ua.StatusBadMethodInvalid)
	}
	if s.o.Commands == nil {
		return result(ua.StatusBadNotSupported)
	}
	cmd, isCmd := methodCommands[name]
	action := "opcua.batch." + cmd
	if name == "SetUnitMode" {
		action = "opcua.mode"
	} else if !isCmd { // SetMachSpeed, SetParameter, SetProduct: the PLC and the batch setup own those
		return result(ua.StatusBadNotSupported)
	}
	u := s.sess.get(key)
	who, role := "anonymous", ""
	if u != nil && u.user != "" {
		who = u.user
	} else if u != nil && u.remote != "" {
		who = "anonymous@" + u.remote
	}
	refuse := func(code ua.StatusCode, why string) *ua.CallMethodResult {
		if err := s.o.Audit.AppendAudit(ctx, auth.AuditEntry{Who: who, Role: role, Action: action + ".refused",
			Reason: why, After: "OPC UA " + path}); err != nil {
			s.log.Error("packtags: audit of a refused method call", "err", err)
		}
		return result(code)
	}
	if u == nil || u.token == "" {
		return refuse(ua.StatusBadUserAccessDenied, "log in with a user name and password first")
	}
	as, err := s.o.Auth.Session(u.token)
	if err != nil {
		return refuse(ua.StatusBadUserAccessDenied, "session: "+err.Error())
	}
	role = string(as.Role)
	if as.MustChange {
		return refuse(ua.StatusBadUserAccessDenied, "change your password first (HMI or API)")
	}
	need := auth.RoleOperator
	if cmd == api.CmdAbort || name == "SetUnitMode" {
		need = auth.RoleSupervisor
	}
	if !as.Role.AtLeast(need) {
		return refuse(ua.StatusBadUserAccessDenied, fmt.Sprintf("%s may not do this: needs role %s", as.Role, need))
	}
	actor := api.Actor{User: as.User, Role: string(as.Role)}
	st, err := s.o.Source.Status(ctx)
	if err != nil {
		return refuse(ua.StatusBadResourceUnavailable, "status: "+err.Error())
	}
	before := st.State
	if name == "SetUnitMode" {
		ms, ok := s.o.Commands.(ModeSetter)
		if !ok {
			return refuse(ua.StatusBadNotSupported, "the controller has no unit modes")
		}
		if len(m.InputArguments) < 1 {
			return refuse(ua.StatusBadArgumentsMissing, "SetUnitMode needs RequestedMode")
		}
		if len(m.InputArguments) > 1 {
			return refuse(ua.StatusBadTooManyArguments, "SetUnitMode takes one argument")
		}
		v, ok := m.InputArguments[0].Value().(int32)
		if !ok {
			r := refuse(ua.StatusBadInvalidArgument, fmt.Sprintf("RequestedMode must be Int32, got %T", m.InputArguments[0].Value()))
			r.InputArgumentResults = []ua.StatusCode{ua.StatusBadTypeMismatch}
			return r
		}
		mode := packml.UnitMode(v)
		if !mode.Valid() {
			r := refuse(ua.StatusBadInvalidArgument, fmt.Sprintf("RequestedMode %d is not a mode (1 Produce, 2 Maintenance, 3 Manual)", v))
			r.InputArgumentResults = []ua.StatusCode{ua.StatusBadInvalidArgument}
			return r
		}
		if err := ms.SetUnitMode(ctx, mode.String(), "OPC UA SetUnitMode", actor); err != nil {
			return refuse(statusOf(err), err.Error())
		}
		s.audit(ctx, actor, action, "OPC UA SetUnitMode", "unit mode "+st.UnitMode+" -> "+mode.String())
		_ = s.Refresh(ctx)
		return result(ua.StatusOK)
	}
	// Start may carry PackML parameters (PackMLDescriptorDataType[]): the
	// line takes its batch parameters from the batch definition only.
	if len(m.InputArguments) > 1 || (len(m.InputArguments) == 1 && cmd != api.CmdStart) {
		return refuse(ua.StatusBadTooManyArguments, name+" takes no arguments")
	}
	if len(m.InputArguments) == 1 {
		if a, ok := m.InputArguments[0].Value().([]*ua.ExtensionObject); !ok || len(a) > 0 {
			return refuse(ua.StatusBadInvalidArgument, "Start parameters are not supported (the batch definition holds them)")
		}
	}
	if st.Batch == nil {
		return refuse(ua.StatusBadInvalidState, "no batch defined")
	}
	if err := s.o.Commands.Command(ctx, st.Batch.ID, api.Command{Name: cmd, Reason: "OPC UA method " + name}, actor); err != nil {
		return refuse(statusOf(err), err.Error())
	}
	after := ""
	if st2, err := s.o.Source.Status(ctx); err == nil {
		after = st2.State
	}
	s.audit(ctx, actor, action, "OPC UA method "+name, st.Batch.ID+" state "+before+" -> "+after)
	_ = s.Refresh(ctx)
	return result(ua.StatusOK)
}

func (s *Server) audit(ctx context.Context, a api.Actor, action, reason, after string) {
	if err := s.o.Audit.AppendAudit(ctx, auth.AuditEntry{Who: a.User, Role: a.Role, Action: action, Reason: reason, After: after}); err != nil {
		s.log.Error("packtags: audit of a method call", "action", action, "err", err)
	}
}

// statusOf maps the controller's error classes onto OPC UA status codes.
func statusOf(err error) ua.StatusCode {
	switch {
	case errors.Is(err, api.ErrInvalidState), errors.Is(err, api.ErrNotFound):
		return ua.StatusBadInvalidState
	case errors.Is(err, api.ErrRefused):
		return ua.StatusBadRequestNotAllowed
	case errors.Is(err, api.ErrBadRequest):
		return ua.StatusBadInvalidArgument
	case errors.Is(err, api.ErrUnavailable):
		return ua.StatusBadResourceUnavailable
	}
	return ua.StatusBadInternalError
}
