package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are the argon2id parameters for new password hashes. Stored
// hashes carry their own parameters (PHC string format), so they can be
// raised later without invalidating old hashes.
type HashParams struct {
	// Time is the number of passes (argon2 t).
	Time uint32
	// MemoryKiB is the memory cost in KiB (argon2 m).
	MemoryKiB uint32
	// Threads is the parallelism (argon2 p).
	Threads uint8
}

// DefaultHashParams follow RFC 9106's second recommended option
// (t=3, m=64 MiB, p=4).
func DefaultHashParams() HashParams { return HashParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4} }

const (
	saltLen = 16
	keyLen  = 32

	// Limits on the parameters of a stored hash (checkPassword).
	minSaltLen   = 8 // RFC 9106 §3.1
	minKeyLen    = 16
	maxKeyLen    = 1024
	maxTime      = 100
	maxMemoryKiB = 1 << 20 // 1 GiB
)

// hashPassword returns the PHC-format argon2id hash of pw:
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash> (raw base64).
func hashPassword(rnd io.Reader, p HashParams, pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// checkPassword reports whether pw matches the PHC hash. A malformed hash
// is an error wrapping ErrCorrupt.
func checkPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("password hash: not argon2id PHC format: %w", ErrCorrupt)
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, fmt.Errorf("password hash: version %q: %w", parts[2], ErrCorrupt)
	}
	var p HashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil ||
		p.Time == 0 || p.Time > maxTime || p.Threads == 0 || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB {
		// Bounded so that a damaged or planted record cannot make one
		// login allocate gigabytes or spin for minutes.
		return false, fmt.Errorf("password hash: parameters %q (want 1<=t<=%d, 8p<=m<=%d KiB): %w", parts[3], maxTime, maxMemoryKiB, ErrCorrupt)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen {
		return false, fmt.Errorf("password hash: salt (want >= %d bytes of raw base64): %w", minSaltLen, ErrCorrupt)
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) < minKeyLen || len(want) > maxKeyLen {
		return false, fmt.Errorf("password hash: key (want %d-%d bytes of raw base64): %w", minKeyLen, maxKeyLen, ErrCorrupt)
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// generatePassword returns a random password of n characters from an
// alphabet without look-alike characters (no 0/O, 1/l/I).
func generatePassword(rnd io.Reader, n int) (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	const limit = 256 - 256%len(alphabet) // rejection sampling: no modulo bias
	out := make([]byte, 0, n)
	buf := make([]byte, 1)
	for len(out) < n {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("auth: random: %w", err)
		}
		if int(buf[0]) < limit {
			out = append(out, alphabet[int(buf[0])%len(alphabet)])
		}
	}
	return string(out), nil
}
