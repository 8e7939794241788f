package line_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// TestGateTruthAtLineSpeeds runs a batch at 3,000, 30,000 and 60,000
// units/min with the simulators' realistic device timing and faults on
// (print defects, wrong records, duplicate acknowledgements, the demo's
// camera, PLC, site server and ink faults, the simulated operator
// resuming the line) and checks the journal against the simulators' own
// record of every product at the gate: a serial on one product only,
// Commissioned only when its product passed the gate, Rejected only when
// it was pushed off, a passed product with a serial never Rejected or
// Returned. How fast the line got there is the benchmark's business
// (BenchmarkLine); here only the truth counts, whatever the load.
func TestGateTruthAtLineSpeeds(t *testing.T) {
	for _, c := range []struct {
		perMin, units int
	}{{3000, 200}, {30000, 800}, {60000, 1500}} {
		if raceEnabled && c.units > 400 {
			// the race detector's slowdown turns most of a long batch at
			// line speed into late verdicts and no-reads; the truth check
			// needs only enough of them
			c.units = 400
		}
		t.Run(fmt.Sprintf("rate=%d", c.perMin), func(t *testing.T) {
			perSec := float64(c.perMin) / 60
			cfg, err := linesim.DemoConfig()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Pools.RequestSize = c.units + 2000
			cfg.Pools.LowWater = c.units + 1000
			l := startLine(t, linesim.Options{Rate: perSec, Realistic: true, Config: &cfg,
				Faults: linesim.PrinterFaults{DefectRate: 0.03, MaxDefectSeverity: 0.9, WrongRecordRate: 0.003, DuplicateAckRate: 0.01}})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			id := fmt.Sprintf("TRUTH%d", c.perMin)
			rep, err := linesim.RunDemo(ctx, l, linesim.DemoOptions{Units: c.units, BatchID: id, Faults: true,
				OperatorDelay: 20 * time.Millisecond, Out: testWriter{t}})
			if err != nil {
				diag(t, l)
				t.Fatal(err)
			}
			if err := rep.Err(); err != nil {
				t.Fatalf("reconciliation: %v", err)
			}
			// the simulated operator confirmed the line clearance before Start, as a person does
			if cl, ok := l.Controller.Records().Clearance(id); !ok || cl.Signer.User != linesim.Operator.User || len(cl.Items) != len(l.Controller.ClearanceChecklist()) {
				t.Fatalf("line clearance of the demo batch: %+v %t", cl, ok)
			}
			truth, err := linesim.CheckTruth(l.Journal, id, l.GateLog())
			if err != nil {
				t.Fatal(err)
			}
			t.Log(truth)
			for _, v := range truth.Violations {
				t.Error(v)
			}
			if truth.Printed < c.units {
				t.Errorf("%d printed products at the gate, want at least the %d commissioned", truth.Printed, c.units)
			}
			late := 0
			if err := l.Journal.Units(id, func(u journal.Unit) error {
				if u.Reason == journal.ReasonLateVerdict {
					late++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d late verdicts (rejected), reconciliation %+v, rejects by reason %v", late, rep.Counts, rep.RejectsByReason)
		})
	}
}
