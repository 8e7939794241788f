package reconcile

import "errors"

// Sentinel errors; match with errors.Is.
var (
	// ErrUnbalanced: drawn != commissioned + rejected + sampled + returned + uncertain.
	ErrUnbalanced = errors.New("reconcile: batch does not balance")
	// ErrInvalid: bad input (shift boundaries, empty signature fields).
	ErrInvalid = errors.New("reconcile: invalid input")
)
