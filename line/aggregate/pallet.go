package aggregate

import (
	"context"
	"fmt"
	"strings"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision"
)

// palletStation: every case label read at the palletiser adds the case to
// the open pallet; a full pallet (or a supervisor's partial close) gets
// its SSCC label, and the read of that label closes the pallet.
func (a *Aggregator) palletStation(ctx context.Context) {
	d := a.o.Pallet
	scans := make(chan labelScan, 256)
	a.readLoop(ctx, "pallet", "scanner", d.Scanner, nil, func(r vision.Result, err error) {
		s := labelScan{data: r.Data, err: err}
		if err == nil && r.NoRead {
			s.err = fmt.Errorf("no label read")
		}
		select {
		case scans <- s:
		case <-ctx.Done():
		}
	})
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.labellerLoop(ctx, "pallet", d.Labeller) }()
	a.setLink("pallet", api.LinkUp)
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-scans:
			data := s.data
			if s.err != nil {
				res := api.ScanResult{OK: false, Message: "palletiser: case label not read (" + s.err.Error() + "): take the case off and scan it at the manual station", At: a.now()}
				a.setLast("pallet", res)
				a.alarm(api.SeverityWarning, CodePalletNoRead, "", nil, res.Message)
				continue
			}
			res := a.palletScan(ctx, data, journal.Actor{})
			if !res.OK {
				a.alarm(api.SeverityWarning, CodePalletRefused, "", map[string]string{"detail": res.Message}, "palletiser: "+res.Message)
			} else {
				a.clearAlarm(condOf(CodePalletNoRead, ""))
				a.clearAlarm(condOf(CodePalletRefused, ""))
			}
		}
	}
}

func (a *Aggregator) setLast(st string, r api.ScanResult) {
	a.mu.Lock()
	if s := a.stations[st]; s != nil {
		rr := r
		s.last = &rr
	}
	a.mu.Unlock()
}

// palletScan handles one scan at the pallet station.
func (a *Aggregator) palletScan(ctx context.Context, code string, by journal.Actor) api.ScanResult {
	defer a.lockStation("pallet")()
	res := a.buildScan(ctx, "pallet", code, by)
	a.setLast("pallet", res)
	return res
}

// buildScan is one scan at a station building parents of one level above
// its children: the parent's label when it is awaited, else a child.
func (a *Aggregator) buildScan(ctx context.Context, stName, code string, by journal.Actor) api.ScanResult {
	res := api.ScanResult{Code: code, At: a.now()}
	fail := func(format string, args ...any) api.ScanResult {
		res.OK, res.Message = false, fmt.Sprintf(format, args...)
		return res
	}
	b, h, err := a.current()
	if err != nil {
		return fail("%v", err)
	}
	a.mu.Lock()
	st := a.stations[stName]
	mode, open, await := st.mode, st.open, st.awaitLabel
	a.mu.Unlock()
	levelName := mode
	if stName == "pallet" {
		levelName = "pallet"
	}
	lvl, ok := h.Level(levelName)
	if !ok {
		return fail("product %s has no level %q", b.GTIN, levelName)
	}
	sc := classify(code, b.GTIN)
	if sc.err != nil {
		return fail("%q: %v", code, sc.err)
	}
	if open != "" && !await {
		// A full parent whose label did not print (labeller down, a
		// restart): print it now, the scan waits for it.
		if p, err := a.j.Parent(open); err == nil && len(p.Children) >= p.Capacity {
			a.finishParent(ctx, stName, p, b)
			a.mu.Lock()
			await = st.awaitLabel
			a.mu.Unlock()
			if !await {
				return fail("%s %s is full and its label could not be printed: check the labeller", lvl.Name, hri(open))
			}
		}
	}
	if await {
		if sc.parent == open {
			r := a.closeOpen(ctx, stName, res)
			if r.OK {
				a.mu.Lock()
				queued := st.queued
				st.queued = nil
				a.mu.Unlock()
				for _, q := range queued {
					if qr := a.buildScan(ctx, stName, q.code, q.by); !qr.OK {
						a.alarm(api.SeverityWarning, CodePalletRefused, "", map[string]string{"detail": qr.Message}, fmt.Sprintf("%s station: %s", stName, qr.Message))
					}
				}
			}
			return r
		}
		if stName == "pallet" && lvl.ChildLevel != journal.UnitLevel && sc.parent != "" {
			// The palletiser already stacks the next pallet: this case
			// goes on it once the full pallet's label is read.
			a.mu.Lock()
			st.queued = append(st.queued, queuedScan{code: code, by: by})
			a.mu.Unlock()
			res.OK, res.Message = true, fmt.Sprintf("%s held for the next %s (%s waits for its label)", strings.TrimSpace(code), lvl.Name, hri(open))
			return res
		}
		return fail("%s %s is waiting for its label: scan the label (%s), not %s", lvl.Name, hri(open), hri(open), strings.TrimSpace(code))
	}
	child := sc.serial
	if lvl.ChildLevel != journal.UnitLevel {
		child = sc.parent
		if child == "" {
			return fail("%s: a %s takes %ss, this is a unit code", code, lvl.Name, lvl.ChildLevel)
		}
	} else if child == "" {
		return fail("%s: a %s takes units, this is %s", code, lvl.Name, hri(sc.parent))
	}
	var prob string
	if open != "" {
		prob, err = a.j.CheckChild(open, child)
	} else {
		prob, err = a.j.CheckCandidate(b.ID, lvl.ChildLevel, child)
	}
	if err != nil {
		return fail("%v", err)
	}
	if prob != "" {
		return fail("%s refused: %s", code, prob)
	}
	if open == "" {
		p, err := a.j.OpenParent(ctx, lvl.Spec(b.ID, stName), by)
		if err != nil {
			return fail("no code for a new %s: %v", lvl.Name, err)
		}
		open = p.Code
		a.mu.Lock()
		st.open = open
		a.mu.Unlock()
	}
	if err := a.j.AddChildren(ctx, open, []string{child}, by); err != nil {
		return fail("%s refused: %v", code, err)
	}
	p, err := a.j.Parent(open)
	if err != nil {
		return fail("%v", err)
	}
	res.OK = true
	res.Message = fmt.Sprintf("%s added: %s %s holds %d of %d", strings.TrimSpace(code), lvl.Name, hri(open), len(p.Children), p.Capacity)
	if len(p.Children) == p.Capacity {
		res.Message += "; full"
		if r := a.finishParent(ctx, stName, p, b); r != "" {
			res.Message += r
		}
		if q, err := a.j.Parent(open); err == nil {
			p = q
		}
	}
	ap := toParent(p)
	res.Parent = &ap
	return res
}

