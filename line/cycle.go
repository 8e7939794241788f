package line

// The unit cycle, the whole path of one unit in one file:
//
//	draw ahead (journal Draw, grouped)           drawLoop
//	  → printer feed: journal Queued (durable)   markQueued   (printer.Queue calls it before sending)
//	    + verifier Expect                         markQueued
//	  → printer queue → print complete            onOutcome    (printer.Queue → cycle loop)
//	  → PLC trigger (product seq) paired in order plcLoop → cycleLoop.pair
//	  → camera read → verifier decision           cameraLoop   (→ cycle loop)
//	  → the product's deadline: its verdict must  cycleLoop, decider (lateness)
//	    be in the PLC before the product reaches
//	    the gate (cycle.gate_travel minus
//	    cycle.verdict_margin); a verdict that
//	    cannot make it is a reject (late-verdict)
//	  → decision commit: Printed+Verified (pass) or Printed+Rejected (fail,
//	    late), one group-committed journal transaction for every unit ready
//	    at that moment                            committer
//	  → verdicts to the PLC, one batched write    decider (sendVerdicts: DecideBatch)
//	  → the gate's read-back of every product     gateLoop (PLC NextGateResult)
//	    (devices gate_results "every"):
//	      pass verdict + passed     → Commissioned
//	      pass verdict + pushed off → Uncertain (gate-mismatch), alarm, hold
//	      reject + pushed off       → confirmed (stays Rejected)
//	      reject + not confirmed    → annotation reject-not-confirmed, alarm, hold
//	      reject + passed           → Uncertain (gate-mismatch), alarm, hold
//	      no result read back       → Uncertain (gate-unknown), alarm, hold
//	    ("rejects": only rejects are read back, each awaited on its own;
//	    one not read back in its confirm window is reject-not-confirmed;
//	    "none": nothing is read back. In both, a pass verdict delivered
//	    before its deadline is Commissioned once its product has travelled
//	    past the gate (cycle.gate_travel), Uncertain (gate-unknown) if
//	    the batch ends or the PLC restarts before)
//	  → pass verdict write failed, not refused by the PLC (reply lost?):
//	    overwritten with a reject, the gate's result says what happened:
//	    passed → Commissioned, pushed off → Rejected, none → Uncertain
//
// Ordering rules kept here: Queued is durable before the record leaves for
// the printer; the unit's verdict (Verified or Rejected) is durable before
// the verdict goes to the PLC; a serial is sent to the printer once, ever;
// a unit is Commissioned only when its product passed the gate with a pass
// verdict (or, without read-back, its pass verdict reached the PLC in
// time and its product travelled past the gate). Crash anywhere: the journal's recovery returns Drawn units and
// makes every sent-but-undecided unit (Verified included: its product's
// gate result is unknown) Uncertain.
//
// Pairing prints with PLC triggers: the printer prints the next queued
// record when the product passes its photo-eye, and the PLC counts the same
// product, so the k-th print (or missed print) of a run belongs to the k-th
// trigger. Both streams are queued and paired in order; products the PLC
// counted but the controller could not follow (Trigger.Missed) keep their
// place in the trigger stream, and the prints paired with them are
// unverifiable (their products got no verdict; the gate rejects them
// fail-safe): their units become uncertain. Pairing also checks time: a printer report more than
// cycle.pair_window after the trigger it would pair with means reports
// were lost or held up (a stall): pairing goes on by count, but the units
// paired until the next realignment are uncertain (their products get no
// verdict) and the line holds. After a printer link loss the prints
// reported before it pair as usual and the products after them get no
// verdict (their triggers are stale). Every hold realigns the two streams
// once the line has stopped and the last reports have come in: prints
// still waiting for their trigger become uncertain, and their triggers,
// should they come later (a PLC link loss holds them back), are recognised
// by their product seq (up to the last seq seen plus the prints resolved)
// and dropped.

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
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
	trigAt    time.Time // when the PLC trigger of its product was seen
	epoch     uint64    // the PLC product numbering its seq counts in (Controller.trigEpoch)
	dec       *vision.Decision
	blank     bool // placeholder for a missed print (no serial)
	started   bool // its print-start was reported: it holds its product's place in printedQ
	resolved  bool // resolved (uncertain, returned) while holding a place in printedQ
}

// cycle events, all handled by the cycle loop in arrival order.
type (
	evQueued   struct{ units []*unit }
	evOutcomes struct{ outs []printer.Outcome }
	// evPrinter is a print-start or missed print as the printer reported
	// it, in the printer's order: with record IDs in the print-starts, the
	// products' order at the print head (a print-complete can come after
	// the next product's missed print).
	evPrinter  struct{ ev printer.Event }
	evTrigger  struct{ t trigger }
	evDecision struct{ ds []vision.Decision }
	// evResync realigns prints and triggers (after a hold): prints still
	// waiting for a trigger become uncertain, waiting triggers are dropped.
	evResync struct{ done chan struct{} }
	// evDrain reports, on done, how many units are still open.
	evDrain struct{ done chan int }
	// evPrinterGap: the printer connection was lost. The prints it
	// reported before are paired with the next triggers as usual; the
	// products after them pass the print head unreported (printed or
	// not) until the line has stopped and the streams are realigned
	// (evResync): their triggers are stale, and prints reported on a new
	// connection meanwhile are not paired.
	evPrinterGap struct{}
	// evResolveAll makes every open unit uncertain (abort, batch end).
	evResolveAll struct {
		why  string
		done chan struct{}
	}
)

