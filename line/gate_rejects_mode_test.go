package line_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
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
	cfg := readBackConfig(t, devices.GateResultsRejects)
	if confirmPoll > 0 {
		cfg.Devices.PLC.Modbus.ConfirmPoll = confirmPoll
	}
	return startLine(t, linesim.Options{Rate: rate, Config: &cfg})
}

// readBackConfig is the demo config with the PLC (Modbus) reading back
// gate results in mode (devices gate_results).
func readBackConfig(t *testing.T, mode string) config.Config {
	t.Helper()
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	mb := *cfg.Devices.PLC.Modbus
	mb.GateResults = mode
	cfg.Devices.PLC.Modbus = &mb
	return cfg
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
			cfg := readBackConfig(t, mode)
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

// lostReplyOutagePLC is the real PLC client with one fault: the reply to
// the n-th accept verdict is lost after the PLC applied the write, and the
// PLC's Modbus server goes down at that moment (the controller's reject
// overwrite for that product fails to connect) until the test brings it
// back.
type lostReplyOutagePLC struct {
	line.PLC
	sim    *plcsim.Sim
	n      int
	mu     sync.Mutex
	passes int
	lost   uint64
	down   chan struct{}
}

func (p *lostReplyOutagePLC) DecideBatch(ctx context.Context, vs []devices.Verdict) error {
	if err := p.PLC.DecideBatch(ctx, vs); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lost != 0 {
		return nil
	}
	for _, v := range vs {
		if v.Reject {
			continue
		}
		if p.passes++; p.passes == p.n {
			p.lost = v.Seq
			if err := p.sim.SetOffline(true, true); err != nil {
				return err
			}
			close(p.down)
			return &devices.VerdictError{Undelivered: []uint64{v.Seq},
				Err: errors.New("modbus: read reply: i/o timeout (simulated: the write reached the PLC, then the link went down)")}
		}
	}
	return nil
}

func (p *lostReplyOutagePLC) lostSeq() uint64 { p.mu.Lock(); defer p.mu.Unlock(); return p.lost }

// TestRejectsModeUnknownPassThatPassedNotRejected: with gate_results
// "rejects", an accept verdict reached the PLC but its reply was lost and
// the PLC link went down; the controller's reject overwrite could not be
// written, so the product passes the gate with its pass verdict. While the
// link is down more products pass than the confirmation table has slots,
// so the product's own result is overwritten before it can be read. The
// controller cannot know what happened: the unit must be Uncertain (or
// Commissioned), never Rejected — a Rejected unit is reported destroyed
// upstream while its pack is in the market. Today the reject watch turns
// "slot taken by a later product" into GateUnconfirmed ("pushed off, the
// sensor did not see it"), and the gate loop settles the unknown pass as
// Rejected: "the gate pushed the product off". (With a real rejects-only
// PLC, which writes nothing for a passed product, the same happens without
// any outage once the confirm window ends.)
func TestRejectsModeUnknownPassThatPassedNotRejected(t *testing.T) {
	cfg := readBackConfig(t, devices.GateResultsRejects)
	wrap := &lostReplyOutagePLC{n: 10, down: make(chan struct{})}
	l := startLine(t, linesim.Options{Rate: 60, Config: &cfg, WrapPLC: func(p line.PLC) line.PLC {
		wrap.PLC = p
		return wrap
	}})
	wrap.sim = l.PLC
	const id = "UNKPASS1"
	startBatch(t.Context(), t, l, id, "L1", 200)
	<-wrap.down
	seq := wrap.lostSeq()
	slots := uint64(l.Config.Devices.PLC.Modbus.Registers.Slots)
	// products enough to carry the product through the gate and a later
	// product's result into its confirmation slot
	l.PLC.Produce(int(slots) + 2*linesim.DefaultGateDistance(60))
	var at *plcsim.GateResult
	for _, r := range l.PLC.Results() {
		if r.Seq == seq {
			at = &r
		}
	}
	if at == nil || at.PushedOff || at.Verdict != devices.VerdictAccept {
		t.Fatalf("product %d at the gate: %+v, want passed with the accept verdict whose reply was lost", seq, at)
	}
	if err := l.PLC.SetOffline(false, false); err != nil {
		t.Fatal(err)
	}
	var u journal.Unit
	waitFor(t, fmt.Sprintf("the unit of product %d to be settled", seq), func() bool {
		found := false
		_ = l.Journal.Units(id, func(x journal.Unit) error {
			if x.Seq == seq {
				u, found = x, true
			}
			return nil
		})
		return found && u.State != journal.Verified && u.State != journal.Printed
	})
	if u.State == journal.Rejected {
		t.Fatalf("unit %s (product %d) is rejected (%s: %s), but its product passed the gate with a pass verdict",
			u.Serial, seq, u.Reason, u.Detail)
	}
	t.Logf("unit %s (product %d): %s %s", u.Serial, seq, u.State, u.Reason)
}
