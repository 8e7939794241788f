package journal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The aggregation crash test: a child process packs commissioned units into
// cases of 4 and cases into pallets of 3 as fast as it can (some cases are
// unpacked again), printing one line per durable step ("open CODE", "case
// CODE", "pallet CODE", "unpack CODE"). The parent SIGKILLs it at random
// moments — during case and pallet closing — reopens the journal and checks
// Verify (hierarchy included) and that every acknowledged step is there.

const aggCrashChildEnv = "SERIALINE_JOURNAL_AGG_CRASH_CHILD"

func aggCrashChild(path string) error {
	ctx := context.Background()
	j, err := Open(path, nil)
	if err != nil {
		return err
	}
	ack := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 9))
	var cases []string
	for {
		if n, err := j.PoolLevel(testGTIN); err != nil {
			return err
		} else if n < 4 {
			ps, _ := j.Pools()
			id := fmt.Sprintf("P%d", len(ps)+1)
			if err := j.ImportPool(ctx, Pool{ID: id, GTIN: testGTIN, Serials: serials(id+"-", 200)}); err != nil {
				return err
			}
		}
		us, err := j.Draw(ctx, crashBatch, 4)
		if err != nil {
			return err
		}
		var ch []Change
		for i, u := range us {
			ch = append(ch, Change{Serial: u.Serial, To: Queued}, Change{Serial: u.Serial, To: Printed, Seq: uint64(i + 1)},
				Change{Serial: u.Serial, To: Verified}, Change{Serial: u.Serial, To: Commissioned})
		}
		if err := j.Apply(ctx, ch...); err != nil {
			return err
		}
		c, err := j.OpenParent(ctx, ParentSpec{Batch: crashBatch, Level: "case", ChildLevel: UnitLevel, Capacity: 4, Kind: IDSSCC}, Actor{})
		if err != nil {
			return err
		}
		ack("open %s", c.Code)
		serials := []string{us[0].Serial, us[1].Serial, us[2].Serial, us[3].Serial}
		if err := j.Aggregate(ctx, func(a *AggTx) error {
			if err := a.Add(c.Code, serials, Actor{}); err != nil {
				return err
			}
			return a.Close(c.Code, false, "", Actor{})
		}); err != nil {
			return err
		}
		ack("case %s", c.Code)
		if rng.IntN(8) == 0 {
			if err := j.Unpack(ctx, c.Code, "rework", Actor{User: "sam", Role: "supervisor"}); err != nil {
				return err
			}
			ack("unpack %s", c.Code)
			continue
		}
		cases = append(cases, c.Code)
		if len(cases) == 3 {
			p, err := j.OpenParent(ctx, ParentSpec{Batch: crashBatch, Level: "pallet", ChildLevel: "case", Capacity: 3, Kind: IDSSCC}, Actor{})
			if err != nil {
				return err
			}
			ack("open %s", p.Code)
			if err := j.Aggregate(ctx, func(a *AggTx) error {
				if err := a.Add(p.Code, cases, Actor{}); err != nil {
					return err
				}
				return a.Close(p.Code, false, "", Actor{})
			}); err != nil {
				return err
			}
			ack("pallet %s", p.Code)
			cases = nil
		}
	}
}

func TestAggCrashKill9(t *testing.T) {
	kills := crashKills(t, 25)
	path := filepath.Join(t.TempDir(), "agg.db")
	j, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = errors.Join(j.CreateBatch(ctx, BatchDef{ID: crashBatch, GTIN: testGTIN, Lot: "L", Expiry: "301231"}, Actor{}),
		j.ImportSSCCRange(ctx, SSCCRange{ID: "R", Extension: 1, CompanyPrefix: "0614141", First: 1, Last: 999_999}))
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	opened := map[string]int{}   // code -> run that drew it
	final := map[string]string{} // code -> last acknowledged step
	steps := 0
	for run := range kills {
		after := 1 + rng.IntN(120)
		cmd, sc, stderr := startChild(t, aggCrashChildEnv, path)
		n := 0
		for sc.Scan() {
			op, code, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				t.Fatalf("run %d: child printed %q", run, sc.Text())
			}
			if op == "open" {
				if prev, dup := opened[code]; dup {
					t.Fatalf("run %d: code %s drawn again (first in run %d)", run, code, prev)
				}
				opened[code] = run
			}
			final[code] = op
			n++
			if n == after {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		wantSIGKILL(t, run, cmd.Wait(), stderr)
		steps += n
		j, err := Open(path, nil)
		if err != nil {
			t.Fatalf("run %d: reopen: %v", run, err)
		}
		if rep, err := j.Verify(ctx); err != nil {
			j.Close()
			t.Fatalf("run %d: verify after kill: %v\n%s", run, err, strings.Join(rep.Problems, "\n"))
		}
		for code, op := range final {
			p, err := j.Parent(code)
			if err != nil {
				t.Fatalf("run %d: acknowledged %s %s lost: %v", run, op, code, err)
			}
			switch op {
			case "case", "pallet":
				// closed, or since unpacked / its pallet reopened by a later unacknowledged step
				if p.State == ParentOpen && !p.Commissioned() {
					t.Errorf("run %d: %s %s acknowledged closed, journal says %s", run, op, code, p.State)
				}
			case "unpack":
				if p.State != ParentUnpacked {
					t.Errorf("run %d: unpack %s acknowledged, journal says %s", run, code, p.State)
				}
			}
		}
		j.Close()
		if t.Failed() {
			return
		}
	}
	t.Logf("%d kills, %d acknowledged aggregation steps, %d codes drawn", kills, steps, len(opened))
}
