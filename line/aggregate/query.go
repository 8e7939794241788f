package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
)

// UnitActor is the controller's supervisor unit action (*line.Controller):
// orphans are decommissioned through it, so their EPCIS document is built
// and journaled with the step as for any late supervisor action.
type UnitActor interface {
	UnitAction(ctx context.Context, serial string, action api.UnitActionKind, reason string, by api.Actor) (api.Unit, error)
}

// SetUnitActor sets the controller that decommissions orphans (call before
// Run).
func (a *Aggregator) SetUnitActor(u UnitActor) { a.units = u }

// AggStatus implements api.Aggregation.
func (a *Aggregator) AggStatus(ctx context.Context) (api.AggStatus, error) {
	out := api.AggStatus{Enabled: true, At: a.now()}
	if n, err := a.j.IDLevel(journal.IDSSCC, ""); err == nil {
		out.SSCCLeft = n
	}
	a.mu.Lock()
	for _, n := range []string{"case", "pallet", "manual"} {
		if st := a.stations[n]; st != nil {
			out.Stations = append(out.Stations, a.stationLocked(st))
		}
	}
	out.LastCases = slices.Clone(a.cases)
	a.mu.Unlock()
	slices.Reverse(out.LastCases)
	if len(out.LastCases) > 12 {
		out.LastCases = out.LastCases[:12]
	}
	b, _, err := a.current()
	if err != nil {
		return out, nil
	}
	out.Batch = b.ID
	a.mu.Lock()
	out.Rework = a.rework[b.ID]
	a.mu.Unlock()
	rec, err := a.AggReconciliation(ctx, b.ID)
	if err == nil {
		out.Levels = rec.Levels
		out.Orphans = len(rec.Orphans)
	}
	for _, s := range out.Stations {
		if s.Name == "pallet" && s.Open != nil {
			p := *s.Open
			out.Pallet = &p
		}
	}
	return out, nil
}

// AggLookup implements api.Aggregation.
func (a *Aggregator) AggLookup(ctx context.Context, code string) (api.AggLookup, error) {
	gtin := ""
	if b, _, err := a.current(); err == nil {
		gtin = b.GTIN
	}
	sc := classify(code, gtin)
	if sc.err != nil {
		return api.AggLookup{}, fmt.Errorf("code %q: %v: %w", code, sc.err, api.ErrBadRequest)
	}
	out := api.AggLookup{Code: code}
	if sc.parent == "" && sc.gtin == "" && len(sc.serial) == 20 && strings.HasPrefix(sc.serial, "00") {
		sc.parent = sc.serial // an SSCC typed without brackets
	}
	if sc.parent != "" {
		t, err := a.j.Contents(sc.parent)
		if err != nil {
			return api.AggLookup{}, fmt.Errorf("%s: %w", hri(sc.parent), wrap(err))
		}
		out.Kind = "parent"
		p := toParent(t.Parent)
		out.Parent = &p
		tree := toTree(t)
		out.Contents = &tree
		out.Units = t.UnitCount()
		in := t.In
		for i := 0; in != "" && i < 16; i++ {
			q, err := a.j.Parent(in)
			if err != nil {
				break
			}
			out.Chain = append(out.Chain, toParent(q))
			in = q.In
		}
		return out, nil
	}
	u, err := a.j.Unit(sc.serial)
	if err != nil {
		return api.AggLookup{}, fmt.Errorf("unit %s: %w", sc.serial, wrap(err))
	}
	out.Kind = "unit"
	au := toUnit(u)
	out.Unit = &au
	chain, err := a.j.Chain(sc.serial)
	if err != nil {
		return api.AggLookup{}, wrap(err)
	}
	for _, p := range chain {
		out.Chain = append(out.Chain, toParent(p))
	}
	return out, nil
}

func toUnit(u journal.Unit) api.Unit {
	out := api.Unit{Serial: u.Serial, GTIN: u.GTIN, Batch: u.Batch, State: u.State.String(), Reason: u.Reason.String(), Seq: u.Seq}
	if n := len(u.History); n > 0 {
		out.Updated = u.History[n-1].At
	}
	out.Assess()
	return out
}

