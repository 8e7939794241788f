package linesim

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/store/journal"
)

// GateRecord is what physically happened to one product, from the
// simulators' side only (the printer sim's print and the PLC sim's gate),
// never from the controller: the ground truth the journal is checked
// against. One JSON object per line in `serialine demo --gate-log FILE`.
type GateRecord struct {
	// Seq is the PLC's product sequence id.
	Seq uint64 `json:"seq"`
	// Serial is what the simulated printer put on the product (AI 21 of the
	// printed element string); "" when it passed the head unprinted.
	Serial string `json:"serial"`
	// VerdictAtGate is the verdict the PLC found when the product reached
	// the gate: "pass", "reject" or "none" (none had arrived).
	VerdictAtGate string `json:"verdict_at_gate"`
	// Outcome is "passed", "pushed" (off the line) or "on-conveyor"
	// (printed, not at the gate yet when the log was taken; VerdictAtGate
	// is then "").
	Outcome string `json:"outcome"`
}

// GateLog joins what the printer simulator put on each product and what
// the PLC simulator's gate did to it, by product seq: the simulators' own
// record of the line, never the controller's. Safe for concurrent use.
type GateLog struct {
	mu      sync.Mutex
	printed map[uint64]string // seq -> serial printed on it
	gate    []plcsim.GateResult
}

// NewGateLog returns an empty log.
func NewGateLog() *GateLog { return &GateLog{printed: map[uint64]string{}} }

// OnPrint records a print (printersim.Server.OnPrint).
func (g *GateLog) OnPrint(p printersim.Printed) { g.Printed(p.Seq, p.Data, p.RecordID) }

// Printed records that product seq was printed with element string data
// (record id as the fallback serial when data has no AI 21).
func (g *GateLog) Printed(seq uint64, data, record string) {
	serial := record
	if m, err := gs1.ParseRaw(data); err == nil {
		if v, ok := m.Value("21"); ok {
			serial = v
		}
	}
	g.mu.Lock()
	g.printed[seq] = serial
	g.mu.Unlock()
}

// OnGate records a product leaving the gate (plcsim.Sim.OnGate).
func (g *GateLog) OnGate(r plcsim.GateResult) {
	g.mu.Lock()
	g.gate = append(g.gate, r)
	g.mu.Unlock()
}

// Records returns one record per product that reached the gate, in gate
// order, then one per printed product not at the gate yet (on the
// conveyor), in product order.
func (g *GateLog) Records() []GateRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]GateRecord, len(g.gate), len(g.gate)+len(g.printed))
	atGate := make(map[uint64]bool, len(g.gate))
	for i, r := range g.gate {
		atGate[r.Seq] = true
		rec := GateRecord{Seq: r.Seq, Serial: g.printed[r.Seq], VerdictAtGate: "none", Outcome: "passed"}
		switch r.Verdict {
		case devices.VerdictAccept:
			rec.VerdictAtGate = "pass"
		case devices.VerdictReject:
			rec.VerdictAtGate = "reject"
		}
		if r.PushedOff {
			rec.Outcome = "pushed"
		}
		out[i] = rec
	}
	var on []GateRecord
	for seq, serial := range g.printed {
		if !atGate[seq] && serial != "" {
			on = append(on, GateRecord{Seq: seq, Serial: serial, Outcome: "on-conveyor"})
		}
	}
	slices.SortFunc(on, func(a, b GateRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	return append(out, on...)
}

// GateLog returns what physically happened to every product printed or at
// the gate so far (GateLog.Records; from the simulators' record only).
func (l *Line) GateLog() []GateRecord { return l.gates.Records() }

// WriteGateLog writes the gate log as JSON lines.
func WriteGateLog(w io.Writer, recs []GateRecord) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("gate log: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gate log: %w", err)
	}
	return nil
}

// Truth is the result of checking a journal against the gate log.
type Truth struct {
	// Products at the gate; Printed of them carried a serial.
	Products, Printed int
	// Passed and Pushed products (with a serial).
	Passed, Pushed int
	// OnConveyor: printed products not at the gate yet.
	OnConveyor int
	// Violations lists every disagreement between the journal and what
	// physically happened (empty: the journal tells the truth).
	Violations []string
}

