package line

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/store/journal"
)

// Outbox kinds.
const (
	outboxEPCIS  = "epcis"
	outboxReturn = "return"
)

// returnPayload is an outbox item handing unused serials back upstream.
type returnPayload struct {
	GTIN    string   `json:"gtin"`
	Serials []string `json:"serials"`
	// Batch whose end returned them ("" in items written before it was kept).
	Batch string `json:"batch,omitempty"`
}

// poolLevel is the number of available serials for the current batch's GTIN.
func (c *Controller) poolLevel() int {
	r := c.currentRun()
	if r == nil {
		return 0
	}
	n, err := c.j.PoolLevel(r.def.GTIN)
	if err != nil {
		return 0
	}
	return n
}

func (c *Controller) kickPool() {
	select {
	case c.poolKick <- struct{}{}:
	default:
	}
}

func (c *Controller) kickOutbox() {
	select {
	case c.outboxKick <- struct{}{}:
	default:
	}
}

// ensurePool tops the pool up at once before Start when it is under the
// start minimum (Start then refuses if it still is).
func (c *Controller) ensurePool(ctx context.Context) {
	r := c.currentRun()
	if r == nil || c.o.Upstream == nil {
		return
	}
	if c.poolLevel() < max(c.cfg.Pools.MinStart, c.cfg.Pools.LowWater) {
		if err := c.replenish(ctx, r.def.GTIN); err != nil {
			c.log.Warn("replenish before start", "err", err)
		}
	}
}

// replenish requests one pool from upstream and imports it through the
// journal (a bad pool is refused whole). The request id is kept until the
// pool is imported: when every attempt of a call failed after the site
// server issued the pool (replies lost), the next call asks with the same
// id and gets that pool instead of stranding it at the site server. The id
// is kept in the journal (SetPendingRequest), so this holds across a
// restart too.
func (c *Controller) replenish(ctx context.Context, gtin string) error {
	// One request at a time (pool loop, Start): two callers with the
	// same pending id would import the same pool twice.
	c.poolReqMu.Lock()
	defer c.poolReqMu.Unlock()
	// The pending id is in the journal (durable before the request goes
	// out), so a restart between issue and import asks again with it.
	id, err := c.j.PendingRequest(gtin)
	if err != nil {
		return fmt.Errorf("pending pool request: %w", err)
	}
	if id == "" {
		id = upstream.NewRequestID()
		if err := c.j.SetPendingRequest(ctx, gtin, id); err != nil {
			return fmt.Errorf("record pool request id: %w", err)
		}
	}
	done := func() {
		if err := c.j.ClearPendingRequest(context.WithoutCancel(ctx), gtin, id); err != nil {
			c.log.Warn("clear pending pool request", "gtin", gtin, "id", id, "err", err)
		}
	}
	p, err := c.o.Upstream.RequestPool(ctx, c.poolRequest(id, gtin))
	if err != nil {
		if !upstream.IsTransient(err) && ctx.Err() == nil {
			done() // refused: a new request gets a new id
		}
		c.setLink("upstream", api.LinkDown, err.Error())
		if upstream.IsTransient(err) {
			c.alarm(api.SeverityWarning, "upstream", "site server unreachable: running from the local serial pool")
		} else {
			c.alarm(api.SeverityFault, "upstream", fmt.Sprintf("site server refused the serial request: %v", err))
		}
		return err
	}
	c.setLink("upstream", api.LinkUp, "")
	c.Clear("upstream")
	// Imported with its request id: the pending id is cleared in the
	// same transaction.
	if err := c.j.ImportPool(ctx, journal.Pool{ID: p.ID, GTIN: p.GTIN, Serials: p.Serials, RequestID: id}); err != nil {
		var pe *journal.PoolError
		if errors.As(err, &pe) {
			done() // refused whole (or imported already): asking again would bring the same pool
			c.alarm(api.SeverityFault, "upstream", fmt.Sprintf("serial pool %s refused: %v", p.ID, err))
		}
		return fmt.Errorf("import pool %s: %w", p.ID, err)
	}
	c.log.Info("serial pool imported", "pool", p.ID, "gtin", gtin, "serials", len(p.Serials))
	return nil
}

