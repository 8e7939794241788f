package auth

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
)

var testParams = HashParams{Time: 1, MemoryKiB: 64, Threads: 1}

func TestHashRoundTrip(t *testing.T) {
	h, err := hashPassword(rand.Reader, testParams, "s3cret-passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("format: %s", h)
	}
	for pw, want := range map[string]bool{"s3cret-passw0rd": true, "s3cret-passw0rD": false, "": false} {
		ok, err := checkPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("%q: %v %v", pw, ok, err)
		}
	}
	h2, _ := hashPassword(rand.Reader, testParams, "s3cret-passw0rd")
	if h == h2 {
		t.Error("same hash twice: salt not random")
	}
}

func TestGeneratePassword(t *testing.T) {
	p, err := generatePassword(rand.Reader, 16)
	if err != nil || len(p) != 16 || strings.ContainsAny(p, "0O1lI") {
		t.Fatalf("%q %v", p, err)
	}
	if _, err := generatePassword(bytes.NewReader(nil), 4); err == nil {
		t.Fatal("no randomness: want error")
	}
}

// FuzzCheckPassword: a stored hash of any shape is either checked or
// refused with ErrCorrupt; it never panics.
func FuzzCheckPassword(f *testing.F) {
	good, _ := hashPassword(rand.Reader, testParams, "pw")
	f.Add(good, "pw")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAA$AAAA", "x")
	f.Add("$argon2id$v=19$m=64,t=0,p=1$AAAA$AAAA", "x")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA", "x")
	f.Add("$argon2id$v=18$m=64,t=1,p=1$AAAA$AAAA", "x")
	f.Add("", "")
	f.Add("$$$$$", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		if strings.Contains(hash, "m=") {
			// keep the fuzzer from asking argon2 for gigabytes
			var m, tt, p uint64
			parts := strings.Split(hash, "$")
			if len(parts) > 3 {
				if _, err := fmtSscanf(parts[3], &m, &tt, &p); err == nil && (m > 1024 || tt > 4 || p > 4) {
					return
				}
			}
		}
		_, _ = checkPassword(hash, pw)
	})
}

func fmtSscanf(s string, m, t, p *uint64) (int, error) {
	return fmt.Sscanf(s, "m=%d,t=%d,p=%d", m, t, p)
}
