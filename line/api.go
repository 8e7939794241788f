package line

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/reconcile"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/store/journal"
)

var _ api.Controller = (*Controller)(nil)

func actor(a api.Actor) journal.Actor { return journal.Actor{User: a.User, Role: a.Role} }

// wrapJournal maps journal errors onto the API's sentinels.
func wrapJournal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, journal.ErrNotFound):
		return fmt.Errorf("%w: %w", err, api.ErrNotFound)
	case errors.Is(err, journal.ErrIllegalTransition):
		return fmt.Errorf("%w: %w", err, api.ErrInvalidState)
	case errors.Is(err, journal.ErrInvalid), errors.Is(err, journal.ErrExists):
		return fmt.Errorf("%w: %w", err, api.ErrBadRequest)
	case errors.Is(err, journal.ErrClosed):
		return fmt.Errorf("%w: %w", err, api.ErrUnavailable)
	}
	return err
}

// Status implements api.Controller.
func (c *Controller) Status(ctx context.Context) (api.Status, error) {
	if err := ctx.Err(); err != nil {
		return api.Status{}, err
	}
	c.mu.Lock()
	id, st, mode := c.batchID, c.state, c.mode
	c.mu.Unlock()
	s := api.Status{Line: c.cfg.Line.Name, State: string(st), UnitMode: mode.String(), RatePerMin: c.rate.perMinute(c.now()),
		PrinterQueue: len(c.q.InFlight()), InFlight: int(c.open.Load()), ActiveAlarms: c.ActiveCount(), At: c.now()}
	if id != "" {
		b, err := c.Batch(ctx, id)
		if err == nil {
			s.Batch = &b
		}
	} else {
		s.State = string(packml.Idle)
	}
	s.Pools, _ = c.PoolLevels(ctx)
	s.Devices, _ = c.Devices(ctx)
	return s, nil
}

