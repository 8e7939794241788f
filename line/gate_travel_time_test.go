package line_test

import (
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/linesim"
)

// TestTimeGateTravelCommissionsOnlyPassedPacksBelowDesignSpeed: with the
// gate travel given as a time ("250ms": the travel at the line's design
// speed of 120 products/s, 30 products between the print head and the
// gate) and a PLC that reports no pass results (gate_results "rejects" or
// "none"), the line runs at half its design speed (60 products/s: a
// slower product, a ramp-up, an operator's speed setting; design_speed is
// the maximum). The products then take 500 ms to reach the gate. A unit
// may be Commissioned only once its product has passed the gate, as the
// simulators record it.
//
// Today a travelling pass is commissioned once trigger time + gate_travel
// + verdict_margin has passed on the clock (gateLoop.passed), whatever the
// conveyor did meanwhile: at half speed each pack is commissioned while it
// is still half way to the gate, the drain at Completing ends as soon as
// the clock says so, the conveyor stops, and the batch's last packs stay
// on the conveyor in front of the gate, journaled (and reported upstream)
// as commissioned. The same happens whenever the conveyor stops without
// the controller ordering it (e-stop, downstream jam, the PLC's own
// watchdog). The verdict deadline is on the safe side when the line is
// slower (the product arrives later than the clock assumes); commissioning
// by the same clock is not.
func TestTimeGateTravelCommissionsOnlyPassedPacksBelowDesignSpeed(t *testing.T) {
	for _, mode := range []string{devices.GateResultsRejects, devices.GateResultsNone} {
		t.Run(mode, func(t *testing.T) {
			cfg := readBackConfig(t, mode)
			const rate = 60 // products/s actually running; the gate 30 products downstream
			l := startLine(t, linesim.Options{Rate: rate, GateDistance: 30, Config: &cfg,
				Controller: func(o *line.Options) {
					// the same gate, given as its travel time at the design
					// speed: 30 products at 120 products/s
					o.Config.Line.DesignSpeed = 2 * rate * 60
					o.Config.Cycle.GateTravel = config.GateTravel{Time: 250 * time.Millisecond}
					o.Config.Cycle.DecisionDeadline = 150 * time.Millisecond
				}})
			id := "TIMETRAVEL" + strings.ToUpper(mode)
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
