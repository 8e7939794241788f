package linesim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/reconcile"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/grade"
)

// DemoOptions drive a demo batch on a running simulated line.
type DemoOptions struct {
	// Units is the batch's target quantity.
	Units int
	// BatchID names a new batch (default DEMO-<time>). A batch found
	// unfinished in the journal is continued instead.
	BatchID string
	// Faults injects the demo's realistic faults while the batch runs:
	// camera no-reads, mismatches and grade drops, a missed reject
	// confirmation, the site server going down, the printer running out of
	// ink. The simulated operator clears each fault and resumes the line.
	Faults bool
	// OperatorDelay is how long the simulated operator takes to react to a
	// hold (default 1s).
	OperatorDelay time.Duration
	// Progress is how often a progress line is printed (default 1s; 0 = 1s).
	Progress time.Duration
	// Out receives progress and the reconciliation.
	Out io.Writer
	// OnProgress, if set, is called with each progress snapshot.
	OnProgress func(api.Status)
}

// DemoGTIN is the product the demo's batches are of.
const DemoGTIN = "09501101530003"

// Operator is the demo's operator and supervisor: the actor of its commands.
var Operator = api.Actor{User: "demo-operator", Role: "operator"}

// RunDemo runs (or continues) one batch to Complete on l, injecting faults
// and playing the operator, printing progress to o.Out. It returns the
// batch's reconciliation report; the caller decides what an unbalanced one
// means.
func RunDemo(ctx context.Context, l *Line, o DemoOptions) (reconcile.Report, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.OperatorDelay <= 0 {
		o.OperatorDelay = time.Second
	}
	if o.Progress <= 0 {
		o.Progress = time.Second
	}
	c := l.Controller
	id, st := c.State()
	switch {
	case id != "" && !st.Final():
		fmt.Fprintf(o.Out, "continuing batch %s (state %s) found in the journal\n", id, st)
	default:
		if o.BatchID == "" {
			o.BatchID = "DEMO-" + time.Now().UTC().Format("20060102-150405")
		}
		id = o.BatchID
		def := api.BatchDef{ID: id, GTIN: DemoGTIN, Lot: "LOT" + time.Now().UTC().Format("0601"), Expiry: "281231",
			Profile: "eu-fmd", Target: o.Units}
		if _, err := c.CreateBatch(ctx, def, Operator); err != nil {
			return reconcile.Report{}, fmt.Errorf("demo: create batch: %w", err)
		}
		fmt.Fprintf(o.Out, "batch %s: GTIN %s lot %s expiry %s, %d units\n", id, def.GTIN, def.Lot, def.Expiry, def.Target)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(2)
	go func() { defer wg.Done(); operator(ctx, l, id, o) }()
	go func() { defer wg.Done(); progress(ctx, l, o) }()
	if o.Faults {
		wg.Add(1)
		go func() { defer wg.Done(); injectFaults(ctx, l, o) }()
	}
	// Complete, Stopped and Aborted are final: the batch is over either way
	// (an operator may stop it from the HMI) and is reconciled as it stands.
	if _, err := c.WaitState(ctx, packml.Complete, packml.Stopped, packml.Aborted); err != nil {
		return reconcile.Report{}, fmt.Errorf("demo: %w", err)
	}
	cancel()
	wg.Wait()
	rep, err := c.ReconcileReport(context.Background(), id)
	if err != nil {
		return reconcile.Report{}, err
	}
	return rep, nil
}

// operator starts the batch and resumes it after every hold, clearing the
// simulated fault behind it first. A final state (Complete, Stopped,
// Aborted) ends the demo batch; the operator never restarts it.
func operator(ctx context.Context, l *Line, id string, o DemoOptions) {
	c := l.Controller
	for ctx.Err() == nil {
		st, err := c.WaitState(ctx, packml.Idle, packml.Held, packml.Suspended)
		if err != nil {
			return
		}
		wait := time.NewTimer(o.OperatorDelay)
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		var cmd string
		switch st {
		case packml.Idle:
			if err := ConfirmClearance(ctx, c, id, Operator, o.Out); err != nil && ctx.Err() == nil {
				fmt.Fprintf(o.Out, "operator: line clearance refused: %v\n", err)
			}
			cmd = api.CmdStart
		case packml.Held:
			// Fix what the alarms say: refill ink, clear the PLC fault.
			l.Printer.Refill()
			f := l.PLC.Faults()
			f.MissConfirm, f.StallHeartbeat = false, false
			l.PLC.SetFaults(f)
			cmd = api.CmdUnhold
		case packml.Suspended:
			cmd = api.CmdUnsuspend
		}
		if err := c.Command(ctx, id, api.Command{Name: cmd, Reason: "demo operator"}, Operator); err != nil && ctx.Err() == nil {
			fmt.Fprintf(o.Out, "operator: %s refused: %v\n", cmd, err)
		}
		// Wait for the state to move on before looking again.
		if _, err := c.WaitState(ctx, packml.Starting, packml.Execute, packml.Unholding,
			packml.Complete, packml.Stopped, packml.Aborted, packml.Completing, packml.Unsuspending, packml.Holding); err != nil {
			return
		}
	}
}

// ConfirmClearance plays the person at the line clearance: batch id's
// checklist (the controller's) is walked item by item and confirmed with
// by's e-signature (meaning performed), recorded like any other (audit
// entry record.clearance). Nothing is done when the line needs no
// clearance or id has one; out (nil = none) gets one line.
func ConfirmClearance(ctx context.Context, c *line.Controller, id string, by api.Actor, out io.Writer) error {
	list := c.ClearanceChecklist()
	if len(list) == 0 {
		return nil
	}
	if _, ok := c.Clearance(id); ok {
		return nil
	}
	cl := records.Clearance{Batch: id, Note: "simulated operator: every check done at the line",
		Signer: records.Signer{User: by.User, FullName: "Demo operator (simulated)", Role: by.Role, Meaning: api.MeaningPerformed,
			Reason: "line clearance before batch " + id, At: time.Now()}}
	for _, it := range list {
		cl.Items = append(cl.Items, records.CheckItem{ID: it.ID, Text: it.Text})
	}
	if err := c.ConfirmClearance(ctx, cl); err != nil {
		return err
	}
	if out != nil {
		fmt.Fprintf(out, "operator: line clearance of batch %s confirmed (%d checks, e-signed by %s)\n", id, len(list), by.User)
	}
	return nil
}

// DemoProduct is the demo's product in the product master: GTIN DemoGTIN,
// company prefix length 7, packaging levels case of caseSize packs (SSCC)
// and pallet of palletSize cases (SSCC).
func DemoProduct(caseSize, palletSize int) records.Product {
	return records.Product{GTIN: DemoGTIN, Name: "Demo tablets 500 mg 20", Profile: "eu-fmd", GCPLength: 7, MinShelfLifeDays: 180,
		MaxBatch: 100000, Active: true, Levels: []records.Level{{Name: records.UnitLevel, Quantity: 1},
			{Name: "case", Quantity: caseSize, ID: "sscc"}, {Name: "pallet", Quantity: palletSize, ID: "sscc"}},
		Reason: "demo product"}
}

// SeedProduct puts p into the product master rs unless its current
// version already defines the same (a new version otherwise, e.g. other
// case and pallet sizes), by the system.
func SeedProduct(ctx context.Context, rs *records.Store, p records.Product) error {
	if cur, err := rs.Product(p.GTIN); err == nil && cur.Name == p.Name && cur.Profile == p.Profile && cur.GCPLength == p.GCPLength &&
		cur.Active == p.Active && records.LevelsText(cur.Levels) == records.LevelsText(p.Levels) {
		return nil
	}
	_, err := rs.SaveProduct(ctx, p, "system", "system")
	return err
}

// progress prints one line per period.
func progress(ctx context.Context, l *Line, o DemoOptions) {
	t := time.NewTicker(o.Progress)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := l.Controller.Status(ctx)
		if err != nil || s.Batch == nil {
			continue
		}
		k := s.Batch.Counters
		fmt.Fprintf(o.Out, "%-10s %-11s good %6d  rejected %4d  uncertain %3d  returned %4d  in flight %3d  %6.0f/min  alarms %d\n",
			s.Batch.ID, s.State, k.Commissioned, k.Rejected, k.Uncertain, k.Returned, s.InFlight, s.RatePerMin, s.ActiveAlarms)
		if o.OnProgress != nil {
			o.OnProgress(s)
		}
	}
}

