package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// journalTruth checks a journal against a gate log written by the
// simulators (serialine demo --gate-log, serialine sim plc --gate-log):
//
//	serialine journal truth --db FILE --batch ID --gate-log FILE
//
// Exit 0 when the journal agrees with what happened to every product at
// the gate, 1 when it does not (each disagreement listed), 2 on bad usage
// or a gate log that cannot be read.
func journalTruth(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("journal truth", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	db := fs.String("db", "", "journal file")
	batch := fs.String("batch", "", "batch id")
	gateLog := fs.String("gate-log", "", "gate log (JSON lines: seq, serial, verdict_at_gate, outcome)")
	setUsage(fs, e.stderr, "--db FILE --batch ID --gate-log FILE")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if *db == "" || *batch == "" || *gateLog == "" || fs.NArg() != 0 {
		fmt.Fprintln(e.stderr, "serialine journal truth: --db FILE, --batch ID and --gate-log FILE are required (no arguments)")
		return exitUsage
	}
	recs, err := loadGateLog(*gateLog)
	if err != nil {
		fmt.Fprintf(e.stderr, "serialine journal truth: %v\n", err)
		return exitUsage
	}
	j, err := journal.Open(*db, &journal.Options{ReadOnly: true, Logger: e.logger})
	if err != nil {
		fmt.Fprintf(e.stderr, "serialine journal truth: %v\n", journalOpenErr(*db, err))
		return exitFailure
	}
	defer j.Close()
	if _, err := j.Batch(*batch); err != nil {
		fmt.Fprintf(e.stderr, "serialine journal truth: batch %q: %v\n", *batch, err)
		return exitFailure
	}
	truth, err := linesim.CheckTruth(j, *batch, recs)
	if err != nil {
		fmt.Fprintf(e.stderr, "serialine journal truth: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "batch %s: %s\n", *batch, truth)
	for _, v := range truth.Violations {
		fmt.Fprintln(e.stdout, "  "+v)
	}
	if !truth.OK() {
		return exitFailure
	}
	return exitOK
}

// readGateLog reads a gate log, naming the line of the first bad record.
func loadGateLog(path string) ([]linesim.GateRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gate log: %w", err)
	}
	defer f.Close()
	var out []linesim.GateRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r linesim.GateRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("gate log %s line %d: %w", path, n, err)
		}
		switch {
		case r.Seq == 0:
			err = fmt.Errorf("seq missing")
		case r.Outcome == "on-conveyor":
			if r.VerdictAtGate != "" {
				err = fmt.Errorf("verdict_at_gate %q: an on-conveyor product has not reached the gate", r.VerdictAtGate)
			}
		case r.Outcome != "passed" && r.Outcome != "pushed":
			err = fmt.Errorf("outcome %q: want passed, pushed or on-conveyor", r.Outcome)
		case r.VerdictAtGate != "pass" && r.VerdictAtGate != "reject" && r.VerdictAtGate != "none":
			err = fmt.Errorf("verdict_at_gate %q: want pass, reject or none", r.VerdictAtGate)
		}
		if err != nil {
			return nil, fmt.Errorf("gate log %s line %d: %w", path, n, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gate log %s: %w", path, err)
	}
	return out, nil
}