func toTree(t journal.Tree) api.AggTree {
	out := api.AggTree{AggParent: toParent(t.Parent)}
	out.Children = nil
	for _, c := range t.Parents {
		out.Parents = append(out.Parents, toTree(c))
	}
	for _, u := range t.Units {
		out.Units = append(out.Units, toUnit(u))
	}
	return out
}

// Rework implements api.Aggregation: unpack, remove children, relabel.
func (a *Aggregator) Rework(ctx context.Context, req api.ReworkRequest, by api.Actor, sig api.Signature) (api.AggParent, error) {
	if sig.User == "" || sig.User != by.User {
		return api.AggParent{}, fmt.Errorf("rework needs the supervisor's own e-signature: %w", api.ErrRefused)
	}
	who := actorOf(by)
	gtin := ""
	if b, _, err := a.current(); err == nil {
		gtin = b.GTIN
	}
	sc := classify(req.Parent, gtin)
	code := sc.parent
	if code == "" {
		return api.AggParent{}, fmt.Errorf("%q is not a case or pallet code: %w", req.Parent, api.ErrBadRequest)
	}
	reason := strings.TrimSpace(req.Reason + " [e-signed " + sig.Meaning + "]")
	var err error
	switch req.Action {
	case "unpack":
		err = a.j.Unpack(ctx, code, reason, who)
	case "remove":
		var children []string
		p, perr := a.j.Parent(code)
		if perr != nil {
			return api.AggParent{}, wrap(perr)
		}
		for _, c := range req.Children {
			cs := classify(c, gtin)
			if p.ChildLevel == journal.UnitLevel {
				children = append(children, cs.serial)
			} else {
				children = append(children, cs.parent)
			}
		}
		err = a.j.RemoveChildren(ctx, code, children, reason, who)
	case "relabel":
		return a.relabel(ctx, code, reason, who)
	default:
		return api.AggParent{}, fmt.Errorf("action %q: %w", req.Action, api.ErrBadRequest)
	}
	if err != nil {
		return api.AggParent{}, wrap(err)
	}
	a.kickReport()
	p, err := a.j.Parent(code)
	if err != nil {
		return api.AggParent{}, wrap(err)
	}
	return toParent(p), nil
}

// relabel gives a closed parent a new code at the manual station: the new
// label is printed and, once its scan is verified, the children move and
// the old code is decommissioned in one transaction (closeOpen). Without a
// label printer at the station the move happens at once.
func (a *Aggregator) relabel(ctx context.Context, old, reason string, by journal.Actor) (api.AggParent, error) {
	p, err := a.j.Parent(old)
	if err != nil {
		return api.AggParent{}, wrap(err)
	}
	if p.State != journal.ParentClosed {
		return api.AggParent{}, fmt.Errorf("%s is %s: only a closed %s is relabelled: %w", hri(old), p.State, p.Level, api.ErrRefused)
	}
	b, h, err := a.current()
	if err != nil || b.ID != p.Batch {
		if b2, err2 := a.j.Batch(p.Batch); err2 == nil {
			b = b2
			h, err = a.hier.Hierarchy(b.GTIN, b.CreatedAt)
		}
	}
	if err != nil {
		return api.AggParent{}, err
	}
	lvl, ok := h.Level(p.Level)
	if !ok {
		return api.AggParent{}, fmt.Errorf("level %s unknown for GTIN %s: %w", p.Level, b.GTIN, api.ErrRefused)
	}
	defer a.lockStation("manual")()
	a.mu.Lock()
	st := a.stations["manual"]
	if st.open != "" {
		a.mu.Unlock()
		return api.AggParent{}, fmt.Errorf("the manual station has %s open: finish or cancel it first: %w", hri(st.open), api.ErrRefused)
	}
	a.mu.Unlock()
	np, err := a.j.OpenParent(ctx, lvl.Spec(p.Batch, "manual"), by)
	if err != nil {
		return api.AggParent{}, wrap(err)
	}
	a.mu.Lock()
	st.open, st.relabelOf, st.partial, st.partialWhy, st.mode = np.Code, old, &by, reason, lvl.Name
	a.mu.Unlock()
	if a.o.ManualLabeller == nil {
		r := a.closeOpen(ctx, "manual", api.ScanResult{})
		if !r.OK {
			return api.AggParent{}, fmt.Errorf("%s: %w", r.Message, api.ErrRefused)
		}
		return *r.Parent, nil
	}
	a.finishParent(ctx, "manual", journal.Parent{Code: np.Code, Level: p.Level, ChildLevel: p.ChildLevel, Children: p.Children}, b)
	q, _ := a.j.Parent(np.Code)
	return toParent(q), nil
}

