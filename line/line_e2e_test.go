package line_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/epcis/epcistest"
	"github.com/serialine/serialine/line/internal/linetest"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/vision/camerasim"
)

var operator = api.Actor{User: "olga", Role: "operator"}

const testGTIN = "09501101530003"

func startLine(t *testing.T, o linesim.Options) *linesim.Line {
	t.Helper()
	return linetest.StartLine(t, o)
}

func waitState(t *testing.T, l *linesim.Line, d time.Duration, states ...packml.State) packml.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	st, err := l.Controller.WaitState(ctx, states...)
	if err != nil {
		diag(t, l)
		t.Fatalf("%v", err)
	}
	return st
}

// startBatch creates an eu-fmd batch id of target units of testGTIN
// (lot, expiry 281231) and starts it, as the operator.
func startBatch(ctx context.Context, t testing.TB, l *linesim.Line, id, lot string, target int) {
	t.Helper()
	c := l.Controller
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: id, GTIN: testGTIN, Lot: lot, Expiry: "281231", Profile: "eu-fmd", Target: target}, operator); err != nil {
		t.Fatal(err)
	}
	confirmClearance(ctx, t, c, id)
	if err := c.Command(ctx, id, api.Command{Name: api.CmdStart}, operator); err != nil {
		t.Fatal(err)
	}
}

// confirmClearance confirms batch id's line clearance as the operator
// would: every item of the checklist, e-signed.
func confirmClearance(ctx context.Context, t testing.TB, c *line.Controller, id string) {
	t.Helper()
	if err := linesim.ConfirmClearance(ctx, c, id, operator, nil); err != nil {
		t.Fatalf("line clearance of %s: %v", id, err)
	}
}

// missConfirmFirstReject makes the PLC's confirmation sensor miss rejects
// and the first read a no-read: the batch's one reject goes unconfirmed.
func missConfirmFirstReject(l *linesim.Line) {
	f := l.PLC.Faults()
	f.MissConfirm, f.MissConfirmCount = true, 1
	l.PLC.SetFaults(f)
	l.Camera.Inject(camerasim.Fault{Kind: camerasim.FaultNoRead})
}

