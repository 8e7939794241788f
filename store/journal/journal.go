package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names.
var (
	bktMeta     = []byte("meta")     // "version" -> format version; "audit" -> head seq + hash
	bktPools    = []byte("pools")    // pool id -> poolRec
	bktPoolIdx  = []byte("poolidx")  // u32 pool index -> pool id
	bktAvail    = []byte("avail")    // nested per GTIN: u64 order -> serial (available, in order)
	bktSerials  = []byte("serials")  // serial -> serialRec (available | returned-upstream | unit)
	bktBatches  = []byte("batches")  // nested per batch id: def, ctr, hist/, units/
	bktBatchIdx = []byte("batchidx") // u32 batch index -> batch id
	bktAudit    = []byte("audit")    // u64 seq -> audit entry
	bktOutbox   = []byte("outbox")   // u64 id -> outbox item
	// Format 2 (journal lifecycle, archive.go): see migrate.go.
	bktArchives    = []byte("archives")    // u32 archive index -> archive record
	bktArchived    = []byte("archived")    // serial -> tombstone (pool index, archive index)
	bktArchBatches = []byte("archbatches") // batch id -> u32 archive index
	bktSent        = []byte("sent")        // u64 outbox id -> item acknowledged upstream, kept until its batch is archived
	keyVersion     = []byte("version")
	keyAuditHead   = []byte("audit")
	keyDef         = []byte("def")
	keyCtr         = []byte("ctr")
	bktHist        = []byte("hist")
	bktUnits       = []byte("units")
)

// allBuckets are created (if missing) on every read-write Open. A new
// top-level bucket is added here and needs no format version change.
var allBuckets = [][]byte{bktMeta, bktPools, bktPoolIdx, bktAvail, bktSerials, bktBatches, bktBatchIdx, bktAudit, bktOutbox,
	bktArchives, bktArchived, bktArchBatches, bktSent}

// Journal is the line's unit journal: one bbolt file. It is safe for
// concurrent use. Every write method returns only after its transaction is
// durable (fsynced, unless Options.NoSync); concurrent writes are grouped
// into one transaction and one fsync by a single committer goroutine owned
// by the Journal (started by Open, stopped by Close).
type Journal struct {
	db   *bolt.DB
	opt  Options
	path string

	reqs    chan *request
	closing chan struct{}
	done    chan struct{}
	once    sync.Once

	recovery RecoveryReport

	migratedFrom    int    // format version Open migrated from (0: none)
	migrationBackup string // the copy written before migrating
}

type request struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

