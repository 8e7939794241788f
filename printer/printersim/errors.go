package printersim

import "errors"

// Sentinel errors.
var (
	// ErrClosed: the server was closed.
	ErrClosed = errors.New("printersim: closed")
	// ErrBadOptions: Options failed validation.
	ErrBadOptions = errors.New("printersim: bad options")
)
