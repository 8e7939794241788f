package line

// The unit cycle, the whole path of one unit in one file:
//
//	draw ahead (journal Draw, grouped)           drawLoop
//	  → printer feed: journal Queued (durable)   markQueued   (printer.Queue calls it before sending)
//	    + verifier Expect                         markQueued
//	  → printer queue → print complete            onOutcome    (printer.Queue → cycle loop)
//	  → PLC trigger (product seq) paired in order plcLoop → cycleLoop.pair
//	  → camera read → verifier decision           cameraLoop   (→ cycle loop)
//	  → decision commit: Printed+Verified (pass) or Printed+Rejected (fail), one
//	    group-committed journal transaction for every unit ready at that moment
//	  → verdicts to the PLC, one batched write    decider (sendVerdicts: DecideBatch,
//	    per durable group (Decide per unit for    consecutive slots in one request)
//	    drivers without DecideBatch)
//	  → pass: Commissioned (piggybacked on the next commit, or its own after
//	    commissionedLinger on a quiet line)
//	  → fail: gate confirmation read (Confirm)    confirmer
//	  → pass verdict write failed, not refused by  resolveUnknownPass
//	    the PLC (reply lost?): overwrite with a
//	    reject, read the gate result: pushed off
//	    → Rejected, passed → Commissioned, none →
//	    Uncertain + hold
//
// Ordering rules kept here: Queued is durable before the record leaves for
// the printer; the unit's verdict (Verified or Rejected) is durable before
// the verdict goes to the PLC; a serial is sent to the printer once, ever.
// Crash anywhere: the journal's recovery returns Drawn units and makes every
// sent-but-undecided unit Uncertain.
//
// Pairing prints with PLC triggers: the printer prints the next queued
// record when the product passes its photo-eye, and the PLC counts the same
// product, so the k-th print (or missed print) of a run belongs to the k-th
// trigger. Both streams are queued and paired in order; a trigger reporting
// Missed products makes the next Missed prints unverifiable (their products
// got no verdict; the gate rejects them fail-safe) and their units become
// uncertain. Every hold realigns the two streams: prints still waiting for
// their trigger become uncertain, and their triggers, should they come
// later (a PLC link loss holds them back), are recognised by their product
// seq (up to the last seq seen plus the prints resolved) and dropped.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision"
)

// unit is one unit between the printer feed and its final journal state,
// owned by the cycle loop.
type unit struct {
	serial    string
	id        uint64 // verifier id (monotonic per controller)
	data      string // element string printed
	printed   bool
	printedAt time.Time
	seq       uint64 // PLC product sequence id once paired
	paired    bool
	dec       *vision.Decision
	blank     bool // placeholder for a missed print (no serial)
}

// cycle events, all handled by the cycle loop in arrival order.
type (
	evQueued   struct{ units []*unit }
	evOutcomes struct{ outs []printer.Outcome }
	evTrigger  struct{ t devices.Trigger }
	evDecision struct{ ds []vision.Decision }
	// evResync realigns prints and triggers (after a hold): prints still
	// waiting for a trigger become uncertain, waiting triggers are dropped.
	evResync struct{ done chan struct{} }
	// evDrain reports, on done, how many units are still open.
	evDrain struct{ done chan int }
	// evResolveAll makes every open unit uncertain (abort, batch end).
	evResolveAll struct {
		why  string
		done chan struct{}
	}
)

// commitItem is one unit (or blank product) whose verdict is ready.
type commitItem struct {
	u       *unit
	blank   bool
	seq     uint64
	readyAt time.Time
}

// group is one journal transaction's worth of work for the committer.
type group struct {
	items   []commitItem
	changes []journal.Change // resolutions without a PLC verdict (uncertain, returned)
	flushes []chan struct{}  // closed once this group and every Commissioned step before it are durable
}

// drawLoop keeps up to Cycle.DrawAhead serials drawn (durable, state Drawn)
// for the running batch, in groups of Cycle.DrawGroup.
func (c *Controller) drawLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.drawKick:
		}
		c.q.Kick()
		for ctx.Err() == nil {
			id, ok := c.feeding()
			if !ok {
				break
			}
			c.dmu.Lock()
			have := len(c.drawn)
			c.dmu.Unlock()
			need := c.remainingToFeed() - have
			if have >= c.cfg.Cycle.DrawAhead || need <= 0 {
				break
			}
			n := min(c.cfg.Cycle.DrawGroup, need, c.cfg.Cycle.DrawAhead-have)
			us, err := c.j.Draw(ctx, id, n)
			if err != nil {
				if errors.Is(err, journal.ErrPoolEmpty) {
					c.kickPool()
					lvl := c.poolLevel()
					if lvl > 0 && lvl < n {
						continue // take what is left in smaller groups
					}
					c.log.Warn("serial pool empty", "batch", id, "err", err)
				} else if ctx.Err() == nil {
					c.log.Error("draw serials", "batch", id, "err", err)
					c.alarm(api.SeverityFault, "journal", fmt.Sprintf("drawing serials failed: %v", err))
					c.requestHold("journal: drawing serials failed")
				}
				break
			}
			c.dmu.Lock()
			c.drawn = append(c.drawn, us...)
			c.dmu.Unlock()
			c.q.Kick()
			c.kickPool()
		}
	}
}

