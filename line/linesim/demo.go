package linesim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/reconcile"
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
