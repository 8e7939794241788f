package vision

import (
	"errors"
	"fmt"
)

// Sentinel errors of package vision and of every camera driver below it.
// Drivers wrap them with %w and context (which camera, which line); test
// with errors.Is.
var (
	// ErrGarbled: a line from the camera could not be understood (bad
	// framing, bad checksum, bad base64, a result not matching the
	// configured format, an out-of-range grade). Returned as a *LineError
	// naming the line and the position. The connection stays usable: the
	// caller records the fault and calls Read again; nothing was decided
	// for any unit.
	ErrGarbled = errors.New("vision: garbled camera line")

	// ErrChecksum: a DMCC frame's XOR checksum did not match. Always
	// wrapped together with ErrGarbled in a *LineError.
	ErrChecksum = errors.New("vision: checksum mismatch")

	// ErrDisconnected: the connection failed (I/O error, EOF, dial
	// failure). The driver has closed it. The caller reconnects by calling
	// Connect again, through the one backoff wrapper devices.Retry; drivers
	// never reconnect on their own.
	ErrDisconnected = errors.New("vision: camera disconnected")

	// ErrNotConnected: Read was called before Connect succeeded (or after
	// a disconnect, before the next Connect).
	ErrNotConnected = errors.New("vision: camera not connected")

	// ErrClosed: the driver was closed with Close.
	ErrClosed = errors.New("vision: camera closed")

	// ErrRefused: the camera answered a command with an error (DMCC status
	// 100–104, Keyence "ER,cmd,code"). Returned as a *ReplyError. Connect
	// returns it (wrapped) when the reader refuses its setup; it is a
	// configuration problem, not worth a quick retry.
	ErrRefused = errors.New("vision: camera refused command")

	// ErrTimeout: the camera did not answer a command within the
	// configured command timeout. Connect closes the connection and
	// returns it wrapped together with ErrDisconnected.
	ErrTimeout = errors.New("vision: camera command timed out")

	// ErrDuplicateSerial: Verifier.Expect got a serial that is already
	// awaiting its read or was decided earlier in the batch.
	ErrDuplicateSerial = errors.New("vision: serial already expected or decided")
	// ErrBadExpected: Verifier.Expect got a unit without serial or data.
	ErrBadExpected = errors.New("vision: expected unit lacks serial or data")
)

// LineError is a garbled camera line: which driver, the line (quoted,
// shortened), the 1-based byte position where it went wrong (0 = the
// line as a whole) and what was wrong. It matches ErrGarbled, and Err
// (e.g. ErrChecksum) when set, with errors.Is.
type LineError struct {
	Source string // "dmcc", "keyence", "pattern"
	Line   string // the line as received (may be shortened for messages)
	Pos    int    // 1-based byte position of the problem; 0 = whole line
	Msg    string // what is wrong
	Err    error  // optional cause (ErrChecksum, a grade error, …)
}

func (e *LineError) Error() string {
	line := e.Line
	if len(line) > 120 {
		line = line[:120] + "…"
	}
	s := fmt.Sprintf("%s: garbled camera line %q", e.Source, line)
	if e.Pos > 0 {
		s += fmt.Sprintf(" at byte %d", e.Pos)
	}
	s += ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrGarbled and the cause.
func (e *LineError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrGarbled, e.Err}
	}
	return []error{ErrGarbled}
}

// ReplyError is a command the camera refused: the command, the reader's
// status/error code and its meaning where known. It matches ErrRefused.
type ReplyError struct {
	Source  string // "dmcc", "keyence"
	Command string // the command sent, e.g. "TRIGGER ON", "LON"
	Code    int    // DMCC status (100–104) or Keyence error code
	Msg     string // meaning of the code, when known
}

func (e *ReplyError) Error() string {
	s := fmt.Sprintf("%s: camera refused %q: code %d", e.Source, e.Command, e.Code)
	if e.Msg != "" {
		s += " (" + e.Msg + ")"
	}
	return s
}

// Unwrap returns ErrRefused.
func (e *ReplyError) Unwrap() error { return ErrRefused }
