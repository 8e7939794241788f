package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/aggregate"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/store/journal"
)

// demoAggregation ends the demo batch at the end of the line (partial
// case and pallet, rework cases rebuilt, the supervisor's finish) and
// prints the reconciliation per level; false when it does not balance.
func demoAggregation(ctx context.Context, l *linesim.Line, batch string, out io.Writer) (bool, error) {
	rec, err := linesim.FinishAggregation(ctx, l, batch, out)
	if err != nil {
		return false, err
	}
	printAggRec(out, rec)
	return rec.Balanced, nil
}

func printAggRec(out io.Writer, rec api.AggReconciliation) {
	fmt.Fprintf(out, "\naggregation of batch %s:\n", rec.Batch)
	for _, l := range rec.Levels {
		fmt.Fprintf(out, "  %-8s of %-3d  full %4d  partial %2d  open %d\n", l.Name, l.Capacity, l.Full, l.Partial, l.Open)
	}
	fmt.Fprintf(out, "  units: commissioned %d = aggregated %d + orphans %d (policy %s)\n", rec.Commissioned, rec.Aggregated, len(rec.Orphans), rec.OrphanPolicy)
	fmt.Fprintf(out, "  codes: drawn %d = used %d + retired %d + scrapped %d (open %d); cases to the rework lane %d\n",
		rec.CodesDrawn, rec.CodesUsed, rec.CodesRetired, rec.CodesScrapped, rec.CodesOpen, rec.ReworkCases)
	for _, p := range rec.Problems {
		fmt.Fprintln(out, "  PROBLEM:", p)
	}
	if rec.Finished != nil {
		fmt.Fprintf(out, "  finished by %s (%s)\n", rec.Finished.User, rec.Finished.Meaning)
	}
	if rec.Balanced {
		fmt.Fprintln(out, "  AGGREGATION BALANCED")
	} else {
		fmt.Fprintln(out, "  AGGREGATION NOT BALANCED")
	}
}

// writeEPCIS writes every EPCIS document the site server received to dir,
// one file each, once the journal's outbox is empty (or after 30 s).
func writeEPCIS(ctx context.Context, l *linesim.Line, dir string, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		items, err := l.Journal.OutboxPending(ctx, 0)
		if err == nil && len(items) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	evs := l.Upstream.Events()
	for i, ev := range evs {
		name := filepath.Join(dir, fmt.Sprintf("%04d-%s.json", i+1, safeName(ev.ID)))
		if err := os.WriteFile(name, ev.Doc, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "EPCIS: %d documents the site server received written to %s\n", len(evs), dir)
	return nil
}

func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 60 {
		b = b[:60]
	}
	return string(b)
}

// runAggregator builds the aggregation controller of a `serialine run`
// config (nil when aggregation is off) and runs it beside the controller
// until ctx ends (wg waits for it).
func runAggregator(ctx context.Context, wg *sync.WaitGroup, cfg config.Config, j *journal.Journal, ctrl *line.Controller, up *upstream.Client, log *slog.Logger) (*aggregate.Aggregator, error) {
	if !cfg.Aggregation.Enabled {
		return nil, nil
	}
	devs, err := aggregate.NewDevices(cfg.Aggregation, log, nil)
	if err != nil {
		return nil, err
	}
	o := aggregate.Options{Config: cfg.Aggregation, Identity: cfg.Line, Journal: j, Line: ctrl, Alarms: ctrl,
		Case: devs.Case, Pallet: devs.Pallet, ManualLabeller: devs.ManualLabeller, ManualScanner: devs.ManualScanner,
		Logger: log.With("part", "aggregation")}
	if up != nil {
		o.Upstream = up
	}
	a, err := aggregate.New(o)
	if err != nil {
		return nil, err
	}
	a.SetUnitActor(ctrl)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.Run(ctx); err != nil {
			log.Error("aggregation stopped", "err", err)
		}
	}()
	return a, nil
}
