package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/store/fsstat"
	"github.com/serialine/serialine/store/journal"
)

// The journal's life over the years (see README "Installing on a line
// PC"): archive closed batches, list and delete archives after their
// retention, back up, restore, compact, migrate, downgrade. Every command
// but backup needs the journal not in use (the controller stopped); a
// running controller backs itself up and archives (journal.backup,
// journal.archive in its config).

// lifecycleFlags are the flags the lifecycle commands share: the journal
// file and the archive folder, from --db/--dir or from the controller's
// --config.
type lifecycleFlags struct {
	db, dir, cfgPath string
	cfg              *config.Config
}

func (f *lifecycleFlags) add(fs *flag.FlagSet, dir bool) {
	fs.StringVar(&f.db, "db", "", "journal file (default: journal.path of --config)")
	fs.StringVar(&f.cfgPath, "config", "", "controller config: journal path, archive folder, retention rules, line name")
	if dir {
		fs.StringVar(&f.dir, "dir", "", "archive folder (default: journal.archive.dir of --config)")
	}
}

// resolve fills db and dir from the config when not given.
func (f *lifecycleFlags) resolve(e env, name string, needDir bool) bool {
	if f.cfgPath != "" {
		c, err := config.Load(f.cfgPath)
		if err != nil {
			fmt.Fprintf(e.stderr, "serialine journal %s: %v\n", name, err)
			return false
		}
		f.cfg = &c
		if f.db == "" {
			f.db = c.Journal.Path
		}
		if f.dir == "" {
			f.dir = c.Journal.Archive.Dir
		}
	}
	if f.db == "" {
		fmt.Fprintf(e.stderr, "serialine journal %s: --db FILE (or --config FILE) is required\n", name)
		return false
	}
	if needDir && f.dir == "" {
		fmt.Fprintf(e.stderr, "serialine journal %s: --dir FOLDER (or --config with journal.archive.dir) is required\n", name)
		return false
	}
	return true
}