// CreateBatch implements api.Controller: the batch becomes the line's
// current batch in state Idle.
func (c *Controller) CreateBatch(ctx context.Context, def api.BatchDef, by api.Actor) (api.Batch, error) {
	jd := journal.BatchDef{ID: strings.TrimSpace(def.ID), GTIN: def.GTIN, Lot: def.Lot, Expiry: def.Expiry,
		Profile: def.Profile, Target: def.Target, Template: def.Template, NHRN: def.NHRN}
	if jd.Template == "" {
		jd.Template = c.cfg.Devices.Printer.Job
	}
	if jd.ID == "" {
		return api.Batch{}, fmt.Errorf("batch id is empty: %w", api.ErrBadRequest)
	}
	if jd.Target <= 0 {
		return api.Batch{}, fmt.Errorf("batch %s: target quantity %d must be > 0: %w", jd.ID, jd.Target, api.ErrBadRequest)
	}
	r, err := c.newRun(jd)
	if err != nil {
		return api.Batch{}, fmt.Errorf("batch %s: %w: %w", jd.ID, err, api.ErrBadRequest)
	}
	if f := c.cfg.Line.EPCFormat; f == "" || f == "sgtin" {
		// the batch's EPCIS events need it: refused now, not at the batch end
		if _, err := c.prefixes.PrefixLength(jd.GTIN); err != nil {
			return api.Batch{}, fmt.Errorf("batch %s: %w; set the product's gcp_length in the product master: %w", jd.ID, err, api.ErrBadRequest)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batchID != "" && !c.state.Final() {
		return api.Batch{}, fmt.Errorf("%w: batch %s is %s; complete, stop or abort it first: %w",
			ErrBatchActive, c.batchID, c.state, api.ErrInvalidState)
	}
	if err := c.j.CreateBatch(ctx, jd, actor(by)); err != nil {
		return api.Batch{}, fmt.Errorf("create batch %s: %w", jd.ID, wrapJournal(err))
	}
	c.batchID, c.state = jd.ID, packml.Idle
	c.snap.Store(&stateSnap{jd.ID, packml.Idle})
	c.cur.Store(r)
	c.commissioned.Store(0)
	c.open.Store(0)
	c.rejMu.Lock()
	c.rejBy = map[string]int{}
	c.rejMu.Unlock()
	if err := c.j.SetBatchState(ctx, jd.ID, string(packml.Idle), actor(by), "batch defined"); err != nil {
		return api.Batch{}, wrapJournal(err)
	}
	c.m.SetState(string(packml.Idle))
	c.m.SetBatch(jd.ID, jd.GTIN, jd.Lot, jd.Expiry, def.Product)
	c.kickPool()
	b, err := c.j.Batch(jd.ID)
	if err != nil {
		return api.Batch{}, wrapJournal(err)
	}
	return c.toBatch(b), nil
}

// Batch implements api.Controller.
func (c *Controller) Batch(ctx context.Context, id string) (api.Batch, error) {
	if err := ctx.Err(); err != nil {
		return api.Batch{}, err
	}
	b, err := c.j.Batch(id)
	if err != nil {
		return api.Batch{}, fmt.Errorf("batch %q: %w", id, wrapJournal(err))
	}
	return c.toBatch(b), nil
}

// Batches implements api.Controller.
func (c *Controller) Batches(ctx context.Context, limit int) ([]api.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bs, err := c.j.Batches()
	if err != nil {
		return nil, wrapJournal(err)
	}
	slices.SortStableFunc(bs, func(a, b journal.Batch) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if limit > 0 && len(bs) > limit {
		bs = bs[:limit]
	}
	out := make([]api.Batch, len(bs))
	for i, b := range bs {
		out[i] = c.toBatch(b)
	}
	return out, nil
}

func (c *Controller) toBatch(b journal.Batch) api.Batch {
	ab := api.Batch{
		BatchDef: api.BatchDef{ID: b.ID, GTIN: b.GTIN, Lot: b.Lot, Expiry: b.Expiry, Profile: b.Profile, Target: b.Target, Template: b.Template, NHRN: b.NHRN},
		State:    b.State, Counters: toCounters(b.Counters), Created: b.CreatedAt,
	}
	if ab.State == "" {
		ab.State = string(packml.Idle)
	}
	prev := ""
	for _, h := range b.History {
		ab.History = append(ab.History, api.StateChange{From: prev, To: h.State, By: api.Actor{User: h.Actor.User, Role: h.Actor.Role},
			Reason: h.Reason, At: h.At})
		prev = h.State
	}
	if st, err := packml.ParseState(ab.State); err == nil && st.Final() {
		ab.Signed = c.signature(b.ID) // only a finished batch can be signed
	}
	if r := c.currentRun(); r != nil && r.def.ID == b.ID {
		ab.Counters.RejectedBy = c.rejectedBy()
	}
	return ab
}

func toCounters(k journal.Counters) api.Counters {
	return api.Counters{Drawn: k.Total(), Queued: k.Queued, Printed: k.Printed, Verified: k.Verified,
		Commissioned: k.Commissioned, Rejected: k.Rejected, Sampled: k.Sampled, Returned: k.Returned, Uncertain: k.Uncertain}
}

// Command implements api.Controller.
func (c *Controller) Command(ctx context.Context, id string, cmd api.Command, by api.Actor) error {
	pc, err := packml.ParseCommand(cmd.Name)
	if err != nil {
		return fmt.Errorf("%w: %w", err, api.ErrBadRequest)
	}
	reason := cmd.Reason
	if reason == "" {
		reason = "operator command"
	}
	if cmd.Override {
		if err := checkOverride(pc, cmd.Signature, by); err != nil {
			return err
		}
		return c.commandOpt(ctx, id, pc, actor(by), reason, cmd.Signature)
	}
	return c.command(ctx, id, pc, actor(by), reason)
}

// checkOverride: the one override a QA supervisor accepts is Start with the
// local pool below pools.min_start or the system clock unsynchronised; it
// needs the signer's own electronic
// signature with the supervisor (or admin) role. Line clearance is never
// overridden (clearanceLocked checks it first either way).
func checkOverride(pc packml.Command, sig *api.Signature, by api.Actor) error {
	if pc != packml.CmdStart {
		return fmt.Errorf("override of %s: only Start (serial pool below the start minimum, system clock not synchronised) can be overridden: %w", pc, api.ErrRefused)
	}
	if sig == nil || sig.User == "" || sig.User != by.User {
		return fmt.Errorf("override of start: the supervisor's electronic signature is required: %w", api.ErrRefused)
	}
	if r := sig.Role; r != "supervisor" && r != "admin" {
		return fmt.Errorf("override of start: signed by %s with role %q; a supervisor must sign: %w", sig.User, r, api.ErrRefused)
	}
	return nil
}

// Unit implements api.Controller. serial may also be a scanned element
// string or a GS1 Digital Link: the serial (AI 21) is taken from it.
func (c *Controller) Unit(ctx context.Context, serial string) (api.Unit, error) {
	if err := ctx.Err(); err != nil {
		return api.Unit{}, err
	}
	s := serial
	var scanned *gs1.Message
	if strings.ContainsAny(serial, "(\x1d]") || strings.HasPrefix(serial, "http") {
		if m, err := gs1.Parse(serial); err == nil {
			if v, ok := m.Value("21"); ok {
				s = v
				scanned = &m
			}
		}
	}
	u, err := c.j.Unit(s)
	if err != nil {
		return api.Unit{}, fmt.Errorf("unit %q: %w", serial, wrapJournal(err))
	}
	au := c.toUnit(u)
	if scanned != nil {
		au.CompareCode(*scanned) // what was scanned vs what was printed
	}
	return au, nil
}

func (c *Controller) toUnit(u journal.Unit) api.Unit {
	au := api.Unit{Serial: u.Serial, GTIN: u.GTIN, Batch: u.Batch, State: u.State.String(), Reason: u.Reason.String(),
		Seq: u.Seq, ReadData: u.ReadData}
	if u.Grade != nil {
		g := float64(u.Grade.Overall)
		au.Grade = &g
		if u.Grade.Param != "" {
			au.GradeParams = map[string]float64{u.Grade.Param: float64(u.Grade.ParamGrade)}
		}
	}
	if r := c.currentRun(); r != nil && r.def.ID == u.Batch {
		au.ElementString = r.elementString(u.Serial)
	} else if b, err := c.j.Batch(u.Batch); err == nil {
		au.ElementString = pastRun(b.BatchDef).elementString(u.Serial)
	}
	for _, h := range u.History {
		reason := h.Reason.String()
		if h.Detail != "" {
			reason = strings.TrimPrefix(reason+": "+h.Detail, ": ")
		}
		au.History = append(au.History, api.UnitEvent{State: h.State.String(), Reason: reason, By: h.Actor.String(), At: h.At})
		au.Updated = h.At
	}
	au.Assess()
	return au
}

// Units implements api.Controller.
func (c *Controller) Units(ctx context.Context, id string, q api.UnitQuery) ([]api.Unit, error) {
	ids := []string{id}
	if id == "" {
		bs, err := c.Batches(ctx, 0)
		if err != nil {
			return nil, err
		}
		ids = ids[:0]
		for _, b := range bs {
			ids = append(ids, b.ID)
		}
	}
	var out []api.Unit
	for _, bid := range ids {
		var us []journal.Unit
		err := c.j.Units(bid, func(u journal.Unit) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(q.States) > 0 && !slices.Contains(q.States, u.State.String()) {
				return nil
			}
			us = append(us, u)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("units of batch %q: %w", bid, wrapJournal(err))
		}
		for i := len(us) - 1; i >= 0; i-- {
			out = append(out, c.toUnit(us[i]))
			if q.Limit > 0 && len(out) >= q.Limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// UnitAction implements api.Controller: supervisor actions on a
// commissioned unit (reject, QA sample, decommission).
func (c *Controller) UnitAction(ctx context.Context, serial string, action api.UnitActionKind, reason string, by api.Actor) (api.Unit, error) {
	if by.User == "" {
		return api.Unit{}, fmt.Errorf("a unit action needs a person: %w", api.ErrBadRequest)
	}
	ch := journal.Change{Serial: serial, Actor: actor(by), Detail: reason}
	switch action {
	case api.UnitReject:
		ch.To, ch.Reason = journal.Rejected, journal.ReasonManual
	case api.UnitDecommission:
		ch.To, ch.Reason = journal.Rejected, journal.ReasonManual
		ch.Detail = strings.TrimSpace("decommissioned " + reason)
	case api.UnitSample:
		ch.To, ch.Reason = journal.Sampled, journal.ReasonQASample
	default:
		return api.Unit{}, fmt.Errorf("unit action %q: want reject, sample or decommission: %w", action, api.ErrBadRequest)
	}
	// Serialized with emitEPCIS: either the batch-end documents see the
	// step, or the step's own document goes to the outbox here.
	c.epcisMu.Lock()
	defer c.epcisMu.Unlock()
	ch.At = c.now().UTC()
	docs, err := c.lateStepDocs(ch)
	if err != nil {
		c.log.Error("EPCIS document for a unit action after the batch end", "serial", serial, "err", err)
		return api.Unit{}, fmt.Errorf("unit %s %s: EPCIS document not built, nothing journaled: %w", serial, action, wrapJournal(err))
	}
	before, _ := c.j.Unit(serial)
	// The step and its EPCIS document: one journal transaction.
	if _, err := c.j.ApplyWithOutbox(ctx, []journal.Change{ch}, docs); err != nil {
		return api.Unit{}, fmt.Errorf("unit %s %s: %w", serial, action, wrapJournal(err))
	}
	c.m.UnitChanged(before.State.String(), ch.To.String(), ch.Reason.String())
	if len(docs) > 0 {
		c.kickOutbox()
	}
	return c.Unit(ctx, serial)
}

// Devices implements api.Controller.
func (c *Controller) Devices(ctx context.Context) ([]api.Device, error) {
	c.devMu.Lock()
	defer c.devMu.Unlock()
	out := make([]api.Device, 0, len(c.devs))
	for _, n := range []string{"plc", "printer", "camera", "upstream"} {
		if d := c.devs[n]; d != nil {
			out = append(out, *d)
		}
	}
	return out, nil
}

// PoolLevels implements api.Controller.
func (c *Controller) PoolLevels(ctx context.Context) ([]api.PoolLevel, error) {
	pools, err := c.j.Pools()
	if err != nil {
		return nil, wrapJournal(err)
	}
	seen := map[string]bool{}
	var out []api.PoolLevel
	add := func(g string) {
		if seen[g] {
			return
		}
		seen[g] = true
		n, err := c.j.PoolLevel(g)
		if err != nil {
			return
		}
		out = append(out, api.PoolLevel{GTIN: g, Available: n, LowWater: c.cfg.Pools.LowWater})
	}
	if r := c.currentRun(); r != nil {
		add(r.def.GTIN)
	}
	for _, p := range pools {
		add(p.GTIN)
	}
	return out, nil
}

// ReconcileReport builds the full reconciliation report of a batch (JSON,
// CSV and HTML writers in line/reconcile).
func (c *Controller) ReconcileReport(ctx context.Context, id string) (reconcile.Report, error) {
	b, err := c.j.Batch(id)
	if err != nil {
		return reconcile.Report{}, fmt.Errorf("batch %q: %w", id, wrapJournal(err))
	}
	var units []journal.Unit
	if err := c.j.Units(id, func(u journal.Unit) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		units = append(units, u)
		return nil
	}); err != nil {
		return reconcile.Report{}, wrapJournal(err)
	}
	sh, err := reconcile.ParseShifts(c.cfg.Line.Shifts, c.loc)
	if err != nil {
		sh = reconcile.Shifts{}
	}
	rep := reconcile.Build(b, units, sh, c.now())
	if rs, err := c.j.ReturnRefusals(); err == nil {
		rep.AddReturnRefusals(rs)
	} else {
		return reconcile.Report{}, wrapJournal(err)
	}
	if s := c.signature(id); s != nil {
		rep.Signatures = append(rep.Signatures, reconcile.Signature{User: s.User, Role: s.Role, Meaning: s.Meaning, Reason: s.Reason, At: s.At,
			Digest: c.signedDigest(ctx, id)})
	}
	return rep, nil
}

// Reconciliation implements api.Controller.
func (c *Controller) Reconciliation(ctx context.Context, id string) (api.Reconciliation, error) {
	rep, err := c.ReconcileReport(ctx, id)
	if err != nil {
		return api.Reconciliation{}, err
	}
	st, _ := packml.ParseState(rep.State)
	k := rep.Counts
	out := api.Reconciliation{Batch: id, State: rep.State, Final: st.Final(), Drawn: k.Drawn, Commissioned: k.Commissioned,
		Rejected: k.Rejected, Sampled: k.Sampled, Returned: k.Returned, Uncertain: k.Uncertain, InFlight: k.InFlight,
		Balanced: rep.Balanced, RejectedBy: rep.RejectsByReason, Generated: rep.Generated, Signed: c.signature(id)}
	for _, d := range rep.Differences {
		u := api.Unit{Serial: d.Serial, Batch: id, State: d.State, Reason: d.Problem}
		out.Differences = append(out.Differences, u)
	}
	for _, d := range rep.Deviations() {
		out.DeviationSerials = append(out.DeviationSerials, d.Serial)
	}
	out.Deviations = len(out.DeviationSerials)
	return out, nil
}

// SignReconciliation implements api.Controller: the signature is appended
// to the journal's audit trail (action reconciliation.sign) with the digest
// of the report signed.
func (c *Controller) SignReconciliation(ctx context.Context, id string, sig api.Signature) (api.Reconciliation, error) {
	rep, err := c.ReconcileReport(ctx, id)
	if err != nil {
		return api.Reconciliation{}, err
	}
	st, _ := packml.ParseState(rep.State)
	if !st.Final() {
		return api.Reconciliation{}, fmt.Errorf("batch %s is %s: sign its reconciliation once it is complete, stopped or aborted: %w", id, rep.State, api.ErrInvalidState)
	}
	if s := c.signature(id); s != nil {
		return api.Reconciliation{}, fmt.Errorf("reconciliation of batch %s already signed by %s: %w", id, s.User, api.ErrInvalidState)
	}
	if !rep.Balanced && sig.Meaning != api.MeaningApprovedWithDeviation {
		return api.Reconciliation{}, fmt.Errorf("batch %s does not balance (%v); sign with meaning %q and a reason: %w",
			id, rep.Err(), api.MeaningApprovedWithDeviation, api.ErrRefused)
	}
	if dev := rep.Deviations(); len(dev) > 0 && sig.Meaning != api.MeaningApprovedWithDeviation {
		return api.Reconciliation{}, fmt.Errorf("batch %s: %d reject(s) not confirmed by the gate (first %s): the packs may be in the good stream; sign with meaning %q and a reason: %w",
			id, len(dev), dev[0].Serial, api.MeaningApprovedWithDeviation, api.ErrRefused)
	}
	if sig.At.IsZero() {
		sig.At = c.now()
	}
	rs := reconcile.Signature{User: sig.User, Role: sig.Role, Meaning: sig.Meaning, Reason: sig.Reason, At: sig.At, Digest: rep.Digest()}
	if err := rs.Check(); err != nil {
		return api.Reconciliation{}, fmt.Errorf("%w: %w", err, api.ErrBadRequest)
	}
	data, _ := json.Marshal(rs)
	if err := c.j.AppendAudit(ctx, journal.AuditEntry{Who: sig.User, Role: sig.Role, Action: "reconciliation.sign",
		Reason: sig.Meaning + ": " + sig.Reason, Before: id, After: string(data)}); err != nil {
		return api.Reconciliation{}, fmt.Errorf("record signature: %w", wrapJournal(err))
	}
	c.sigMu.Lock()
	s := sig
	c.signed[id] = &s
	c.sigMu.Unlock()
	return c.Reconciliation(ctx, id)
}

// signedDigest is the report digest recorded with the reconciliation
// signature of batch id in the audit trail ("" when none).
func (c *Controller) signedDigest(ctx context.Context, id string) string {
	digest := ""
	_ = c.j.Audit(ctx, journal.AuditFilter{Action: "reconciliation.sign"}, func(e journal.AuditEntry) error {
		var rs reconcile.Signature
		if e.Before == id && json.Unmarshal([]byte(e.After), &rs) == nil {
			digest = rs.Digest
		}
		return nil
	})
	return digest
}

// signature returns the recorded reconciliation signature of a batch,
// reading the audit trail once per batch.
func (c *Controller) signature(id string) *api.Signature {
	c.sigMu.Lock()
	s, ok := c.signed[id]
	c.sigMu.Unlock()
	if ok {
		return s
	}
	var found *api.Signature
	_ = c.j.Audit(context.Background(), journal.AuditFilter{Action: "reconciliation.sign"}, func(e journal.AuditEntry) error {
		if e.Before != id {
			return nil
		}
		var rs reconcile.Signature
		if json.Unmarshal([]byte(e.After), &rs) == nil {
			found = &api.Signature{User: rs.User, Role: rs.Role, Meaning: rs.Meaning, Reason: rs.Reason, At: rs.At}
		}
		return nil
	})
	if found != nil {
		c.sigMu.Lock()
		c.signed[id] = found
		c.sigMu.Unlock()
	}
	return found
}
