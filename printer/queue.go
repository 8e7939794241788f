package printer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Depth is how many records the queue keeps in the printer ahead of the
	// product (default 4).
	Depth int
	// Feed supplies up to n new records (IDs are serials, already drawn from
	// the journal). Returning fewer (or none) is fine: the queue asks again
	// after the next event or Kick. An error stops Run. Required. Like
	// MarkQueued and OnOutcome it runs on Run's goroutine with the queue
	// locked (see OnOutcome for what it may call).
	Feed func(ctx context.Context, n int) ([]Record, error)
	// MarkQueued durably records the serials as queued to the printer. It
	// is called before any of them is sent; an error stops Run and none of
	// them is sent or kept by the queue (the caller still owns them).
	// Required.
	MarkQueued func(ctx context.Context, serials []string) error
	// OnOutcome receives the outcomes of one occurrence together (one
	// journal transaction). The queue has already applied them: an error
	// stops Run, and the serials involved stay in the state the journal
	// last recorded (Queued) for the caller's recovery. Required. It runs
	// on the queue's goroutine with the queue locked (also from Clear and
	// Release): it may call Kick, Hold, Resume, Held, Stats and InFlight,
	// not Clear or Release (and should not block on whoever calls those).
	OnOutcome func(ctx context.Context, outs []Outcome) error
	// OnEvent, if set, sees every printer event (status display, metrics)
	// before the queue acts on it; same rules as OnOutcome.
	OnEvent func(Event)
	// Logger logs alarms and anomalies (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RecentPrinted is how many printed record IDs are remembered to tell
	// a duplicate acknowledgement from an unknown one (default 4096).
	RecentPrinted int
}

// inflight is one record sent to the printer and not yet resolved.
type inflight struct {
	id      string
	started bool
	sentAt  time.Time
}

// Queue is the controller-side manager of one printer's record queue. It
// keeps Depth records in the printer, journals each serial as queued before
// sending it (MarkQueued), turns every printer event into Outcomes by the
// rules of OutcomeTable and holds (sends nothing) after a hold-level alarm
// until Resume. It never sends a record twice.
type Queue struct {
	d Driver
	o QueueOptions

	// held, kicked/wake and stats/latencies have their own locks so the
	// callbacks (called with mu held) may use Kick, Hold, Resume, Held,
	// Stats and InFlight.
	held atomic.Bool

	wakeMu sync.Mutex
	kicked bool               // Kick came while Run was not waiting
	wake   context.CancelFunc // cancels Run's wait for an event

	snapshot atomic.Pointer[[]string] // IDs in flight, for InFlight without mu

	statsMu   sync.Mutex
	stats     QueueStats
	latencies []time.Duration

	mu       sync.Mutex
	running  bool
	capacity int // the printer's queue size, learned from a refusal (0 = unknown)
	// lastCounter is the print counter of the last print-complete (0 =
	// none yet), to tell repeated messages when prints carry no record ID.
	lastCounter uint64
	pending     []Record
	flight      []inflight
	clearing    bool // Clear is reporting its outcomes (guarded by mu)
	printed     map[string]uint64
	printedQ    []string
}

// QueueStats are counters of a Queue since it was made.
type QueueStats struct {
	Sent      uint64 // records written to the printer (acknowledged or not)
	Printed   uint64 // outcomes ResultPrinted
	Uncertain uint64 // outcomes ResultUncertain
	Returned  uint64 // outcomes ResultReturned
	Alarms    uint64 // outcomes with an alarm (warning or hold)
	Holds     uint64 // times the queue went from sending to held
}