// Open opens (creating if needed) the journal at path and, unless
// Options.ReadOnly, runs recovery (see doc.go) before returning. The report
// is available from Recovery.
func Open(path string, o *Options) (*Journal, error) {
	opt := o.withDefaults()
	bo := &bolt.Options{
		Timeout:        opt.LockTimeout,
		NoSync:         opt.NoSync,
		ReadOnly:       opt.ReadOnly,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	}
	if !opt.ReadOnly {
		bo.InitialMmapSize = opt.InitialMmapSize
	}
	if opt.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("journal: open %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, bo)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	j := &Journal{db: db, opt: opt, path: path}
	if opt.ReadOnly {
		// With the shared lock held, so no writer changes the file under
		// the check: a damaged file is an error here, not a crash in bbolt.
		err = CheckFile(path)
		if err == nil {
			err = db.View(checkVersion)
		}
		j.recovery = RecoveryReport{At: opt.Now().UTC(), Skipped: true}
	} else {
		err = j.openFormat()
		if err == nil {
			j.recovery, err = j.recover()
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if !opt.ReadOnly {
		j.reqs = make(chan *request)
		j.closing = make(chan struct{})
		j.done = make(chan struct{})
		go j.committer()
	}
	return j, nil
}

// Path returns the journal's file name.
func (j *Journal) Path() string { return j.path }

// Recovery returns what Open's recovery did.
func (j *Journal) Recovery() RecoveryReport { return j.recovery }

// Close stops the committer (waiting for the commit in flight) and closes
// the file. Writes after Close return ErrClosed. Close is idempotent.
func (j *Journal) Close() error {
	var err error
	j.once.Do(func() {
		if j.closing != nil {
			close(j.closing)
			<-j.done
		}
		err = j.db.Close()
	})
	return err
}

// update runs fn in a group-committed write transaction and returns when it
// is durable. ctx is honoured only until the request is handed to the
// committer: after that the call always waits for the definite outcome (a
// commit takes one fsync), so a caller never has to guess whether its
// transition was written.
//
// fn may be run more than once (when another request of the same group
// fails, the group is retried without it): it must derive everything from
// tx and reset any results it reports.
func (j *Journal) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if j.opt.ReadOnly {
		return ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{fn: fn, done: make(chan error, 1)} // fn nil: a Ping
	select {
	case j.reqs <- r:
	case <-j.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.done
}

func (j *Journal) committer() {
	defer close(j.done)
	var timer *time.Timer
	for {
		var first *request
		select {
		case first = <-j.reqs:
		case <-j.closing:
			return
		}
		group := []*request{first}
		if d := j.opt.MaxBatchDelay; d > 0 {
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
		wait:
			for len(group) < j.opt.MaxBatchSize {
				select {
				case r := <-j.reqs:
					group = append(group, r)
				case <-timer.C:
					break wait
				}
			}
			timer.Stop()
		}
	drain:
		for len(group) < j.opt.MaxBatchSize {
			select {
			case r := <-j.reqs:
				group = append(group, r)
			default:
				break drain
			}
		}
		// Pings (Ping) only prove that the committer takes requests.
		reqs := group[:0]
		for _, r := range group {
			if r.fn == nil {
				r.done <- nil
				continue
			}
			reqs = append(reqs, r)
		}
		if len(reqs) > 0 {
			j.commitGroup(reqs)
		}
	}
}

// Ping returns once the committer has taken a request: nil while it is
// alive and not stuck in a commit (a hung disk holds Ping until ctx ends).
// It writes nothing. A read-only journal has no committer: Ping checks
// that the file is open.
func (j *Journal) Ping(ctx context.Context) error {
	if j.opt.ReadOnly {
		return j.view(func(*bolt.Tx) error { return nil })
	}
	return j.update(ctx, nil)
}

// commitGroup runs every request of group in one transaction. A request
// whose fn fails gets its error and the group is retried without it, so
// each request sees exactly the effects of the requests before it.
func (j *Journal) commitGroup(group []*request) {
	for len(group) > 0 {
		tx, err := j.db.Begin(true)
		if err != nil {
			for _, r := range group {
				r.done <- err
			}
			return
		}
		failed := -1
		var ferr error
		for i, r := range group {
			if err := r.fn(tx); err != nil {
				failed, ferr = i, err
				break
			}
		}
		if failed >= 0 {
			_ = tx.Rollback()
			group[failed].done <- ferr
			group = append(group[:failed:failed], group[failed+1:]...)
			continue
		}
		err = tx.Commit()
		if err != nil {
			j.opt.Logger.Error("journal: commit failed", "err", err, "requests", len(group))
			if isDiskFull(err) {
				err = fmt.Errorf("%w: commit: %w", ErrDiskFull, err)
			} else {
				err = fmt.Errorf("journal: commit: %w", err)
			}
		}
		for _, r := range group {
			r.done <- err
		}
		return
	}
}

func (j *Journal) now() time.Time { return j.opt.Now().UTC() }

// view runs a read transaction. On a read-only journal (the tools' view of
// a file that may be damaged) a panic while reading is an error wrapping
// ErrCorrupt: CheckFile has made sure bbolt's own structures hold, so what
// is left is the journal's records (a missing bucket, say), and a tool
// must report those, not crash.
func (j *Journal) view(fn func(tx *bolt.Tx) error) (err error) {
	if j.opt.ReadOnly {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: reading the journal failed: %v", ErrCorrupt, r)
			}
		}()
	}
	err = j.db.View(fn)
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
