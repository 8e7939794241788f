package serialport

import "errors"

// ErrTimeout is returned (wrapped) by Port.Read when no byte arrived within
// the configured read timeout. It also satisfies os.ErrDeadlineExceeded-style
// checks via Timeout() on the wrapping error.
var ErrTimeout = errors.New("serialport: read timeout")
