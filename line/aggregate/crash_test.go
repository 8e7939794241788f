package aggregate_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/internal/linetest"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// TestMain lets the test binary play the crash-test child: with
// SERIALINE_AGG_CRASH_CHILD set it runs the aggregating line on the
// journal named there, printing the cases closed as they are, and exits
// (0 when the batch and its aggregation balance).
func TestMain(m *testing.M) {
	if db := os.Getenv("SERIALINE_AGG_CRASH_CHILD"); db != "" {
		os.Exit(aggCrashChild(db))
	}
	os.Exit(m.Run())
}

func aggCrashChild(db string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// SSCCs from a range: the journal's cursor survives the kill.
	sscc := config.SSCCSource{Source: "range", RangeID: "R1", Extension: 2, CompanyPrefix: "9501101", First: 1, Last: 99999}
	l, err := linesim.Start(ctx, linesim.Options{DBPath: db, Rate: 25, GateDistance: 12,
		Aggregate: &linesim.AggregateOptions{CaseSize: 6, PalletSize: 3, SSCC: &sscc, Orphans: "decommission"}})
	if err != nil {
		fmt.Println("child: start:", err)
		return 3
	}
	defer l.Close()
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			closed := 0
			_ = l.Journal.Parents("CRASH", func(p journal.Parent) error {
				if p.State == journal.ParentClosed && p.Level == "case" {
					closed++
				}
				return nil
			})
			fmt.Printf("child: cases closed %d\n", closed)
		}
	}()
	rep, err := linesim.RunDemo(ctx, l, linesim.DemoOptions{Units: 90, BatchID: "CRASH", OperatorDelay: 10 * time.Millisecond,
		Progress: time.Hour, Out: io.Discard})
	if err != nil {
		fmt.Println("child:", err)
		return 3
	}
	if err := rep.Err(); err != nil {
		fmt.Println("child: NOT BALANCED:", err)
		return 1
	}
	rec, err := linesim.FinishAggregation(ctx, l, "CRASH", os.Stdout)
	if err != nil {
		fmt.Println("child: aggregation:", err)
		return 1
	}
	fmt.Printf("child: aggregation %+v\n", rec)
	if !rec.Balanced {
		fmt.Println("child: AGGREGATION NOT BALANCED")
		return 1
	}
	fmt.Println("child: BALANCED")
	return 0
}

var closedRe = regexp.MustCompile(`cases closed (\d+)`)

// TestAggregationCrashKill9: the aggregating line is killed with SIGKILL
// while cases are being closed, restarted on the same journal: the journal
// verifies (hierarchy included), every case closed before the kill is
// still closed, the case left open by the kill is voided (its case went to
// the rework lane), the batch completes and its aggregation balances. The
// packs the killed simulator held (in the packer, on the conveyor) are
// gone with it: their units are orphans, decommissioned by the batch
// policy when the supervisor finishes the aggregation.
func TestAggregationCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	db := filepath.Join(t.TempDir(), "crash.db")
	env := "SERIALINE_AGG_CRASH_CHILD=" + db
	at := 0
	linetest.StartChild(t, env).KillWhen(t, func(line string) bool {
		if m := closedRe.FindStringSubmatch(line); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 3 {
				at = n
				return true
			}
		}
		return false
	})
	before := closedCases(t, db)
	if len(before) < at {
		t.Fatalf("%d cases acknowledged closed before the kill, journal holds %d", at, len(before))
	}
	tail, err := linetest.StartChild(t, env).Tail(30, func(line string) bool { return !strings.HasPrefix(line, "child: cases closed") })
	if err != nil || !strings.Contains(strings.Join(tail, "\n"), "child: BALANCED") {
		t.Fatalf("restarted child: %v\n%s", err, strings.Join(tail, "\n"))
	}
	after := closedCases(t, db)
	for code, n := range before {
		if after[code] != n {
			t.Errorf("case %s closed with %d units before the kill, %d after", code, n, after[code])
		}
	}
	t.Logf("killed at %d closed cases; %d cases closed in the end", at, len(after))
}

// closedCases verifies the journal and returns its closed cases with their
// unit counts.
func closedCases(t *testing.T, db string) map[string]int {
	t.Helper()
	j, err := journal.Open(db, &journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if rep, err := j.Verify(context.Background()); err != nil {
		t.Fatalf("journal verify: %v %v", err, rep.Problems)
	}
	out := map[string]int{}
	_ = j.Parents("CRASH", func(p journal.Parent) error {
		if p.State == journal.ParentClosed && p.Level == "case" {
			out[p.Code] = len(p.Children)
		}
		return nil
	})
	return out
}