// AggReconciliation implements api.Aggregation: per level, units and codes.
func (a *Aggregator) AggReconciliation(ctx context.Context, batch string) (api.AggReconciliation, error) {
	b, err := a.j.Batch(batch)
	if err != nil {
		return api.AggReconciliation{}, fmt.Errorf("batch %s: %w", batch, wrap(err))
	}
	out := api.AggReconciliation{Batch: batch, Generated: a.now(), OrphanPolicy: a.orphanPolicy()}
	h, herr := a.hier.Hierarchy(b.GTIN, b.CreatedAt)
	levels := map[string]*api.AggLevel{}
	if herr == nil {
		for _, l := range h.Levels {
			out.Levels = append(out.Levels, api.AggLevel{Name: l.Name, Capacity: l.Quantity})
		}
		for i := range out.Levels {
			levels[out.Levels[i].Name] = &out.Levels[i]
		}
	}
	err = a.j.Parents(batch, func(p journal.Parent) error {
		out.CodesDrawn++
		l := levels[p.Level]
		if l == nil {
			out.Levels = append(out.Levels, api.AggLevel{Name: p.Level, Capacity: p.Capacity})
			levels = map[string]*api.AggLevel{}
			for i := range out.Levels {
				levels[out.Levels[i].Name] = &out.Levels[i]
			}
			l = levels[p.Level]
		}
		switch p.State {
		case journal.ParentOpen:
			l.Open++
			out.CodesOpen++
			out.Problems = append(out.Problems, fmt.Sprintf("%s %s open (%d of %d)", p.Level, hri(p.Code), len(p.Children), p.Capacity))
		case journal.ParentClosed:
			out.CodesUsed++
			if p.Partial {
				l.Partial++
			} else {
				l.Full++
			}
		case journal.ParentUnpacked:
			out.CodesRetired++
		case journal.ParentVoid:
			out.CodesScrapped++
		}
		return nil
	})
	if err != nil {
		return out, wrap(err)
	}
	orphans, aggregated, err := a.j.Orphans(batch)
	if err != nil {
		return out, wrap(err)
	}
	out.Orphans, out.Aggregated = orphans, aggregated
	out.Commissioned = aggregated + len(orphans)
	if len(orphans) > 0 && out.OrphanPolicy == "decommission" {
		out.Problems = append(out.Problems, fmt.Sprintf("%d commissioned unit(s) in no case: decommissioned when the aggregation is finished", len(orphans)))
	}
	// Cases not on a pallet are orphans of the next level.
	if herr == nil && len(h.Levels) > 1 {
		for _, l := range h.Levels[:len(h.Levels)-1] {
			loose := 0
			_ = a.j.Parents(batch, func(p journal.Parent) error {
				if p.Level == l.Name && p.State == journal.ParentClosed && p.In == "" {
					loose++
				}
				return nil
			})
			if loose > 0 {
				out.Problems = append(out.Problems, fmt.Sprintf("%d closed %s(s) on no %s", loose, l.Name, h.Levels[len(h.Levels)-1].Name))
			}
		}
	}
	a.mu.Lock()
	out.ReworkCases = a.rework[batch]
	out.Finished = a.finished[batch]
	a.mu.Unlock()
	if out.Finished == nil {
		out.Finished = a.finishedFromAudit(ctx, batch)
	}
	_, out.PendingEvents, _ = a.j.AggReporting(batch)
	out.Balanced = len(out.Problems) == 0 && out.CodesDrawn == out.CodesUsed+out.CodesRetired+out.CodesScrapped
	return out, nil
}

func (a *Aggregator) orphanPolicy() string {
	if a.o.Config.Orphans == "" {
		return "allow"
	}
	return a.o.Config.Orphans
}

