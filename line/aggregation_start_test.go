package line_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// TestStartRefusedWhileEarlierAggregationOpen: a batch ends with a case
// still open at the manual station (3 of 20); the next batch's Start is
// refused, naming the case and what to do, and draws nothing; once a
// supervisor unpacks the case in rework the next batch starts.
func TestStartRefusedWhileEarlierAggregationOpen(t *testing.T) {
	l := startLine(t, linesim.Options{Aggregate: &linesim.AggregateOptions{CaseSize: 20, PalletSize: 5}, Rate: 25, GateDistance: 12})
	ctx := context.Background()
	c, a := l.Controller, l.Aggregator
	runBatch(t, l, "B-01", 8)
	units, _, err := l.Journal.Orphans("B-01")
	if err != nil || len(units) < 3 {
		t.Fatalf("B-01 commissioned units in no case: %v, %v", units, err)
	}
	if _, err := a.StationCommand(ctx, "manual", api.StationCommand{Command: "mode", Mode: "case"}, operator, nil); err != nil {
		t.Fatal(err)
	}
	// the batch end returned the SSCCs it did not use; the aggregation
	// fetches new ones for the case to open
	waitFor(t, "SSCCs to open a case with", func() bool { n, err := l.Journal.IDLevel(journal.IDSSCC, ""); return err == nil && n > 0 })
	for _, s := range units[:3] {
		if r, err := a.Scan(ctx, "manual", "(01)"+testGTIN+"(17)281231(10)LB-01(21)"+s, operator); err != nil || !r.OK {
			t.Fatalf("manual scan of %s: %+v %v", s, r, err)
		}
	}
	st, err := a.Station(ctx, "manual")
	if err != nil || st.Open == nil || st.Open.Count != 3 {
		t.Fatalf("manual station: %+v %v", st, err)
	}
	open := st.Open.Code
	// the aggregation's own answer (the API refuses signing B-01 with it)
	if err := a.AggOpen(ctx, "B-01"); !errors.Is(err, api.ErrRefused) || !strings.Contains(err.Error(), "case "+open+" (3 of 20)") {
		t.Fatalf("AggOpen(B-01) with the case open: %v", err)
	}

	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "B-03", GTIN: testGTIN, Lot: "LB-03", Expiry: "281231", Profile: "eu-fmd", Target: 8}, operator); err != nil {
		t.Fatal(err)
	}
	confirmClearance(ctx, t, c, "B-03")
	err = c.Command(ctx, "B-03", api.Command{Name: api.CmdStart}, operator)
	if !errors.Is(err, line.ErrClearance) || !errors.Is(err, api.ErrRefused) {
		t.Fatalf("start of B-03 with a case of B-01 open: %v", err)
	}
	for _, want := range []string{`batch "B-01" has 1 aggregation parent(s) still open: case ` + open + " (3 of 20)",
		"partial", "supervisor", "unpack", "start B-03"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
	if b, _ := c.Batch(ctx, "B-03"); b.State != "Idle" || b.Counters.Drawn != 0 {
		t.Fatalf("after the refusal B-03 is %s with %d drawn", b.State, b.Counters.Drawn)
	}

	sig := api.Signature{User: supervisor.User, Role: supervisor.Role, Meaning: api.MeaningApproved, Reason: "left open at B-01's end"}
	if _, err := a.Rework(ctx, api.ReworkRequest{Action: "unpack", Parent: open, Reason: sig.Reason}, supervisor, sig); err != nil {
		t.Fatalf("unpack %s: %v", open, err)
	}
	if p, err := l.Journal.Parent(open); err != nil || p.State == journal.ParentOpen {
		t.Fatalf("after the unpack: %+v %v", p, err)
	}
	if err := a.AggOpen(ctx, "B-01"); err != nil {
		t.Fatalf("AggOpen(B-01) once the case is unpacked: %v", err)
	}
	if err := c.Command(ctx, "B-03", api.Command{Name: api.CmdStart}, operator); err != nil {
		t.Fatalf("start of B-03 once B-01's case is unpacked: %v", err)
	}
	runToComplete(t, l, "B-03")
}
