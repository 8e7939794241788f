package packtags_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/packtags"
)

func TestLoadKeyPair(t *testing.T) {
	dir := t.TempDir()
	der, key := serverCert(t)
	_, other := serverCert(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certDER := write("c.der", der)
	certPEM := write("c.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	pkcs1 := write("k1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	pkcs8 := write("k8.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	wrong := write("kw.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}))
	for _, c := range [][2]string{{certDER, pkcs1}, {certPEM, pkcs8}} {
		got, k, err := packtags.LoadKeyPair(c[0], c[1])
		if err != nil || string(got) != string(der) || !k.Equal(key) {
			t.Errorf("%s %s: %v", c[0], c[1], err)
		}
	}
	for _, c := range []struct{ cert, key, msg string }{
		{certDER, wrong, "does not belong"}, {certDER, certPEM, "want RSA PRIVATE KEY"},
		{pkcs1, pkcs1, "want CERTIFICATE"}, {filepath.Join(dir, "none"), pkcs1, "no such file"},
	} {
		if _, _, err := packtags.LoadKeyPair(c.cert, c.key); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s %s: %v, want %q", c.cert, c.key, err, c.msg)
		}
	}
}
