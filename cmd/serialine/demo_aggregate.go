package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/aggregate"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/linesim"
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

// runAggregator builds the aggregation controller of a `serialine run`
// config (nil when aggregation is off) and runs it beside the controller
// until ctx ends (wg waits for it).
func runAggregator(ctx context.Context, wg *sync.WaitGroup, cfg config.Config, j *journal.Journal, ctrl *line.Controller, up line.Upstream, log *slog.Logger) (*aggregate.Aggregator, error) {
	if !cfg.Aggregation.Enabled {
		return nil, nil
	}
	devs, err := aggregate.NewDevices(cfg.Aggregation, log, nil)
	if err != nil {
		return nil, err
	}
	o := aggregate.Options{Config: cfg.Aggregation, Identity: cfg.Line, Journal: j, Line: ctrl, Alarms: ctrl,
		Products: ctrl.Records(), Prefixes: ctrl.Prefixes(),
		Case: devs.Case, Pallet: devs.Pallet, ManualLabeller: devs.ManualLabeller, ManualScanner: devs.ManualScanner,
		Logger: log.With("part", "aggregation")}
	if up != nil {
		o.Upstream = aggregate.SSCCSource(up)
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