// trigger is a PLC trigger with the product numbering it counts in: a
// PLC restart starts a new numbering (Controller.trigEpoch), and a seq of
// the old one means nothing to the restarted PLC.
type trigger struct {
	devices.Trigger
	epoch uint64
}

// startKey is one print-start as the printer numbers it.
type startKey struct {
	record  string
	counter uint64
}

// maxStarts bounds the print-starts remembered to recognise a re-sent one.
const maxStarts = 1024

// commitItem is one unit (or blank product) whose verdict is ready.
type commitItem struct {
	u       *unit
	blank   bool
	seq     uint64
	epoch   uint64 // the PLC numbering seq counts in
	readyAt time.Time
	// due and dueSeq are the product's deadline: its verdict must be in
	// the PLC before due (zero: no time bound) and before the PLC has
	// counted product dueSeq at the trigger point (0: no product bound).
	due    time.Time
	dueSeq uint64
	// late: the deadline had passed when the verdict was ready; the unit
	// is journaled Rejected (late-verdict) and a reject goes to the PLC.
	late bool
}

// reject reports whether the item's verdict is a reject.
func (it commitItem) reject() bool {
	return it.blank || it.late || it.u.dec.Outcome != vision.Pass
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

// onPrinterEvent is printer.QueueOptions.OnEvent: print-starts and missed
// prints go to the cycle loop in the printer's order (before the queue's
// outcomes of the same event).
func (c *Controller) onPrinterEvent(ev printer.Event) {
	if ev.Kind != printer.PrintStart && ev.Kind != printer.Missed {
		return
	}
	ctx := c.loopCtx()
	c.send(ctx, evPrinter{ev})
}

// send hands an event to the cycle loop.
func (c *Controller) send(ctx context.Context, ev any) {
	select {
	case c.ev <- ev:
	case <-ctx.Done():
	}
}

// plcLoop reads triggers and hands them to the cycle loop. It keeps the
// newest product seq seen and the product pitch (time between products)
// for the products-based verdict deadline.
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
	var prevAt time.Time
	var prevSeq uint64
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
		if t.Seq < prevSeq {
			prevAt, prevSeq = time.Time{}, 0 // PLC restart: new numbering
			c.trigEpoch.Add(1)
			c.lastTrig.Store(t.Seq)
		}
		if !prevAt.IsZero() && t.At.After(prevAt) && t.Seq > prevSeq {
			// one sample per poll: the time since the last poll over the
			// products it brought (an exponential average over ~8 polls)
			// A sample more than 4 times the average spans a stop of the
			// line, not its pitch: it is left out.
			sample := float64(t.At.Sub(prevAt)) / float64(t.Seq-prevSeq)
			old := float64(c.pitch.Load())
			if old == 0 {
				old = sample
			}
			if sample <= 4*old {
				c.pitch.Store(int64(old + (sample-old)/8))
			}
		}
		if t.At.After(prevAt) || prevAt.IsZero() {
			prevAt, prevSeq = t.At, t.Seq
		}
		if t.Seq > c.lastTrig.Load() {
			c.lastTrig.Store(t.Seq)
		}
		c.send(ctx, evTrigger{trigger{Trigger: t, epoch: c.trigEpoch.Load()}})
	}
}

// deadline is when product t's verdict must be in the PLC: the gate travel
// (as a time from the trigger, also for a travel in products, taken at
// line.design_speed; and as products: the product reaches the gate when
// the PLC counts the product gate_travel products behind it),
// minus the verdict margin (as products: the margin over the pitch
// between products, measured or at line.design_speed, whichever is
// shorter, rounded up).
func (c *Controller) deadline(t devices.Trigger) (due time.Time, dueSeq uint64) {
	gt, margin := c.cfg.Cycle.GateTravel, c.cfg.Cycle.VerdictMargin
	if travel := gt.TimeAt(c.cfg.Line.DesignSpeed); travel > 0 {
		// as a time; as products, the least time they can take (at the
		// design speed): a bound that holds even when the PLC's count
		// reaches the controller late (a poll behind a verdict write)
		due = t.At.Add(travel - margin)
	}
	if gt.Products > 0 {
		// the margin in products at the faster of the measured pitch and
		// the line's design speed
		p := c.pitch.Load()
		if ds := c.cfg.Line.DesignSpeed; ds > 0 {
			if dp := int64(float64(time.Minute) / ds); p == 0 || dp < p {
				p = dp
			}
		}
		mp := uint64(1)
		if p > 0 {
			mp += uint64(math.Ceil(float64(margin) / float64(p)))
		}
		dueSeq = t.Seq // the gate is closer than the margin at this speed: always late
		if mp < uint64(gt.Products) {
			dueSeq = t.Seq + uint64(gt.Products) - mp
		}
	}
	return due, dueSeq
}