// NewQueue makes a queue manager for driver d. d must be connected before
// Run.
func NewQueue(d Driver, o QueueOptions) (*Queue, error) {
	if d == nil {
		return nil, errors.New("printer: NewQueue: nil driver")
	}
	if o.MarkQueued == nil || o.OnOutcome == nil || o.Feed == nil {
		return nil, errors.New("printer: NewQueue: Feed, MarkQueued and OnOutcome are required")
	}
	if o.Depth <= 0 {
		o.Depth = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RecentPrinted <= 0 {
		o.RecentPrinted = 4096
	}
	return &Queue{d: d, o: o, printed: map[string]uint64{}}, nil
}

// Kick tells the queue that Feed may have records now.
func (q *Queue) Kick() {
	q.wakeMu.Lock()
	defer q.wakeMu.Unlock()
	q.kicked = true
	if q.wake != nil {
		q.wake()
	}
}

// Resume ends a hold: the queue sends records again.
func (q *Queue) Resume() {
	q.held.Store(false)
	q.Kick()
}

// Held reports whether the queue is held.
func (q *Queue) Held() bool { return q.held.Load() }

// Hold stops sending until Resume (the line holds for its own reasons).
func (q *Queue) Hold() { q.held.Store(true) }

// InFlight returns the IDs of records sent and not yet resolved, oldest
// first. It does not wait for a send in progress (the snapshot is taken
// after every send and every outcome).
func (q *Queue) InFlight() []string {
	p := q.snapshot.Load()
	if p == nil {
		return nil
	}
	return append([]string(nil), (*p)...)
}

// publishLocked updates the InFlight snapshot.
func (q *Queue) publishLocked() {
	ids := make([]string, len(q.flight))
	for i, f := range q.flight {
		ids[i] = f.id
	}
	q.snapshot.Store(&ids)
}

// Stats returns the counters.
func (q *Queue) Stats() QueueStats {
	q.statsMu.Lock()
	defer q.statsMu.Unlock()
	return q.stats
}

// Latencies returns and resets the enqueue-to-print-complete latencies
// recorded since the last call (for metrics and benchmarks).
func (q *Queue) Latencies() []time.Duration {
	q.statsMu.Lock()
	defer q.statsMu.Unlock()
	l := q.latencies
	q.latencies = nil
	return l
}

// Run keeps the printer queue filled and handles the printer's events until
// ctx ends (returns nil) or something fatal happens: a Feed, MarkQueued or
// OnOutcome error (returned wrapped), or the connection dropping (the
// in-flight records are reported uncertain first, then Run returns an
// error wrapping ErrDisconnected; the caller reconnects the driver and
// calls Run again — the hold stays until Resume). One Run at a time.
func (q *Queue) Run(ctx context.Context) error {
	q.mu.Lock()
	if q.running {
		q.mu.Unlock()
		return ErrRunning
	}
	q.running = true
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.running = false
		q.mu.Unlock()
	}()
	for {
		if err := q.fill(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// Wait for an event; Kick cancels the wait.
		wctx, cancel := context.WithCancel(ctx)
		q.wakeMu.Lock()
		q.wake = cancel
		if q.kicked {
			q.kicked = false
			cancel()
		}
		q.wakeMu.Unlock()
		ev, err := q.d.Next(wctx)
		q.wakeMu.Lock()
		q.wake = nil
		q.wakeMu.Unlock()
		kicked := wctx.Err() != nil
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if kicked && errors.Is(err, context.Canceled) {
				continue
			}
			return q.lost(ctx, err)
		}
		q.mu.Lock()
		err = q.handleLocked(ctx, ev, true)
		q.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// report hands outcomes to the consumer and updates counters and the hold.
// Called with q.mu held.
func (q *Queue) report(ctx context.Context, outs []Outcome) error {
	q.publishLocked()
	if len(outs) == 0 {
		return nil
	}
	q.statsMu.Lock()
	for _, o := range outs {
		switch o.Result {
		case ResultPrinted:
			q.stats.Printed++
		case ResultUncertain:
			q.stats.Uncertain++
		case ResultReturned:
			q.stats.Returned++
		}
		switch o.Alarm {
		case AlarmWarning:
			q.stats.Alarms++
			if o.Cause == CauseMissed {
				// routine at batch ends and while the line drains; the
				// line decides whether it is an alarm
				q.o.Logger.Debug("printer alarm", "outcome", o.String())
				break
			}
			q.o.Logger.Warn("printer alarm", "outcome", o.String())
		case AlarmHold:
			q.stats.Alarms++
			if !q.held.Swap(true) {
				q.stats.Holds++
			}
			if q.clearing {
				q.o.Logger.Info("printer queue cleared", "outcome", o.String())
				break
			}
			q.o.Logger.Error("printer alarm: hold", "outcome", o.String())
		}
	}
	q.statsMu.Unlock()
	if err := q.o.OnOutcome(ctx, outs); err != nil {
		return fmt.Errorf("printer: reporting %d outcome(s): %w", len(outs), err)
	}
	return nil
}

// fill tops the printer queue up to Depth. Records go out one Enqueue at a
// time, or, with a BatchEnqueuer driver, every record ready in one
// pipelined group.
func (q *Queue) fill(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	depth := q.o.Depth
	if q.capacity > 0 && q.capacity < depth {
		depth = q.capacity
	}
	be, batch := q.d.(BatchEnqueuer)
	for !q.held.Load() && len(q.flight) < depth {
		if len(q.pending) == 0 {
			need := depth - len(q.flight)
			recs, err := q.o.Feed(ctx, need)
			if err != nil {
				return fmt.Errorf("printer: feed: %w", err)
			}
			if len(recs) == 0 {
				return nil
			}
			ids := make([]string, len(recs))
			for i, r := range recs {
				ids[i] = r.ID
			}
			if err := q.o.MarkQueued(ctx, ids); err != nil {
				return fmt.Errorf("printer: journal queued %v: %w", ids, err)
			}
			q.pending = append(q.pending, recs...)
		}
		n := 1
		if batch {
			n = min(len(q.pending), depth-len(q.flight))
		}
		group := q.pending[:n:n]
		q.pending = q.pending[n:]
		sent := q.o.Now()
		// The records go in flight before the send: a print event for one
		// may be read while the driver waits for the acknowledgements.
		for _, r := range group {
			q.flight = append(q.flight, inflight{id: r.ID, sentAt: sent})
		}
		q.statsMu.Lock()
		q.stats.Sent += uint64(n)
		q.statsMu.Unlock()
		var errs []error
		if batch && n > 1 {
			errs = be.EnqueueBatch(ctx, group)
		} else {
			errs = []error{q.d.Enqueue(ctx, group[0])}
		}
		if stop, err := q.settleSends(ctx, group, errs); stop {
			return err
		}
	}
	return nil
}

// settleSends applies the drivers' answers to a group of records just
// sent, in order (see Driver.Enqueue for what each error means). It
// reports whether fill must stop, and with which error.
func (q *Queue) settleSends(ctx context.Context, group []Record, errs []error) (bool, error) {
	var outs []Outcome
	var full []int // outs refused for a full queue
	refused := false
	for i, r := range group {
		err := errs[i]
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			// Run is being stopped: the records stay in flight like every
			// other record sent (InFlight lists them), instead of being
			// resolved through a journal write made with a dead context.
			// The next Run resolves them: by their print, or as uncertain
			// when the connection (dropped by the cancelled command) is
			// gone.
			q.publishLocked()
			return true, ctx.Err()
		}
		q.removeFlight(r.ID)
		switch {
		case errors.Is(err, ErrNotConnected) || errors.Is(err, ErrClosed):
			// Nothing was written (Driver contract): the record goes back to
			// the unsent ones and is sent after a reconnect — it never
			// reached the printer, so that is not a re-send. Run's Next
			// reports the missing connection.
			back := []Record{r}
			for k := i + 1; k < len(group); k++ {
				if errors.Is(errs[k], ErrNotConnected) || errors.Is(errs[k], ErrClosed) {
					q.removeFlight(group[k].ID)
					back = append(back, group[k])
				}
			}
			q.pending = append(back, q.pending...)
			q.statsMu.Lock()
			q.stats.Sent -= uint64(len(back))
			q.statsMu.Unlock()
			if err := q.report(ctx, outs); err != nil {
				return true, err
			}
			q.publishLocked()
			return true, nil
		case errors.Is(err, ErrRefused) || errors.Is(err, ErrQueueFull):
			// The printer does not hold it. On queue full, keep no more
			// records in the printer than it held now.
			o := outcome(CauseRefused, r.ID, err.Error())
			if !errors.Is(err, ErrQueueFull) {
				// Not a full queue: the printer rejects the data or is not
				// ready (no job, bad field). The next records would go the
				// same way, each one returned: hold instead of burning the
				// pool.
				o.Alarm = AlarmHold
			}
			if errors.Is(err, ErrQueueFull) {
				full = append(full, len(outs))
			}
			outs = append(outs, o)
			refused = true
		default:
			outs = append(outs, outcome(CauseSendFailed, r.ID, err.Error()))
		}
	}
	if len(full) > 0 && len(q.flight) > 0 {
		// The printer holds what is still in flight and no more.
		q.capacity = len(q.flight)
		for _, k := range full {
			outs[k].Detail += fmt.Sprintf(" (keeping %d records in the printer from now on)", q.capacity)
		}
	}
	if err := q.report(ctx, outs); err != nil {
		return true, err
	}
	if refused {
		return true, q.reconcileLocked(ctx, Event{})
	}
	if len(outs) > 0 {
		return true, nil // send failed: the connection is gone, Run's Next reports it
	}
	q.publishLocked()
	return false, nil
}

func (q *Queue) removeFlight(id string) {
	for i := len(q.flight) - 1; i >= 0; i-- {
		if q.flight[i].id == id {
			q.flight = append(q.flight[:i], q.flight[i+1:]...)
			return
		}
	}
}

func (q *Queue) rememberPrinted(id string, counter uint64) {
	q.printed[id] = counter
	q.printedQ = append(q.printedQ, id)
	if len(q.printedQ) > q.o.RecentPrinted {
		delete(q.printed, q.printedQ[0])
		q.printedQ = q.printedQ[1:]
	}
}

// handleLocked applies one printer event. reconcile: check the printer's
// queue depth after a fault or a missed print (false while draining inside
// a reconciliation).
func (q *Queue) handleLocked(ctx context.Context, ev Event, reconcile bool) error {
	if q.o.OnEvent != nil {
		q.o.OnEvent(ev)
	}
	switch ev.Kind {
	case PrintStart:
		for i := range q.flight {
			if q.flight[i].id == ev.RecordID || (ev.RecordID == "" && !q.flight[i].started) {
				q.flight[i].started = true
				break
			}
		}
		return nil
	case PrintComplete:
		return q.report(ctx, q.complete(ev))
	case Fault:
		o := outcome(CauseFault, "", ev.Code+" "+ev.Text)
		o.Event = ev
		if err := q.report(ctx, []Outcome{o}); err != nil {
			return err
		}
		if reconcile {
			return q.reconcileLocked(ctx, ev)
		}
		return nil
	case Warning:
		o := outcome(CauseWarning, "", ev.Code+" "+ev.Text)
		o.Event = ev
		return q.report(ctx, []Outcome{o})
	case QueueCleared:
		return q.report(ctx, q.clearedLocked(ev, "printer cleared its queue"))
	case Missed:
		o := outcome(CauseMissed, "", ev.Text)
		o.Event = ev
		o.Counter = ev.Counter
		if err := q.report(ctx, []Outcome{o}); err != nil {
			return err
		}
		if reconcile && ev.Empty && len(q.flight) > 0 {
			// The printer had nothing to print while records were sent to
			// it: check what it holds.
			return q.reconcileLocked(ctx, ev)
		}
		return nil
	}
	return nil
}

// complete resolves a print-complete event.
func (q *Queue) complete(ev Event) []Outcome {
	idx := -1
	if ev.RecordID == "" {
		// Matched by order; the counter tells a repeated message.
		if ev.Counter != 0 && q.lastCounter != 0 && ev.Counter == q.lastCounter {
			o := outcome(CauseDuplicate, "", fmt.Sprintf("print-complete with counter %d after counter %d", ev.Counter, q.lastCounter))
			o.Event, o.Counter = ev, ev.Counter
			return []Outcome{o}
		}
		if ev.Counter != 0 && ev.Counter < q.lastCounter {
			// The counter was reset (SPC, printer restart): a product was
			// printed, most likely with the head record. Matching it for sure
			// is impossible, so the head is uncertain; the baseline follows
			// the printer so the next prints match the next records (without
			// it every later print would look like a repeat until the
			// counter caught up).
			o := outcome(CauseUnknownAck, "", fmt.Sprintf("print counter went back from %d to %d", q.lastCounter, ev.Counter))
			o.Event, o.Counter = ev, ev.Counter
			outs := []Outcome{o}
			if len(q.flight) > 0 {
				h := q.flight[0]
				ho := outcome(CauseCounterReset, h.id, fmt.Sprintf("print counter went back from %d to %d: this record may be that print", q.lastCounter, ev.Counter))
				ho.Event, ho.Counter = ev, ev.Counter
				outs = append(outs, ho)
				q.flight = append(q.flight[:0], q.flight[1:]...)
			}
			q.lastCounter = ev.Counter
			return outs
		}
		if len(q.flight) > 0 {
			idx = 0
		}
	} else {
		for i, f := range q.flight {
			if f.id == ev.RecordID {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		if c, ok := q.printed[ev.RecordID]; ok && ev.RecordID != "" {
			// Only this record's own counter tells a repeat: the printer's
			// counter may have been reset since.
			o := outcome(CauseDuplicate, "", fmt.Sprintf("record %s already printed (counter %d), again with counter %d", ev.RecordID, c, ev.Counter))
			if c != ev.Counter {
				o.Alarm = AlarmHold
				o.Detail = "printed twice? " + o.Detail
			}
			o.Event, o.Counter = ev, ev.Counter
			return []Outcome{o}
		}
		o := outcome(CauseUnknownAck, "", fmt.Sprintf("print-complete for record %q not in flight", ev.RecordID))
		o.Event, o.Counter = ev, ev.Counter
		if ev.RecordID != "" {
			// a repeat of this message is a duplicate, not another print
			q.rememberPrinted(ev.RecordID, ev.Counter)
		}
		return []Outcome{o}
	}
	var outs []Outcome
	for i := 0; i < idx; i++ {
		o := outcome(CauseSkipped, q.flight[i].id, fmt.Sprintf("skipped: printer completed %s first", ev.RecordID))
		o.Event = ev
		outs = append(outs, o)
	}
	c := CausePrintComplete
	if idx > 0 {
		c = CauseOutOfOrder
	}
	f := q.flight[idx]
	o := outcome(c, f.id, "")
	o.Event, o.Counter = ev, ev.Counter
	outs = append(outs, o)
	now := q.o.Now()
	q.statsMu.Lock()
	q.latencies = append(q.latencies, now.Sub(f.sentAt))
	if len(q.latencies) > 1<<16 {
		q.latencies = q.latencies[len(q.latencies)-1<<15:]
	}
	q.statsMu.Unlock()
	q.rememberPrinted(f.id, ev.Counter)
	if ev.Counter != 0 {
		q.lastCounter = ev.Counter
	}
	q.flight = append(q.flight[:0], q.flight[idx+1:]...)
	return outs
}

// clearedLocked resolves every in-flight and pending record after the
// printer queue was emptied: head and started records uncertain, the rest
// returned.
func (q *Queue) clearedLocked(ev Event, why string) []Outcome {
	var outs []Outcome
	for i, f := range q.flight {
		o := outcome(CauseQueueCleared, f.id, why)
		if i == 0 || f.started {
			o.Result = ResultUncertain
			o.Detail = why + " (may be mid-print)"
		}
		o.Event = ev
		outs = append(outs, o)
	}
	q.flight = q.flight[:0]
	for _, r := range q.pending {
		outs = append(outs, outcome(CauseNotSent, r.ID, why))
	}
	q.pending = nil
	if len(outs) == 0 {
		o := outcome(CauseQueueCleared, "", why)
		o.Event = ev
		outs = append(outs, o)
	}
	return outs
}

// reconcileLocked compares the printer's queue depth with the records in
// flight after a fault, a missed print or a refusal. Events the printer
// sent around its answer (prints completing meanwhile) are applied first
// (Next with a done context returns only what was already received); the
// comparison is made only once a reading is followed by no further event,
// so the depth and the records in flight describe the same moment. A
// record whose print started may or may not still count in the printer's
// queue (printers differ): both readings are accepted.
func (q *Queue) reconcileLocked(ctx context.Context, ev Event) error {
	for range 4 {
		depth, err := q.d.QueueDepth(ctx)
		if err != nil {
			// A broken connection shows up on Next; nothing to decide here.
			q.o.Logger.Warn("printer: queue depth after anomaly", "err", err)
			return nil
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		drained := false
		for {
			dev, err := q.d.Next(done)
			if err != nil {
				break
			}
			drained = true
			if err := q.handleLocked(ctx, dev, false); err != nil {
				return err
			}
		}
		if drained {
			q.wakeMu.Lock()
			q.kicked = true // fill again before waiting
			q.wakeMu.Unlock()
			continue // the printer moved on: read again
		}
		return q.compareDepthLocked(ctx, ev, depth)
	}
	q.o.Logger.Warn("printer: queue depth kept changing; not reconciled", "after", ev.String())
	return nil
}

func (q *Queue) compareDepthLocked(ctx context.Context, ev Event, depth int) error {
	n := len(q.flight)
	started := 0
	for _, f := range q.flight {
		if f.started {
			started++
		}
	}
	switch {
	case depth <= n && depth >= n-started:
		return nil
	case depth == 0 && ev.Kind == Fault:
		return q.report(ctx, q.clearedLocked(ev, "printer queue empty after fault "+ev.Code))
	case depth < n:
		var outs []Outcome
		for _, f := range q.flight[:n-depth] {
			o := outcome(CauseDepthMismatch, f.id, fmt.Sprintf("printer holds %d records, %d in flight", depth, n))
			o.Event = ev
			outs = append(outs, o)
		}
		q.flight = append(q.flight[:0], q.flight[n-depth:]...)
		return q.report(ctx, outs)
	default:
		o := outcome(CauseUnknownRecords, "", fmt.Sprintf("printer holds %d records, %d in flight", depth, n))
		o.Event = ev
		return q.report(ctx, []Outcome{o})
	}
}

// lost handles a broken connection: every record in flight is uncertain.
func (q *Queue) lost(ctx context.Context, cause error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var outs []Outcome
	for _, f := range q.flight {
		outs = append(outs, outcome(CauseDisconnect, f.id, cause.Error()))
	}
	q.flight = q.flight[:0]
	if len(outs) == 0 {
		outs = append(outs, outcome(CauseDisconnect, "", cause.Error()))
	}
	if err := q.report(ctx, outs); err != nil {
		return err
	}
	if errors.Is(cause, ErrDisconnected) || errors.Is(cause, ErrClosed) {
		return fmt.Errorf("printer: queue: %w", cause)
	}
	return fmt.Errorf("printer: queue: %w: %w", ErrDisconnected, cause)
}

// Clear empties the printer's queue (driver Clear) and resolves every record
// in flight (head and started ones uncertain, the rest returned) and every
// record journaled but not sent (returned). Safe while Run runs.
func (q *Queue) Clear(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.d.Clear(ctx); err != nil {
		return fmt.Errorf("printer: clear: %w", err)
	}
	q.clearing = true // asked for: not an alarm in the log
	defer func() { q.clearing = false }()
	return q.report(ctx, q.clearedLocked(Event{}, "queue cleared by the controller"))
}

// Release reports every record journaled as queued but not yet sent as
// returned (batch end) without touching the printer.
func (q *Queue) Release(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var outs []Outcome
	for _, r := range q.pending {
		outs = append(outs, outcome(CauseNotSent, r.ID, "released"))
	}
	q.pending = nil
	return q.report(ctx, outs)
}
