package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/store/journal"
)

// cmdJournal checks or exports a journal file. The file is opened read-only
// (no recovery runs), so both are safe on a copy or on a stopped line's file.
//
//	serialine journal verify --db FILE
//	serialine journal export --db FILE --batch ID [--format jsonl|csv]
//	serialine journal truth --db FILE --batch ID --gate-log FILE
func cmdJournal(ctx context.Context, e env, args []string) int {
	if len(args) == 0 {
		journalUsage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "verify":
		return journalVerify(ctx, e, args[1:])
	case "export":
		return journalExport(ctx, e, args[1:])
	case "archive":
		return journalArchive(ctx, e, args[1:])
	case "archives":
		return journalArchives(ctx, e, args[1:])
	case "prune":
		return journalPrune(ctx, e, args[1:])
	case "backup":
		return journalBackup(ctx, e, args[1:])
	case "restore":
		return journalRestore(ctx, e, args[1:])
	case "compact":
		return journalCompact(ctx, e, args[1:])
	case "migrate":
		return journalMigrate(ctx, e, args[1:])
	case "downgrade":
		return journalDowngrade(ctx, e, args[1:])
	case "truth":
		return journalTruth(ctx, e, args[1:])
	case "-h", "--help", "help":
		journalUsage(e.stderr)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "serialine journal: unknown subcommand %q\n", args[0])
	journalUsage(e.stderr)
	return exitUsage
}

func journalUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: serialine journal verify --db FILE | --archive FILE [--db FILE]")
	fmt.Fprintln(w, "       serialine journal export --db FILE --batch ID [--format jsonl|csv]")
	fmt.Fprintln(w, "       serialine journal archive (--db FILE --dir FOLDER | --config FILE) [--batch ID]...")
	fmt.Fprintln(w, "       serialine journal archives (--db FILE | --config FILE)")
	fmt.Fprintln(w, "       serialine journal prune (--db FILE --dir FOLDER | --config FILE) [--batch ID]")
	fmt.Fprintln(w, "       serialine journal backup (--db FILE | --config FILE) --out FILE")
	fmt.Fprintln(w, "       serialine journal restore (--db FILE | --config FILE) --from BACKUP")
	fmt.Fprintln(w, "       serialine journal compact (--db FILE | --config FILE) [--keep]")
	fmt.Fprintln(w, "       serialine journal migrate (--db FILE | --config FILE)")
	fmt.Fprintln(w, "       serialine journal downgrade (--db FILE | --config FILE) --to N")
	fmt.Fprintln(w, "       serialine journal truth --db FILE --batch ID --gate-log FILE")
}

func journalVerify(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("journal verify", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	db := fs.String("db", "", "journal file")
	archive := fs.String("archive", "", "archive file to verify (with --db: checked against that journal too)")
	setUsage(fs, e.stderr, "--db FILE | --archive FILE [--db FILE]")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if fs.NArg() != 0 || (*db == "" && *archive == "") {
		fmt.Fprintln(e.stderr, "serialine journal verify: --db FILE or --archive FILE is required (no arguments)")
		return exitUsage
	}
	if *archive != "" {
		return verifyArchive(ctx, e, *archive, *db)
	}
	// The outbox payloads are checked with the line's rules: an item the
	// forwarder cannot decode stays in the outbox unsent, and is named here.
	j, err := journal.Open(*db, &journal.Options{ReadOnly: true, Logger: e.logger, CheckOutbox: line.CheckOutboxItem})
	if err != nil {
		fmt.Fprintf(e.stderr, "serialine journal verify: %v\n", journalOpenErr(*db, err))
		return exitFailure
	}
	defer j.Close()
	rep, err := j.Verify(ctx)
	w := e.stdout
	fmt.Fprintf(w, "journal %s\n", *db)
	fmt.Fprintf(w, "pools %d, batches %d, units %d, available %d, returned upstream %d, audit entries %d, outbox %d\n",
		rep.Pools, rep.Batches, rep.Units, rep.Available, rep.ReturnedUpstream, rep.AuditEntries, rep.OutboxItems)
	if rep.Archives > 0 || rep.SentItems > 0 {
		fmt.Fprintf(w, "archives %d (%d units archived), sent items kept until their batch is archived %d\n", rep.Archives, rep.Archived, rep.SentItems)
	}
	c := rep.ByState
	fmt.Fprintf(w, "units: drawn %d, queued %d, printed %d, verified %d, commissioned %d, rejected %d, sampled %d, returned %d, uncertain %d\n",
		c.Drawn, c.Queued, c.Printed, c.Verified, c.Commissioned, c.Rejected, c.Sampled, c.Returned, c.Uncertain)
	if bs, berr := j.Batches(); berr == nil {
		for _, b := range bs {
			c := b.Counters
			fmt.Fprintf(w, "batch %s (gtin %s lot %s, state %q): %d drawn: commissioned %d, rejected %d, sampled %d, returned %d, uncertain %d, in flight %d\n",
				b.ID, b.GTIN, b.Lot, b.State, c.Total(), c.Commissioned, c.Rejected, c.Sampled, c.Returned, c.Uncertain, c.InFlight())
		}
	}
	if len(rep.Parents) > 0 || rep.AggEvents > 0 || rep.ArchivedParents > 0 {
		fmt.Fprintf(w, "aggregation: parents %v, parent codes available %d, events %d, parent codes archived %d\n",
			rep.Parents, rep.IDsAvail, rep.AggEvents, rep.ArchivedParents)
	}
	fmt.Fprintf(w, "checked in %s\n", rep.Duration.Round(time.Millisecond))
	if err != nil {
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "VIOLATION: %s\n", p)
		}
		if !errors.Is(err, journal.ErrCorrupt) || len(rep.Problems) == 0 {
			fmt.Fprintf(e.stderr, "serialine journal verify: %v\n", err)
		}
		fmt.Fprintf(w, "FAIL: %d violation(s)\n", len(rep.Problems))
		return exitFailure
	}
	fmt.Fprintln(w, "OK")
	return exitOK
}

func journalExport(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("journal export", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	db := fs.String("db", "", "journal file")
	batch := fs.String("batch", "", "batch id")
	format := fs.String("format", journal.FormatJSONL, "output format: jsonl or csv")
	setUsage(fs, e.stderr, "--db FILE --batch ID [--format jsonl|csv]")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if *db == "" || *batch == "" || fs.NArg() != 0 {
		fmt.Fprintln(e.stderr, "serialine journal export: --db FILE and --batch ID are required (no arguments)")
		return exitUsage
	}
	if *format != journal.FormatJSONL && *format != journal.FormatCSV {
		fmt.Fprintf(e.stderr, "serialine journal export: --format %q: want jsonl or csv\n", *format)
		return exitUsage
	}
	j, err := journal.Open(*db, &journal.Options{ReadOnly: true, Logger: e.logger})
	if err != nil {
		fmt.Fprintf(e.stderr, "serialine journal export: %v\n", journalOpenErr(*db, err))
		return exitFailure
	}
	defer j.Close()
	bw := bufio.NewWriter(e.stdout)
	err = j.Export(ctx, bw, *batch, *format)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "serialine journal export: %v\n", err)
		if errors.Is(err, journal.ErrNotFound) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// journalOpenErr explains a lock timeout (the file is in use) and a file
// that is no bbolt database at all.
func journalOpenErr(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("journal %s is in use (a running controller or demo holds it); stop it first or work on a copy: %w", path, err)
	case errors.Is(err, berrors.ErrInvalid):
		return fmt.Errorf("%s is not a Serialine journal (bbolt: %w)", path, berrors.ErrInvalid)
	}
	return err
}
