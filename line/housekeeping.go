package line

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/store/journal"
)

// Journal housekeeping while the line runs: archiving closed batches and
// backing up the live journal (journal.archive, journal.backup). Both go
// through the journal's group committer (archive) or one read transaction
// (backup), so the line never stops for them.

// housekeepingLoops returns the loops journal.archive.every and
// journal.backup.every ask for.
func (c *Controller) housekeepingLoops() []func(context.Context) {
	var out []func(context.Context)
	if a := c.cfg.Journal.Archive; a.Dir != "" && a.Every > 0 {
		out = append(out, func(ctx context.Context) { c.every(ctx, a.Every, c.archiveNow) })
	}
	if b := c.cfg.Journal.Backup; b.Dir != "" && b.Every > 0 {
		out = append(out, func(ctx context.Context) { c.every(ctx, b.Every, c.backupNow) })
	}
	return out
}

func (c *Controller) every(ctx context.Context, d time.Duration, fn func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("journal housekeeping", "err", err)
		}
	}
}

// ArchiveOptions are the journal's archive options from the config.
func ArchiveOptions(cfg config.Journal, line string) journal.ArchiveOptions {
	rules := cfg.Archive.Rules()
	return journal.ArchiveOptions{Dir: cfg.Archive.Dir, Line: line,
		Retention: func(b journal.Batch, ended time.Time) time.Time {
			return journal.RetentionFor(b.Profile, rules).Until(b.Expiry, ended)
		}}
}

// archiveNow archives every batch that can be (closed, signed, sent).
func (c *Controller) archiveNow(ctx context.Context) error {
	ids, err := c.j.Archivable()
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	o := ArchiveOptions(c.cfg.Journal, c.cfg.Line.Name)
	for _, id := range ids {
		info, err := c.j.ArchiveBatch(ctx, id, o)
		if err != nil {
			c.alarm(api.SeverityWarning, "archive", fmt.Sprintf("archive of batch %s failed: %v", id, err))
			return fmt.Errorf("archive batch %s: %w", id, err)
		}
		c.log.Info("batch archived", "batch", id, "file", info.File, "units", info.Units, "retain_until", info.RetainUntil)
	}
	return nil
}

// BackupPrefix starts the names of the backups the controller writes.
const BackupPrefix = "journal-backup-"

// backupNow writes a backup and keeps the newest journal.backup.keep.
func (c *Controller) backupNow(ctx context.Context) error {
	b := c.cfg.Journal.Backup
	if err := os.MkdirAll(b.Dir, 0o750); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	name := filepath.Join(b.Dir, BackupPrefix+c.now().UTC().Format("20060102T150405.000Z")+".db")
	if _, err := c.j.BackupFile(ctx, name); err != nil {
		c.alarm(api.SeverityWarning, "backup", fmt.Sprintf("journal backup failed: %v", err))
		return err
	}
	c.Clear("backup")
	return pruneBackups(b.Dir, b.Keep)
}

// pruneBackups deletes all but the newest keep backups in dir.
func pruneBackups(dir string, keep int) error {
	es, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range es {
		if n := e.Name(); strings.HasPrefix(n, BackupPrefix) && strings.HasSuffix(n, ".db") {
			names = append(names, n)
		}
	}
	slices.Sort(names) // UTC time stamps sort by time
	for _, n := range names[:max(0, len(names)-keep)] {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}
