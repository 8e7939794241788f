package packtags_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/packtags"
	"github.com/serialine/serialine/store/journal"
)

// testKeys are two RSA keys made once per test binary (2048-bit key
// generation is slow under the race detector).
var testKeys = sync.OnceValues(func() ([2]*rsa.PrivateKey, error) {
	var out [2]*rsa.PrivateKey
	for i := range out {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return out, err
		}
		out[i] = k
	}
	return out, nil
})

var certN atomic.Int64

// serverCert makes a self-signed RSA certificate for the PackTags server,
// with the first test key, then the second, alternately.
func serverCert(t *testing.T) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	key := keys[certN.Add(1)%2]
	uri, _ := url.Parse("urn:serialine:packtags:test")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Serialine PackTags"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), URIs: []*url.URL{uri},
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// commandEnv is a PackTags server with PackML methods over an API test
// environment: its users (otto operator, sam supervisor), audit trail
// (journal) and fake controller, batch B1 started.
func commandEnv(t *testing.T) (context.Context, *apitest.Env, *packtags.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op := api.Actor{User: "otto", Role: "operator"}
	if _, err := e.Fake.CreateBatch(ctx, api.BatchDef{ID: "B1", GTIN: apitest.GTIN, Lot: "L", Expiry: "281231", Target: 100}, op); err != nil {
		t.Fatal(err)
	}
	if err := e.Fake.Command(ctx, "B1", api.Command{Name: api.CmdStart}, op); err != nil {
		t.Fatal(err)
	}
	cert, key := serverCert(t)
	srv := startServer(ctx, t, packtags.Options{Source: e.Fake,
		Commands: e.Fake, Auth: e.Auth, Audit: api.JournalAudit{J: e.Journal}, Certificate: cert, Key: key})
	return ctx, e, srv
}

// login connects with a user name and password on the endpoint without
// message security: the password goes encrypted with the server's
// certificate (user token policy Basic256Sha256).
func login(ctx context.Context, t *testing.T, srv *packtags.Server, user, pw string) (*opcua.Client, error) {
	t.Helper()
	eps, err := opcua.GetEndpoints(ctx, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	ep, err := opcua.SelectEndpoint(eps, "None", ua.MessageSecurityModeNone)
	if err != nil {
		t.Fatal(err)
	}
	c, err := opcua.NewClient(srv.Endpoint(), opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false),
		opcua.AuthUsername(user, pw), opcua.SecurityFromEndpoint(ep, ua.UserTokenTypeUserName))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c, nil
}

func callMethod(ctx context.Context, t *testing.T, c *opcua.Client, srv *packtags.Server, path string, args ...any) *ua.CallMethodResult {
	t.Helper()
	obj := ""
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		obj = path[:i]
	}
	req := &ua.CallMethodRequest{ObjectID: srv.NodeID(obj), MethodID: srv.NodeID(path)}
	for _, a := range args {
		req.InputArguments = append(req.InputArguments, ua.MustVariant(a))
	}
	res, err := c.Call(ctx, req)
	if err != nil {
		t.Fatalf("call %s: %v", path, err)
	}
	return res
}

const execState = "BaseStateMachine.MachineState.ExecuteState"

