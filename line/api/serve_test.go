package api_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "serialine test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// startServe runs api.Serve in a goroutine and returns the bound address
// and the channel of its result.
func startServe(t *testing.T, ctx context.Context, o api.ServeOptions) (string, <-chan error) {
	t.Helper()
	addr := make(chan string, 1)
	done := make(chan error, 1)
	o.Addr = "127.0.0.1:0"
	o.Ready = func(a string) { addr <- a }
	go func() { done <- api.Serve(ctx, o) }()
	select {
	case a := <-addr:
		return a, done
	case err := <-done:
		t.Fatalf("serve: %v", err)
		return "", nil
	}
}

// TestServeTLS serves HTTPS when a certificate is configured, refuses a
// half configuration and a bad certificate file, and returns nil once ctx
// ends.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	if err := api.Serve(context.Background(), api.ServeOptions{Addr: "127.0.0.1:0", CertFile: certFile, Handler: h}); err == nil {
		t.Fatal("cert without key: want error")
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if err := api.Serve(context.Background(), api.ServeOptions{Addr: "127.0.0.1:0", CertFile: bad, KeyFile: keyFile, Handler: h}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("bad certificate file: %v, want an error naming it", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, done := startServe(t, ctx, api.ServeOptions{CertFile: certFile, KeyFile: keyFile, Handler: h})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + a + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("https: %d %+v", resp.StatusCode, resp.TLS)
	}
	// Go's TLS server answers plain HTTP with a 400; either way no plain content
	if r2, err := http.Get("http://" + a + "/"); err == nil {
		r2.Body.Close()
		if r2.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after cancel: %v", err)
	}
}

// TestServeShutdownEndsEventStreams: an open event stream ends when the
// server's context ends, so the shutdown completes cleanly (a stream that
// ignored it would hold the shutdown until its deadline and Serve would
// return an error).
func TestServeShutdownEndsEventStreams(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, done := startServe(t, ctx, api.ServeOptions{Handler: e.API})
	req, _ := http.NewRequest("GET", "http://"+a+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.Tokens["otto"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && sc.Text() != "event: status" {
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve with an open event stream: %v", err)
	}
	for sc.Scan() { // the stream ends
	}
}

// TestCookieSecureOverTLS: the session cookie is marked Secure when the
// login came over TLS, HttpOnly and SameSite=Strict always.
func TestCookieSecureOverTLS(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	a, done := startServe(t, ctx, api.ServeOptions{CertFile: certFile, KeyFile: keyFile, Handler: e.API})
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Post("https://"+a+"/api/v1/login", "application/json",
		strings.NewReader(`{"user":"otto","password":"`+apitest.OperatorPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == api.SessionCookie {
			cookie = ck
		}
	}
	if resp.StatusCode != 200 || cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login over TLS: %d, cookie %+v", resp.StatusCode, cookie)
	}
}