// finishParent prints a full (or partially closed) parent's label and
// waits for its scan; without a labeller it closes the parent at once.
func (a *Aggregator) finishParent(ctx context.Context, stName string, p journal.Parent, b journal.Batch) string {
	lab := a.labeller(stName)
	if lab == nil {
		r := a.closeOpen(ctx, stName, api.ScanResult{})
		return "; " + r.Message
	}
	rec, err := labelRecord(p.Code, fmt.Sprintf("%s %d x %s", strings.ToUpper(p.Level), len(p.Children), p.ChildLevel), "BATCH "+b.ID+"  LOT "+b.Lot)
	if err == nil {
		err = lab.Enqueue(ctx, rec)
	}
	if err != nil {
		a.alarm(api.SeverityFault, CodeLabelNotSent, stName, map[string]string{"station": stName, "detail": err.Error()},
			fmt.Sprintf("%s station: label of %s not printed: %v", stName, hri(p.Code), err))
		return "; label NOT printed: " + err.Error()
	}
	a.mu.Lock()
	a.stations[stName].awaitLabel = true
	a.mu.Unlock()
	return ": label printed, scan it to close"
}

func (a *Aggregator) labeller(stName string) printer.Driver {
	switch stName {
	case "pallet":
		if a.o.Pallet != nil {
			return a.o.Pallet.Labeller
		}
	case "manual":
		return a.o.ManualLabeller
	}
	return nil
}

// closeOpen closes a station's open parent (its label verified): full,
// or partial by the armed supervisor; a relabel moves the old parent's
// children to it in the same transaction.
func (a *Aggregator) closeOpen(ctx context.Context, stName string, res api.ScanResult) api.ScanResult {
	a.mu.Lock()
	st := a.stations[stName]
	open, partial, why, relabelOf := st.open, st.partial, st.partialWhy, st.relabelOf
	a.mu.Unlock()
	by := journal.Actor{}
	if partial != nil {
		by = *partial
	}
	err := a.j.Aggregate(ctx, func(t *journal.AggTx) error {
		if relabelOf != "" {
			old, err := t.Parent(relabelOf)
			if err != nil {
				return err
			}
			if err := t.Unpack(relabelOf, "relabelled as "+open, by); err != nil {
				return err
			}
			if err := t.Add(open, old.Children, by); err != nil {
				return err
			}
			return t.Close(open, old.Partial, "relabel of "+relabelOf, by)
		}
		return t.Close(open, partial != nil, why, by)
	})
	if err != nil {
		res.OK, res.Message = false, fmt.Sprintf("%s not closed: %v", hri(open), err)
		return res
	}
	a.mu.Lock()
	st.open, st.awaitLabel, st.partial, st.partialWhy, st.relabelOf = "", false, nil, "", ""
	a.mu.Unlock()
	a.kickReport()
	p, _ := a.j.Parent(open)
	ap := toParent(p)
	res.OK, res.Parent = true, &ap
	res.Message = fmt.Sprintf("%s %s closed with %d of %d", p.Level, hri(open), len(p.Children), p.Capacity)
	if p.Partial {
		res.Message += " (partial)"
	}
	return res
}