// parseLifecycle parses a lifecycle command's flags: the shared ones
// (--db, --config, and --dir when needDir) and those extra adds; it
// resolves the journal and the folder from the config. ok false: return
// code.
func parseLifecycle(e env, name, synopsis string, args []string, needDir bool, extra func(*flag.FlagSet)) (lf lifecycleFlags, code int, ok bool) {
	fs := flag.NewFlagSet("journal "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	lf.add(fs, needDir)
	if extra != nil {
		extra(fs)
	}
	setUsage(fs, e.stderr, synopsis)
	if code, ok := parseFlagsOnly(fs, args, e.stderr, "serialine journal "+name+": unexpected arguments %v\n"); !ok {
		return lf, code, false
	}
	if !lf.resolve(e, name, needDir) {
		return lf, exitUsage, false
	}
	return lf, exitOK, true
}

func (f *lifecycleFlags) open(e env, name string, readOnly bool) (*journal.Journal, bool) {
	j, err := journal.Open(f.db, &journal.Options{ReadOnly: readOnly, ArchiveDir: f.dir, Logger: e.logger})
	if err != nil {
		fmt.Fprintf(e.stderr, "serialine journal %s: %v\n", name, journalOpenErr(f.db, err))
		return nil, false
	}
	if from, backup := j.Migrated(); from != 0 {
		fmt.Fprintf(e.stderr, "journal %s migrated from format %d to %d (the old file is kept as %s)\n", f.db, from, journal.FormatVersion(), backup)
	}
	return j, true
}

// journalArchive: serialine journal archive [--batch ID]... --db FILE --dir FOLDER
func journalArchive(ctx context.Context, e env, args []string) int {
	var batches multiFlag
	lf, code, ok := parseLifecycle(e, "archive", "(--db FILE --dir FOLDER | --config FILE) [--batch ID]...", args, true, func(fs *flag.FlagSet) {
		fs.Var(&batches, "batch", "batch to archive (repeatable); default: every closed, signed batch whose events are sent")
	})
	if !ok {
		return code
	}
	j, ok := lf.open(e, "archive", false)
	if !ok {
		return exitFailure
	}
	defer j.Close()
	ids := []string(batches)
	if len(ids) == 0 {
		var err error
		if ids, err = j.Archivable(); err != nil {
			fmt.Fprintln(e.stderr, "serialine journal archive:", err)
			return exitFailure
		}
	}
	o := journal.ArchiveOptions{Dir: lf.dir}
	if lf.cfg != nil {
		o = line.ArchiveOptions(lf.cfg.Journal, lf.cfg.Line.Name)
		o.Dir = lf.dir
	}
	failed := 0
	for _, id := range ids {
		info, err := j.ArchiveBatch(ctx, id, o)
		if err != nil {
			fmt.Fprintf(e.stderr, "serialine journal archive: %v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(e.stdout, "batch %s: %d units archived to %s (sha256 %s), keep until %s\n",
			info.Batch, info.Units, filepath.Join(lf.dir, info.File), info.SHA256, info.RetainUntil.Format(time.DateOnly))
	}
	if len(ids) == 0 {
		fmt.Fprintln(e.stdout, "no batch to archive (a batch is archived once complete, stopped or aborted, its batch record signed off (production sign-off and QA release) and its events sent)")
	}
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

// journalArchives: serialine journal archives --db FILE — the archive list.
func journalArchives(_ context.Context, e env, args []string) int {
	lf, code, ok := parseLifecycle(e, "archives", "(--db FILE | --config FILE)", args, false, nil)
	if !ok {
		return code
	}
	j, ok := lf.open(e, "archives", true)
	if !ok {
		return exitFailure
	}
	defer j.Close()
	as, err := j.Archives()
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine journal archives:", err)
		return exitFailure
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BATCH\tUNITS\tPROFILE\tEXPIRY\tARCHIVED\tKEEP UNTIL\tSTATE\tFILE")
	for _, a := range as {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Batch, a.Units, a.Profile, a.Expiry,
			a.ArchivedAt.Format(time.DateOnly), a.RetainUntil.Format(time.DateOnly), a.State, a.File)
	}
	tw.Flush()
	return exitOK
}

// journalPrune: delete archive files whose retention period has ended.
func journalPrune(ctx context.Context, e env, args []string) int {
	var batch *string
	lf, code, ok := parseLifecycle(e, "prune", "(--db FILE --dir FOLDER | --config FILE) [--batch ID]", args, true, func(fs *flag.FlagSet) {
		batch = fs.String("batch", "", "delete this batch's archive only (refused before its retention ends)")
	})
	if !ok {
		return code
	}
	j, ok := lf.open(e, "prune", false)
	if !ok {
		return exitFailure
	}
	defer j.Close()
	now := time.Now()
	var deleted []journal.ArchiveInfo
	var err error
	if *batch != "" {
		var a journal.ArchiveInfo
		if a, err = j.DeleteArchive(ctx, lf.dir, *batch, now, journal.Actor{}); err == nil {
			deleted = append(deleted, a)
		}
	} else {
		deleted, err = j.DeleteExpiredArchives(ctx, lf.dir, now, journal.Actor{})
	}
	for _, a := range deleted {
		fmt.Fprintf(e.stdout, "batch %s: archive %s deleted (kept until %s)\n", a.Batch, a.File, a.RetainUntil.Format(time.DateOnly))
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine journal prune:", err)
		if errors.Is(err, journal.ErrRetention) {
			return exitUsage
		}
		return exitFailure
	}
	if len(deleted) == 0 {
		fmt.Fprintln(e.stdout, "no archive past its retention period")
	}
	return exitOK
}

// journalBackup: a consistent copy of a journal not in use (a running
// controller backs itself up: journal.backup).
func journalBackup(ctx context.Context, e env, args []string) int {
	var out *string
	lf, code, ok := parseLifecycle(e, "backup", "(--db FILE | --config FILE) --out FILE", args, false, func(fs *flag.FlagSet) {
		out = fs.String("out", "", "backup file to write (must not exist)")
	})
	if !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(e.stderr, "serialine journal backup: --out FILE is required")
		return exitUsage
	}
	j, ok := lf.open(e, "backup", true)
	if !ok {
		return exitFailure
	}
	defer j.Close()
	n, err := j.BackupFile(ctx, *out)
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine journal backup:", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "journal %s backed up to %s (%s)\n", lf.db, *out, fsstat.Bytes(uint64(n)))
	return exitOK
}

// journalRestore: verify a backup and put it in place of the journal.
func journalRestore(ctx context.Context, e env, args []string) int {
	var from *string
	lf, code, ok := parseLifecycle(e, "restore", "(--db FILE | --config FILE) --from BACKUP", args, false, func(fs *flag.FlagSet) {
		from = fs.String("from", "", "backup file to restore")
	})
	if !ok {
		return code
	}
	if *from == "" {
		fmt.Fprintln(e.stderr, "serialine journal restore: --from BACKUP is required")
		return exitUsage
	}
	rep, err := journal.Restore(ctx, *from, lf.db, &journal.Options{Logger: e.logger})
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine journal restore:", journalOpenErr(*from, err))
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "backup %s verified (%d batches, %d units) and restored to %s\n", *from, rep.Verify.Batches, rep.Verify.Units, lf.db)
	if rep.Previous != "" {
		fmt.Fprintf(e.stdout, "the journal it replaced is kept as %s\n", rep.Previous)
	}
	return exitOK
}

// journalCompact: rewrite the journal without its free pages.
func journalCompact(ctx context.Context, e env, args []string) int {
	var keep *bool
	lf, code, ok := parseLifecycle(e, "compact", "(--db FILE | --config FILE) [--keep]", args, false, func(fs *flag.FlagSet) {
		keep = fs.Bool("keep", false, "keep the uncompacted file (FILE.precompact-TIME)")
	})
	if !ok {
		return code
	}
	rep, err := journal.Compact(ctx, lf.db, *keep, &journal.Options{Logger: e.logger})
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine journal compact:", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "journal %s compacted: %s -> %s\n", lf.db, fsstat.Bytes(uint64(rep.Before)), fsstat.Bytes(uint64(rep.After)))
	if rep.Previous != "" {
		fmt.Fprintf(e.stdout, "the uncompacted file is kept as %s\n", rep.Previous)
	}
	return exitOK
}

