package auth_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/serialine/serialine/line/auth"
)

// BenchmarkLogin: one login (argon2id check with the default parameters,
// t=3 m=64MiB p=4, plus the audit append) — the price of each password
// check at login and e-signature.
func BenchmarkLogin(b *testing.B) {
	a := &memAudit{}
	s, first, err := auth.Open(context.Background(), auth.Options{Path: filepath.Join(b.TempDir(), "u.db"), Audit: a})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Login(context.Background(), first.User, first.Password, ""); err != nil {
			b.Fatal(err)
		}
	}
}
