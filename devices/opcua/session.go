package opcua

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
)

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