// journalMigrate: open read-write once (migrating an older format, backup
// first) and close.
func journalMigrate(_ context.Context, e env, args []string) int {
	lf, code, ok := parseLifecycle(e, "migrate", "(--db FILE | --config FILE)", args, false, nil)
	if !ok {
		return code
	}
	j, ok := lf.open(e, "migrate", false)
	if !ok {
		return exitFailure
	}
	from, _ := j.Migrated()
	j.Close()
	if from == 0 {
		fmt.Fprintf(e.stdout, "journal %s is at format %d already\n", lf.db, journal.FormatVersion())
	}
	return exitOK
}

// journalDowngrade: rewrite the journal in an older format for an older
// release, when nothing in it needs the newer one.
func journalDowngrade(_ context.Context, e env, args []string) int {
	var to *int
	lf, code, ok := parseLifecycle(e, "downgrade", "(--db FILE | --config FILE) --to N", args, false, func(fs *flag.FlagSet) {
		to = fs.Int("to", 0, "format version to go back to (required)")
	})
	if !ok {
		return code
	}
	if *to <= 0 {
		fmt.Fprintf(e.stderr, "serialine journal downgrade: --to N is required: the journal format the older release reads (this release writes format %d)\n", journal.FormatVersion())
		return exitUsage
	}
	backup, err := journal.Downgrade(lf.db, *to, &journal.Options{Logger: e.logger})
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine journal downgrade:", journalOpenErr(lf.db, err))
		if errors.Is(err, journal.ErrInvalid) {
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "journal %s is now format %d (the format-%d file is kept as %s)\n", lf.db, *to, journal.FormatVersion(), backup)
	return exitOK
}

// verifyArchive: serialine journal verify --archive FILE [--db FILE]
func verifyArchive(ctx context.Context, e env, path, db string) int {
	var rep journal.ArchiveReport
	var err error
	if db != "" {
		j, oerr := journal.Open(db, &journal.Options{ReadOnly: true, Logger: e.logger})
		if oerr != nil {
			fmt.Fprintf(e.stderr, "serialine journal verify: %v\n", journalOpenErr(db, oerr))
			return exitFailure
		}
		defer j.Close()
		rep, err = j.VerifyArchive(ctx, path)
	} else {
		rep, err = journal.VerifyArchive(ctx, path)
	}
	if err != nil && rep.Header.Format == 0 { // not even a header: nothing to show
		if errors.Is(err, journal.ErrCorrupt) {
			why := err.Error()
			if len(rep.Problems) > 0 {
				why = rep.Problems[0]
			}
			why = strings.TrimPrefix(why, journal.ErrCorrupt.Error()+": ")
			fmt.Fprintf(e.stderr, "serialine journal verify: %s is not a Serialine archive: %s\n", path, why)
		} else {
			fmt.Fprintf(e.stderr, "serialine journal verify: %v\n", err)
		}
		return exitFailure
	}
	w := e.stdout
	h := rep.Header
	fmt.Fprintf(w, "archive %s (sha256 %s)\n", path, rep.SHA256)
	fmt.Fprintf(w, "batch %s (gtin %s lot %s expiry %s, %s, state %s), line %q, archived %s, keep until %s\n",
		h.Batch.ID, h.Batch.GTIN, h.Batch.Lot, h.Batch.Expiry, h.Batch.Profile, h.Batch.State, h.Line,
		h.ArchivedAt.Format(time.RFC3339), h.RetainUntil.Format(time.DateOnly))
	c := rep.ByState
	fmt.Fprintf(w, "units %d: commissioned %d, rejected %d, sampled %d, returned %d, uncertain %d; audit entries %d (%d..%d); items sent upstream %d\n",
		rep.Units, c.Commissioned, c.Rejected, c.Sampled, c.Returned, c.Uncertain, rep.Audit, h.AuditFrom, h.AuditTo, rep.Outbox)
	if rep.Parents > 0 || rep.AggEvents > 0 {
		fmt.Fprintf(w, "aggregation: parents %d (cases, pallets), events %d; hierarchy checked\n", rep.Parents, rep.AggEvents)
	}
	for _, s := range h.Signatures {
		fmt.Fprintf(w, "signed by %s (%s) %s: %s\n", s.Who, s.Role, s.At.Format(time.RFC3339), s.Reason)
	}
	if rep.CrossChecked {
		fmt.Fprintln(w, "checked against the journal: recorded checksum, tombstones, audit chain")
	}
	if err != nil {
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "VIOLATION: %s\n", p)
		}
		if len(rep.Problems) == 0 {
			fmt.Fprintf(e.stderr, "serialine journal verify: %v\n", err)
		}
		fmt.Fprintf(w, "FAIL: %d violation(s)\n", len(rep.Problems))
		return exitFailure
	}
	fmt.Fprintln(w, "OK")
	return exitOK
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