// OK reports whether the journal agrees with the gate log.
func (t Truth) OK() bool { return len(t.Violations) == 0 }

func (t Truth) String() string {
	s := fmt.Sprintf("%d products at the gate (%d printed: %d passed, %d pushed off)", t.Products, t.Printed, t.Passed, t.Pushed)
	if t.OnConveyor > 0 {
		s += fmt.Sprintf(", %d printed still on the conveyor", t.OnConveyor)
	}
	if t.OK() {
		return s + ": the journal agrees with every one"
	}
	return fmt.Sprintf("%s: %d disagreement(s) with the journal", s, len(t.Violations))
}

// maxViolations bounds the violations listed (the count is still right).
const maxViolations = 50

// CheckTruth checks the journal's units of batch against what the
// simulators say happened to each product (recs: GateLog.Records): a
// serial on two products (at the gate or still on the conveyor),
// Commissioned ⇒ its product passed the gate, Rejected ⇒ not passed, a
// printed serial never Returned (returned serials may be issued again), a
// passed product with a serial never Rejected, every Commissioned unit of
// the batch seen passing the gate, a unit's product seq the product its
// serial was printed on, and no product without a code passing the gate.
func CheckTruth(j *journal.Journal, batch string, recs []GateRecord) (Truth, error) {
	var t Truth
	n := 0
	bad := func(format string, args ...any) {
		n++
		if len(t.Violations) < maxViolations {
			t.Violations = append(t.Violations, fmt.Sprintf(format, args...))
		}
	}
	onProduct := map[string]GateRecord{}
	for _, r := range recs {
		if r.Outcome == "on-conveyor" {
			t.OnConveyor++
		} else {
			t.Products++
		}
		if r.Serial == "" {
			if r.Outcome == "passed" {
				bad("product %d passed the gate without a printed code (verdict at the gate: %s)", r.Seq, r.VerdictAtGate)
			}
			continue
		}
		switch r.Outcome {
		case "passed":
			t.Printed++
			t.Passed++
		case "pushed":
			t.Printed++
			t.Pushed++
		}
		if prev, ok := onProduct[r.Serial]; ok {
			bad("serial %s printed on two products (%d and %d)", r.Serial, prev.Seq, r.Seq)
			continue
		}
		onProduct[r.Serial] = r
	}
	serials := make([]string, 0, len(onProduct))
	for s := range onProduct {
		serials = append(serials, s)
	}
	slices.Sort(serials)
	for _, s := range serials {
		r := onProduct[s]
		u, err := j.Unit(s)
		if err != nil {
			bad("serial %s printed on product %d is not in the journal: %v", s, r.Seq, err)
			continue
		}
		if u.Batch != batch {
			continue
		}
		switch {
		case u.State == journal.Commissioned && r.Outcome == "on-conveyor":
			bad("unit %s is commissioned but its product %d has not reached the gate", s, r.Seq)
		case u.State == journal.Commissioned && r.Outcome != "passed":
			bad("unit %s is commissioned but its product %d was pushed off (verdict at the gate: %s)", s, r.Seq, r.VerdictAtGate)
		case u.State == journal.Rejected && r.Outcome == "passed":
			bad("unit %s is rejected (%s) but its product %d passed the gate (verdict at the gate: %s)", s, u.Reason, r.Seq, r.VerdictAtGate)
		case u.State == journal.Returned:
			bad("unit %s is returned (%s) but the printer printed it on product %d (%s)", s, u.Reason, r.Seq, r.Outcome)
		}
		if u.Seq != 0 && u.Seq != r.Seq {
			bad("unit %s is journaled on product %d but was printed on product %d", s, u.Seq, r.Seq)
		}
	}
	err := j.Units(batch, func(u journal.Unit) error {
		if u.State != journal.Commissioned {
			return nil
		}
		if r, ok := onProduct[u.Serial]; !ok || r.Outcome != "passed" {
			bad("unit %s is commissioned but no product carrying it passed the gate", u.Serial)
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("truth check: %w", err)
	}
	if n > len(t.Violations) {
		t.Violations = append(t.Violations, fmt.Sprintf("… and %d more", n-len(t.Violations)))
	}
	return t, nil
}