// feed is printer.QueueOptions.Feed: up to n drawn units as records, while
// the batch is in Execute and short of its target.
func (c *Controller) feed(ctx context.Context, n int) ([]printer.Record, error) {
	if _, ok := c.feeding(); !ok {
		return nil, nil
	}
	rem := c.remainingToFeed()
	// Top the printer up in groups of a quarter of its depth: one journal
	// commit (Queued) per group instead of one per print at high speed.
	if group := max(1, c.cfg.Cycle.PrinterDepth/4); n < group && rem >= group {
		return nil, nil
	}
	n = min(n, rem)
	if n <= 0 {
		return nil, nil
	}
	c.dmu.Lock()
	n = min(n, len(c.drawn))
	take := c.drawn[:n:n]
	c.drawn = c.drawn[n:]
	c.dmu.Unlock()
	select {
	case c.drawKick <- struct{}{}:
	default:
	}
	r := c.currentRun()
	recs := make([]printer.Record, 0, len(take))
	for i, u := range take {
		rec, err := r.record(u.Serial, c.elemCache)
		if err != nil {
			// The batch definition was checked at CreateBatch, the serial at
			// import: this is a bug, not bad input. Return what is left
			// unsent to the buffer and stop the printer loop.
			c.dmu.Lock()
			c.drawn = append(append([]journal.Unit(nil), take[i:]...), c.drawn...)
			c.dmu.Unlock()
			return recs, fmt.Errorf("line: build record for %s: %w", u.Serial, err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// markQueued is printer.QueueOptions.MarkQueued: the serials become Queued
// (durable) and expected by the verifier before any of them is sent.
func (c *Controller) markQueued(ctx context.Context, serials []string) error {
	ch := make([]journal.Change, len(serials))
	for i, s := range serials {
		ch[i] = journal.Change{Serial: s, To: journal.Queued, Actor: journal.ActorPrinter}
	}
	if err := c.j.Apply(ctx, ch...); err != nil {
		return fmt.Errorf("line: journal queued: %w", err)
	}
	r := c.currentRun()
	units := make([]*unit, len(serials))
	for i, s := range serials {
		data, ok := c.elemCache.take(s)
		if !ok {
			data = r.elementString(s)
		}
		u := &unit{serial: s, id: c.nextID.Add(1), data: data}
		units[i] = u
		if err := r.ver.Expect(vision.Expected{Seq: u.id, Serial: s, Data: u.data}); err != nil {
			// The journal refuses a second draw of a serial, so this means
			// the verifier saw the serial in an earlier run of the batch.
			c.log.Error("verifier refused unit", "serial", s, "err", err)
		}
	}
	c.open.Add(int64(len(units)))
	c.send(ctx, evQueued{units})
	return nil
}

// onOutcome is printer.QueueOptions.OnOutcome: printer results go to the
// cycle loop, which journals them with the next commit (Printed is not a
// durability point: nothing leaves the controller on it).
func (c *Controller) onOutcome(ctx context.Context, outs []printer.Outcome) error {
	c.send(ctx, evOutcomes{append([]printer.Outcome(nil), outs...)})
	return nil
}

// send hands an event to the cycle loop.
func (c *Controller) send(ctx context.Context, ev any) {
	select {
	case c.ev <- ev:
	case <-ctx.Done():
	}
}

// plcLoop reads triggers and hands them to the cycle loop.
func (c *Controller) plcLoop(ctx context.Context) {
	if err := c.connectPLC(ctx); err != nil {
		return
	}
	close(c.plcUp)
	// The line stays stopped until a batch executes.
	if _, st := c.State(); st != packml.Execute {
		c.outputs(ctx, true, devices.LightAmber, false)
	}
	stalled := false
	for {
		t, err := c.o.PLC.NextTrigger(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			switch {
			case errors.Is(err, devices.ErrHeartbeatStalled):
				if !stalled {
					stalled = true
					c.setLink("plc", api.LinkDown, err.Error())
					c.alarm(api.SeverityFault, "plc", "PLC heartbeat stalled: "+err.Error())
					c.requestHold("PLC heartbeat stalled")
				}
			case errors.Is(err, devices.ErrClosed), errors.Is(err, devices.ErrNotConnected):
				c.setLink("plc", api.LinkDown, err.Error())
				if err := c.connectPLC(ctx); err != nil {
					return
				}
			default:
				c.setLink("plc", api.LinkConnecting, err.Error())
				c.alarm(api.SeverityFault, "plc", "PLC link: "+err.Error())
				c.requestHold("PLC link lost")
			}
			continue
		}
		if stalled {
			stalled = false
			c.Clear("plc")
		}
		c.setLink("plc", api.LinkUp, "")
		c.send(ctx, evTrigger{t})
	}
}

// cameraLoop reads camera results, lets the verifier decide, and hands the
// decisions to the cycle loop. A broken connection rejects every unit
// awaiting a read (camera fault: hold) and reconnects with backoff.
func (c *Controller) cameraLoop(ctx context.Context) {
	for {
		res, err := c.o.Camera.Read(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, vision.ErrGarbled) {
				c.log.Warn("camera sent a line not understood", "err", err)
				continue
			}
			c.setLink("camera", api.LinkDown, err.Error())
			if r := c.currentRun(); r != nil {
				if ds := r.ver.Fault(err); len(ds) > 0 {
					c.send(ctx, evDecision{ds})
				}
			}
			c.alarm(api.SeverityFault, "camera", "camera link: "+err.Error())
			c.requestHold("camera fault")
			if err := c.connect(ctx, "camera", c.cfg.Devices.Camera.Backoff, c.o.Camera.Connect); err != nil {
				return
			}
			continue
		}
		r := c.currentRun()
		if r == nil {
			c.log.Warn("camera result with no batch", "data", res.Data, "noread", res.NoRead)
			continue
		}
		if ds := r.ver.Observe(res); len(ds) > 0 {
			c.send(ctx, evDecision{ds})
		}
	}
}

// cycleLoop owns the units between printer feed and verdict. It pairs
// prints with triggers, collects decisions, and hands every unit whose
// verdict is ready to the committer in groups.
func (c *Controller) cycleLoop(ctx context.Context) {
	var (
		units    = map[uint64]*unit{}
		bySerial = map[string]*unit{}
		printedQ []*unit
		trigQ    []devices.Trigger
		skip     uint64 // prints to drop: their triggers were missed
		ready    []commitItem
		changes  []journal.Change
		flushes  []chan struct{}
	)
	// Realignment by counters after a resync: lastSeq is the last PLC
	// product seq seen; staleUpTo the highest seq of a product that passed
	// the printer before the line stopped (its print was resolved at the
	// resync). Triggers up to it that arrive late (e.g. after a PLC link
	// loss) are dropped instead of being paired with the prints of
	// products after the restart.
	var lastSeq, staleUpTo uint64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()

	resolve := func(u *unit, to journal.State, reason journal.Reason, detail string) {
		delete(units, u.id)
		delete(bySerial, u.serial)
		if r := c.currentRun(); r != nil {
			r.ver.Timeout(u.id) // forget it; the decision is discarded
		}
		changes = append(changes, journal.Change{Serial: u.serial, To: to, Reason: reason, Detail: detail})
		c.open.Add(-1)
	}
	tryReady := func(u *unit) {
		if u.printed && u.paired && u.dec != nil {
			delete(units, u.id)
			delete(bySerial, u.serial)
			ready = append(ready, commitItem{u: u, seq: u.seq, readyAt: c.now()})
		}
	}
	pair := func() {
		for skip > 0 && len(printedQ) > 0 {
			u := printedQ[0]
			printedQ = printedQ[1:]
			skip--
			if !u.blank {
				resolve(u, journal.Uncertain, journal.ReasonFault, "PLC trigger missed: product got no verdict (gate rejects fail-safe)")
			}
		}
		for len(trigQ) > 0 && len(printedQ) > 0 {
			t, u := trigQ[0], printedQ[0]
			trigQ, printedQ = trigQ[1:], printedQ[1:]
			if u.blank {
				ready = append(ready, commitItem{blank: true, seq: t.Seq, readyAt: c.now()})
				continue
			}
			u.seq, u.paired = t.Seq, true
			tryReady(u)
		}
	}
	decide := func(d vision.Decision) {
		if d.Hold {
			c.alarm(api.SeverityFault, "camera", fmt.Sprintf("%s: %s", d.HoldReason, d.Detail))
			c.requestHold("vision: " + d.HoldReason)
		}
		if d.Outcome == vision.Alarm {
			if !d.Hold {
				c.alarm(api.SeverityWarning, "camera", d.String())
			}
			return
		}
		u := units[d.Seq]
		if u == nil || u.dec != nil {
			return // resolved meanwhile (printer fault) or decided twice
		}
		dd := d
		u.dec = &dd
		tryReady(u)
	}

	for {
		var commitCh chan *group
		var g *group
		if len(ready) > 0 || len(changes) > 0 || len(flushes) > 0 {
			commitCh = c.commitCh
			g = &group{items: ready, changes: changes, flushes: flushes}
		}
		select {
		case <-ctx.Done():
			return
		case commitCh <- g:
			ready, changes, flushes = nil, nil, nil
		case ev := <-c.ev:
			switch e := ev.(type) {
			case evQueued:
				for _, u := range e.units {
					units[u.id] = u
					bySerial[u.serial] = u
				}
			case evOutcomes:
				for _, o := range e.outs {
					c.handleOutcome(o)
					if o.Cause == printer.CauseMissed || o.Cause == printer.CauseUnknownAck {
						// A product passed the printer: blank, or printed with a
						// record already resolved. Either way it gets no pass
						// verdict, and the print stays paired with its trigger.
						printedQ = append(printedQ, &unit{blank: true})
						continue
					}
					if o.Serial == "" {
						continue
					}
					u := bySerial[o.Serial]
					if u == nil {
						c.log.Warn("printer outcome for a unit not in flight", "outcome", o.String())
						continue
					}
					switch o.Result {
					case printer.ResultPrinted:
						if u.printed {
							continue
						}
						u.printed, u.printedAt = true, c.now()
						printedQ = append(printedQ, u)
					case printer.ResultUncertain:
						resolve(u, journal.Uncertain, printerReason(o), o.String())
					case printer.ResultReturned:
						resolve(u, journal.Returned, printerReason(o), o.String())
					}
				}
				pair()
			case evTrigger:
				switch {
				case e.t.Seq <= lastSeq:
					// The PLC's product count went back (PLC restart):
					// the bounds of the old count mean nothing now.
					staleUpTo = 0
				case e.t.Seq <= staleUpTo:
					// A product that passed before the line stopped: its
					// print was resolved at the resync.
					lastSeq = e.t.Seq
					continue
				case e.t.Missed > 0 && e.t.Seq-e.t.Missed <= staleUpTo:
					// missed products before the stop were resolved too
					e.t.Missed = e.t.Seq - staleUpTo - 1
				}
				lastSeq = e.t.Seq
				skip += e.t.Missed
				if e.t.Missed > 0 {
					c.alarm(api.SeverityWarning, "plc", fmt.Sprintf("%d product(s) passed without a trigger the controller could follow", e.t.Missed))
				}
				trigQ = append(trigQ, e.t)
				pair()
			case evDecision:
				for _, d := range e.ds {
					decide(d)
				}
			case evResync:
				for _, u := range printedQ {
					if !u.blank {
						resolve(u, journal.Uncertain, journal.ReasonFault, "print not matched to any PLC trigger before the line stopped")
					}
				}
				// Count, don't forget: every product in printedQ (print or
				// blank) still owes its trigger: the next seqs after the
				// last one seen. Those triggers are dropped when they come.
				staleUpTo = max(staleUpTo, lastSeq) + uint64(len(printedQ))
				printedQ, trigQ, skip = nil, nil, 0
				close(e.done)
			case evDrain:
				e.done <- len(units) + len(ready)
			case evResolveAll:
				for _, u := range units {
					resolve(u, journal.Uncertain, journal.ReasonFault, e.why)
				}
				printedQ, trigQ, skip = nil, nil, 0
				flushes = append(flushes, e.done)
			}
		case <-tick.C:
			now := c.now()
			for _, u := range units {
				if u.printed && u.dec == nil && now.Sub(u.printedAt) > c.cfg.Cycle.DecisionDeadline {
					if r := c.currentRun(); r != nil {
						if d, ok := r.ver.Timeout(u.id); ok {
							decide(d)
							continue
						}
					}
					dd := vision.Decision{Seq: u.id, Serial: u.serial, Outcome: vision.Reject, Reason: vision.ReasonLate,
						Detail: "no camera result before the decision deadline", At: now}
					u.dec = &dd
					tryReady(u)
				}
			}
			c.m.SetQueueDepth(metrics.QueueInFlight, len(units))
		}
	}
}

// handleOutcome raises the alarm (and hold) a printer outcome asks for.
func (c *Controller) handleOutcome(o printer.Outcome) {
	if s := c.snap.Load(); s != nil && (s.state == packml.Completing || s.state == packml.Stopping || s.state == packml.Aborting) &&
		(o.Cause == printer.CauseQueueCleared || o.Cause == printer.CauseNotSent) {
		return // the controller cleared the printer at batch end
	}
	switch o.Alarm {
	case printer.AlarmWarning:
		c.alarm(api.SeverityWarning, "printer", o.String())
	case printer.AlarmHold:
		c.alarm(api.SeverityFault, "printer", o.String())
		c.requestHold("printer: " + o.Cause.String())
	}
}

func printerReason(o printer.Outcome) journal.Reason {
	switch o.Cause {
	case printer.CauseQueueCleared, printer.CauseNotSent:
		if o.Result == printer.ResultReturned {
			return journal.ReasonQueueCleared
		}
	case printer.CauseRefused:
		return journal.ReasonQueueCleared
	}
	return journal.ReasonPrinterFault
}

// committer makes each group durable in one journal transaction and hands
// it to the decider, which sends the verdicts to the PLC in order while the
// committer already commits the next group (pipelined). The Commissioned
// step of the units that passed rides on the next transaction (or its own,
// when the line is quiet).
func (c *Controller) committer(ctx context.Context) {
	dq := make(chan *group, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.decider(ctx, dq) }()
	defer wg.Wait()
	// Commissioned steps wait up to commissionedLinger for the next verdict
	// group to ride on: committing them alone as soon as the decider is
	// done would put an extra fsync in front of every other verdict group.
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	lingering := false
	defer linger.Stop()
	for {
		var g *group
		select {
		case <-ctx.Done():
			return
		case g = <-c.commitCh:
		case <-c.comm.kick:
			if !lingering {
				lingering = true
				linger.Reset(commissionedLinger)
			}
			continue
		case <-linger.C:
		}
		if lingering {
			lingering = false
			linger.Stop()
		}
		steps, nComm := c.comm.take()
		changes := steps
		var gch []journal.Change
		if g != nil {
			gch = append(gch, g.changes...)
			for _, it := range g.items {
				if !it.blank {
					gch = append(gch, verdictChanges(it)...)
				}
			}
			changes = append(steps[:len(steps):len(steps)], gch...)
		}
		if len(changes) > 0 {
			if err := c.j.Apply(ctx, changes...); err != nil {
				if ctx.Err() != nil {
					return
				}
				c.log.Error("journal commit of verdicts failed", "units", len(changes), "err", err)
				c.alarm(api.SeverityFault, "journal", fmt.Sprintf("journal commit failed: %v", err))
				c.requestHold("journal commit failed")
				// The pending steps are facts (verdicts at the PLC, gate
				// results): commit them on their own, or keep them for
				// the next commit. Then the group alone.
				c.applySteps(ctx, steps)
				if g != nil && len(gch) > 0 {
					if err := c.j.Apply(ctx, gch...); err != nil {
						c.failGroup(g, err)
						continue
					}
					c.countDurable(gch, 0)
				}
			} else {
				c.countDurable(changes, nComm)
			}
		}
		if g == nil {
			continue
		}
		select {
		case dq <- g:
		case <-ctx.Done():
			return
		}
	}
}

// applySteps commits steps taken from c.comm (Commissioned after a
// delivered pass verdict, gate results, resolutions of failed groups).
// They are facts: when the commit fails they go back to c.comm and ride on
// the next commit (or the batch-end flush). A step the journal refuses as
// an illegal transition would fail every retry (the unit was resolved
// otherwise meanwhile, e.g. made uncertain at batch end): it is logged,
// alarmed and dropped, and the others are committed.
func (c *Controller) applySteps(ctx context.Context, steps []journal.Change) {
	for len(steps) > 0 {
		err := c.j.Apply(ctx, steps...)
		if err == nil {
			n := 0
			for _, ch := range steps {
				if ch.To == journal.Commissioned {
					n++
				}
			}
			c.countDurable(steps, n)
			return
		}
		var te *journal.TransitionError
		if errors.As(err, &te) && ctx.Err() == nil {
			kept := steps[:0:0]
			for _, ch := range steps {
				if ch.Serial != te.Serial {
					kept = append(kept, ch)
				}
			}
			if len(kept) < len(steps) {
				c.log.Error("journal refused a unit step; dropped", "serial", te.Serial, "err", err)
				c.alarm(api.SeverityFault, "journal", fmt.Sprintf("unit %s: step %s refused by the journal: %v", te.Serial, te.To, err))
				steps = kept
				continue
			}
		}
		c.log.Error("journal commit of unit steps failed; kept for the next commit", "steps", len(steps), "err", err)
		for _, ch := range steps {
			c.comm.add(ch)
		}
		return
	}
}

// failGroup handles a verdict group whose journal commit failed: no
// verdict goes to the PLC (the gate rejects products without one,
// fail-safe), so its units are rejected (reason fault; from Queued, as
// Printed was not written either) and the group's other resolutions are
// kept, all through c.comm to be committed with the next commit. The
// group's flush waiters are released.
func (c *Controller) failGroup(g *group, err error) {
	c.log.Error("journal commit of a verdict group failed: no verdicts sent", "units", len(g.items), "err", err)
	for _, ch := range g.changes {
		c.comm.add(ch)
	}
	for _, it := range g.items {
		if it.blank {
			continue
		}
		c.comm.add(journal.Change{Serial: it.u.serial, To: journal.Rejected, Reason: journal.ReasonFault,
			Detail: "journal commit of the verdict failed: no verdict sent, the gate rejects fail-safe"})
	}
	for _, f := range g.flushes {
		close(f)
	}
}

// commissionedLinger is how long the Commissioned steps of delivered pass
// verdicts wait for the next verdict group's transaction before they are
// committed on their own (a quiet line). It only delays when a unit counts
// as commissioned, never a verdict.
const commissionedLinger = 5 * time.Millisecond

// decider sends each durable group's verdicts to the PLC, in order, and
// starts reject confirmations. A pass verdict whose write failed is
// Rejected only when the PLC clearly refused it (verdictRefused); otherwise
// it may have reached the PLC, and resolveUnknownPass asks the gate.
func (c *Controller) decider(ctx context.Context, dq <-chan *group) {
	for {
		var g *group
		select {
		case <-ctx.Done():
			return
		case g = <-dq:
		}
		errs := c.sendVerdicts(ctx, g.items)
		now := c.now()
		for i, it := range g.items {
			reject := it.blank || it.u.dec.Outcome != vision.Pass
			err := errs[i]
			c.m.ObserveCycle(now.Sub(it.readyAt))
			c.recordLatency(now.Sub(it.readyAt), now.Sub(readAt(it)))
			if it.blank {
				continue
			}
			if err != nil {
				c.setLink("plc", api.LinkConnecting, err.Error())
				c.alarm(api.SeverityFault, "plc", fmt.Sprintf("verdict for product %d not delivered: %v", it.seq, err))
				c.requestHold("PLC verdict not delivered")
				if !reject {
					if verdictRefused(err) {
						// The PLC answered and did not execute the write: the
						// product has no verdict, the gate rejects it fail-safe.
						c.comm.add(journal.Change{Serial: it.u.serial, To: journal.Rejected, Reason: journal.ReasonFault,
							Detail: "pass verdict refused by the PLC: the gate rejects fail-safe"})
					} else {
						// The write may have reached the PLC (lost reply):
						// the verdict is unknown; ask the gate.
						c.resolveUnknownPass(ctx, it.u.serial, it.seq, err)
					}
				}
				continue
			}
			if !reject {
				c.comm.add(journal.Change{Serial: it.u.serial, To: journal.Commissioned, Actor: journal.ActorPLC})
			} else if c.cfg.Cycle.ConfirmRejects {
				c.startConfirm(ctx, it.u.serial, it.seq)
			}
		}
		if len(g.flushes) > 0 {
			// Make the pending Commissioned steps durable before the
			// waiter (batch end) looks at the journal.
			if ch, _ := c.comm.take(); len(ch) > 0 {
				c.applySteps(ctx, ch)
			}
			for _, f := range g.flushes {
				close(f)
			}
			continue
		}
		c.comm.wake()
	}
}

// verdictBatcher is implemented by PLC drivers that write several verdicts
// in one request (devices/modbus and devices/opcua: DecideBatch; see
// devices.VerdictError for which verdicts failed).
type verdictBatcher interface {
	DecideBatch(ctx context.Context, vs []devices.Verdict) error
}

// sendVerdicts writes the verdicts of a durable group to the PLC, in order
// (one batched write when the driver supports it, else one Decide per
// unit), and returns each item's delivery error (nil = delivered). A
// failed verdict is sent once more (the driver reconnects first; rewriting
// a slot with the same verdict is idempotent, so a write whose reply was
// lost does no harm): DecideBatch does that itself, Decide here.
func (c *Controller) sendVerdicts(ctx context.Context, items []commitItem) []error {
	errs := make([]error, len(items))
	reject := func(it commitItem) bool { return it.blank || it.u.dec.Outcome != vision.Pass }
	b, ok := c.o.PLC.(verdictBatcher)
	if !ok || len(items) == 1 {
		for i, it := range items {
			errs[i] = c.o.PLC.Decide(ctx, it.seq, reject(it))
		}
		for i, it := range items {
			if errs[i] != nil && ctx.Err() == nil && !errors.Is(errs[i], devices.ErrClosed) && !errors.Is(errs[i], devices.ErrNotConnected) {
				if err := c.o.PLC.Decide(ctx, it.seq, reject(it)); err == nil {
					errs[i] = nil
				} else {
					errs[i] = errors.Join(err, fmt.Errorf("first attempt: %w", errs[i]))
				}
			}
		}
		return errs
	}
	vs := make([]devices.Verdict, len(items))
	for i, it := range items {
		vs[i] = devices.Verdict{Seq: it.seq, Reject: reject(it)}
	}
	err := b.DecideBatch(ctx, vs)
	if err == nil {
		return errs
	}
	var ve *devices.VerdictError
	if !errors.As(err, &ve) {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	failed := make(map[uint64]bool, len(ve.Undelivered))
	for _, s := range ve.Undelivered {
		failed[s] = true
	}
	for i, it := range items {
		if failed[it.seq] {
			errs[i] = err
		}
	}
	return errs
}

// pendingSteps are journal steps due after their verdict reached the PLC
// (Commissioned, or Rejected when the verdict could not be delivered),
// collected by the decider and committed with the next transaction.
type pendingSteps struct {
	mu   sync.Mutex
	ch   []journal.Change
	n    int // Commissioned steps among ch
	kick chan struct{}
}

func (p *pendingSteps) add(ch journal.Change) {
	p.mu.Lock()
	p.ch = append(p.ch, ch)
	if ch.To == journal.Commissioned {
		p.n++
	}
	p.mu.Unlock()
}

func (p *pendingSteps) take() ([]journal.Change, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, n := p.ch, p.n
	p.ch, p.n = nil, 0
	return ch, n
}

// wake tells the committer there are steps to commit.
func (p *pendingSteps) wake() {
	p.mu.Lock()
	empty := len(p.ch) == 0
	p.mu.Unlock()
	if empty {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// readAt is when the unit's verdict input arrived: the camera read (or the
// decision, for a lack of read), or when a blank product became ready.
func readAt(it commitItem) time.Time {
	if it.blank || it.u.dec == nil {
		return it.readyAt
	}
	if !it.u.dec.Read.At.IsZero() {
		return it.u.dec.Read.At
	}
	if !it.u.dec.At.IsZero() {
		return it.u.dec.At
	}
	return it.readyAt
}

// verdictChanges are the journal steps of a unit whose verdict is ready:
// Printed (with its PLC seq) then Verified or Rejected.
func verdictChanges(it commitItem) []journal.Change {
	u, d := it.u, it.u.dec
	out := []journal.Change{{Serial: u.serial, To: journal.Printed, Seq: it.seq, Actor: journal.ActorPrinter, At: u.printedAt}}
	g := gradeOf(d)
	if d.Outcome == vision.Pass {
		return append(out, journal.Change{Serial: u.serial, To: journal.Verified, Grade: g, Actor: journal.ActorCamera})
	}
	ch := journal.Change{Serial: u.serial, To: journal.Rejected, Grade: g, Actor: journal.ActorCamera,
		Reason: visionReason(d.Reason), Detail: truncate(d.Detail, 120)}
	if d.Reason == vision.ReasonMismatch {
		ch.ReadData = truncate(d.Read.Data, 200)
	}
	if d.Reason == vision.ReasonLowGrade && ch.Detail == "" {
		ch.Detail = "parameter " + string(d.Param)
	}
	return append(out, ch)
}

func gradeOf(d *vision.Decision) *journal.Grade {
	if !d.Read.Grade.Graded() {
		return nil
	}
	g := &journal.Grade{Overall: float32(d.Read.Grade.Overall)}
	if d.Param != "" {
		g.Param = string(d.Param)
		if v, ok := d.Read.Grade.Params[d.Param]; ok {
			g.ParamGrade = float32(v)
		}
	}
	return g
}

func visionReason(r vision.Reason) journal.Reason {
	switch r {
	case vision.ReasonNoRead, vision.ReasonLate, vision.ReasonSkipped:
		return journal.ReasonNoRead
	case vision.ReasonMismatch:
		return journal.ReasonMismatch
	case vision.ReasonLowGrade:
		return journal.ReasonLowGrade
	case vision.ReasonCameraFault:
		return journal.ReasonFault
	}
	return journal.ReasonOther
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// countDurable updates counters and metrics once changes are durable.
func (c *Controller) countDurable(changes []journal.Change, commissioned int) {
	for _, ch := range changes {
		switch ch.To {
		case journal.Commissioned:
			c.m.Unit(metrics.OutcomeCommissioned, "")
			c.open.Add(-1)
			c.rate.add(c.now())
		case journal.Rejected:
			c.m.Unit(metrics.OutcomeRejected, ch.Reason.String())
			c.countReject(ch.Reason)
			c.open.Add(-1)
			c.rate.add(c.now())
		case journal.Uncertain:
			c.m.Unit(metrics.OutcomeUncertain, ch.Reason.String())
			c.countReject(ch.Reason)
		case journal.Returned:
			c.m.Unit(metrics.OutcomeReturned, ch.Reason.String())
		}
	}
	if commissioned > 0 {
		if n := c.commissioned.Add(int64(commissioned)); c.targetReached(n) {
			c.requestComplete()
		}
	}
}

// goConfirmer runs fn in its own goroutine once a confirmer slot is free
// (bounded by Cycle.MaxConfirmers, counted in confirming so a drain waits
// for it, owned by Run's wait group). It returns without running fn when
// ctx ends first.
func (c *Controller) goConfirmer(ctx context.Context, fn func()) {
	select {
	case c.confirmSem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	c.confirming.Add(1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.confirmSem; c.confirming.Add(-1) }()
		fn()
	}()
}

// startConfirm waits for the gate's confirmation of a reject in its own
// goroutine (bounded by Cycle.MaxConfirmers; owned by Run's wait group).
func (c *Controller) startConfirm(ctx context.Context, serial string, seq uint64) {
	c.goConfirmer(ctx, func() {
		ok, err := c.o.PLC.Confirm(ctx, seq)
		if ctx.Err() != nil {
			return
		}
		if ok {
			return
		}
		if err == nil {
			err = errors.New("product passed the gate")
		}
		msg := fmt.Sprintf("reject of unit %s (product %d) not confirmed: %v", serial, seq, err)
		c.log.Error("reject not confirmed", "serial", serial, "seq", seq, "err", err)
		c.annotateNotConfirmed(ctx, serial, err)
		if aerr := c.j.AppendAudit(ctx, journal.AuditEntry{Who: "plc", Role: "system", Action: "unit.reject-not-confirmed",
			Reason: journal.ReasonRejectNotConfirmed.String() + ": " + err.Error(), Before: serial + ": rejected", After: serial + ": rejected (not confirmed)"}); aerr != nil {
			c.log.Error("audit reject-not-confirmed", "err", aerr)
		}
		c.alarm(api.SeverityFault, "plc", msg)
		c.requestHold("reject not confirmed")
	})
}

// resolveUnknownPass settles a unit whose pass verdict may or may not have
// reached the PLC (the write failed without a clear refusal: a lost reply,
// a timeout after the request left). Journaling it Rejected would be wrong
// if the PLC applied the pass and the pack shipped. So: overwrite the slot
// with a reject (idempotent per product; if it lands before the product
// reaches the gate, the pack is pushed off), then read the gate result:
// pushed off → Rejected (fault); passed → Commissioned (it left with its
// pass verdict); no answer → Uncertain (alarm and hold: a person finds the
// pack). Runs in its own goroutine like a reject confirmation (bounded by
// Cycle.MaxConfirmers, counted in confirming so a drain waits for it,
// owned by Run's wait group). On shutdown the unit stays Verified and the
// journal's recovery makes it Uncertain.
func (c *Controller) resolveUnknownPass(ctx context.Context, serial string, seq uint64, cause error) {
	c.goConfirmer(ctx, func() {
		werr := c.o.PLC.Decide(ctx, seq, true)
		pushed, err := c.o.PLC.Confirm(ctx, seq)
		if ctx.Err() != nil {
			return
		}
		var ch journal.Change
		switch {
		case err == nil && pushed:
			ch = journal.Change{Serial: serial, To: journal.Rejected, Reason: journal.ReasonFault, Actor: journal.ActorPLC,
				Detail: "pass verdict delivery unknown; overwritten with a reject: the gate pushed the product off"}
		case err == nil:
			c.log.Warn("pass verdict delivery unknown; the product passed the gate", "serial", serial, "seq", seq, "cause", cause)
			ch = journal.Change{Serial: serial, To: journal.Commissioned, Actor: journal.ActorPLC}
		default:
			if werr != nil {
				err = errors.Join(err, fmt.Errorf("reject overwrite: %w", werr))
			}
			c.log.Error("verdict delivery unknown and gate result unknown", "serial", serial, "seq", seq, "cause", cause, "err", err)
			ch = journal.Change{Serial: serial, To: journal.Uncertain, Reason: journal.ReasonFault, Actor: journal.ActorPLC,
				Detail: truncate("verdict delivery unknown, gate result unknown: "+err.Error(), 120)}
			c.open.Add(-1) // countDurable does not count Uncertain as leaving the line
			c.alarm(api.SeverityFault, "plc", fmt.Sprintf("unit %s (product %d): verdict delivery and gate result unknown: find the pack", serial, seq))
			c.requestHold("PLC verdict delivery unknown")
		}
		c.comm.add(ch)
		c.comm.wake()
	})
}

// record builds a printer record for serial from the batch template.
func (r *run) record(serial string, cache *elemCache) (printer.Record, error) {
	data := r.elementString(serial)
	cache.put(serial, data)
	if data == "" {
		return printer.Record{}, fmt.Errorf("serial %q does not make a valid GS1 message", serial)
	}
	f := make(map[string]string, len(r.fields))
	for name, src := range r.fields {
		switch src {
		case "element_string":
			f[name] = data
		case "serial":
			f[name] = serial
		case "gtin":
			f[name] = r.def.GTIN
		case "lot":
			f[name] = r.def.Lot
		case "expiry":
			f[name] = r.def.Expiry
		case "hri":
			f[name] = r.hriPrefix + " (21) " + serial + r.hriSuffix
		case "nhrn":
			f[name] = r.def.NHRN
		}
	}
	return printer.Record{ID: serial, Fields: f}, nil
}

// elementString is the GS1 element string printed for serial (see
// run.message in build.go), validated by printer/gs1 ("" if invalid).
func (r *run) elementString(serial string) string {
	m, err := r.message(serial)
	if err != nil {
		return ""
	}
	return m.ElementString()
}

// elemCache hands the element string built for a record (feed) to
// markQueued, which the printer queue calls right after, so that each
// unit's GS1 message is built and validated once.
type elemCache struct {
	mu sync.Mutex
	m  map[string]string
}

func (e *elemCache) put(serial, data string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]string{}
	}
	if len(e.m) < 1<<16 {
		e.m[serial] = data
	}
	e.mu.Unlock()
}

func (e *elemCache) take(serial string) (string, bool) {
	if e == nil {
		return "", false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.m[serial]
	delete(e.m, serial)
	return d, ok
}