// finishedFromAudit reads the batch's aggregation finish signature from the
// audit trail.
func (a *Aggregator) finishedFromAudit(ctx context.Context, batch string) *api.Signature {
	var found *api.Signature
	_ = a.j.Audit(ctx, journal.AuditFilter{Action: "aggregation.finish"}, func(e journal.AuditEntry) error {
		var s api.Signature
		if e.Before == batch && json.Unmarshal([]byte(e.After), &s) == nil {
			found = &s
		}
		return nil
	})
	if found != nil {
		a.mu.Lock()
		a.finished[batch] = found
		a.mu.Unlock()
	}
	return found
}

// AggOpen implements api.AggOpener: nil when no parent of the batch is
// open, else the journal's answer naming them (wrapping api.ErrRefused).
func (a *Aggregator) AggOpen(_ context.Context, batch string) error {
	return wrap(a.j.AggOpen(batch))
}

// FinishAggregation implements api.Aggregation: the batch is final, no
// parent is open, orphans are decommissioned (policy decommission) through
// the controller; the signature goes to the audit trail.
func (a *Aggregator) FinishAggregation(ctx context.Context, batch string, by api.Actor, sig api.Signature) (api.AggReconciliation, error) {
	b, err := a.j.Batch(batch)
	if err != nil {
		return api.AggReconciliation{}, fmt.Errorf("batch %s: %w", batch, wrap(err))
	}
	final := false
	for _, h := range b.History {
		if s, err := packml.ParseState(h.State); err == nil && s.Final() {
			final = true
		}
	}
	if !final {
		return api.AggReconciliation{}, fmt.Errorf("batch %s is %s: finish its aggregation once it is complete, stopped or aborted: %w", batch, b.State, api.ErrInvalidState)
	}
	if sig.User == "" || sig.User != by.User {
		return api.AggReconciliation{}, fmt.Errorf("finishing the aggregation needs the supervisor's own e-signature: %w", api.ErrRefused)
	}
	rec, err := a.AggReconciliation(ctx, batch)
	if err != nil {
		return rec, err
	}
	if rec.Finished != nil {
		return rec, fmt.Errorf("aggregation of batch %s already finished by %s: %w", batch, rec.Finished.User, api.ErrInvalidState)
	}
	if rec.CodesOpen > 0 {
		return rec, fmt.Errorf("batch %s: %d parent(s) still open (close them partial or cancel them first): %w", batch, rec.CodesOpen, api.ErrRefused)
	}
	if rec.OrphanPolicy == "decommission" && len(rec.Orphans) > 0 {
		if a.units == nil {
			return rec, errors.New("aggregate: no unit actor to decommission orphans")
		}
		for _, s := range rec.Orphans {
			if _, err := a.units.UnitAction(ctx, s, api.UnitDecommission, "orphan at batch end: in no case (batch policy)", by); err != nil {
				return rec, fmt.Errorf("decommission orphan %s: %w", s, err)
			}
		}
	}
	if s := a.o.Config.SSCC; s.Source == "upstream" && s.ReturnUnused {
		// The SSCCs left go back with the message that tells the site
		// server, in one transaction (forwarded by the line's outbox).
		if _, err := a.j.TakeUnusedIDsWithOutbox(ctx, journal.IDSSCC, "", 0, line.OutboxSSCCReturn, func(codes []string) ([]byte, error) {
			return json.Marshal(line.SSCCReturnPayload{SSCCs: codes})
		}); err != nil {
			return rec, fmt.Errorf("return unused SSCCs: %w", wrap(err))
		}
	}
	data, _ := json.Marshal(sig)
	if err := a.j.AppendAudit(ctx, journal.AuditEntry{Who: sig.User, Role: sig.Role, Action: "aggregation.finish",
		Reason: sig.Meaning + ": " + sig.Reason, Before: batch, After: string(data)}); err != nil {
		return rec, wrap(err)
	}
	s := sig
	a.mu.Lock()
	a.finished[batch] = &s
	a.mu.Unlock()
	a.kickReport()
	return a.AggReconciliation(ctx, batch)
}
