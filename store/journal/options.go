package journal

import (
	"log/slog"
	"time"
)

// Options configures Open. A nil *Options means all defaults.
type Options struct {
	// NoSync skips fsync on commit. ONLY for benchmarks and for building big
	// test fixtures: with NoSync a power cut can lose committed transitions,
	// which breaks the journal's one guarantee.
	NoSync bool

	// ReadOnly opens the file with a shared lock, runs no recovery and refuses
	// every write (ErrReadOnly). Used by `serialine journal verify|export` so
	// that checking a journal never changes it.
	ReadOnly bool

	// Now is the clock used to time-stamp transitions, batch states, audit
	// entries and outbox items. Default time.Now.
	Now func() time.Time

	// Logger receives recovery actions and commit failures. Default: discard.
	Logger *slog.Logger

	// MaxBatchSize caps how many write requests one group commit (one bbolt
	// transaction, one fsync) may carry. Default 1000.
	MaxBatchSize int

	// MaxBatchDelay is how long the committer waits for more requests after the
	// first one arrives before committing. Default 0: requests that arrive
	// while a commit is in flight are grouped into the next one, so a lone
	// caller never waits for company.
	MaxBatchDelay time.Duration

	// LockTimeout is how long Open waits for the file lock held by another
	// process. Default 2s; negative waits forever.
	LockTimeout time.Duration

	// InitialMmapSize is the address space bbolt maps up front (bytes). A
	// big map means the file rarely has to be re-mapped as it grows, which
	// would stall commits. It reserves address space, not memory. Default
	// 1 GiB; the file itself grows only as needed.
	InitialMmapSize int

	// ArchiveDir is the archive folder: Unit and Batch read archived units
	// and batches from the archive files there. "" = archived units are
	// reported as archived (ErrNotFound naming the file) but not read.
	ArchiveDir string

	// CheckSerial validates one serial on pool import. Default: the GS1 rules
	// for AI 21 (1–20 characters of GS1 character set 82).
	CheckSerial func(serial string) error

	// CheckOutbox, if set, checks each outbox item's payload in Verify (the
	// journal stores payloads as given; their format is the caller's, e.g.
	// line.CheckOutboxItem): an error is reported as a problem naming the
	// item, since a forwarder cannot send an item it cannot decode.
	CheckOutbox func(kind string, payload []byte) error
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.MaxBatchSize <= 0 {
		r.MaxBatchSize = 1000
	}
	if r.LockTimeout == 0 {
		r.LockTimeout = 2 * time.Second
	}
	if r.LockTimeout < 0 {
		r.LockTimeout = 0
	}
	if r.InitialMmapSize <= 0 {
		r.InitialMmapSize = 1 << 30
	}
	if r.CheckSerial == nil {
		r.CheckSerial = checkSerial
	}
	return r
}
