package journal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error a Journal returns wraps one of these (or a
// bbolt / OS error), so callers test them with errors.Is.
var (
	// ErrClosed is returned by any call on a Journal after Close.
	ErrClosed = errors.New("journal: closed")
	// ErrReadOnly is returned by write calls on a journal opened with Options.ReadOnly.
	ErrReadOnly = errors.New("journal: opened read-only")
	// ErrNotFound is returned when a serial, batch, pool or outbox item does not exist.
	ErrNotFound = errors.New("journal: not found")
	// ErrExists is returned when creating a batch whose ID is already taken.
	ErrExists = errors.New("journal: already exists")
	// ErrPoolRefused is wrapped by *PoolError: the pool was refused whole and nothing changed.
	ErrPoolRefused = errors.New("journal: pool refused")
	// ErrPoolEmpty is returned by Draw when the batch's GTIN has fewer available
	// serials than asked for; nothing is drawn.
	ErrPoolEmpty = errors.New("journal: not enough serials available")
	// ErrIllegalTransition is wrapped by *TransitionError: the change is not allowed by the
	// unit state machine (see doc.go); nothing was written.
	ErrIllegalTransition = errors.New("journal: illegal unit transition")
	// ErrInvalid is returned for malformed arguments (empty IDs, bad GTIN, n <= 0, unknown state…).
	ErrInvalid = errors.New("journal: invalid argument")
	// ErrCorrupt is returned when a stored record cannot be decoded (bad version,
	// truncated, checksum mismatch) or an invariant check fails.
	ErrCorrupt = errors.New("journal: corrupt record")
	// ErrVersion is returned by Open for a file written by a newer journal
	// format (and by a read-only Open of an older one, which must be migrated first).
	ErrVersion = errors.New("journal: unsupported file format version")
	// ErrDiskFull is wrapped (with the OS error) by a write whose commit failed
	// because the file system is full: nothing of it was written, and
	// everything committed before is intact. Writes succeed again once space
	// is freed.
	ErrDiskFull = errors.New("journal: disk full")
)

// UnknownSerialError is returned by Unit for a serial the journal never
// had, live or archived (as opposed to one whose archive cannot be read).
// errors.Is(err, ErrNotFound) holds.
type UnknownSerialError struct{ Serial string }

func (e *UnknownSerialError) Error() string {
	return fmt.Sprintf("%v: serial %q was never seen on this line", ErrNotFound, e.Serial)
}

// Is reports whether target is ErrNotFound.
func (e *UnknownSerialError) Is(target error) bool { return target == ErrNotFound }
