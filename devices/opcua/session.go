package opcua

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
)

// Session is the connection part of an OPC UA client's config: the
// server and how the session with it is secured. The PLC client's Config
// and the Open-SCS site-server client's embed it with `yaml:",inline"`, so
// both have its keys.
type Session struct {
	// Endpoint is the server URL, opc.tcp://host:port[/path].
	Endpoint string `yaml:"endpoint"`
	// SecurityPolicy is "None" or "Basic256Sha256".
	SecurityPolicy string `yaml:"security_policy"`
	// SecurityMode is "None" (with policy None), "Sign" or
	// "SignAndEncrypt" (with Basic256Sha256).
	SecurityMode string `yaml:"security_mode"`
	// Certificate and PrivateKey are PEM/DER files of the client's
	// application instance certificate (Basic256Sha256). Empty: an
	// ephemeral self-signed certificate is generated at Connect (the
	// server must then trust it).
	Certificate string `yaml:"certificate"`
	// PrivateKey is the RSA key file for Certificate.
	PrivateKey string `yaml:"private_key"`
	// TrustedServerCerts is a certificate file (PEM or DER) or a folder
	// of them (*.der, *.pem, *.crt, *.cer): the server's application
	// instance certificate must be one of them, or Connect is refused
	// (devices.ErrUntrustedServer, permanent). Empty: the certificate the
	// server presents is accepted unchecked (a warning is logged at each
	// connect); set it in production. Only with Basic256Sha256.
	TrustedServerCerts string `yaml:"trusted_server_certs"`
	// Auth is "anonymous" or "username".
	Auth string `yaml:"auth"`
	// Username for auth "username".
	Username string `yaml:"username"`
	// Password for auth "username".
	Password string `yaml:"password"`
}

// AnonymousSession is an anonymous, security-None session with endpoint.
func AnonymousSession(endpoint string) Session {
	return Session{Endpoint: endpoint, SecurityPolicy: PolicyNone, SecurityMode: "None", Auth: AuthAnonymous}
}

// Security is the session security part of the config.
func (s Session) Security() Security {
	return Security{Policy: s.SecurityPolicy, Mode: s.SecurityMode, Certificate: s.Certificate, PrivateKey: s.PrivateKey,
		TrustedServerCerts: s.TrustedServerCerts, Auth: s.Auth, Username: s.Username, Password: s.Password}
}

// Validate reports every mistake in the session keys (paths relative to
// the config block that embeds them).
func (s Session) Validate() configs.Problems {
	var p configs.Problems
	if !strings.HasPrefix(s.Endpoint, "opc.tcp://") || len(s.Endpoint) <= len("opc.tcp://") {
		p.Add("endpoint", "must be opc.tcp://host:port, got %q", s.Endpoint)
	}
	p.Merge("", s.Security().Validate())
	return p
}

// Security is how an OPC UA client secures its session: the PLC client
// here and the other OPC UA clients of the controller (the Open-SCS site
// server driver) share it.
type Security struct {
	// Policy is "None" or "Basic256Sha256".
	Policy string
	// Mode is "None" (policy None), "Sign" or "SignAndEncrypt".
	Mode string
	// Certificate and PrivateKey are the client's application instance
	// certificate files (Basic256Sha256); empty = an ephemeral
	// self-signed certificate made at connect (the server must trust it).
	Certificate, PrivateKey string
	// TrustedServerCerts is a file or folder of the server certificates
	// accepted (Basic256Sha256); empty = not checked.
	TrustedServerCerts string
	// Auth is "anonymous" or "username".
	Auth string
	// Username and Password for auth "username".
	Username, Password string
	// AppURI is the client's application URI.
	AppURI string
}

// Validate reports every mistake (paths security_policy, security_mode,
// certificate, auth, username: the config keys of both clients).
func (s Security) Validate() configs.Problems {
	var p configs.Problems
	switch s.Policy {
	case PolicyNone:
		if s.Mode != "None" {
			p.Add("security_mode", `must be "None" with security_policy None, got %q`, s.Mode)
		}
		if s.TrustedServerCerts != "" {
			p.Add("trusted_server_certs", "only with security_policy Basic256Sha256 (policy None checks no certificate)")
		}
	case PolicyBasic256Sha256:
		if s.Mode != "Sign" && s.Mode != "SignAndEncrypt" {
			p.Add("security_mode", `must be "Sign" or "SignAndEncrypt" with Basic256Sha256, got %q`, s.Mode)
		}
		if (s.Certificate == "") != (s.PrivateKey == "") {
			p.Add("certificate", "certificate and private_key go together (both empty = ephemeral self-signed)")
		}
	default:
		p.Add("security_policy", `must be "None" or "Basic256Sha256", got %q`, s.Policy)
	}
	switch s.Auth {
	case AuthAnonymous:
	case AuthUsername:
		if s.Username == "" {
			p.Add("username", "must be set with auth username")
		}
	default:
		p.Add("auth", `must be "anonymous" or "username", got %q`, s.Auth)
	}
	return p
}

// Unchecked reports whether the session is secured without checking the
// server's certificate (Basic256Sha256 without trusted_server_certs).
func (s Security) Unchecked() bool { return s.Policy != PolicyNone && s.TrustedServerCerts == "" }

