package line_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/internal/linetest"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// TestMain lets the test binary play the crash-test child: with
// SERIALINE_CRASH_CHILD set it runs the demo line on the journal named
// there and exits (0 when the batch balances).
func TestMain(m *testing.M) {
	if db := os.Getenv("SERIALINE_CRASH_CHILD"); db != "" {
		os.Exit(crashChild(db))
	}
	if cfg := os.Getenv(soakChildEnv); cfg != "" {
		os.Exit(soakChild(cfg))
	}
	os.Exit(m.Run())
}

func crashChild(db string) int {
	units, _ := strconv.Atoi(os.Getenv("SERIALINE_CRASH_UNITS"))
	ctx := context.Background()
	l, err := linesim.Start(ctx, linesim.Options{DBPath: db, Rate: 300})
	if err != nil {
		fmt.Println("child: start:", err)
		return 3
	}
	defer l.Close()
	rep, err := linesim.RunDemo(ctx, l, linesim.DemoOptions{Units: units, BatchID: "CRASH", OperatorDelay: 10 * time.Millisecond,
		Progress: 20 * time.Millisecond, Out: os.Stdout})
	if err != nil {
		fmt.Println("child:", err)
		return 3
	}
	if err := rep.Err(); err != nil {
		fmt.Println("child: NOT BALANCED:", err)
		return 1
	}
	fmt.Println("child: BALANCED")
	return 0
}

var goodRe = regexp.MustCompile(`good\s+(\d+)`)

// TestCrashKill9: the controller process is killed with SIGKILL in the
// middle of a batch, restarted on the same journal, recovers the batch and
// completes it; the journal verifies, the batch balances and no serial is
// on two units.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const units = 400
	db := filepath.Join(t.TempDir(), "crash.db")
	kills := 1
	if os.Getenv("SERIALINE_SOAK") != "" {
		kills = 5
	}
	env := []string{"SERIALINE_CRASH_CHILD=" + db, "SERIALINE_CRASH_UNITS=" + strconv.Itoa(units)}
	last := 0
	for k := 0; k < kills; k++ {
		// kill once this run has committed a good share of what is left
		want := last + (units-last)/(kills-k+1)
		linetest.StartChild(t, env...).KillWhen(t, func(line string) bool {
			if m := goodRe.FindStringSubmatch(line); m != nil {
				if n, _ := strconv.Atoi(m[1]); n >= want && n > last {
					last = n
					return true
				}
			}
			return false
		})
		t.Logf("kill %d: child killed at %d good units", k+1, last)
		verifyJournal(t, db)
	}
	// Restart: recover and complete.
	tail, err := linetest.StartChild(t, env...).Tail(20, nil)
	if err != nil {
		t.Fatalf("restarted child: %v\n%s", err, strings.Join(tail, "\n"))
	}
	if !strings.Contains(strings.Join(tail, "\n"), "child: BALANCED") {
		t.Fatalf("restarted child did not balance:\n%s", strings.Join(tail, "\n"))
	}
	rep := verifyJournal(t, db)
	j, err := journal.Open(db, &journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	b, err := j.Batch("CRASH")
	if err != nil {
		t.Fatal(err)
	}
	k := b.Counters
	t.Logf("batch CRASH %s: %+v (journal: %d units)", b.State, k, rep.Units)
	if b.State != "Complete" || k.InFlight() != 0 || k.Commissioned < units {
		t.Fatalf("batch not completed after restart: state %s counters %+v", b.State, k)
	}
	if k.Uncertain+k.Returned == 0 {
		t.Errorf("a kill mid-batch should leave recovered (returned or uncertain) units: %+v", k)
	}
}

// verifyJournal opens the journal read-only and checks every invariant
// (no serial on two units, counters = recount, legal histories, audit chain).
func verifyJournal(t *testing.T, path string) journal.VerifyReport {
	t.Helper()
	j, err := journal.Open(path, &journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rep, err := j.Verify(context.Background())
	if err != nil || !rep.OK() {
		t.Fatalf("journal verify: %v %v", err, rep.Problems)
	}
	return rep
}
