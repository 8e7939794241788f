package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Backup writes a consistent copy of the whole journal to w while the line
// runs: one read transaction (bbolt's tx.WriteTo), so commits go on and the
// copy is the journal as of one commit. It returns the bytes written.
func (j *Journal) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := j.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	return n, err
}

// BackupFile writes a consistent copy of the journal to path (which must
// not exist) via a temporary file that is synced and renamed, so path is
// either a whole backup or absent. The copy is a journal of the same format
// that Verify and Restore accept.
func (j *Journal) BackupFile(ctx context.Context, path string) (int64, error) {
	var n int64
	err := j.view(func(tx *bolt.Tx) error {
		return writeFileDurably(path, 0o600, false, func(w io.Writer) error {
			var err error
			n, err = tx.WriteTo(ctxWriter{ctx, w})
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("journal: backup to %s: %w", path, err)
	}
	return n, nil
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// RestoreReport says what Restore did.
type RestoreReport struct {
	Verify VerifyReport
	// Previous is where the journal file that was replaced was moved ("" if
	// there was none).
	Previous string
}

// Restore puts the backup at from in place of the journal at path: the
// backup is verified first (any problem refuses), the journal must not be
// in use (its lock is tried), the current file is kept as
// path.replaced-<UTC time>, and the backup is copied to a temporary file,
// synced and renamed to path. The restored journal runs recovery on its
// next Open as after any stop.
func Restore(ctx context.Context, from, path string, o *Options) (RestoreReport, error) {
	opt := o.withDefaults()
	var rep RestoreReport
	b, err := Open(from, &Options{ReadOnly: true, LockTimeout: opt.LockTimeout, Logger: opt.Logger})
	if err != nil {
		return rep, fmt.Errorf("journal: restore: backup %s: %w", from, err)
	}
	rep.Verify, err = b.Verify(ctx)
	b.Close()
	if err != nil {
		return rep, fmt.Errorf("journal: restore: backup %s does not verify: %w", from, err)
	}
	if _, err := os.Stat(path); err == nil {
		// The journal must not be in use: take its lock for a moment.
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond, ReadOnly: true})
		if err != nil {
			if errors.Is(err, berrors.ErrTimeout) {
				return rep, fmt.Errorf("journal: restore: %s is in use (a running controller holds it); stop it first", path)
			}
			// An unreadable journal (the reason to restore) is replaced too.
			opt.Logger.Warn("journal: restore: current journal does not open", "path", path, "err", err)
		} else {
			db.Close()
		}
		rep.Previous = fmt.Sprintf("%s.replaced-%s", path, opt.Now().UTC().Format("20060102T150405Z"))
	}
	tmp := path + ".restore"
	if err := copyFile(ctx, from, tmp); err != nil {
		return rep, fmt.Errorf("journal: restore: copy: %w", err)
	}
	if rep.Previous != "" {
		if err := os.Rename(path, rep.Previous); err != nil {
			os.Remove(tmp)
			return rep, fmt.Errorf("journal: restore: keep the current file: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return rep, fmt.Errorf("journal: restore: %w", err)
	}
	return rep, syncDir(filepath.Dir(path))
}

// copyFile copies from to the new file to (synced).
func copyFile(ctx context.Context, from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	return writeFileDurably(to, 0o600, true, func(w io.Writer) error {
		_, err := io.Copy(ctxWriter{ctx, w}, src)
		return err
	})
}

// CompactReport says what Compact did.
type CompactReport struct {
	Before, After int64 // file sizes in bytes
	// Previous is the uncompacted file, kept when asked (else removed).
	Previous string
}

// Compact rewrites the journal at path (not in use) into a new file holding
// only its live pages, densely packed (bbolt's Compact), verifies the copy,
// and puts it in place (the old file is renamed to path.precompact-<UTC
// time> and removed unless keep). After ArchiveBatch, this is what gives
// the space back to the file system: bbolt reuses freed pages but never
// shrinks its file.
func Compact(ctx context.Context, path string, keep bool, o *Options) (CompactReport, error) {
	opt := o.withDefaults()
	var rep CompactReport
	st, err := os.Stat(path)
	if err != nil {
		return rep, fmt.Errorf("journal: compact: %w", err)
	}
	rep.Before = st.Size()
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond, ReadOnly: true})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return rep, fmt.Errorf("journal: compact: %s is in use (a running controller holds it); stop it first", path)
		}
		return rep, fmt.Errorf("journal: compact: %w", err)
	}
	if err := src.View(checkVersion); err != nil {
		src.Close()
		return rep, err
	}
	tmp := path + ".compact.tmp"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, NoFreelistSync: true, NoSync: true})
	if err != nil {
		src.Close()
		return rep, fmt.Errorf("journal: compact: %w", err)
	}
	err = bolt.Compact(dst, src, 64<<20)
	if err == nil {
		err = dst.Sync()
	}
	src.Close()
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		os.Remove(tmp)
		return rep, fmt.Errorf("journal: compact: %w", err)
	}
	c, err := Open(tmp, &Options{ReadOnly: true})
	if err == nil {
		_, err = c.Verify(ctx)
		c.Close()
	}
	if err != nil {
		os.Remove(tmp)
		return rep, fmt.Errorf("journal: compact: the compacted copy does not verify (original kept): %w", err)
	}
	rep.Previous = fmt.Sprintf("%s.precompact-%s", path, opt.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, rep.Previous); err != nil {
		os.Remove(tmp)
		return rep, fmt.Errorf("journal: compact: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return rep, fmt.Errorf("journal: compact: %w (the original is %s)", err, rep.Previous)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return rep, err
	}
	if !keep {
		os.Remove(rep.Previous)
		rep.Previous = ""
	}
	if st, err := os.Stat(path); err == nil {
		rep.After = st.Size()
	}
	return rep, nil
}