// poolRequest is the request for one pool of gtin with id: the batch's
// lot and id (the order) go with it when the current batch is of gtin.
func (c *Controller) poolRequest(id, gtin string) upstream.PoolRequest {
	r := upstream.PoolRequest{ID: id, GTIN: gtin, Count: c.cfg.Pools.RequestSize}
	if run := c.currentRun(); run != nil && run.def.GTIN == gtin {
		r.Lot, r.Order = run.def.Lot, run.def.ID
	}
	return r
}

// healthLoop asks the site server every upstream.health_interval whether it
// answers: the link state shown for "upstream" is this check's, not only
// the last pool request's or outbox delivery's.
func (c *Controller) healthLoop(ctx context.Context) {
	if c.o.Upstream == nil {
		return
	}
	t := time.NewTicker(c.cfg.Upstream.HealthInterval)
	defer t.Stop()
	for {
		err := c.o.Upstream.Health(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.setLink("upstream", api.LinkDown, err.Error())
		} else {
			c.setLink("upstream", api.LinkUp, "")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poolLoop keeps the local pool of the current batch's GTIN above the low
// water mark and holds the batch before it runs dry.
func (c *Controller) poolLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.Pools.CheckInterval)
	defer t.Stop()
	var lastTry time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.poolKick:
		}
		c.m.SetQueueDepth(metrics.QueuePrinter, len(c.q.InFlight()))
		r := c.currentRun()
		if r == nil {
			continue
		}
		lvl := c.poolLevel()
		c.m.SetPoolLevel(r.def.GTIN, lvl)
		if s := c.snap.Load(); s != nil && batchEnded(s.state) {
			// No top-up for a batch that ends or has ended: its unused
			// serials may just have gone back upstream (the next
			// batch's Start tops the pool up).
			continue
		}
		if lvl < c.cfg.Pools.LowWater && c.o.Upstream != nil && c.now().Sub(lastTry) >= c.cfg.Pools.CheckInterval {
			lastTry = c.now()
			if err := c.replenish(ctx, r.def.GTIN); err == nil {
				lvl = c.poolLevel()
				c.m.SetPoolLevel(r.def.GTIN, lvl)
			}
		}
		if _, ok := c.feeding(); ok {
			have := lvl + c.drawnLen()
			if have < c.cfg.Pools.HoldBelow && have < c.remainingToFeed() {
				c.alarm(api.SeverityFault, "pool", fmt.Sprintf("serial pool for %s nearly empty (%d left): holding before it runs dry", r.def.GTIN, have))
				c.requestHold("serial pool nearly empty")
			}
		}
	}
}

// batchEnded reports whether a batch in s is ending or has ended.
func batchEnded(s packml.State) bool {
	switch s {
	case packml.Completing, packml.Stopping, packml.Aborting, packml.Clearing:
		return true
	}
	return s.Final()
}

// outboxLoop forwards outbox items upstream (store and forward) and
// acknowledges them in the journal once the site server took them.
func (c *Controller) outboxLoop(ctx context.Context) {
	if c.o.Upstream == nil {
		return
	}
	t := time.NewTicker(c.cfg.Upstream.ForwardInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.outboxKick:
		}
		sent, err := c.forwardOutbox(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.setLink("upstream", api.LinkDown, err.Error())
				c.log.Warn("outbox forward", "err", err)
			}
			continue
		}
		if sent > 0 { // the site server took them
			c.setLink("upstream", api.LinkUp, "")
		}
	}
}

