package aggregate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/epcis/epcistest"
	"github.com/serialine/serialine/line/internal/linetest"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision/casecam"
)

const testGTIN = "09501101530003"

var (
	operator   = api.Actor{User: "olga", Role: "operator"}
	supervisor = api.Actor{User: "sam", Role: "supervisor"}
	signature  = api.Signature{User: "sam", Role: "supervisor", Meaning: api.MeaningApproved, Reason: "batch end"}
)

func startLine(t *testing.T, ao linesim.AggregateOptions) *linesim.Line {
	t.Helper()
	return linetest.StartLine(t, linesim.Options{Aggregate: &ao, Rate: 25, GateDistance: 12})
}

// waitFor polls cond (a condition on the line's state, not a duration)
// until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runBatch runs batch id of n units of testGTIN to Complete: defined,
// line clearance confirmed, started, unheld after every hold.
func runBatch(t *testing.T, l *linesim.Line, id string, n int) {
	t.Helper()
	ctx := context.Background()
	c := l.Controller
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: id, GTIN: testGTIN, Lot: "L" + id, Expiry: "281231", Profile: "eu-fmd", Target: n}, operator); err != nil {
		t.Fatal(err)
	}
	if err := linesim.ConfirmClearance(ctx, c, id, operator, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Command(ctx, id, api.Command{Name: api.CmdStart}, operator); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		st, err := c.WaitState(wctx, packml.Complete, packml.Held)
		if err != nil {
			t.Fatal(err)
		}
		if st == packml.Complete {
			return
		}
		if err := c.Command(ctx, id, api.Command{Name: api.CmdUnhold}, operator); err != nil {
			t.Fatalf("unhold: %v", err)
		}
		if _, err := c.WaitState(wctx, packml.Execute, packml.Complete); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAggregationLine: a batch over the whole simulated line, with case
// read faults: every case the camera read right is closed with exactly the
// packs physically in it and stacked on a pallet; bad reads go to the
// rework lane and are rebuilt at the manual station; the partial pallet is
// closed by a supervisor; the EPCIS aggregation documents the site server
// received validate and agree with the journal; the batch's aggregation
// balances.
func TestAggregationLine(t *testing.T) {
	l := startLine(t, linesim.AggregateOptions{CaseSize: 6, PalletSize: 3})
	ctx := context.Background()
	// one case with a hidden pack, one with a duplicated code
	l.Cases.Camera.Inject(casecam.Fault{Kind: casecam.FaultHide, N: 1})
	l.Cases.Camera.Inject(casecam.Fault{Kind: casecam.FaultDuplicate})
	runBatch(t, l, "B1", 42) // about 7 cases
	a := l.Aggregator
	t.Cleanup(func() {
		if t.Failed() {
			tr := l.Cases.Packer.Truth()
			st, _ := a.AggStatus(ctx)
			b, _ := json.MarshalIndent(st.LastCases, "", " ")
			t.Logf("truth: %d cases, %d loose packs; case plc %+v; unit plc %+v\nlast cases %s", len(tr.Cases), len(tr.Loose), l.Cases.PLC.Status(), l.PLC.Status(), b)
			for _, c := range tr.Cases {
				t.Logf("case %d: %d packs label %q passed %t reworked %t pallet %d", c.Seq, len(c.Serials), c.Label, c.Passed, c.Reworked, c.Pallet)
			}
		}
	})
	// The conveyor is run empty: the last packs pass the gate into the
	// packer; the packs left in it make a partial case, closed with a
	// supervisor's signature.
	l.PLC.Flush()
	waitFor(t, 10*time.Second, "every pack that passed the gate in the packer", func() bool {
		tr := l.Cases.Packer.Truth()
		n := len(tr.Loose)
		for _, c := range tr.Cases {
			n += len(c.Serials)
		}
		return uint64(n) == l.PLC.Status().Passed
	})
	waitFor(t, 10*time.Second, "full cases on the conveyor", func() bool { return len(l.Cases.Packer.Truth().Loose) < 6 })
	if len(l.Cases.Packer.Truth().Loose) > 0 {
		if _, err := a.StationCommand(ctx, "case", api.StationCommand{Command: "close-partial", Reason: "batch end"}, supervisor, &signature); err != nil {
			t.Fatal(err)
		}
		l.Cases.Packer.FlushPartial()
		waitFor(t, 10*time.Second, "the partial case on the conveyor", func() bool { return len(l.Cases.Packer.Truth().Loose) == 0 })
	}
	cases := len(l.Cases.Packer.Truth().Cases)
	waitFor(t, 30*time.Second, "every case decided", func() bool {
		tr := l.Cases.Packer.Truth()
		n := 0
		for _, c := range tr.Cases {
			if c.Passed || c.Reworked {
				n++
			}
		}
		return n == cases
	})
	tr := l.Cases.Packer.Truth()
	reworked, passed := 0, 0
	byCode := map[string]journal.Parent{}
	_ = l.Journal.Parents("B1", func(p journal.Parent) error { byCode[p.Code] = p; return nil })
	for _, c := range tr.Cases {
		switch {
		case c.Reworked:
			reworked++
		case c.Passed:
			passed++
			p, ok := byCode["00"+strings.TrimPrefix(c.Label, "00")]
			if !ok || p.State != journal.ParentClosed {
				t.Fatalf("case %d (label %s) passed to the palletiser but is %+v in the journal", c.Seq, c.Label, p)
			}
			got, want := slices.Sorted(slices.Values(p.Children)), slices.Sorted(slices.Values(c.Serials))
			if !slices.Equal(got, want) {
				t.Fatalf("case %s: journal children %v, physically %v", p.Code, got, want)
			}
		}
	}
	if reworked != 2 || passed != cases-2 {
		t.Fatalf("%d cases reworked, %d passed of %d; want 2 reworked (the faults)", reworked, passed, cases)
	}
	// Rebuild the rework cases at the manual station (HMI scan field).
	if _, err := a.StationCommand(ctx, "manual", api.StationCommand{Command: "mode", Mode: "case"}, operator, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range tr.Cases {
		if !c.Reworked {
			continue
		}
		// a refused scan aggregates nothing: a foreign code, then a unit of a passed case
		if r, _ := a.Scan(ctx, "manual", "(01)09501101530003(21)NOTOURS1", operator); r.OK {
			t.Fatalf("foreign code accepted: %+v", r)
		}
		for _, s := range c.Serials {
			r, err := a.Scan(ctx, "manual", "(01)"+testGTIN+"(17)281231(10)LB1(21)"+s, operator)
			if err != nil || !r.OK {
				t.Fatalf("manual scan of %s: %+v %v", s, r, err)
			}
		}
		st, _ := a.Station(ctx, "manual")
		if !st.AwaitLabel || st.Open == nil {
			t.Fatalf("full manual case not waiting for its label: %+v", st)
		}
		if r, _ := a.Scan(ctx, "manual", "(00)306141411234567891", operator); r.OK {
			t.Fatal("a foreign label closed the case")
		}
		lab, ok := l.Cases.ManualLabeller.Apply()
		if !ok {
			waitFor(t, 5*time.Second, "manual label", func() bool { return l.Cases.ManualLabeller.Waiting() > 0 })
			lab, _ = l.Cases.ManualLabeller.Apply()
		}
		data, sym, err := casecam.DecodeLinear(lab.Image)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := a.Scan(ctx, "manual", sym+data, operator); err != nil || !r.OK {
			t.Fatalf("label scan: %+v %v", r, err)
		}
		// the rebuilt case goes onto the pallet by hand (its label scanned
		// at the palletiser); a pallet it fills gets its label by hand too
		if r, err := a.Scan(ctx, "pallet", sym+data, operator); err != nil || !r.OK {
			t.Fatalf("pallet scan of the rebuilt case: %+v %v", r, err)
		}
		labelPalletByHand(t, l)
	}
	// The last pallet, partial, closed by a supervisor.
	if st, _ := a.Station(ctx, "pallet"); st.Open != nil {
		if _, err := a.StationCommand(ctx, "pallet", api.StationCommand{Command: "close-partial", Reason: "batch end"}, operator, &signature); err == nil {
			t.Fatal("partial close signed by someone else accepted")
		}
		if _, err := a.StationCommand(ctx, "pallet", api.StationCommand{Command: "close-partial", Reason: "batch end"}, supervisor, &signature); err != nil {
			t.Fatal(err)
		}
		labelPalletByHand(t, l)
	}
	packed := 0
	for _, c := range l.Cases.Packer.Truth().Cases {
		packed += len(c.Serials)
	}
	b, _ := l.Journal.Batch("B1")
	rec := waitRec(t, a, func(r api.AggReconciliation) bool { return r.CodesOpen == 0 })
	if rec.Aggregated != packed || rec.Levels[0].Full+rec.Levels[0].Partial != cases || len(rec.Orphans) != b.Counters.Commissioned-packed {
		t.Fatalf("reconciliation %+v: want %d units in %d cases", rec, packed, cases)
	}
	if _, err := a.FinishAggregation(ctx, "B1", supervisor, signature); err != nil {
		t.Fatal(err)
	}
	rec = waitRec(t, a, func(r api.AggReconciliation) bool { return r.PendingEvents == 0 && r.Finished != nil })
	if !rec.Balanced {
		t.Fatalf("not balanced: %+v", rec)
	}
	// Lookup both ways.
	first := tr.Cases[0]
	lk, err := a.AggLookup(ctx, first.Serials[0])
	if err != nil || len(lk.Chain) != 2 || lk.Chain[1].Level != "pallet" {
		t.Fatalf("lookup of a unit: %+v %v", lk, err)
	}
	pl, err := a.AggLookup(ctx, lk.Chain[1].Code)
	sum := 0
	for _, c := range pl.Contents.Parents {
		sum += len(c.Units)
	}
	if err != nil || pl.Units == 0 || len(pl.Contents.Parents) != pl.Parent.Count || pl.Units != sum {
		t.Fatalf("lookup of a pallet: %d units, %v", pl.Units, err)
	}
	checkEPCIS(t, l, "B1", l.Config.Line.CompanyPrefixLen)
	// The SSCCs not drawn went back to the site server with the finish.
	pools, err := l.Journal.IDPools()
	if err != nil {
		t.Fatal(err)
	}
	returned := 0
	for _, p := range pools {
		returned += p.Returned
		if p.Available != 0 {
			t.Errorf("SSCC pool %s: %d left after the finish", p.ID, p.Available)
		}
	}
	if got := len(l.Upstream.ReturnedSSCCs()); returned == 0 || got != returned {
		t.Fatalf("%d SSCCs returned in the journal, the site server received %d", returned, got)
	}
}

// labelPalletByHand: when the pallet station waits for a pallet label that
// the simulated palletiser will not apply (cases put on by hand), the
// operator takes the label and scans it.
func labelPalletByHand(t *testing.T, l *linesim.Line) {
	t.Helper()
	st, _ := l.Aggregator.Station(context.Background(), "pallet")
	if !st.AwaitLabel {
		return
	}
	waitFor(t, 5*time.Second, "pallet label", func() bool { return l.Cases.PalletLabeller.Waiting() > 0 })
	lab, _ := l.Cases.PalletLabeller.Apply()
	data, sym, err := casecam.DecodeLinear(lab.Image)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := l.Aggregator.Scan(context.Background(), "pallet", sym+data, operator); err != nil || !r.OK {
		t.Fatalf("pallet label scan: %+v %v", r, err)
	}
}

func waitRec(t *testing.T, a interface {
	AggReconciliation(context.Context, string) (api.AggReconciliation, error)
}, cond func(api.AggReconciliation) bool) api.AggReconciliation {
	t.Helper()
	var rec api.AggReconciliation
	waitFor(t, 15*time.Second, "aggregation reconciliation", func() bool {
		var err error
		rec, err = a.AggReconciliation(context.Background(), "B1")
		return err == nil && cond(rec)
	})
	return rec
}

// checkEPCIS: every aggregation document the site server received
// validates, and replaying them gives the hierarchy of batch in the
// journal (SSCC EPCs with company prefix length cp).
func checkEPCIS(t *testing.T, l *linesim.Line, batch string, cp int) {
	t.Helper()
	s := epcistest.Schema(t)
	waitFor(t, 15*time.Second, "outbox drained", func() bool {
		items, _ := l.Journal.OutboxPending(context.Background(), 0)
		return len(items) == 0
	})
	contents := map[string][]string{} // parent EPC -> children EPCs
	packs := 0
	for _, ev := range l.Upstream.Events() {
		epcistest.Validate(t, s, ev.Doc)
		var doc struct {
			Body struct {
				EventList []struct {
					Type      string   `json:"type"`
					Action    string   `json:"action"`
					ParentID  string   `json:"parentID"`
					ChildEPCs []string `json:"childEPCs"`
				} `json:"eventList"`
			} `json:"epcisBody"`
		}
		if err := json.Unmarshal(ev.Doc, &doc); err != nil {
			t.Fatal(err)
		}
		for _, e := range doc.Body.EventList {
			if e.Type != "AggregationEvent" {
				continue
			}
			switch e.Action {
			case "ADD":
				packs++
				contents[e.ParentID] = append(contents[e.ParentID], e.ChildEPCs...)
			case "DELETE":
				for _, c := range e.ChildEPCs {
					contents[e.ParentID] = slices.DeleteFunc(contents[e.ParentID], func(x string) bool { return x == c })
				}
			}
		}
	}
	closed := 0
	_ = l.Journal.Parents(batch, func(p journal.Parent) error {
		if p.State != journal.ParentClosed {
			return nil
		}
		closed++
		epc := fmt.Sprintf("urn:epc:id:sscc:%s.%s", p.Code[3:3+cp], p.Code[2:3]+p.Code[3+cp:19])
		if got := contents[epc]; len(got) != len(p.Children) {
			t.Errorf("%s: EPCIS says %d children, journal %d", epc, len(got), len(p.Children))
		}
		return nil
	})
	if closed == 0 || packs < closed {
		t.Fatalf("%d closed parents, %d packing events", closed, packs)
	}
	sort.Strings(nil)
}

// TestAggregationFromProductMaster: the product master drives the line.
// With no hierarchy in the aggregation config and no line-wide company
// prefix length, a batch of a GTIN whose company prefix length nobody
// knows is refused naming the GTIN; the demo product's master entry
// (levels case of 4 and pallet of 2, company prefix length 7, before the
// 8 of line.company_prefixes) makes the cases and pallets, and the EPCIS
// documents carry 7-digit company prefixes.
func TestAggregationFromProductMaster(t *testing.T) {
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Line.CompanyPrefixLen = 0
	cfg.Line.CompanyPrefixes = map[string]int{testGTIN: 8}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := linesim.Start(ctx, linesim.Options{Dir: t.TempDir(), Rate: 25, GateDistance: 12, Config: &cfg,
		Aggregate: &linesim.AggregateOptions{CaseSize: 4, PalletSize: 2, FromMaster: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := l.Close(); err != nil {
			t.Errorf("close line: %v", err)
		}
	})
	c := l.Controller
	const unknown = "09506000134352"
	_, err = c.CreateBatch(ctx, api.BatchDef{ID: "X1", GTIN: unknown, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 5}, operator)
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), unknown) {
		t.Fatalf("batch of a GTIN without company prefix length: %v", err)
	}
	if err := linesim.SeedProduct(ctx, c.Records(), linesim.DemoProduct(4, 2)); err != nil {
		t.Fatal(err)
	}
	runBatch(t, l, "PM1", 18)
	rec, err := linesim.FinishAggregation(ctx, l, "PM1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Levels) != 2 || rec.Levels[0].Name != "case" || rec.Levels[0].Capacity != 4 || rec.Levels[1].Name != "pallet" || rec.Levels[1].Capacity != 2 {
		t.Fatalf("levels %+v, want case of 4 and pallet of 2 (the product master's)", rec.Levels)
	}
	if !rec.Balanced || rec.Levels[0].Full == 0 {
		t.Fatalf("aggregation %+v", rec)
	}
	checkEPCIS(t, l, "PM1", 7)
	sgtins, ssccs := 0, 0
	for _, ev := range l.Upstream.Events() {
		doc := string(ev.Doc)
		sgtins += strings.Count(doc, "urn:epc:id:sgtin:9501101.0")
		ssccs += strings.Count(doc, "urn:epc:id:sscc:9501101.")
		if strings.Contains(doc, "urn:epc:id:sgtin:95011015.") || strings.Contains(doc, "urn:epc:id:sscc:95011015") {
			t.Fatalf("an EPC with the config's company prefix length 8 instead of the product master's 7:\n%s", doc)
		}
	}
	if sgtins == 0 || ssccs == 0 {
		t.Fatalf("EPCs with the product master's company prefix: %d SGTIN, %d SSCC", sgtins, ssccs)
	}
}