// SessionOptions asks endpoint for its endpoints, picks the one matching s
// and returns the gopcua options of a session with it (no auto-reconnect;
// timeout bounds the dial and each request). A server without a matching
// endpoint is a permanent error (devices.Permanent).
func SessionOptions(ctx context.Context, endpoint string, s Security, timeout time.Duration) ([]opcua.Option, error) {
	eps, err := opcua.GetEndpoints(ctx, endpoint, opcua.DialTimeout(timeout))
	if err != nil {
		return nil, fmt.Errorf("get endpoints: %w", err)
	}
	mode := ua.MessageSecurityModeFromString(s.Mode)
	ep, err := opcua.SelectEndpoint(eps, s.Policy, mode)
	if err != nil {
		return nil, devices.Permanent(fmt.Errorf("server offers no endpoint with security policy %s mode %s: %w", s.Policy, s.Mode, err))
	}
	if s.Policy != PolicyNone && s.TrustedServerCerts != "" {
		if err := checkServerCert(ep.ServerCertificate, s.TrustedServerCerts); err != nil {
			return nil, devices.Permanent(err)
		}
	}
	appURI := s.AppURI
	if appURI == "" {
		appURI = "urn:serialine:controller"
	}
	opts := []opcua.Option{
		opcua.AutoReconnect(false),
		opcua.RequestTimeout(timeout),
		opcua.DialTimeout(timeout),
		opcua.SessionTimeout(time.Minute),
		opcua.ApplicationURI(appURI),
	}
	tok := ua.UserTokenTypeAnonymous
	if s.Auth == AuthUsername {
		tok = ua.UserTokenTypeUserName
		opts = append(opts, opcua.AuthUsername(s.Username, s.Password))
	} else {
		opts = append(opts, opcua.AuthAnonymous())
	}
	if s.Policy != PolicyNone {
		if s.Certificate != "" {
			opts = append(opts, opcua.CertificateFile(s.Certificate), opcua.PrivateKeyFile(s.PrivateKey))
		} else {
			der, key, err := selfSigned(appURI)
			if err != nil {
				return nil, fmt.Errorf("generate client certificate: %w", err)
			}
			opts = append(opts, opcua.Certificate(der), opcua.PrivateKey(key))
		}
	}
	opts = append(opts, opcua.SecurityFromEndpoint(ep, tok))
	return opts, nil
}

// RefusedCredentials reports whether the server refused who we are (user
// identity or application certificate) rather than failing to talk: such an
// error does not go away by retrying.
func RefusedCredentials(err error) bool {
	var sc ua.StatusCode
	if !errors.As(err, &sc) {
		return false
	}
	switch sc {
	case ua.StatusBadUserAccessDenied, ua.StatusBadIdentityTokenInvalid, ua.StatusBadIdentityTokenRejected,
		ua.StatusBadCertificateInvalid, ua.StatusBadCertificateUntrusted, ua.StatusBadCertificateRevoked,
		ua.StatusBadSecurityChecksFailed:
		return true
	}
	return false
}

// checkServerCert reports whether der (the certificate, or the chain with
// the server's own certificate first, from the endpoint the client
// selected) is among the trusted certificates at path: a file or a folder
// of them. The secure channel is then opened with that certificate, so a
// server without its private key cannot complete the handshake.
func checkServerCert(der []byte, path string) error {
	trusted, err := loadCerts(path)
	if err != nil {
		return fmt.Errorf("trusted_server_certs: %w", err)
	}
	certs, err := x509.ParseCertificates(der)
	if err != nil || len(certs) == 0 {
		return fmt.Errorf("%w: the server's endpoint carries no readable certificate (%v)", devices.ErrUntrustedServer, err)
	}
	own := certs[0]
	for _, t := range trusted {
		if bytes.Equal(t.Raw, own.Raw) {
			return nil
		}
	}
	sum := sha1.Sum(own.Raw)
	return fmt.Errorf("%w: %q (SHA-1 thumbprint %X, valid until %s) is not in trusted_server_certs %s: check the server, then add its certificate there",
		devices.ErrUntrustedServer, own.Subject.String(), sum, own.NotAfter.UTC().Format(time.DateOnly), path)
}

// loadCerts reads the certificates of a file (PEM, possibly several, or
// DER) or of every *.der, *.pem, *.crt, *.cer file in a folder.
func loadCerts(path string) ([]*x509.Certificate, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if fi.IsDir() {
		files = nil
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".der", ".pem", ".crt", ".cer":
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	var out []*x509.Certificate
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var cs []*x509.Certificate
		if bytes.Contains(b, []byte("-----BEGIN")) {
			for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
				if blk.Type != "CERTIFICATE" {
					continue
				}
				c, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", f, err)
				}
				cs = append(cs, c)
			}
		} else if cs, err = x509.ParseCertificates(b); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(cs) == 0 {
			return nil, fmt.Errorf("%s: no certificate in it", f)
		}
		out = append(out, cs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no certificate file (*.der, *.pem, *.crt, *.cer) in the folder", path)
	}
	return out, nil
}