// forward sends one outbox item.
func (c *Controller) forward(ctx context.Context, it journal.OutboxItem) error {
	switch it.Kind {
	case outboxEPCIS:
		sum := sha256.Sum256(it.Payload)
		err := c.o.Upstream.ReportEvents(ctx, "epcis-"+hex.EncodeToString(sum[:16]), it.Payload)
		if err != nil && !upstream.IsTransient(err) {
			// Kept in the outbox (it is the legal record): a person must look.
			c.alarm(api.SeverityFault, "upstream", fmt.Sprintf("site server refused EPCIS document (outbox item %d): %v", it.ID, err))
		}
		return err
	case outboxReturn:
		p, err := decodeReturn(it.Payload)
		if err != nil {
			return fmt.Errorf("%w: %w", errUndecodable, err)
		}
		// The outbox id is the return's idempotency key: a resend after a
		// lost reply or a restart asks the same question.
		res, err := c.o.Upstream.ReturnSerials(ctx, fmt.Sprintf("return-%d", it.ID), p.GTIN, p.Serials)
		if err != nil && !upstream.IsTransient(err) && len(res.Accepted)+len(res.Refused) == 0 && ctx.Err() == nil {
			// Refused as a whole (not serial by serial): every serial is refused.
			for _, s := range p.Serials {
				res.Refused = append(res.Refused, upstream.Refusal{Serial: s, Code: "refused", Message: err.Error()})
			}
			err = nil
		}
		if err != nil {
			return err // outcome unknown for some: the whole item is sent again
		}
		return c.noteRefusedReturns(ctx, p, res.Refused)
	case OutboxSSCCReturn:
		return c.forwardSSCCReturn(ctx, it)
	}
	return fmt.Errorf("%w: unknown kind %q", errUndecodable, it.Kind)
}

// noteRefusedReturns records the serials of a return the site server would
// not take back (journal, for the reconciliation and audit) and raises one
// alarm listing them. The accepted ones are back upstream.
func (c *Controller) noteRefusedReturns(ctx context.Context, p returnPayload, refused []upstream.Refusal) error {
	if len(refused) == 0 {
		return nil
	}
	rs := make([]journal.ReturnRefusal, len(refused))
	list := make([]string, 0, min(len(refused), 20))
	for i, r := range refused {
		rs[i] = journal.ReturnRefusal{Serial: r.Serial, GTIN: p.GTIN, Batch: p.Batch, Code: r.Code, Message: r.Message}
		if i < 20 {
			list = append(list, r.Serial)
		}
	}
	if err := c.j.RecordReturnRefusals(ctx, rs); err != nil {
		return fmt.Errorf("record refused returns: %w", err)
	}
	more := ""
	if len(refused) > len(list) {
		more = fmt.Sprintf(" and %d more", len(refused)-len(list))
	}
	c.alarm(api.SeverityFault, "upstream-return", fmt.Sprintf("site server refused %d of %d returned serials of %s (%s): %s%s",
		len(refused), len(p.Serials), p.GTIN, refused[0].Message, strings.Join(list, ", "), more))
	return nil
}

