package packtags

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// LoadKeyPair reads the server's certificate (DER, or PEM "CERTIFICATE")
// and its RSA private key (PEM "RSA PRIVATE KEY" or "PRIVATE KEY") for
// Options.Certificate and Options.Key, and checks that they belong
// together.
func LoadKeyPair(certFile, keyFile string) ([]byte, *rsa.PrivateKey, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("packtags: certificate: %w", err)
	}
	if blk, _ := pem.Decode(cb); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return nil, nil, fmt.Errorf("packtags: certificate %s: PEM block %q, want CERTIFICATE", certFile, blk.Type)
		}
		cb = blk.Bytes
	}
	cert, err := x509.ParseCertificate(cb)
	if err != nil {
		return nil, nil, fmt.Errorf("packtags: certificate %s: %w", certFile, err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("packtags: key: %w", err)
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, nil, fmt.Errorf("packtags: key %s: not PEM", keyFile)
	}
	var key *rsa.PrivateKey
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
			var ok bool
			if key, ok = k.(*rsa.PrivateKey); !ok {
				err = fmt.Errorf("%T is not an RSA key (OPC UA's Basic256Sha256 needs RSA)", k)
			}
		}
	default:
		err = fmt.Errorf("PEM block %q, want RSA PRIVATE KEY or PRIVATE KEY", blk.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("packtags: key %s: %w", keyFile, err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("packtags: key %s does not belong to certificate %s", keyFile, certFile)
	}
	return cb, key, nil
}
