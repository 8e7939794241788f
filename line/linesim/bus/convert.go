package bus

import (
	"fmt"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/vision/camerasim"
)

// PrintedOf is the bus message for a print of the printer simulator
// (printersim.Server.OnPrint); the image is not sent (Shot renders it).
func PrintedOf(p printersim.Printed) Printed {
	m := Printed{Seq: p.Seq, At: p.At, Record: p.RecordID, Data: p.Data, Seed: p.Seed}
	for _, d := range p.Defects {
		m.Defects = append(m.Defects, Defect{Kind: d.Kind, Severity: d.Severity})
	}
	return m
}

// Shot is what the camera sees of a print: the element string rendered as
// the printer simulator does (printersim.DefaultRender), with the same
// defects applied from the same seed, and the defects themselves (they
// set the grades of the parameters they degrade). A print without data is
// a shot without image (a no-read).
func (p Printed) Shot() (camerasim.Shot, error) {
	sh := camerasim.Shot{Seq: p.Seq, Ref: p.Record}
	pd := make([]printersim.Defect, len(p.Defects))
	for i, d := range p.Defects {
		pd[i] = printersim.Defect{Kind: d.Kind, Severity: d.Severity}
		sh.Defects = append(sh.Defects, camerasim.Defect{Kind: d.Kind, Severity: d.Severity})
	}
	if p.Data == "" {
		return sh, nil
	}
	img, err := printersim.DefaultRender(p.Data)
	if err != nil {
		return camerasim.Shot{}, fmt.Errorf("bus: printed %d (record %s): render: %w", p.Seq, p.Record, err)
	}
	sh.Image = printersim.ApplyDefects(img, pd, p.Seed)
	return sh, nil
}

// GateOf is the bus message for a product leaving the PLC simulator's
// gate (plcsim.Sim.OnGate).
func GateOf(r plcsim.GateResult) Gate {
	g := Gate{Seq: r.Seq, Verdict: VerdictNone, Pushed: r.PushedOff}
	switch r.Verdict {
	case devices.VerdictAccept:
		g.Verdict = VerdictPass
	case devices.VerdictReject:
		g.Verdict = VerdictReject
	}
	switch r.Result {
	case devices.GatePassed:
		g.Result = ResultPassed
	case devices.GateRejected:
		g.Result = ResultRejected
	case devices.GateUnconfirmed:
		g.Result = ResultUnconfirmed
	}
	return g
}

// GateResult is g as the PLC simulator reports it (plcsim.GateResult).
func (g Gate) GateResult() plcsim.GateResult {
	r := plcsim.GateResult{Seq: g.Seq, Verdict: devices.VerdictNone, PushedOff: g.Pushed}
	switch g.Verdict {
	case VerdictPass:
		r.Verdict = devices.VerdictAccept
	case VerdictReject:
		r.Verdict = devices.VerdictReject
	}
	switch g.Result {
	case ResultPassed:
		r.Result = devices.GatePassed
	case ResultRejected:
		r.Result = devices.GateRejected
	case ResultUnconfirmed:
		r.Result = devices.GateUnconfirmed
	}
	return r
}
