package packtags

import "errors"

// Sentinel errors of package packtags. Every error it returns for a bad
// argument wraps one of them.
var (
	// ErrOptions: the options given are incomplete or contradictory (a
	// programming or configuration error).
	ErrOptions = errors.New("invalid options")
)