func runBatch(t *testing.T, l *linesim.Line, id string, n int) api.Reconciliation {
	t.Helper()
	ctx := context.Background()
	c := l.Controller
	startBatch(ctx, t, l, id, "L"+id, n)
	runToComplete(t, l, id)
	rec, err := c.Reconciliation(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestBatchCleanRun: a whole batch over loopback with no fault: every
// unit commissioned, the reconciliation balances, the EPCIS events reach
// the site server and validate against GS1's schema.
func TestBatchCleanRun(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	rec := runBatch(t, l, "B1", 120)
	t.Logf("reconciliation: %+v", rec)
	if !rec.Balanced || rec.InFlight != 0 {
		t.Fatalf("reconciliation does not balance: %+v", rec)
	}
	if rec.Commissioned < 120 {
		t.Fatalf("commissioned %d, want >= 120: %+v", rec.Commissioned, rec)
	}
	if rec.Drawn != rec.Commissioned+rec.Rejected+rec.Sampled+rec.Returned+rec.Uncertain {
		t.Fatalf("drawn %d != sum: %+v", rec.Drawn, rec)
	}
	// EPCIS upstream: the commissioning events cover every commissioned unit.
	sch := epcistest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		n := 0
		upstreamEvents(t, l, func(doc []byte, e epcis.ObjectEvent) {
			if e.BizStep == "commissioning" {
				n += len(e.EPCList)
			}
		}, func(doc []byte) { epcistest.Validate(t, sch, doc) })
		if n == rec.Commissioned {
			break
		}
		if n > rec.Commissioned {
			t.Fatalf("%d commissioning EPCs upstream, %d commissioned", n, rec.Commissioned)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("site server has %d commissioning EPCs, want %d", n, rec.Commissioned)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestBatchEveryFault runs a whole batch while every kind of fault is
// injected over the real protocols: print defects (low grades, no-reads),
// wrong records printed and duplicate print acknowledgements, camera
// no-reads, mismatches, grade drops, garbled lines, late results and a
// camera disconnect, a missed reject confirmation, the PLC and printer
// connections dropped, the printer running out of ink, the site server
// down. The simulated operator clears each fault and resumes. The batch
// balances, no serial is printed on two products, and the journal agrees
// with what the simulators say happened to every product at the gate.
func TestBatchEveryFault(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 250, Faults: linesim.PrinterFaults{DefectRate: 0.05, MaxDefectSeverity: 0.9,
		WrongRecordRate: 0.004, DuplicateAckRate: 0.01}})
	var mu sync.Mutex
	printed := map[string]int{}
	l.Printer.OnPrint(func(p printersim.Printed) {
		mu.Lock()
		printed[p.RecordID]++
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Faults the demo injector does not: late results, disconnects.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		extra := []func(){
			func() { l.Camera.Inject(camerasim.Fault{Kind: camerasim.FaultLate, Delay: 2 * time.Second}) },
			func() { l.Camera.Disconnect() },
			func() { l.PLC.DropConnections() },
			func() { l.Printer.Disconnect() },
		}
		for i := 0; ; i++ {
			st, err := l.Controller.WaitState(ctx, packml.Execute)
			if err != nil || st != packml.Execute {
				return
			}
			tm := time.NewTimer(700 * time.Millisecond)
			select {
			case <-ctx.Done():
				tm.Stop()
				return
			case <-tm.C:
			}
			if _, s := l.Controller.State(); s == packml.Execute {
				extra[i%len(extra)]()
			}
		}
	}()
	rep, err := linesim.RunDemo(ctx, l, linesim.DemoOptions{Units: 1200, BatchID: "FAULTS", Faults: true,
		OperatorDelay: 50 * time.Millisecond, Progress: time.Second, Out: testWriter{t}})
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reconciliation: %+v rejects by reason %v", rep.Counts, rep.RejectsByReason)
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for id, n := range printed {
		if n > 1 {
			t.Errorf("serial %s printed %d times", id, n)
		}
	}
	mu.Unlock()
	if rep.Counts.Rejected == 0 || rep.Counts.Uncertain == 0 {
		t.Errorf("faults left no rejected or uncertain unit: %+v", rep.Counts)
	}
	// The journal tells what happened to every product (the simulators'
	// record).
	truth, err := linesim.CheckTruth(l.Journal, "FAULTS", l.GateLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(truth)
	for _, v := range truth.Violations {
		t.Error(v)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// diag logs the batch's state history and the alarms.
func diag(t *testing.T, l *linesim.Line) {
	t.Helper()
	ctx := context.Background()
	if id, _ := l.Controller.State(); id != "" {
		if b, err := l.Controller.Batch(ctx, id); err == nil {
			for _, h := range b.History {
				t.Logf("state %s -> %s by %s: %s", h.From, h.To, h.By.User, h.Reason)
			}
			t.Logf("counters %+v", b.Counters)
		}
	}
	as, _ := l.Controller.Alarms(ctx, false)
	for _, a := range as {
		t.Logf("alarm %s %s %s: %s", a.ID, a.Severity, a.Source, a.Text)
	}
}

// TestBatchOPCUA runs a batch with the PLC over OPC UA instead of Modbus.
func TestBatchOPCUA(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60, PLCProtocol: "opcua"})
	rec := runBatch(t, l, "UA1", 60)
	if !rec.Balanced || rec.Commissioned < 60 {
		t.Fatalf("reconciliation: %+v", rec)
	}
}

// runToComplete waits for the current batch to complete. A hold on the way
// (a loaded CI machine can starve the printer queue) is logged and resumed
// as an operator would, at most 5 times.
func runToComplete(t *testing.T, l *linesim.Line, id string) {
	t.Helper()
	for i := 0; ; i++ {
		st := waitState(t, l, 60*time.Second, packml.Complete, packml.Held)
		if st == packml.Complete {
			return
		}
		if i == 5 {
			diag(t, l)
			t.Fatal("held too often")
		}
		if b, err := l.Controller.Batch(context.Background(), id); err == nil && len(b.History) >= 2 {
			t.Logf("held: %s", b.History[len(b.History)-2].Reason)
		}
		if err := l.Controller.Command(context.Background(), id, api.Command{Name: api.CmdUnhold}, operator); err != nil {
			t.Fatal(err)
		}
		waitState(t, l, 30*time.Second, packml.Execute, packml.Complete, packml.Completing, packml.Held)
	}
}

// waitFor polls cond until it holds; only the test's own deadline (go test
// -timeout) bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-tk.C:
		}
	}
}

// upstreamEvents decodes every EPCIS document the site server received and
// calls each for every event in it; check, if given, sees each document
// first.
func upstreamEvents(t *testing.T, l *linesim.Line, each func(doc []byte, e epcis.ObjectEvent), check ...func(doc []byte)) {
	t.Helper()
	for _, ev := range l.Upstream.Events() {
		for _, c := range check {
			c(ev.Doc)
		}
		var d epcis.Document
		if err := json.Unmarshal(ev.Doc, &d); err != nil {
			t.Fatal(err)
		}
		for _, e := range d.Body.EventList {
			each(ev.Doc, e)
		}
	}
}
