package link

import "errors"

// ErrLineTooLong is the Item error for an over-long line.
var ErrLineTooLong = errors.New("line longer than 64 KiB")

// errLinkClosed ends the reader when Close stops it (Err after Close).
var errLinkClosed = errors.New("link closed")
