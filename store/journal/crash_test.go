package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The crash test re-executes the test binary as a child (TestMain sees
// crashChildEnv) that draws, queues, prints, verifies and commits units as
// fast as it can from several goroutines, printing one line per durable
// acknowledgement ("serial state"). The parent SIGKILLs it after a random
// number of acknowledgements, reopens the journal (recovery) and checks every
// invariant, including that each acknowledged step survived.

const crashChildEnv = "SERIALINE_JOURNAL_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(atomicChildEnv); path != "" {
		if err := atomicChild(path); err != nil {
			fmt.Fprintln(os.Stderr, "atomic child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	if arg := os.Getenv(archiveChildEnv); arg != "" {
		if err := archiveChild(arg); err != nil {
			fmt.Fprintln(os.Stderr, "archive child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	if path := os.Getenv(aggCrashChildEnv); path != "" {
		if err := aggCrashChild(path); err != nil {
			fmt.Fprintln(os.Stderr, "aggregation crash child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	if path := os.Getenv(crashChildEnv); path != "" {
		if err := crashChild(path); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	code := m.Run()
	verifyFixture.remove()
	archivedFixture.remove()
	os.Exit(code)
}

const (
	crashBatch    = "B1"
	crashPoolSize = 500
)

// crashChild runs until killed.
func crashChild(path string) error {
	ctx := context.Background()
	j, err := Open(path, nil)
	if err != nil {
		return err
	}
	var outMu sync.Mutex
	out := bufio.NewWriterSize(os.Stdout, 256)
	ack := func(serial string, s State) {
		outMu.Lock()
		fmt.Fprintf(out, "%s %s\n", serial, s)
		out.Flush()
		outMu.Unlock()
	}
	if err := j.CreateBatch(ctx, BatchDef{ID: crashBatch, GTIN: testGTIN, Lot: "L", Expiry: "301231"}, Actor{}); err != nil && !errors.Is(err, ErrExists) {
		return err
	}
	var poolMu sync.Mutex
	refill := func() error {
		poolMu.Lock()
		defer poolMu.Unlock()
		if n, err := j.PoolLevel(testGTIN); err != nil || n >= 50 {
			return err
		}
		ps, err := j.Pools()
		if err != nil {
			return err
		}
		id := fmt.Sprintf("P%d", len(ps)+1)
		return j.ImportPool(ctx, Pool{ID: id, GTIN: testGTIN, Serials: serials(id+"-", crashPoolSize)})
	}
	errc := make(chan error, 4)
	for w := range 4 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(w)))
			for {
				if err := refill(); err != nil {
					errc <- err
					return
				}
				us, err := j.Draw(ctx, crashBatch, 1+rng.IntN(3))
				if errors.Is(err, ErrPoolEmpty) {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				for _, u := range us {
					ack(u.Serial, Drawn)
				}
				for _, u := range us {
					if err := crashUnit(ctx, j, rng, u.Serial, ack); err != nil {
						errc <- err
						return
					}
				}
				if rng.IntN(20) == 0 {
					if _, err := j.OutboxPut(ctx, "epcis", []byte("{}")); err != nil {
						errc <- err
						return
					}
				}
			}
		}()
	}
	return <-errc
}

func crashUnit(ctx context.Context, j *Journal, rng *rand.Rand, s string, ack func(string, State)) error {
	step := func(c Change) error {
		c.Serial = s
		if err := j.Apply(ctx, c); err != nil {
			return err
		}
		ack(s, c.To)
		return nil
	}
	switch rng.IntN(20) {
	case 0: // left drawn (in flight)
		return nil
	case 1:
		return step(Change{To: Returned, Reason: ReasonBatchEnd})
	}
	if err := step(Change{To: Queued}); err != nil {
		return err
	}
	if rng.IntN(30) == 0 {
		return step(Change{To: Rejected, Reason: ReasonMissedPrint})
	}
	if err := step(Change{To: Printed, Seq: rng.Uint64N(1 << 40), Actor: ActorPrinter}); err != nil {
		return err
	}
	if rng.IntN(20) == 0 {
		return step(Change{To: Rejected, Reason: ReasonNoRead, Actor: ActorCamera})
	}
	if err := step(Change{To: Verified, Grade: &Grade{Overall: 3.5}, Actor: ActorCamera}); err != nil {
		return err
	}
	return step(Change{To: Commissioned, Actor: ActorPLC})
}

func TestCrashKill9(t *testing.T) {
	kills := crashKills(t, 50)
	path := filepath.Join(t.TempDir(), "crash.db")
	j, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = j.CreateBatch(context.Background(), BatchDef{ID: crashBatch, GTIN: testGTIN, Lot: "L", Expiry: "301231"}, Actor{})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	acked := map[string]State{} // highest acknowledged state per serial
	drawnBy := map[string]int{} // serial -> run that drew it
	totalAcks := 0
	for run := range kills {
		after := 1 + rng.IntN(300)
		if rng.IntN(8) == 0 {
			after = 0 // kill at once: during start-up, Open or recovery
		}
		n := crashRun(t, path, after, run, acked, drawnBy)
		totalAcks += n
		crashCheck(t, path, run, acked)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d kills, %d acknowledged steps, %d serials drawn", kills, totalAcks, len(drawnBy))
}

// startChild re-executes the test binary as a child process with env=path
// set (the child's TestMain sees it), returning the running command, a
// scanner over its stdout (one line per durable acknowledgement) and its
// captured stderr.
func startChild(t *testing.T, env, path string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+path)
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(stdout), stderr
}

// crashRun starts the child, kills it with SIGKILL after `after`
// acknowledgements (0: right after start) and records every acknowledgement
// it printed.
func crashRun(t *testing.T, path string, after, run int, acked map[string]State, drawnBy map[string]int) int {
	t.Helper()
	cmd, sc, stderr := startChild(t, crashChildEnv, path)
	n := 0
	killed := false
	if after == 0 {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed = true
	}
	for sc.Scan() {
		serial, st, ok := strings.Cut(sc.Text(), " ")
		s, perr := ParseState(st)
		if !ok || perr != nil {
			t.Errorf("run %d: child printed %q", run, sc.Text())
			continue
		}
		if s == Drawn {
			if prev, dup := drawnBy[serial]; dup {
				t.Errorf("run %d: serial %s drawn again (first drawn in run %d): re-issued", run, serial, prev)
			}
			drawnBy[serial] = run
		}
		acked[serial] = s // one goroutine drives a unit: its acks come in order
		n++
		if n == after && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err := cmd.Wait()
	if !killed {
		t.Fatalf("run %d: child exited by itself after %d acks: %v\n%s", run, n, err, stderr.String())
	}
	wantSIGKILL(t, run, err, stderr)
	return n
}

// crashKills is how many times a crash test kills its child: n, ten times
// as many under SERIALINE_SOAK=1. A -short run skips the test.
func crashKills(t *testing.T, n int) int {
	t.Helper()
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	if os.Getenv("SERIALINE_SOAK") == "1" {
		return 10 * n
	}
	return n
}

// wantSIGKILL fails the test unless err (cmd.Wait's) says the child died
// by SIGKILL; stderr is what the child wrote there.
func wantSIGKILL(t *testing.T, run int, err error, stderr *strings.Builder) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("run %d: child did not die by SIGKILL: %v\n%s", run, err, stderr.String())
	}
}

// crashCheck reopens the journal after a kill: recovery must leave no unit
// in flight, Verify must pass, and every acknowledged step must be in the
// unit's history.
func crashCheck(t *testing.T, path string, run int, acked map[string]State) {
	t.Helper()
	j, err := Open(path, nil)
	if err != nil {
		t.Fatalf("run %d: reopen: %v", run, err)
	}
	defer j.Close()
	rec := j.Recovery()
	if len(rec.CounterFixes) > 0 {
		t.Errorf("run %d: recovery had to fix counters of %v", run, rec.CounterFixes)
	}
	if rep, err := j.Verify(context.Background()); err != nil {
		t.Fatalf("run %d: verify after kill: %v\n%s", run, err, strings.Join(rep.Problems, "\n"))
	}
	c, err := j.Counters(crashBatch)
	if err != nil {
		t.Fatal(err)
	}
	if c.InFlight() != 0 {
		t.Errorf("run %d: %d units still in flight after recovery: %+v", run, c.InFlight(), c)
	}
	for _, s := range rec.Returned {
		if u, err := j.Unit(s); err != nil || u.State != Returned || len(u.History) != 2 {
			t.Errorf("run %d: recovered %s: %+v %v", run, s, u, err)
		}
	}
	for serial, st := range acked {
		u, err := j.Unit(serial)
		if err != nil {
			t.Errorf("run %d: acknowledged unit %s (%s) lost: %v", run, serial, st, err)
			continue
		}
		found := false
		for _, h := range u.History {
			found = found || h.State == st
		}
		if !found {
			t.Errorf("run %d: unit %s: acknowledged %s missing from history %+v", run, serial, st, u.History)
		}
		if st.Terminal() && u.State != st && !(st == Commissioned && (u.State == Sampled || u.State == Rejected)) {
			t.Errorf("run %d: unit %s: acknowledged final %s but now %s", run, serial, st, u.State)
		}
		if u.State.InFlight() {
			t.Errorf("run %d: unit %s still %s after recovery", run, serial, u.State)
		}
	}
}