// lateAt reports whether the item's deadline has passed at now, or the
// PLC's numbering restarted since its trigger (its seq means nothing to
// the PLC now: it gets a reject, and no pass is taken as passed).
func (c *Controller) lateAt(it commitItem, now time.Time) bool {
	return (!it.due.IsZero() && !now.Before(it.due)) || (it.dueSeq != 0 && c.lastTrig.Load() >= it.dueSeq) ||
		it.epoch != c.trigEpoch.Load()
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
		trigQ    []trigger // Seq 0: a product the PLC counted but the controller could not follow (Trigger.Missed)
		ready    []commitItem
		changes  []journal.Change
		flushes  []chan struct{}
		stale    int  // triggers dropped as stale since the last alarm
		byStart  bool // the printer reports print-starts with record IDs: they order printedQ
		gap      bool // printer link lost: prints after it are unreported until the next resync
		distrust bool // prints and triggers out of step: no unit is paired for sure until the next resync
	)
	// Realignment by counters after a resync: lastSeq is the last PLC
	// product seq seen; staleUpTo the highest seq of a product that passed
	// the printer before the line stopped (its print was resolved at the
	// resync). Triggers up to it that arrive late (e.g. after a PLC link
	// loss) are dropped instead of being paired with the prints of
	// products after the restart.
	var lastSeq, staleUpTo uint64
	// the recent print-starts, to recognise one reported twice
	starts := map[startKey]struct{}{}
	var startQ []startKey
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	window := c.cfg.Cycle.PairWindow

	resolve := func(u *unit, to journal.State, reason journal.Reason, detail string) {
		delete(units, u.id)
		delete(bySerial, u.serial)
		u.resolved = true // if it holds a place in printedQ, its product gets no verdict
		if r := c.currentRun(); r != nil {
			r.ver.Timeout(u.id) // forget it; the decision is discarded
		}
		changes = append(changes, journal.Change{Serial: u.serial, To: to, Reason: reason, Detail: detail})
		c.open.Add(-1)
	}
	// tryReady hands a unit to the committer once it is printed, paired and
	// decided. A unit whose deadline has passed is a late reject.
	tryReady := func(u *unit) {
		if !u.printed || !u.paired || u.dec == nil {
			return
		}
		delete(units, u.id)
		delete(bySerial, u.serial)
		now := c.now()
		it := commitItem{u: u, seq: u.seq, epoch: u.epoch, readyAt: now}
		it.due, it.dueSeq = c.deadline(devices.Trigger{Seq: u.seq, At: u.trigAt})
		it.late = c.lateAt(it, now)
		ready = append(ready, it)
	}
	// staleTrigger drops a trigger no print was reported for: its product
	// gets no verdict (the gate rejects it fail-safe).
	staleTrigger := func(t trigger) {
		stale++
		c.log.Debug("stale trigger dropped", "seq", t.Seq, "at", t.At)
	}
	pair := func() {
		defer func() {
			if gap && len(printedQ) == 0 {
				// The prints reported before the printer link was lost
				// have their triggers: the products after them passed
				// the head unreported. They get no verdict (the gate
				// rejects them fail-safe); no print is paired with them.
				for _, t := range trigQ {
					staleTrigger(t)
				}
				trigQ = trigQ[:0]
			}
		}()
		for len(trigQ) > 0 && len(printedQ) > 0 {
			t, u := trigQ[0], printedQ[0]
			if t.Seq == 0 {
				// a product the controller could not follow: its print
				// got no verdict (the gate rejects it fail-safe)
				trigQ, printedQ = trigQ[1:], printedQ[1:]
				if !u.blank && !u.resolved {
					resolve(u, journal.Uncertain, journal.ReasonFault, "PLC trigger missed: product got no verdict (gate rejects fail-safe)")
				}
				continue
			}
			if !distrust && u.printedAt.Sub(t.At) > window {
				// A printer report this much later than the trigger it
				// would pair with: reports were lost or held up (a stall),
				// and which product got which print cannot be told for
				// sure. Pairing goes on by count, but no unit is trusted
				// to its product until the line has stopped and the
				// streams are realigned.
				distrust = true
				c.alarmCode(api.SeverityFault, "printer", "PRN-OUT-OF-STEP", "", false, map[string]string{"late": u.printedAt.Sub(t.At).Round(time.Millisecond).String()},
					fmt.Sprintf("printer reports and PLC triggers out of step: a print reported %s after the product's trigger; units printed until the line realigns are uncertain", u.printedAt.Sub(t.At).Round(time.Millisecond)))
				c.requestHold("printer reports and PLC triggers out of step")
			}
			trigQ, printedQ = trigQ[1:], printedQ[1:]
			if u.blank || u.resolved {
				ready = append(ready, commitItem{blank: true, seq: t.Seq, epoch: t.epoch, readyAt: c.now()})
				continue
			}
			if distrust {
				resolve(u, journal.Uncertain, journal.ReasonFault, "printer reports and PLC triggers out of step: the unit's product is not known for sure (gate rejects fail-safe)")
				continue
			}
			u.seq, u.paired, u.trigAt, u.epoch = t.Seq, true, t.At, t.epoch
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
				c.lastEvent.Store(c.now().UnixNano())
				for _, o := range e.outs {
					c.handleOutcome(o)
					// when the driver received the printer's report
					at := o.Event.At
					if at.IsZero() {
						at = c.now()
					}
					if o.ExtraProduct() {
						// A product passed the printer: blank, printed with a
						// record already resolved, or printed a second time.
						// Either way it gets no pass verdict, and the print
						// stays paired with its trigger (after a printer link
						// loss its trigger is stale). Ordered by print-starts,
						// its place was taken when it started.
						if !gap && !byStart {
							printedQ = append(printedQ, &unit{blank: true, printedAt: at})
						}
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
						if u.started {
							// its place in printedQ was taken at its print-start
							u.printed = true
							tryReady(u)
							continue
						}
						u.printed, u.printedAt = true, at
						if gap {
							// reported on the new connection after a link
							// loss: its product's trigger is stale
							resolve(u, journal.Uncertain, journal.ReasonFault, "printed after the printer link was lost, before the line was realigned: product got no verdict (gate rejects fail-safe)")
							continue
						}
						printedQ = append(printedQ, u)
					case printer.ResultUncertain:
						resolve(u, journal.Uncertain, printerReason(o), o.String())
					case printer.ResultReturned:
						resolve(u, journal.Returned, printerReason(o), o.String())
					}
				}
				pair()
			case evPrinter:
				c.lastEvent.Store(c.now().UnixNano())
				ev := e.ev
				if ev.Kind == printer.PrintStart && ev.RecordID != "" {
					byStart = true
				}
				if !byStart || gap {
					break // ordered by completions; or after a link loss: unpaired
				}
				switch ev.Kind {
				case printer.PrintStart:
					if ev.Counter != 0 {
						// A print-start reported again (same record, same
						// print counter: a re-sent report) is one product.
						k := startKey{ev.RecordID, ev.Counter}
						if _, dup := starts[k]; dup {
							c.log.Warn("printer reported a print-start twice; ignored", "record", ev.RecordID, "counter", ev.Counter)
							break
						}
						starts[k] = struct{}{}
						startQ = append(startQ, k)
						if len(startQ) > maxStarts {
							delete(starts, startQ[0])
							startQ = startQ[1:]
						}
					}
					if u := bySerial[ev.RecordID]; u != nil && !u.started {
						u.started, u.printedAt = true, ev.At
						printedQ = append(printedQ, u)
					} else {
						// a print of a record not in flight (resolved, or
						// printed twice): a product without a unit's print
						printedQ = append(printedQ, &unit{blank: true, printedAt: ev.At})
					}
				case printer.Missed:
					printedQ = append(printedQ, &unit{blank: true, printedAt: ev.At})
				}
				pair()
			case evTrigger:
				c.lastEvent.Store(c.now().UnixNano())
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
				if e.t.Missed > 0 {
					c.alarm(api.SeverityWarning, "plc", fmt.Sprintf("%d product(s) passed without a trigger the controller could follow", e.t.Missed))
					// their prints come in their place in the print stream
					for range min(e.t.Missed, uint64(c.cfg.Cycle.MaxTriggerBacklog)) {
						trigQ = append(trigQ, trigger{Trigger: devices.Trigger{At: e.t.At}, epoch: e.t.epoch})
					}
				}
				trigQ = append(trigQ, e.t)
				if n := len(trigQ) - c.cfg.Cycle.MaxTriggerBacklog; n > 0 {
					for _, t := range trigQ[:n] {
						staleTrigger(t)
					}
					trigQ = append(trigQ[:0], trigQ[n:]...)
				}
				pair()
			case evDecision:
				for _, d := range e.ds {
					decide(d)
				}
			case evPrinterGap:
				gap = true
				pair()
			case evResync:
				gap, distrust = false, false
				for _, u := range printedQ {
					if !u.blank && !u.resolved {
						resolve(u, journal.Uncertain, journal.ReasonFault, "print not matched to any PLC trigger before the line stopped")
					}
				}
				// Count, don't forget: every product in printedQ (print or
				// blank) still owes its trigger: the next seqs after the
				// last one seen. Those triggers are dropped when they come.
				staleUpTo = max(staleUpTo, lastSeq) + uint64(len(printedQ))
				for _, t := range trigQ {
					if t.Seq != 0 {
						staleTrigger(t)
					}
				}
				printedQ, trigQ = nil, nil
				close(e.done)
			case evDrain:
				e.done <- len(units) + len(ready)
			case evResolveAll:
				for _, u := range units {
					resolve(u, journal.Uncertain, journal.ReasonFault, e.why)
				}
				printedQ, trigQ = nil, nil
				flushes = append(flushes, e.done)
			}
		case <-tick.C:
			now := c.now()
			if stale > 0 {
				c.alarmCode(api.SeverityWarning, "printer", "PRN-NO-REPORT", "", false, map[string]string{"count": strconv.Itoa(stale)},
					fmt.Sprintf("%d product(s) reached the print head without a report from the printer: no verdict, rejected at the gate", stale))
				stale = 0
			}
			for _, u := range units {
				if u.dec != nil {
					continue
				}
				late := false
				if u.paired {
					due, dueSeq := c.deadline(devices.Trigger{Seq: u.seq, At: u.trigAt})
					late = c.lateAt(commitItem{due: due, dueSeq: dueSeq}, now)
				}
				if !late && !(u.printed && now.Sub(u.printedAt) > c.cfg.Cycle.DecisionDeadline) {
					continue
				}
				if r := c.currentRun(); r != nil && !late {
					if d, ok := r.ver.Timeout(u.id); ok {
						decide(d)
						continue
					}
				}
				dd := vision.Decision{Seq: u.id, Serial: u.serial, Outcome: vision.Reject, Reason: vision.ReasonLate,
					Detail: "no camera result before the decision deadline", At: now}
				if late {
					dd.Detail = "no camera result before the product's verdict deadline at the gate"
					if r := c.currentRun(); r != nil {
						r.ver.Timeout(u.id)
					}
				}
				u.dec = &dd
				tryReady(u)
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
	if o.Cause == printer.CauseMissed && (c.q.Held() || c.remainingToFeed() == 0) {
		// Products pass the head blank while the line drains or the last
		// units of the batch travel to the gate: nothing is wrong.
		return
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
// hands them to the gate loop, which settles each unit by what the gate
// did to its product. A pass verdict whose deadline passed while its group
// was being committed is sent as a reject (late-verdict). A pass verdict
// whose write failed is Rejected only when the PLC clearly refused it
// (verdictRefused); otherwise it may have reached the PLC: it is
// overwritten with a reject and the gate's result decides.
func (c *Controller) decider(ctx context.Context, dq <-chan *group) {
	lateRun := 0 // late verdicts in a row
	for {
		var g *group
		select {
		case <-ctx.Done():
			return
		case g = <-dq:
		}
		now := c.now()
		epoch := c.trigEpoch.Load()
		converted := make([]bool, len(g.items))
		old := make([]bool, len(g.items)) // counted in a numbering the PLC has restarted since
		for i := range g.items {
			it := &g.items[i]
			if old[i] = it.epoch != epoch; old[i] {
				continue
			}
			if !it.reject() && c.lateAt(*it, now) {
				it.late, converted[i] = true, true
			}
		}
		errs := c.sendVerdicts(ctx, g.items, old)
		done := c.now()
		var sent, unknown []sentVerdict
		var lastLate commitItem
		for i, it := range g.items {
			c.m.ObserveCycle(done.Sub(it.readyAt))
			c.recordLatency(done.Sub(it.readyAt), done.Sub(readAt(it)))
			v := sentVerdict{seq: it.seq, kind: verdictBlank, epoch: it.epoch}
			if !it.blank {
				v.serial, v.kind = it.u.serial, verdictPass
				if it.reject() {
					v.kind = verdictReject
				}
			}
			if old[i] {
				// The PLC restarted since the product's trigger: its seq
				// names nothing there now, so no verdict is sent and its
				// fate is unknown (a reject stays, not confirmed).
				unknown = append(unknown, v)
				continue
			}
			if !it.blank {
				if it.late {
					lateRun++
					lastLate = it
				} else {
					lateRun = 0
				}
			}
			if converted[i] {
				c.comm.add(journal.Change{Serial: it.u.serial, To: journal.Rejected, Reason: journal.ReasonLateVerdict, Actor: journal.ActorSystem,
					Detail: "pass verdict ready after the product's deadline at the gate (journal commit too slow): sent as a reject"})
			}
			if err := errs[i]; err != nil {
				c.setLink("plc", api.LinkConnecting, err.Error())
				c.alarm(api.SeverityFault, "plc", fmt.Sprintf("verdict for product %d not delivered: %v", it.seq, err))
				c.requestHold("PLC verdict not delivered")
				if v.kind == verdictPass {
					if verdictRefused(err) {
						// The PLC answered and did not execute the write: the
						// product has no verdict, the gate rejects it fail-safe.
						c.comm.add(journal.Change{Serial: it.u.serial, To: journal.Rejected, Reason: journal.ReasonFault, Actor: journal.ActorPLC,
							Detail: "pass verdict refused by the PLC: the gate rejects fail-safe"})
						v.kind = verdictReject
					} else {
						// The write may have reached the PLC (lost reply):
						// overwrite it with a reject; the gate result says
						// what happened.
						if werr := c.o.PLC.DecideBatch(ctx, []devices.Verdict{{Seq: it.seq, Reject: true}}); werr != nil {
							c.log.Warn("reject overwrite of an unknown pass verdict failed", "seq", it.seq, "err", werr)
						}
						v.kind = verdictUnknown
					}
				}
			} else if v.kind == verdictPass && c.gateMode != devices.GateResultsEvery {
				// The PLC reports no pass results: a pass verdict that
				// reached it before the product's deadline is taken as the
				// product passing the gate, and the unit is Commissioned
				// once the product has travelled past the gate.
				if c.lateAt(it, done) {
					c.open.Add(-1)
					c.comm.add(journal.Change{Serial: it.u.serial, To: journal.Uncertain, Reason: journal.ReasonGateUnknown, Actor: journal.ActorPLC,
						Detail: "pass verdict reached the PLC after the product's deadline; the PLC reports no pass results"})
					c.alarmCode(api.SeverityFault, "plc", "GATE-UNKNOWN", "gate:"+it.u.serial, true, map[string]string{"serial": it.u.serial, "product": strconv.FormatUint(it.seq, 10)},
						"pass verdict reached the PLC after the product's deadline; the PLC reports no pass results")
					c.requestHold("verdict reached the PLC late")
					continue
				}
				v.passSeq = c.pastGate(it)
			}
			switch {
			case c.gateMode == devices.GateResultsNone && v.kind == verdictUnknown:
				c.open.Add(-1)
				c.comm.add(journal.Change{Serial: v.serial, To: journal.Uncertain, Reason: journal.ReasonGateUnknown, Actor: journal.ActorPLC,
					Detail: "pass verdict delivery unknown and no gate read-back"})
				c.alarmCode(api.SeverityFault, "plc", "GATE-UNKNOWN", "gate:"+v.serial, true, map[string]string{"serial": v.serial, "product": strconv.FormatUint(v.seq, 10)},
					"pass verdict delivery unknown and the PLC reports no gate results")
				c.requestHold("PLC verdict delivery unknown")
			case c.gateMode == devices.GateResultsNone && v.kind != verdictPass:
				// nothing is read back: a reject stays Rejected
			default:
				sent = append(sent, v)
			}
		}
		if len(unknown) > 0 {
			c.settleLost(ctx, unknown, "the PLC restarted (its product numbering began again) before the verdict could be sent")
		}
		if lateRun >= c.cfg.Cycle.MaxLateVerdicts {
			c.alarmCode(api.SeverityFault, "line", "LATE-VERDICT", "", false, map[string]string{"count": strconv.Itoa(lateRun), "serial": lastLate.u.serial},
				fmt.Sprintf("%d verdicts in a row could not reach the PLC before their products reached the gate (last: unit %s, product %d); they were rejected", lateRun, lastLate.u.serial, lastLate.seq))
			c.requestHold("late verdicts")
			lateRun = 0
		}
		if len(sent) > 0 {
			c.gateSend(ctx, evSent{sent})
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

// sendVerdicts writes the verdicts of a durable group to the PLC, in order,
// in one DecideBatch (the driver uses as few requests as its map allows and
// retries a failed request once) and returns each item's delivery error
// (nil = delivered).
func (c *Controller) sendVerdicts(ctx context.Context, items []commitItem, skip []bool) []error {
	errs := make([]error, len(items))
	vs := make([]devices.Verdict, 0, len(items))
	for i, it := range items {
		if !skip[i] {
			vs = append(vs, devices.Verdict{Seq: it.seq, Reject: it.reject()})
		}
	}
	if len(vs) == 0 {
		return errs
	}
	err := c.o.PLC.DecideBatch(ctx, vs)
	if err == nil {
		return errs
	}
	var ve *devices.VerdictError
	if !errors.As(err, &ve) {
		for i := range errs {
			if !skip[i] {
				errs[i] = err
			}
		}
		return errs
	}
	failed := make(map[uint64]bool, len(ve.Undelivered))
	for _, s := range ve.Undelivered {
		failed[s] = true
	}
	for i, it := range items {
		if failed[it.seq] && !skip[i] {
			errs[i] = err
		}
	}
	return errs
}

// verdictKind is what the PLC was told about a product.
type verdictKind uint8

const (
	verdictPass    verdictKind = iota + 1 // accept (unit Verified)
	verdictReject                         // reject (unit Rejected)
	verdictUnknown                        // a pass whose delivery is unknown, overwritten with a reject (unit Verified)
	verdictBlank                          // no unit: a product that passed the printer without a code
)

// sentVerdict is one product whose verdict went to the PLC and whose gate
// result the gate loop waits for.
type sentVerdict struct {
	serial string // "" for a blank product
	seq    uint64
	kind   verdictKind
	// epoch is the PLC numbering seq counts in (Controller.trigEpoch).
	epoch uint64
	// passSeq: a pass whose gate result the PLC does not report
	// (gate_results "rejects" or "none") is taken as passed once the PLC
	// has counted product passSeq (0: it waits for a gate result).
	passSeq uint64
}

// travelling reports whether v waits for its product to travel past the
// gate rather than for a gate result.
func (v sentVerdict) travelling() bool { return v.passSeq != 0 }

// pastGate is the product the PLC counts when item it's product is past
// the reject gate: cycle.gate_travel in products (as a time: the products
// at line.design_speed, the most that can be between trigger and gate).
// Never a time alone: a line running slower or stopped moves no product
// past the gate, however long it waits.
func (c *Controller) pastGate(it commitItem) uint64 {
	return it.seq + uint64(max(1, c.cfg.Cycle.GateTravel.ProductsAt(c.cfg.Line.DesignSpeed)))
}

// gate loop events.
type (
	evSent       struct{ vs []sentVerdict }
	evGateResult struct{ r devices.GateResult }
	// evGateResolveAll settles every product still waiting as unknown
	// (batch end) and reports on done once its steps are durable.
	evGateResolveAll struct {
		why  string
		done chan struct{}
	}
)

// gateSend hands an event to the gate loop.
func (c *Controller) gateSend(ctx context.Context, ev any) {
	select {
	case c.gateCh <- ev:
	case <-ctx.Done():
	}
}

// gateReadLoop reads the PLC's gate results (devices gate_results "every"
// or "rejects") and hands them to the gate loop.
func (c *Controller) gateReadLoop(ctx context.Context) {
	if c.gateMode == devices.GateResultsNone {
		return
	}
	select {
	case <-c.plcUp:
	case <-ctx.Done():
		return
	}
	for {
		r, err := c.o.PLC.NextGateResult(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, devices.ErrClosed) {
				c.log.Warn("PLC gate results: reader stopped", "err", err)
				return
			}
			c.log.Warn("PLC gate results", "err", err)
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		c.gateSend(ctx, evGateResult{r})
	}
}

// seqHeap is a min-heap of product seqs.
type seqHeap []uint64

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// maxEarly bounds the gate results kept for products whose verdict has
// not been handed to the gate loop yet.
const maxEarly = 4096

// gateLoop owns the products between their verdict and their gate result
// and settles each unit by what the gate did (see the table at the top of
// this file). In mode "every" results come in product order: a product
// still waiting when a later product's result arrives lost its own
// (Uncertain, gate-unknown). In mode "rejects" each reject waits for its
// own result (the reader reports it unread when its window ends). Passes
// the PLC reports nothing for (modes "rejects" and "none") wait until
// their product has travelled past the gate.
func (c *Controller) gateLoop(ctx context.Context) {
	pending := map[uint64]sentVerdict{}
	var order, travel seqHeap                // travel: the travelling passes
	early := map[uint64]devices.GateResult{} // results ahead of their evSent
	var earlyQ []uint64
	var lastResult uint64
	units := 0 // pending products carrying a unit (blank ones do not hold a drain)
	setCount := func() { c.atGate.Store(int64(units)) }
	take := func(s uint64) (sentVerdict, bool) {
		v, ok := pending[s]
		if ok {
			delete(pending, s)
			if v.kind != verdictBlank {
				units--
			}
		}
		return v, ok
	}
	lost := func(why string, upTo uint64, all bool) {
		var vs []sentVerdict
		for order.Len() > 0 && (all || order[0] < upTo) {
			if v, ok := take(heap.Pop(&order).(uint64)); ok {
				vs = append(vs, v)
			}
		}
		if len(vs) > 0 {
			c.settleLost(ctx, vs, why)
		}
	}
	// lostOld settles the products counted in a numbering the PLC has
	// restarted since.
	lostOld := func(why string) {
		epoch := c.trigEpoch.Load()
		var vs []sentVerdict
		for s, v := range pending {
			if v.epoch != epoch {
				take(s)
				vs = append(vs, v)
			}
		}
		slices.SortFunc(vs, func(a, b sentVerdict) int { return cmp.Compare(a.seq, b.seq) })
		if len(vs) > 0 {
			c.settleLost(ctx, vs, why)
		}
	}
	// passed commissions the travelling passes whose products are past
	// the gate (in product order: the first one not past stops it).
	passed := func() {
		last, epoch := c.lastTrig.Load(), c.trigEpoch.Load()
		var restarted []sentVerdict
		for travel.Len() > 0 {
			v, ok := pending[travel[0]]
			if !ok || !v.travelling() {
				heap.Pop(&travel) // settled otherwise (batch end)
				continue
			}
			switch {
			case v.epoch != epoch:
				restarted = append(restarted, v)
			case last >= v.passSeq:
				c.comm.add(journal.Change{Serial: v.serial, To: journal.Commissioned, Actor: journal.ActorPLC})
			default:
				return
			}
			heap.Pop(&travel)
			take(v.seq)
		}
		if len(restarted) > 0 {
			c.settleLost(ctx, restarted, "the PLC's product numbering restarted before the product was past the gate")
		}
	}
	var tick <-chan time.Time
	if c.gateMode != devices.GateResultsEvery {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	for {
		var ev any
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if travel.Len() == 0 {
				continue
			}
		case ev = <-c.gateCh:
		}
		switch e := ev.(type) {
		case evSent:
			for _, v := range e.vs {
				if r, ok := early[v.seq]; ok && !v.travelling() {
					delete(early, v.seq)
					c.settle(ctx, v, r)
					continue
				}
				if _, dup := pending[v.seq]; !dup && v.kind != verdictBlank {
					units++
				}
				pending[v.seq] = v
				heap.Push(&order, v.seq)
				if v.travelling() {
					heap.Push(&travel, v.seq)
				}
			}
		case evGateResult:
			r := e.r
			if c.gateMode == devices.GateResultsEvery {
				if r.Seq < lastResult {
					// The PLC's numbering started again (restart): products of
					// the old numbering will not report any more; those
					// counted in the new one still will.
					lostOld(fmt.Sprintf("the PLC's product numbering restarted (gate result for product %d after %d)", r.Seq, lastResult))
				}
				lastResult = r.Seq
				lost(fmt.Sprintf("gate result not read back from the PLC (results of products up to %d overwritten before they were read)", r.Seq), r.Seq, false)
			}
			if v, ok := pending[r.Seq]; ok && !v.travelling() {
				take(r.Seq)
				c.settle(ctx, v, r)
				break
			}
			// No verdict handed over (yet): keep the result for when it
			// comes; a product the controller never gave a verdict (a
			// stale trigger, before the batch) is forgotten unseen.
			early[r.Seq] = r
			earlyQ = append(earlyQ, r.Seq)
			if len(earlyQ) > maxEarly {
				old := earlyQ[0]
				earlyQ = earlyQ[1:]
				if r, ok := early[old]; ok {
					delete(early, old)
					if r.Result == devices.GatePassed {
						c.alarmCode(api.SeverityFault, "plc", "GATE-PASSED-NO-VERDICT", "gate:passed:"+strconv.FormatUint(old, 10), false, map[string]string{"product": strconv.FormatUint(old, 10)},
							fmt.Sprintf("product %d passed the gate without a pass verdict from the controller", old))
						c.requestHold("gate passed a product without a pass verdict")
					}
				}
			}
		case evGateResolveAll:
			passed()
			lost(e.why, 0, true)
			if ch, _ := c.comm.take(); len(ch) > 0 {
				c.applySteps(ctx, ch)
			}
			close(e.done)
		}
		passed()
		for order.Len() > 0 { // drop the settled at the front
			if _, ok := pending[order[0]]; ok {
				break
			}
			heap.Pop(&order)
		}
		setCount()
		c.comm.wake()
	}
}

// settle journals what the gate did to one product (the table at the top
// of this file).
func (c *Controller) settle(ctx context.Context, v sentVerdict, r devices.GateResult) {
	pushed := r.PushedOff()
	how := r.String()
	switch v.kind {
	case verdictPass:
		if !pushed {
			c.comm.add(journal.Change{Serial: v.serial, To: journal.Commissioned, Actor: journal.ActorPLC})
			return
		}
		c.open.Add(-1)
		c.comm.add(journal.Change{Serial: v.serial, To: journal.Uncertain, Reason: journal.ReasonGateMismatch, Actor: journal.ActorPLC,
			Detail: truncate("pass verdict sent, but "+how, 120)})
		c.alarmCode(api.SeverityFault, "plc", "GATE-MISMATCH", "gate:"+v.serial, true, map[string]string{"serial": v.serial, "product": strconv.FormatUint(v.seq, 10)},
			"pass verdict sent, but "+how)
		c.requestHold("gate result contradicts the verdict")
	case verdictUnknown:
		if r.Unread {
			c.settleLost(ctx, []sentVerdict{v}, "gate result of a pass verdict overwritten with a reject not read back: "+how)
			return
		}
		if !pushed {
			c.log.Warn("pass verdict delivery unknown; the product passed the gate", "serial", v.serial, "seq", v.seq)
			c.comm.add(journal.Change{Serial: v.serial, To: journal.Commissioned, Actor: journal.ActorPLC})
			return
		}
		c.comm.add(journal.Change{Serial: v.serial, To: journal.Rejected, Reason: journal.ReasonFault, Actor: journal.ActorPLC,
			Detail: "pass verdict delivery unknown; overwritten with a reject: the gate pushed the product off"})
	case verdictReject:
		switch {
		case r.Unread:
			c.rejectNotConfirmed(ctx, v, errors.New(how))
		case !pushed:
			if u, err := c.j.Unit(v.serial); err == nil && u.State == journal.Rejected {
				c.uncountReject(u.Reason) // no longer a reject
			}
			c.comm.add(journal.Change{Serial: v.serial, To: journal.Uncertain, Reason: journal.ReasonGateMismatch, Actor: journal.ActorPLC,
				Detail: truncate("reject verdict sent, but "+how, 120)})
			c.alarmCode(api.SeverityFault, "plc", "GATE-PASSED-REJECT", "gate:"+v.serial, true, map[string]string{"serial": v.serial, "product": strconv.FormatUint(v.seq, 10)},
				"reject verdict sent, but "+how)
			c.requestHold("gate passed a rejected product")
		case r.Result == devices.GateUnconfirmed:
			c.rejectNotConfirmed(ctx, v, errors.New("the confirmation sensor did not see it pushed off"))
		}
	case verdictBlank:
		if !pushed && !r.Unread {
			c.alarmCode(api.SeverityFault, "plc", "GATE-PASSED-BLANK", "gate:passed:"+strconv.FormatUint(v.seq, 10), false, map[string]string{"product": strconv.FormatUint(v.seq, 10)},
				fmt.Sprintf("product %d passed the gate without a printed code", v.seq))
			c.requestHold("gate passed a product without a code")
		}
	}
}

// settleLost journals products whose gate result will not come.
func (c *Controller) settleLost(ctx context.Context, vs []sentVerdict, why string) {
	var first sentVerdict
	n := 0
	for _, v := range vs {
		switch v.kind {
		case verdictPass, verdictUnknown:
			c.open.Add(-1)
			c.comm.add(journal.Change{Serial: v.serial, To: journal.Uncertain, Reason: journal.ReasonGateUnknown, Actor: journal.ActorPLC,
				Detail: truncate(why, 120)})
		case verdictReject:
			c.rejectNotConfirmed(ctx, v, errors.New(why))
			continue
		default:
			continue
		}
		if n == 0 {
			first = v
		}
		n++
	}
	if n > 0 {
		c.alarmCode(api.SeverityFault, "plc", "GATE-LOST", "", false, map[string]string{"count": strconv.Itoa(n), "serial": first.serial},
			fmt.Sprintf("%d unit(s) with a pass verdict have no gate result (first: unit %s, product %d): %s", n, first.serial, first.seq, why))
		c.requestHold("gate results lost")
	}
}

// rejectNotConfirmed records that the gate did not confirm a reject: the
// unit keeps its reject (annotation reject-not-confirmed), the audit trail
// and an alarm say so, and the line holds.
func (c *Controller) rejectNotConfirmed(ctx context.Context, v sentVerdict, cause error) {
	c.log.Error("reject not confirmed", "serial", v.serial, "seq", v.seq, "err", cause)
	c.annotateNotConfirmed(ctx, v.serial, cause)
	if aerr := c.j.AppendAudit(ctx, journal.AuditEntry{Who: "plc", Role: "system", Action: "unit.reject-not-confirmed",
		Reason: journal.ReasonRejectNotConfirmed.String() + ": " + cause.Error(), Before: v.serial + ": rejected", After: v.serial + ": rejected (not confirmed)"}); aerr != nil {
		c.log.Error("audit reject-not-confirmed", "err", aerr)
	}
	c.alarmCode(api.SeverityFault, "plc", "GATE-NOT-CONFIRMED", "gate:"+v.serial, true, map[string]string{"serial": v.serial, "product": strconv.FormatUint(v.seq, 10)},
		fmt.Sprintf("reject of unit %s (product %d) not confirmed: %v", v.serial, v.seq, cause))
	c.requestHold("reject not confirmed")
}

// pendingSteps are journal steps due after a verdict reached the PLC or
// its product the gate (Commissioned, Rejected when the verdict could not
// be delivered or came too late, Uncertain on a gate mismatch), collected
// by the decider and the gate loop and committed with the next
// transaction.
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
// Printed (with its PLC seq) then Verified or Rejected (late-verdict when
// its deadline had passed).
func verdictChanges(it commitItem) []journal.Change {
	u, d := it.u, it.u.dec
	out := []journal.Change{{Serial: u.serial, To: journal.Printed, Seq: it.seq, Actor: journal.ActorPrinter, At: u.printedAt}}
	g := gradeOf(d)
	if it.late {
		detail := "verdict ready after the product's deadline at the gate: sent as a reject"
		if d.Outcome != vision.Pass {
			detail += " (camera: " + string(d.Reason) + ")"
		}
		return append(out, journal.Change{Serial: u.serial, To: journal.Rejected, Grade: g, Actor: journal.ActorSystem,
			Reason: journal.ReasonLateVerdict, Detail: truncate(detail, 120)})
	}
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