// TestMethodsRoleChecked: PackML commands as OPC UA method calls, for
// sessions logged in with the line's users, with the API's roles (Abort and
// SetUnitMode for supervisors), the unit mode rules, and every call in the
// audit trail, accepted or refused.
func TestMethodsRoleChecked(t *testing.T) {
	ctx, e, srv := commandEnv(t)
	state := func() string {
		st, _ := e.Fake.Status(ctx)
		return st.State + "/" + st.UnitMode
	}
	anon := connect(ctx, t, srv.Endpoint())
	if r := callMethod(ctx, t, anon, srv, execState+".Hold"); r.StatusCode != ua.StatusBadUserAccessDenied {
		t.Fatalf("anonymous Hold: %v", r.StatusCode)
	}
	if _, err := login(ctx, t, srv, "otto", "wrong-password-1"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	otto, err := login(ctx, t, srv, "otto", apitest.OperatorPassword)
	if err != nil {
		t.Fatal(err)
	}
	sam, err := login(ctx, t, srv, "sam", apitest.SupervisorPassword)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		c     *opcua.Client
		path  string
		args  []any
		want  ua.StatusCode
		state string
	}{
		{otto, execState + ".Hold", nil, ua.StatusOK, "Held/Production"},
		{otto, "SetUnitMode", []any{int32(2)}, ua.StatusBadUserAccessDenied, "Held/Production"},
		{otto, "BaseStateMachine.Abort", nil, ua.StatusBadUserAccessDenied, "Held/Production"},
		{sam, "SetUnitMode", []any{int32(9)}, ua.StatusBadInvalidArgument, "Held/Production"},
		{sam, "SetUnitMode", []any{"maintenance"}, ua.StatusBadInvalidArgument, "Held/Production"},
		{sam, "SetUnitMode", nil, ua.StatusBadArgumentsMissing, "Held/Production"},
		{sam, "SetUnitMode", []any{int32(2)}, ua.StatusOK, "Held/Maintenance"},
		{otto, execState + ".Unhold", nil, ua.StatusBadInvalidState, "Held/Maintenance"},
		{otto, execState + ".Unhold", []any{int32(1)}, ua.StatusBadTooManyArguments, "Held/Maintenance"},
		{sam, "SetUnitMode", []any{int32(1)}, ua.StatusOK, "Held/Production"},
		{otto, execState + ".Unhold", nil, ua.StatusOK, "Execute/Production"},
		{sam, "SetUnitMode", []any{int32(3)}, ua.StatusBadInvalidState, "Execute/Production"},
		{otto, execState + ".Start", nil, ua.StatusBadInvalidState, "Execute/Production"},
		{otto, "SetMachSpeed", []any{float32(100)}, ua.StatusBadNotSupported, "Execute/Production"},
		{sam, "BaseStateMachine.Abort", nil, ua.StatusOK, "Aborted/Production"},
	}
	for i, s := range steps {
		r := callMethod(ctx, t, s.c, srv, s.path, s.args...)
		if r.StatusCode != s.want || state() != s.state {
			t.Fatalf("step %d %s%v: %v, state %s; want %v, %s", i, s.path, s.args, r.StatusCode, state(), s.want, s.state)
		}
	}
	// a method called on another object than its own
	r, err := otto.Call(ctx, &ua.CallMethodRequest{ObjectID: srv.NodeID("Status"), MethodID: srv.NodeID(execState + ".Hold")})
	if err != nil || r.StatusCode != ua.StatusBadMethodInvalid {
		t.Errorf("Hold on Status: %v %v", r, err)
	}

	var got []string
	if err := e.Journal.Audit(ctx, journal.AuditFilter{Action: "opcua.*"}, func(a journal.AuditEntry) error {
		got = append(got, a.Who+" "+a.Action+" "+a.After)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantAudit := []string{
		"anonymous@ opcua.batch.hold.refused OPC UA " + execState + ".Hold",
		"otto opcua.batch.hold B1 state Execute -> Held",
		"otto opcua.mode.refused OPC UA SetUnitMode",
		"otto opcua.batch.abort.refused OPC UA BaseStateMachine.Abort",
		"sam opcua.mode.refused OPC UA SetUnitMode",
		"sam opcua.mode.refused OPC UA SetUnitMode",
		"sam opcua.mode.refused OPC UA SetUnitMode",
		"sam opcua.mode unit mode Production -> Maintenance",
		"otto opcua.batch.unhold.refused OPC UA " + execState + ".Unhold",
		"otto opcua.batch.unhold.refused OPC UA " + execState + ".Unhold",
		"sam opcua.mode unit mode Maintenance -> Production",
		"otto opcua.batch.unhold B1 state Held -> Execute",
		"sam opcua.mode.refused OPC UA SetUnitMode",
		"otto opcua.batch.start.refused OPC UA " + execState + ".Start",
		"sam opcua.batch.abort B1 state Execute -> Aborted",
	}
	for i := range got {
		if i == 0 { // the anonymous client's address is an ephemeral port
			if strings.HasPrefix(got[0], "anonymous@127.0.0.1:") {
				got[0] = "anonymous@ " + strings.SplitN(got[0], " ", 2)[1]
			}
		}
	}
	if strings.Join(got, "\n") != strings.Join(wantAudit, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantAudit, "\n"))
	}
	n := 0
	e.Journal.Audit(ctx, journal.AuditFilter{Action: "auth.login*"}, func(a journal.AuditEntry) error {
		if strings.Contains(a.Reason, "OPC UA 127.0.0.1") {
			n++
		}
		return nil
	})
	if n != 3 { // otto refused, otto, sam
		t.Errorf("%d OPC UA logins audited, want 3", n)
	}
}

// TestMethodsWithoutCommands: a server without Options.Commands refuses
// every call, and user name logins are not offered without a certificate.
func TestMethodsWithoutCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	srv := startServer(ctx, t, packtags.Options{Source: apitest.New(nil, apitest.GTIN, 10)})
	c := connect(ctx, t, srv.Endpoint())
	if r := callMethod(ctx, t, c, srv, execState+".Start"); r.StatusCode != ua.StatusBadNotSupported {
		t.Errorf("Start: %v", r.StatusCode)
	}
	eps, err := opcua.GetEndpoints(ctx, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		for _, tok := range ep.UserIdentityTokens {
			if tok.TokenType != ua.UserTokenTypeAnonymous {
				t.Errorf("endpoint %s offers %v without a certificate", ep.SecurityPolicyURI, tok.TokenType)
			}
		}
	}
}

// TestEndpoints: with a certificate, the one endpoint offered has message
// security None (gopcua's server cannot carry more) and offers anonymous
// logins and user names whose password is encrypted with Basic256Sha256.
func TestEndpoints(t *testing.T) {
	ctx, _, srv := commandEnv(t)
	eps, err := opcua.GetEndpoints(ctx, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 1 || eps[0].SecurityMode != ua.MessageSecurityModeNone || len(eps[0].ServerCertificate) == 0 {
		t.Fatalf("endpoints: %+v", eps)
	}
	var got []string
	for _, tok := range eps[0].UserIdentityTokens {
		got = append(got, tok.TokenType.String()+" "+tok.SecurityPolicyURI)
	}
	want := "UserTokenTypeAnonymous http://opcfoundation.org/UA/SecurityPolicy#None,UserTokenTypeUserName http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
	if strings.Join(got, ",") != want {
		t.Errorf("token policies %v, want %s", got, want)
	}
}
