package linesim_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// truthJournal opens a fresh journal holding batch "B" with n drawn units
// and applies steps(serials) to them; journal verify runs at cleanup.
func truthJournal(t *testing.T, n int, steps func(s []string) []journal.Change) *journal.Journal {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := journal.Open(path, &journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rep, err := j.Verify(ctx)
		if err != nil || !rep.OK() {
			t.Errorf("journal verify: %v %v", err, rep.Problems)
		}
		j.Close()
	})
	const gtin = "09501101530003"
	pool := make([]string, n)
	for i := range pool {
		pool[i] = fmt.Sprintf("S%03d", i+1)
	}
	if err := j.ImportPool(ctx, journal.Pool{ID: "P1", GTIN: gtin, Serials: pool}); err != nil {
		t.Fatal(err)
	}
	if err := j.CreateBatch(ctx, journal.BatchDef{ID: "B", GTIN: gtin, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: n},
		journal.Actor{User: "op", Role: "operator"}); err != nil {
		t.Fatal(err)
	}
	us, err := j.Draw(ctx, "B", n)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = u.Serial
	}
	if err := j.Apply(ctx, steps(s)...); err != nil {
		t.Fatal(err)
	}
	return j
}

// commissioned are the steps of a unit commissioned on product seq.
func commissioned(serial string, seq uint64) []journal.Change {
	return []journal.Change{{Serial: serial, To: journal.Queued}, {Serial: serial, To: journal.Printed, Seq: seq},
		{Serial: serial, To: journal.Verified}, {Serial: serial, To: journal.Commissioned, Actor: journal.ActorPLC}}
}

func gate(g *linesim.GateLog, seq uint64, verdict int) {
	r := plcsim.GateResult{Seq: seq, Verdict: verdict, Result: devices.GatePassed}
	if verdict != devices.VerdictAccept {
		r.PushedOff, r.Result = true, devices.GateRejected
	}
	g.OnGate(r)
}

// TestCheckTruthFindsWhatTheJournalGetsWrong: the truth check is what the
// tests, BenchmarkLine and `serialine demo` trust to say that the journal
// agrees with what physically happened, so it must report each kind of
// disagreement. Today it only sees products that have reached the gate
// (GateLog.Records), so a serial printed a second time on a product still
// on its way to the gate when the batch ended goes unreported; and it
// lets a unit be Returned ("never printed": its serial goes back to the
// site server, which may issue it again) although the simulated printer
// printed it on a product that was pushed off.
func TestCheckTruthFindsWhatTheJournalGetsWrong(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(s []string) []journal.Change
		line  func(g *linesim.GateLog, s []string)
		want  string // in a violation
	}{{
		name:  "commissioned-pushed-off",
		steps: func(s []string) []journal.Change { return commissioned(s[0], 1) },
		line: func(g *linesim.GateLog, s []string) {
			g.Printed(1, "", s[0])
			gate(g, 1, devices.VerdictNone)
		},
		want: "commissioned but its product 1 was pushed off",
	}, {
		name: "serial-printed-again-before-the-gate",
		steps: func(s []string) []journal.Change {
			return commissioned(s[0], 1)
		},
		line: func(g *linesim.GateLog, s []string) {
			g.Printed(1, "", s[0])
			gate(g, 1, devices.VerdictAccept)
			g.Printed(2, "", s[0]) // the same serial again; product 2 has not reached the gate
		},
		want: "printed on two products",
	}, {
		name: "returned-but-printed-and-pushed-off",
		steps: func(s []string) []journal.Change {
			return []journal.Change{{Serial: s[0], To: journal.Queued},
				{Serial: s[0], To: journal.Returned, Reason: journal.ReasonQueueCleared, Detail: "printer said cleared"}}
		},
		line: func(g *linesim.GateLog, s []string) {
			g.Printed(1, "", s[0])
			gate(g, 1, devices.VerdictNone)
		},
		want: "returned",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var serials []string
			j := truthJournal(t, 2, func(s []string) []journal.Change { serials = s; return tc.steps(s) })
			g := linesim.NewGateLog()
			tc.line(g, serials)
			truth, err := linesim.CheckTruth(j, "B", g.Records())
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range truth.Violations {
				if strings.Contains(v, tc.want) {
					t.Logf("found: %s", v)
					return
				}
			}
			t.Errorf("truth check %q (violations %q), want one saying %q", truth, truth.Violations, tc.want)
		})
	}
}
