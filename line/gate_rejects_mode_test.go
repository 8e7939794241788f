package line_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision/camerasim"
)

// rejectsModeLine starts the simulated line (Modbus) with the PLC reading
// back reject confirmations only (devices gate_results "rejects"), the
// confirmation table read every confirmPoll.
func rejectsModeLine(t *testing.T, rate float64, confirmPoll time.Duration) *linesim.Line {
	t.Helper()
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	mb := *cfg.Devices.PLC.Modbus
	mb.GateResults = devices.GateResultsRejects
	if confirmPoll > 0 {
		mb.ConfirmPoll = confirmPoll
	}
	cfg.Devices.PLC.Modbus = &mb
	return startLine(t, linesim.Options{Rate: rate, Config: &cfg})
}

// runHeld runs batch id to Complete, unholding (as the operator) every
// hold on the way, at most max times; it returns the hold reasons.
func runHeld(t *testing.T, l *linesim.Line, id string, max int) []string {
	t.Helper()
	var holds []string
	for {
		st := waitState(t, l, 90*time.Second, packml.Complete, packml.Held)
		if st == packml.Complete {
			return holds
		}
		if b, err := l.Controller.Batch(context.Background(), id); err == nil && len(b.History) >= 2 {
			holds = append(holds, b.History[len(b.History)-2].Reason)
		}
		if len(holds) > max {
			diag(t, l)
			t.Fatalf("held %d times: %q", len(holds), holds)
		}
		if err := l.Controller.Command(context.Background(), id, api.Command{Name: api.CmdUnhold}, operator); err != nil {
			t.Fatal(err)
		}
		waitState(t, l, 30*time.Second, packml.Execute, packml.Complete, packml.Completing, packml.Held)
	}
}

// TestRejectsModeConfirmedRejectsStayConfirmed: with a PLC that reports
// reject confirmations only (gate_results "rejects") and confirms every
// reject (no sensor fault), no unit may be journaled "reject not
// confirmed": that annotation tells QA the pack may still be on the line
// and needs a deviation close-out. Bursts of no-reads put several rejects
// between the camera and the gate at once, so more than one confirmation
// is in the PLC's table when the controller reads it (every 20 ms at
// 250 products/s). Today those results reach the gate loop out of product
// order (the Modbus reader queues them in Go map order); the loop takes a
// later product's result as the loss of the earlier ones' and an earlier
// product's result as a PLC restart, so confirmed rejects are annotated
// reject-not-confirmed and the line holds for nothing.
func TestRejectsModeConfirmedRejectsStayConfirmed(t *testing.T) {
	l := rejectsModeLine(t, 250, 20*time.Millisecond)
	// 8 bursts of 4 no-reads, 6 good reads between them
	for range 8 {
		for range 4 {
			l.Camera.Inject(camerasim.Fault{Kind: camerasim.FaultNoRead})
		}
		for range 6 {
			l.Camera.Inject(camerasim.Fault{}) // no fault: a good read
		}
	}
	const id = "REJMODE1"
	startBatch(t.Context(), t, l, id, "L1", 150)
	holds := runHeld(t, l, id, 40)
	if st := l.PLC.Status(); st.ConfirmMissed != 0 || st.Rejected == 0 {
		t.Fatalf("PLC status %+v: want rejects, every one confirmed by the sensor", st)
	}
	var notConfirmed []string
	if err := l.Journal.Units(id, func(u journal.Unit) error {
		if u.Reason == journal.ReasonRejectNotConfirmed {
			notConfirmed = append(notConfirmed, u.Serial)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(notConfirmed) > 0 {
		t.Errorf("%d unit(s) journaled reject-not-confirmed although the PLC confirmed every reject (holds: %q): %v",
			len(notConfirmed), holds, notConfirmed)
	}
}

// TestReadBackModesCommissionOnlyPassedPacks: where the PLC reports no
// pass results (gate_results "rejects" or "none") a unit may still be
// Commissioned only once its product has passed the gate, as the
// simulators record it. A clean batch of 90 units at 60 products/s, the
// gate 30 products downstream: today the unit is Commissioned as soon as
// its pass verdict is in the PLC, the drain at Completing waits only for
// products with a pending gate result (none for passes in these modes),
// and the line stops with the last ~30 commissioned packs between the
// printer and the gate. The journal (and EPCIS) call them commissioned;
// line clearance then takes them off the line, so serials are active
// upstream with no pack behind them.
func TestReadBackModesCommissionOnlyPassedPacks(t *testing.T) {
	for _, mode := range []string{devices.GateResultsRejects, devices.GateResultsNone} {
		t.Run(mode, func(t *testing.T) {
			cfg, err := linesim.DemoConfig()
			if err != nil {
				t.Fatal(err)
			}
			mb := *cfg.Devices.PLC.Modbus
			mb.GateResults = mode
			cfg.Devices.PLC.Modbus = &mb
			l := startLine(t, linesim.Options{Rate: 60, Config: &cfg})
			id := "PASSED" + strings.ToUpper(mode)
			startBatch(t.Context(), t, l, id, "L1", 90)
			runToComplete(t, l, id)
			truth, err := linesim.CheckTruth(l.Journal, id, l.GateLog())
			if err != nil {
				t.Fatal(err)
			}
			t.Log(truth, "; on the conveyor:", l.PLC.Status().InFlight)
			for _, v := range truth.Violations {
				t.Error(v)
			}
		})
	}
}
