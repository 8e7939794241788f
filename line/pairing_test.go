package line_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/reconcile"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/store/journal"
)

// linkLossPLC is the real PLC client whose trigger stream goes away (as on a
// lost Modbus connection) at the at-th trigger, holding that trigger and
// every later one back until release is closed.
type linkLossPLC struct {
	line.PLC
	at      int
	n       int
	lost    chan struct{} // closed when the link "drops"
	release chan struct{}
	dropped bool
}

func (p *linkLossPLC) NextTrigger(ctx context.Context) (devices.Trigger, error) {
	if p.n+1 == p.at && !p.dropped {
		p.dropped = true
		close(p.lost)
		return devices.Trigger{}, fmt.Errorf("modbus: read counter: %w (simulated)", devices.ErrDisconnected)
	}
	if p.n+1 >= p.at {
		select {
		case <-p.release:
		case <-ctx.Done():
			return devices.Trigger{}, ctx.Err()
		}
	}
	t, err := p.PLC.NextTrigger(ctx)
	if err == nil {
		p.n++
	}
	return t, err
}

// TestPairingAfterLinkLossHold: the PLC link drops mid-batch (system hold);
// the operator unholds before the triggers of the products that passed
// just before the drop have come through, then they do. Every journal unit's
// PLC product (Seq) must be the product its record was printed on — else
// verdicts go to the neighbouring products.
func TestPairingAfterLinkLossHold(t *testing.T) {
	wrap := &linkLossPLC{at: 30, lost: make(chan struct{}), release: make(chan struct{})}
	l := startLine(t, linesim.Options{Rate: 60, WrapPLC: func(p line.PLC) line.PLC { wrap.PLC = p; return wrap }})
	var mu sync.Mutex
	printedOn := map[uint64]string{} // product seq -> record printed on it
	l.Printer.OnPrint(func(p printersim.Printed) {
		mu.Lock()
		printedOn[p.Seq] = p.RecordID
		mu.Unlock()
	})
	ctx := t.Context()
	c := l.Controller
	const id = "LINK1"
	startBatch(ctx, t, l, id, "L1", 90)
	<-wrap.lost
	waitState(t, l, time.Minute, packml.Held)
	if err := c.Command(ctx, id, api.Command{Name: api.CmdUnhold}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, time.Minute, packml.Execute)
	close(wrap.release) // the link is back: the held-back triggers arrive now
	runToComplete(t, l, id)

	mu.Lock()
	defer mu.Unlock()
	seqOf := map[string]uint64{}
	for seq, rec := range printedOn {
		seqOf[rec] = seq
	}
	gate := map[uint64]plcsim.GateResult{}
	for _, r := range l.PLC.Results() {
		gate[r.Seq] = r
	}
	wrong := 0
	err := l.Journal.Units(id, func(u journal.Unit) error {
		if u.Seq == 0 {
			return nil
		}
		if got, ok := printedOn[u.Seq]; ok && got != u.Serial {
			if wrong < 5 {
				fate := "unknown"
				if r, ok := gate[seqOf[u.Serial]]; ok {
					fate = fmt.Sprintf("pushed off %v", r.PushedOff)
				}
				t.Errorf("unit %s (%s) is journaled on product %d, but product %d carries %s; its own product %d: %s",
					u.Serial, u.State, u.Seq, u.Seq, got, seqOf[u.Serial], fate)
			}
			wrong++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if wrong > 0 {
		t.Errorf("%d units journaled on the wrong product", wrong)
	}
}

// TestPrinterReportStall: the printer keeps printing but its reports stall
// (connection open, print-starts and print-completes held back for longer
// than the pairing window) while the PLC keeps counting products. When the
// reports come, prints are not paired with the old triggers as if nothing
// happened: the line holds with the out-of-step alarm, the units printed
// meanwhile are uncertain, the batch completes after the operator resumes,
// and the journal agrees with what the simulators say happened at the gate.
func TestPrinterReportStall(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const id = "STALL1"
	done := make(chan error, 1)
	var rep reconcile.Report
	go func() {
		var err error
		rep, err = linesim.RunDemo(ctx, l, linesim.DemoOptions{Units: 400, BatchID: id, OperatorDelay: 20 * time.Millisecond})
		done <- err
	}()
	waitFor(t, "50 units commissioned", func() bool {
		ctr, err := l.Journal.Counters(id)
		return err == nil && ctr.Commissioned >= 50
	})
	from := l.PLC.Status().Produced
	l.Printer.StallReports()
	// the stall lasts while 60 products pass the printer (0.6 s at 100/s:
	// longer than the 250 ms pairing window)
	waitFor(t, "60 products during the stall", func() bool { return l.PLC.Status().Produced >= from+60 })
	l.Printer.ResumeReports()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatalf("reconciliation: %v", err)
	}
	as, err := l.Controller.Alarms(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	outOfStep := false
	for _, a := range as {
		outOfStep = outOfStep || a.Code == "PRN-OUT-OF-STEP"
	}
	if !outOfStep {
		t.Errorf("no out-of-step alarm after the printer's reports stalled: %+v", as)
	}
	truth, err := linesim.CheckTruth(l.Journal, id, l.GateLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; reconciliation %+v", truth, rep.Counts)
	for _, v := range truth.Violations {
		t.Error(v)
	}
}

// TestPrintReportedTwice: a printer that reports every print twice (its
// print-start and its print-complete re-sent, same record and print
// counter) printed one product per print, not two: the second report is
// not taken for another product, so no print is paired with the wrong
// trigger, no unit is uncertain, and the journal agrees with the
// simulators.
func TestPrintReportedTwice(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 100, Faults: linesim.PrinterFaults{DuplicateAckRate: 1}})
	const id = "TWICE1"
	startBatch(t.Context(), t, l, id, "L1", 120)
	runToComplete(t, l, id)
	ctr, err := l.Journal.Counters(id)
	if err != nil {
		t.Fatal(err)
	}
	if ctr.Uncertain != 0 || ctr.Commissioned != 120 {
		t.Errorf("counters %+v: want 120 commissioned, none uncertain", ctr)
	}
	truth, err := linesim.CheckTruth(l.Journal, id, l.GateLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(truth, "; duplicates sent:", l.Printer.Stats().Duplicates)
	for _, v := range truth.Violations {
		t.Error(v)
	}
}