// injectFaults injects one realistic fault every few seconds.
func injectFaults(ctx context.Context, l *Line, o DemoOptions) {
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kinds := []func(){
		func() { l.Camera.Inject(camerasim.Fault{Kind: camerasim.FaultNoRead}) },
		func() {
			l.Camera.Inject(camerasim.Fault{Kind: camerasim.FaultMismatch, Data: "0109501101530003172812311OTHER\x1d21FORGED1"})
		},
		func() { l.Camera.Inject(camerasim.Fault{Kind: camerasim.FaultGradeDrop, Param: grade.SC, Grade: 1.0}) },
		func() { l.Camera.Inject(camerasim.Fault{Kind: camerasim.FaultGarble, Data: "||:garbled line%%"}) },
		func() {
			f := l.PLC.Faults()
			f.MissConfirm, f.MissConfirmCount = true, 1
			l.PLC.SetFaults(f)
		},
		func() {
			l.Upstream.SetDown(true)
			t := time.NewTimer(3 * time.Second)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			l.Upstream.SetDown(false)
		},
		func() { l.Printer.InjectFault(printersim.FaultInkLow) },
		func() { l.Printer.InjectFault(printersim.FaultInkOut) },
	}
	period := 4 * time.Second
	t := time.NewTicker(period)
	defer t.Stop()
	i := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, st := l.Controller.State(); st != packml.Execute {
			continue
		}
		k := i % len(kinds)
		if i >= len(kinds) {
			k = rnd.IntN(len(kinds))
		}
		i++
		kinds[k]()
	}
}