// finishBatch ends a batch (Completing, Stopping, Aborting): everything
// still in flight is resolved (cleared printer records returned or
// uncertain, drawn serials returned, open units uncertain), then the EPCIS
// events of the whole batch go to the outbox and, if configured, the
// unused serials back upstream.
func (c *Controller) finishBatch(ctx context.Context, s packml.State) error {
	r := c.currentRun()
	if r == nil {
		return nil
	}
	id := r.def.ID
	why := fmt.Sprintf("unresolved at batch end (%s)", s)
	if err := c.q.Clear(ctx); err != nil {
		c.log.Warn("clear printer queue at batch end", "err", err)
	}
	if err := c.q.Release(ctx); err != nil {
		c.log.Warn("release printer records at batch end", "err", err)
	}
	// Drawn, never sent: returned.
	c.dmu.Lock()
	drawn := c.drawn
	c.drawn = nil
	c.dmu.Unlock()
	if len(drawn) > 0 {
		ch := make([]journal.Change, len(drawn))
		for i, u := range drawn {
			ch[i] = journal.Change{Serial: u.Serial, To: journal.Returned, Reason: journal.ReasonBatchEnd}
		}
		if err := c.j.Apply(ctx, ch...); err != nil {
			return fmt.Errorf("return drawn serials: %w", err)
		}
		c.countDurable(ch, 0)
	}
	// Open units: uncertain; wait until that and every pending
	// Commissioned step is durable.
	done := make(chan struct{})
	c.send(ctx, evResolveAll{why: why, done: done})
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Products whose gate result has not come: unknown (uncertain, or
	// rejects not confirmed); wait until those steps are durable.
	gdone := make(chan struct{})
	c.gateSend(ctx, evGateResolveAll{why: why + ": no gate result read back", done: gdone})
	select {
	case <-gdone:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Anything the journal still has in flight (should be nothing).
	var left []journal.Change
	err := c.j.Units(id, func(u journal.Unit) error {
		switch u.State {
		case journal.Drawn:
			left = append(left, journal.Change{Serial: u.Serial, To: journal.Returned, Reason: journal.ReasonBatchEnd})
		case journal.Queued, journal.Printed, journal.Verified:
			left = append(left, journal.Change{Serial: u.Serial, To: journal.Uncertain, Reason: journal.ReasonFault, Detail: why})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan units: %w", err)
	}
	if len(left) > 0 {
		c.log.Warn("units left in flight at batch end", "batch", id, "units", len(left))
		if err := c.j.Apply(ctx, left...); err != nil {
			return fmt.Errorf("resolve units left in flight: %w", err)
		}
	}
	c.open.Store(0)
	if err := c.emitEPCIS(ctx, r, s); err != nil {
		return err
	}
	if c.cfg.Pools.ReturnUnusedAtEnd && c.o.Upstream != nil {
		if lvl := c.poolLevel(); lvl > 0 {
			// Serials marked returned and the return message: one
			// transaction (a crash between them lost the serials to
			// the site server).
			gtin := r.def.GTIN
			if _, err := c.j.TakeUnusedWithOutbox(ctx, gtin, lvl, outboxReturn, func(serials []string) ([]byte, error) {
				return json.Marshal(returnPayload{GTIN: gtin, Serials: serials, Batch: id})
			}); err != nil {
				return fmt.Errorf("take unused serials: %w", err)
			}
		}
	}
	c.kickOutbox()
	return nil
}

// emitEPCIS builds the batch's EPCIS documents from the journal and puts
// them in the outbox, with the return of the batch's drawn serials that
// never reached a printer (state Returned). Their time is the batch's end transition, so a
// repeat after a crash builds the same documents (the site server
// deduplicates them by content).
func (c *Controller) emitEPCIS(ctx context.Context, r *run, s packml.State) error {
	// Serialized with UnitAction (see emitLateStep).
	c.epcisMu.Lock()
	defer c.epcisMu.Unlock()
	if c.epcisDone == r.def.ID {
		return nil // a batch end retried after a later step failed
	}
	b, err := c.j.Batch(r.def.ID)
	if err != nil {
		return fmt.Errorf("read batch: %w", err)
	}
	at := c.now()
	for i := len(b.History) - 1; i >= 0; i-- {
		if b.History[i].State == string(s) {
			at = b.History[i].At
			break
		}
	}
	// EPCIS eventTimeZoneOffset is the line's local offset at the event.
	at = at.In(c.loc)
	var comm, samp, destroy, decomm, scrap, unsent []string
	err = c.j.Units(r.def.ID, func(u journal.Unit) error {
		switch u.State {
		case journal.Commissioned:
			comm = append(comm, u.Serial)
		case journal.Sampled:
			comm = append(comm, u.Serial)
			samp = append(samp, u.Serial)
		case journal.Rejected:
			if !wasCommissioned(u) {
				scrap = append(scrap, u.Serial) // label never on a saleable pack
				break
			}
			// A commissioned pack pulled afterwards: it was commissioned,
			// then destroyed or decommissioned (CBV pairs).
			comm = append(comm, u.Serial)
			if decommissioned(u) {
				decomm = append(decomm, u.Serial)
			} else {
				destroy = append(destroy, u.Serial)
			}
		case journal.Uncertain:
			// Fate unknown: never reported commissioned; the label is
			// scrapped so the serial is never used (a pack that did ship
			// fails verification: the safe side).
			scrap = append(scrap, u.Serial)
		case journal.Returned:
			// Drawn, never printed. Never sent to a printer: back to
			// the site server like the unused pool. Sent to a printer
			// that said it cleared it: decommissioned, so that it is
			// never issued again should the printer's word be wrong.
			if wasQueued(u) {
				scrap = append(scrap, u.Serial)
			} else {
				unsent = append(unsent, u.Serial)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan units: %w", err)
	}
	o := c.epcisOptions()
	eb := epcis.Batch{ID: r.def.ID, GTIN: r.def.GTIN, Lot: r.def.Lot, Expiry: r.def.Expiry}
	var items []journal.OutboxEntry
	for _, part := range []struct {
		kind    epcis.Kind
		serials []string
	}{{epcis.Commissioning, comm}, {epcis.Sampling, samp}, {epcis.Destroying, destroy},
		{epcis.Decommissioning, decomm}, {epcis.LabelScrapping, scrap}} {
		docs, err := epcis.Build(part.kind, eb, part.serials, at, o)
		if err != nil {
			return fmt.Errorf("epcis %s: %w", part.kind, err)
		}
		for _, d := range docs {
			items = append(items, journal.OutboxEntry{Kind: outboxEPCIS, Payload: d, Batch: r.def.ID})
		}
	}
	if len(unsent) > 0 && c.o.Upstream != nil {
		data, _ := json.Marshal(returnPayload{GTIN: r.def.GTIN, Serials: unsent, Batch: r.def.ID})
		items = append(items, journal.OutboxEntry{Kind: outboxReturn, Payload: data, Batch: r.def.ID})
	}
	// Every document of the batch end in one transaction: all or none
	// (a full disk fails the whole put, and the batch end is retried).
	if _, err := c.j.ApplyWithOutbox(ctx, nil, items); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	c.epcisDone = r.def.ID
	return nil
}

// epcisOptions are the line's EPCIS options (EPC format, company prefixes,
// read point and business location).
func (c *Controller) epcisOptions() epcis.Options {
	return epcis.Options{Prefixes: c.prefixes, EPCs: c.cfg.Line.EPCFormat, DLBase: c.cfg.Line.DLBase,
		ReadPoint: c.cfg.Line.ReadPoint, BizLocation: c.cfg.Line.BizLocation}
}

// wasCommissioned reports whether the unit was ever Commissioned.
func wasCommissioned(u journal.Unit) bool {
	for _, h := range u.History {
		if h.State == journal.Commissioned {
			return true
		}
	}
	return false
}

// decommissioned reports whether a supervisor decommissioned the unit
// (UnitDecommission: Rejected, detail "decommissioned …").
func decommissioned(u journal.Unit) bool {
	return u.State == journal.Rejected && strings.HasPrefix(u.Detail, "decommissioned")
}

// wasQueued reports whether the unit was ever sent to the printer.
func wasQueued(u journal.Unit) bool {
	for _, h := range u.History {
		if h.State == journal.Queued {
			return true
		}
	}
	return false
}

// lateStepDocs returns the EPCIS document(s) of a supervisor's step ch on
// a commissioned unit (sampled, rejected) when the unit's batch-end
// documents were already built: the batch reached a final state, or
// emitEPCIS ran for it (earlier steps are covered by the batch-end
// documents). ch.At must be set: it is the event time. The caller holds
// epcisMu and journals the step together with the documents
// (ApplyWithOutbox), so neither is ever durable without the other.
func (c *Controller) lateStepDocs(ch journal.Change) ([]journal.OutboxEntry, error) {
	u, err := c.j.Unit(ch.Serial)
	if err != nil {
		return nil, fmt.Errorf("read unit: %w", err)
	}
	if u.State != journal.Commissioned {
		return nil, nil // only a commissioned unit was in the batch-end commissioning event
	}
	kind := epcis.Destroying
	switch ch.To {
	case journal.Sampled:
		kind = epcis.Sampling
	case journal.Rejected:
		if strings.HasPrefix(ch.Detail, "decommissioned") {
			kind = epcis.Decommissioning
		}
	default:
		return nil, nil
	}
	b, err := c.j.Batch(u.Batch)
	if err != nil {
		return nil, fmt.Errorf("read batch: %w", err)
	}
	sent := c.epcisDone == u.Batch
	for _, h := range b.History {
		if st, err := packml.ParseState(h.State); err == nil && st.Final() {
			sent = true
		}
	}
	if !sent {
		return nil, nil
	}
	at := ch.At.In(c.loc)
	o := c.epcisOptions()
	eb := epcis.Batch{ID: b.ID, GTIN: b.GTIN, Lot: b.Lot, Expiry: b.Expiry}
	docs, err := epcis.Build(kind, eb, []string{ch.Serial}, at, o)
	if err != nil {
		return nil, fmt.Errorf("epcis %s: %w", kind, err)
	}
	out := make([]journal.OutboxEntry, len(docs))
	for i, d := range docs {
		out[i] = journal.OutboxEntry{Kind: outboxEPCIS, Payload: d}
	}
	return out, nil
}
