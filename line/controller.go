// Package line is the Serialine controller: it runs a packaging line's
// batches through the PackML state machine, feeds the printer from serial
// pools drawn from the journal, verifies every unit with the camera, commits
// every verdict to the journal before it goes to the PLC's reject gate, and
// reconciles each batch at its end (EPCIS events to the site server through
// the journal outbox). The unit's whole path is in cycle.go.
//
// A Controller implements line/api.Controller (the HTTP API and HMI).
package line

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/gs1/gcp"
	"github.com/serialine/serialine/printer/tij"
	"github.com/serialine/serialine/store/fsstat"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision"
)

// Options are a Controller's dependencies. Config, Journal, PLC, Printer and
// Camera are required.
type Options struct {
	// Config is the validated controller configuration.
	Config config.Config
	// Journal is the open unit journal; the Controller does not close it.
	Journal *journal.Journal
	// PLC is the PLC driver (not yet connected); Run connects and closes it.
	PLC PLC
	// Printer is the printer driver (not yet connected); Run connects and closes it.
	Printer printer.Driver
	// Camera is the camera driver (not yet connected); Run connects and closes it.
	Camera Camera
	// Upstream is the site-server client; nil runs offline from pools
	// imported by hand.
	Upstream Upstream
	// Metrics receives the line's metrics; nil = none.
	Metrics *metrics.Metrics
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Records are the shift's records over Journal (product master, line
	// clearances, signatures …); nil = New opens them. Whoever else serves
	// them (the operator API) must use the same store: Controller.Records.
	Records *records.Store

	// The line PC itself (host.go); nil = not checked.
	//
	// DiskFree reports the room on the journal's file system (DiskUsage):
	// below journal.min_free_mb the line holds.
	DiskFree func(path string) (fsstat.Usage, error)
	// ClockSync reports whether the system clock is synchronised
	// (SystemClockSync): Start needs an override when it is not.
	ClockSync func() ClockSync
	// Mono is the monotonic time since some fixed start (e.g.
	// time.Since(start)): wall-clock jumps are measured against it.
	Mono func() time.Duration
}

// run is the running batch's immutable setup.
type run struct {
	def       journal.BatchDef
	ver       *vision.Verifier
	fields    map[string]string // printer job field -> source
	hriPrefix string
	hriSuffix string // " (710) PZN…" when the batch carries an NHRN
	nhrnAI    string // the profile's NHRN AI (710-715), "" if none
}

// Controller runs one line. Create it with New, then call Run.
type Controller struct {
	api.AlarmBook

	// prefixes gives the GS1 Company Prefix length of a GTIN (EPCs).
	prefixes gcp.Lookup
	// rec are the shift's records: the product master (company prefix
	// lengths) and the line clearances Start checks (clearance.go).
	rec *records.Store

	o   Options
	cfg config.Config
	j   *journal.Journal
	log *slog.Logger
	now func() time.Time
	m   *metrics.Metrics
	q   *printer.Queue
	loc *time.Location // line.timezone (UTC when unset): EPCIS event times and shifts

	// batch state, guarded by mu
	mu        sync.Mutex
	batchID   string
	state     packml.State
	mode      packml.UnitMode // unit mode (mode.go): no serialised production outside Production
	actCancel context.CancelFunc
	running   bool
	runCtx    context.Context

	cur  atomic.Pointer[run]
	snap atomic.Pointer[stateSnap] // batch id and state, readable without mu (the printer queue calls feed under its own lock)

	// channels between the loops (see cycle.go)
	ev         chan any
	commitCh   chan *group
	acts       chan actReq
	holds      chan string
	drawKick   chan struct{}
	poolKick   chan struct{}
	outboxKick chan struct{}
	completeCh chan struct{}
	plcUp      chan struct{} // closed once the PLC first connected

	// drawn serials waiting for the printer
	dmu   sync.Mutex
	drawn []journal.Unit

	nextID       atomic.Uint64
	open         atomic.Int64 // units fed to the printer whose outcome is not durable yet
	commissioned atomic.Int64
	wg           sync.WaitGroup

	// the gate (see cycle.go)
	gateMode  string       // what the PLC reports back: devices.GateResults*
	gateCh    chan any     // decider and gate reader -> gate loop
	atGate    atomic.Int64 // products whose gate result the gate loop waits for
	lastTrig  atomic.Uint64
	trigEpoch atomic.Uint64 // PLC product numbering restarts seen
	pitch     atomic.Int64  // time between products at the trigger point (ns, averaged)
	lastEvent atomic.Int64  // unix ns of the last trigger or printer report the cycle loop took

	devMu sync.Mutex
	devs  map[string]*api.Device

	latMu   sync.Mutex
	lat     []time.Duration
	latRead []time.Duration
	rate    rateMeter

	sigMu  sync.Mutex
	signed map[string]*api.Signature

	stateCh chan struct{} // closed and replaced on every state change (guarded by mu)

	elemCache *elemCache
	comm      pendingSteps
	host      hostState // disk and clock checks (host.go)

	rejMu sync.Mutex
	rejBy map[string]int // current batch: Rejected units by reason

	// epcisMu serializes the batch-end EPCIS documents (emitEPCIS) with
	// supervisors' unit actions (UnitAction), so a step after the batch end
	// gets its own document and one before it is in the batch's.
	epcisMu   sync.Mutex
	epcisDone string // batch whose batch-end documents are in the outbox (guarded by epcisMu)

	// poolReqMu serializes replenish (pool loop, Start) for the whole
	// request; the pending request id per GTIN is in the journal
	// (SetPendingRequest) until the pool it asked for is imported.
	poolReqMu sync.Mutex

	obx      outboxForwarder // outbox.go: one forwarding pass at a time
	alarmLog *alarmLog       // alarm lifecycle to the journal (alarmlog.go)
}

type stateSnap struct {
	id    string
	state packml.State
}

type actReq struct {
	ctx   context.Context
	state packml.State
}

// New checks o and returns a Controller holding the journal's latest
// unfinished batch (if any). Nothing runs until Run.
func New(o Options) (*Controller, error) {
	if o.Journal == nil || o.PLC == nil || o.Printer == nil || o.Camera == nil {
		return nil, errors.New("line: Options.Journal, PLC, Printer and Camera are required")
	}
	if err := o.Config.Validate().Err(); err != nil {
		return nil, fmt.Errorf("line: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Controller{
		o: o, cfg: o.Config, j: o.Journal, log: o.Logger, now: o.Now, m: o.Metrics,
		state:      packml.Idle,
		ev:         make(chan any, 4096),
		commitCh:   make(chan *group),
		acts:       make(chan actReq, 16),
		holds:      make(chan string, 16),
		drawKick:   make(chan struct{}, 1),
		poolKick:   make(chan struct{}, 1),
		outboxKick: make(chan struct{}, 1),
		completeCh: make(chan struct{}, 1),
		plcUp:      make(chan struct{}),
		gateCh:     make(chan any, 4096),
		gateMode:   plcGateMode(o.Config),
		devs:       map[string]*api.Device{},
		signed:     map[string]*api.Signature{},
		stateCh:    make(chan struct{}),
		elemCache:  &elemCache{},
		comm:       pendingSteps{kick: make(chan struct{}, 1)},
	}
	c.AlarmBook.Now = o.Now
	c.loc = time.UTC
	if tz := o.Config.Line.Timezone; tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("line: line.timezone %q: %w", tz, err)
		}
		c.loc = loc
	}
	q, err := printer.NewQueue(o.Printer, printer.QueueOptions{
		Depth: o.Config.Cycle.PrinterDepth, Feed: c.feed, MarkQueued: c.markQueued, OnOutcome: c.onOutcome, OnEvent: c.onPrinterEvent,
		Logger: o.Logger, Now: o.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("line: %w", err)
	}
	c.q = q
	for _, d := range []api.Device{
		{Name: "plc", Kind: o.Config.Devices.PLC.Protocol},
		{Name: "printer", Kind: o.Config.Devices.Printer.Driver},
		{Name: "camera", Kind: o.Config.Devices.Camera.Driver},
		{Name: "upstream", Kind: o.Config.Upstream.Kind()},
	} {
		d.Link, d.Since = api.LinkDown, c.now()
		if d.Name == "upstream" && o.Upstream == nil {
			d.Detail = "offline: no site server configured"
		}
		dd := d
		c.devs[d.Name] = &dd
	}
	if c.rec = o.Records; c.rec == nil {
		if c.rec, err = records.Open(context.Background(), o.Journal, o.Now); err != nil {
			return nil, fmt.Errorf("line: %w", err)
		}
	}
	if c.prefixes, err = o.Config.Line.Prefixes(c.rec); err != nil {
		return nil, fmt.Errorf("line: %w", err)
	}
	if err := c.loadCurrent(); err != nil {
		return nil, err
	}
	if err := c.loadMode(); err != nil {
		return nil, err
	}
	if err := c.initShift(); err != nil {
		return nil, fmt.Errorf("line: alarm history: %w", err)
	}
	return c, nil
}

// plcGateMode is what the configured PLC reports about its gate
// (devices.GateResults*).
func plcGateMode(cfg config.Config) string {
	switch {
	case cfg.Devices.PLC.Modbus != nil:
		return cfg.Devices.PLC.Modbus.GateMode()
	case cfg.Devices.PLC.OPCUA != nil:
		return cfg.Devices.PLC.OPCUA.GateMode()
	}
	return devices.GateResultsEvery
}

// loadCurrent picks the journal's newest batch as the current one.
func (c *Controller) loadCurrent() error {
	bs, err := c.j.Batches()
	if err != nil {
		return fmt.Errorf("line: read batches: %w", err)
	}
	if len(bs) == 0 {
		return nil
	}
	sort.SliceStable(bs, func(i, k int) bool { return bs[i].CreatedAt.Before(bs[k].CreatedAt) })
	b := bs[len(bs)-1]
	st := packml.Idle
	if b.State != "" {
		if s, err := packml.ParseState(b.State); err == nil {
			st = s
		}
	}
	r, err := c.newRun(b.BatchDef)
	if err != nil {
		return fmt.Errorf("line: batch %s: %w", b.ID, err)
	}
	c.batchID, c.state = b.ID, st
	c.snap.Store(&stateSnap{b.ID, st})
	c.cur.Store(r)
	c.commissioned.Store(int64(b.Counters.Commissioned))
	rej := map[string]int{}
	if b.Counters.Rejected > 0 {
		if err := c.j.Units(b.ID, func(u journal.Unit) error {
			if u.State == journal.Rejected { // rejected_by: Rejected units only
				rej[u.Reason.String()]++
			}
			return nil
		}); err != nil {
			return fmt.Errorf("line: batch %s: %w", b.ID, err)
		}
	}
	c.rejBy = rej
	return nil
}

// countReject counts a Rejected unit of the current batch by reason
// (rejected_by). Uncertain units are not rejects and are not counted here.
func (c *Controller) countReject(reason journal.Reason) {
	c.rejMu.Lock()
	if c.rejBy == nil {
		c.rejBy = map[string]int{}
	}
	c.rejBy[reason.String()]++
	c.rejMu.Unlock()
}

// uncountReject takes back countReject for a Rejected unit of the current
// batch that is no longer counted under reason (annotated, or made
// Uncertain when the gate disagreed).
func (c *Controller) uncountReject(reason journal.Reason) {
	c.rejMu.Lock()
	if c.rejBy[reason.String()] > 0 {
		c.rejBy[reason.String()]--
	}
	c.rejMu.Unlock()
}

// annotateNotConfirmed writes the journal annotation reject-not-confirmed
// on a rejected unit whose reject the gate's sensor did not confirm (the
// product may have passed the gate): the unit stays Rejected, its history
// keeps the original reason and the annotation names it in its detail.
func (c *Controller) annotateNotConfirmed(ctx context.Context, serial string, cause error) {
	u, err := c.j.Unit(serial)
	if err != nil {
		c.log.Error("reject not confirmed: unit lookup", "serial", serial, "err", err)
		return
	}
	detail := "after " + u.Reason.String()
	if u.Detail != "" {
		detail += " (" + u.Detail + ")"
	}
	detail = truncate(detail+": "+cause.Error(), 200)
	if err := c.j.Apply(ctx, journal.Change{Serial: serial, To: journal.Rejected, Reason: journal.ReasonRejectNotConfirmed,
		Detail: detail, Actor: journal.ActorPLC}); err != nil {
		c.log.Error("reject not confirmed: journal annotation", "serial", serial, "err", err)
		return
	}
	if r := c.currentRun(); r != nil && r.def.ID == u.Batch {
		c.uncountReject(u.Reason)
		c.countReject(journal.ReasonRejectNotConfirmed)
	}
}

func (c *Controller) rejectedBy() map[string]int {
	c.rejMu.Lock()
	defer c.rejMu.Unlock()
	out := make(map[string]int, len(c.rejBy))
	for k, v := range c.rejBy {
		out[k] = v
	}
	return out
}

// newRun prepares a batch's setup: verifier with the market's grading
// policy, printer field map.
func (c *Controller) newRun(def journal.BatchDef) (*run, error) {
	prof, err := gs1.LookupProfile(def.Profile)
	if err != nil {
		return nil, fmt.Errorf("market profile %q: %w", def.Profile, err)
	}
	switch {
	case prof.NHRN != "" && def.NHRN == "":
		return nil, fmt.Errorf("market profile %q needs a national number (NHRN, AI %s)", def.Profile, prof.NHRN)
	case prof.NHRN == "" && def.NHRN != "":
		return nil, fmt.Errorf("market profile %q carries no national number, NHRN %q given", def.Profile, def.NHRN)
	}
	r := &run{def: def, fields: c.cfg.Devices.Printer.Fields, nhrnAI: prof.NHRN}
	full, err := r.message("1")
	if err != nil {
		return nil, fmt.Errorf("batch data do not make a valid GS1 message: %w", err)
	}
	if err := prof.Check(full); err != nil {
		return nil, err
	}
	m, _ := gs1.New(gs1.Element{AI: "01", Value: def.GTIN}, gs1.Element{AI: "17", Value: def.Expiry}, gs1.Element{AI: "10", Value: def.Lot})
	r.hriPrefix = m.HRI()
	if r.nhrnAI != "" {
		r.hriSuffix = " (" + r.nhrnAI + ") " + def.NHRN
	}
	r.ver = vision.NewVerifier(vision.VerifierOptions{
		Policy: c.cfg.Grading.Policy(def.Profile), Window: c.cfg.Verify.Window,
		MaxNoReads: c.cfg.Verify.MaxNoReads, MaxLowGrades: c.cfg.Verify.MaxLowGrades,
		Now: c.now, Logger: c.log,
	})
	return r, nil
}

func (c *Controller) currentRun() *run { return c.cur.Load() }

// loopCtx is the context Run was called with (Background before Run).
func (c *Controller) loopCtx() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runCtx == nil {
		return context.Background()
	}
	return c.runCtx
}

// Run connects the devices and runs the line until ctx ends; then it stops
// every loop, waits for them and closes the drivers. An interrupted batch
// found in the journal is held (or its acting state resumed) so that an
// operator can continue it.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("line: Run called twice")
	}
	c.running = true
	c.runCtx = ctx
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		if c.actCancel != nil {
			c.actCancel()
		}
		c.mu.Unlock()
	}()

	if rep := c.j.Recovery(); !rep.Clean() {
		c.alarm(api.SeverityWarning, "journal", fmt.Sprintf("journal recovered after an interruption: %d drawn serials returned, %d in-flight units uncertain",
			len(rep.Returned), len(rep.Uncertain)))
	}
	loops := []func(context.Context){c.cycleLoop, c.committer, c.gateLoop, c.gateReadLoop, c.drawLoop, c.plcLoop, c.actLoop, c.holdLoop,
		c.printerLoop, c.poolLoop, c.outboxLoop, c.healthLoop, c.alarmLog.run, c.hostLoop}
	loops = append(loops, c.housekeepingLoops()...)
	loops = append(loops, func(ctx context.Context) {
		if err := c.connect(ctx, "camera", c.cfg.Devices.Camera.Backoff, c.o.Camera.Connect); err != nil {
			return
		}
		c.cameraLoop(ctx)
	})
	for _, f := range loops {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); f(ctx) }()
	}
	c.resume(ctx)
	c.kickPool()
	<-ctx.Done()
	c.wg.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, cl := range []func(context.Context) error{c.o.Printer.Close, c.o.Camera.Close, c.o.PLC.Close} {
		if err := cl(cctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.log.Warn("closing devices", "err", err)
	}
	return nil
}

// resume continues a batch interrupted by a crash or restart: a batch in
// Execute (or starting/unholding) is held; an acting state is redone.
func (c *Controller) resume(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batchID == "" {
		return
	}
	rep := c.j.Recovery()
	why := fmt.Sprintf("controller restarted: batch recovered (%d returned, %d uncertain by journal recovery)", len(rep.Returned), len(rep.Uncertain))
	switch c.state {
	case packml.Execute, packml.Starting, packml.Unholding, packml.Unsuspending:
		if c.state != packml.Execute {
			c.transitionLocked(ctx, packml.Execute, journal.ActorSystem, why)
		}
		c.transitionLocked(ctx, packml.Holding, journal.ActorSystem, why)
		c.startActLocked(packml.Holding)
	default:
		if c.state.Acting() {
			c.startActLocked(c.state)
		}
	}
	c.m.SetState(string(c.state))
}

// connectPLC connects the PLC with backoff (until ctx ends).
func (c *Controller) connectPLC(ctx context.Context) error {
	b := devices.DefaultBackoff()
	switch {
	case c.cfg.Devices.PLC.Modbus != nil:
		b = c.cfg.Devices.PLC.Modbus.Backoff
	case c.cfg.Devices.PLC.OPCUA != nil:
		b = c.cfg.Devices.PLC.OPCUA.Backoff
	}
	return c.connect(ctx, "plc", b, c.o.PLC.Connect)
}

// connect runs a driver's Connect with backoff via devices.Retry, keeping
// the device's link state.
func (c *Controller) connect(ctx context.Context, name string, b devices.Backoff, fn func(context.Context) error) error {
	c.setLink(name, api.LinkConnecting, "")
	err := devices.Retry(ctx, b, fn, func(n int, err error, wait time.Duration) {
		c.setLink(name, api.LinkConnecting, err.Error())
		if n == 1 {
			c.alarm(api.SeverityWarning, name, fmt.Sprintf("%s: cannot connect: %v", name, err))
		}
		c.log.Warn("device connect failed", "device", name, "attempt", n, "retry_in", wait, "err", err)
	})
	if err != nil {
		return err
	}
	c.setLink(name, api.LinkUp, "")
	c.Clear(name)
	return nil
}

// printerLoop keeps the printer connected and its queue manager running.
func (c *Controller) printerLoop(ctx context.Context) {
	for ctx.Err() == nil {
		if err := c.connect(ctx, "printer", c.cfg.Devices.Printer.Backoff, c.o.Printer.Connect); err != nil {
			return
		}
		err := c.q.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		// Nothing goes to the printer until the line has stopped and
		// resumed: which product gets which print is known again then.
		c.q.Hold()
		c.send(ctx, evPrinterGap{})
		c.setLink("printer", api.LinkDown, fmt.Sprint(err))
		c.alarm(api.SeverityFault, "printer", fmt.Sprintf("printer stopped: %v", err))
		c.requestHold("printer: " + fmt.Sprint(err))
	}
}

// outputs drives the PLC interlocks (best effort: a failure is an alarm).
func (c *Controller) outputs(ctx context.Context, stop bool, light devices.StackLight, horn bool) {
	if err := c.setOutputs(ctx, stop, light, horn); err != nil && ctx.Err() == nil {
		c.log.Warn("set PLC outputs", "err", err)
		c.alarm(api.SeverityWarning, "plc", fmt.Sprintf("setting line outputs failed: %v", err))
	}
}

// setOutputs writes the line outputs to the PLC once its first connect is
// done, and returns the PLC's error.
func (c *Controller) setOutputs(ctx context.Context, stop bool, light devices.StackLight, horn bool) error {
	select { // the first connect may still be under way
	case <-c.plcUp:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.o.PLC.SetOutputs(ctx, devices.Outputs{LineStop: stop, Light: light, Horn: horn})
}

// ---- PackML ----

// command applies a PackML command to the current batch.
func (c *Controller) command(ctx context.Context, id string, cmd packml.Command, by journal.Actor, reason string) error {
	return c.commandOpt(ctx, id, cmd, by, reason, nil)
}

// commandOpt is command with an optional supervisor override (ov, its
// verified e-signature): Start then proceeds with the local pool below
// pools.min_start (never with line clearance failing); the override is
// audited with the signature before the transition.
func (c *Controller) commandOpt(ctx context.Context, id string, cmd packml.Command, by journal.Actor, reason string, ov *api.Signature) error {
	if cmd == packml.CmdStart {
		c.ensurePool(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batchID == "" {
		return fmt.Errorf("%w: define a batch first: %w", ErrNoBatch, api.ErrNotFound)
	}
	if id != c.batchID {
		if _, err := c.j.Batch(id); err != nil {
			return fmt.Errorf("batch %q: %w", id, api.ErrNotFound)
		}
		return fmt.Errorf("batch %q is not the line's current batch (%s): %w", id, c.batchID, api.ErrInvalidState)
	}
	if err := c.closedLocked(id, cmd); err != nil {
		return err
	}
	to, err := packml.Next(c.state, cmd)
	if err != nil {
		return fmt.Errorf("batch %s: %w: %w", id, err, api.ErrInvalidState)
	}
	if err := c.mode.Permits(cmd); err != nil {
		return fmt.Errorf("batch %s: %w: %w", id, err, api.ErrInvalidState)
	}
	if cmd == packml.CmdStart || cmd == packml.CmdUnhold || cmd == packml.CmdUnsuspend {
		if !c.running {
			return fmt.Errorf("%w: %w", ErrNotRunning, api.ErrUnavailable)
		}
		if err := c.diskRefusal(); err != nil {
			return fmt.Errorf("batch %s: %w", id, err)
		}
	}
	if cmd == packml.CmdStart {
		overridden, err := c.clearanceLocked(ctx, ov != nil)
		if err != nil {
			return err
		}
		if overridden != "" {
			sj, _ := json.Marshal(ov)
			if err := c.j.AppendAudit(ctx, journal.AuditEntry{Who: ov.User, Role: ov.Role, Action: "batch.start.override",
				Reason: ov.Reason, Before: "batch " + id + ": start refused: " + overridden, After: "signature " + string(sj)}); err != nil {
				return fmt.Errorf("batch %s: audit of the override: %w: %w", id, err, api.ErrUnavailable)
			}
			reason += fmt.Sprintf(" [override e-signed by %s (%s, %s): %s]", ov.User, ov.Role, ov.Meaning, overridden)
		}
	}
	if err := c.transitionLocked(ctx, to, by, reason); err != nil {
		return err
	}
	c.startActLocked(to)
	return nil
}

// closedLocked refuses a command that would reopen a batch that has
// reached a final state (Complete, Stopped, Aborted): its reconciliation
// may be signed and its record is closed, so Stop/Abort (which would finish
// it again), Reset and Start are refused and a new batch must be defined.
// The one command kept is Clear of an Aborted batch that nobody has signed
// (PackML's Aborted -> Clearing -> Stopped, still final). A batch journalled
// as final and later reset by an older version is refused too.
func (c *Controller) closedLocked(id string, cmd packml.Command) error {
	final := c.state
	if !final.Final() {
		b, err := c.j.Batch(id)
		if err != nil {
			return nil // journal problems surface at the transition
		}
		final = ""
		for _, h := range b.History {
			if s, err := packml.ParseState(h.State); err == nil && s.Final() {
				final = s
			}
		}
		if final == "" {
			return nil
		}
	}
	if cmd == packml.CmdClear && c.state == packml.Aborted && c.signature(id) == nil {
		return nil
	}
	what := "its record is closed"
	if s := c.signature(id); s != nil {
		what = "its reconciliation is signed by " + s.User
	}
	return fmt.Errorf("%w: batch %s reached %s and %s; %s is refused: define a new batch to run the line again: %w",
		ErrBatchFinal, id, final, what, cmd, api.ErrInvalidState)
}

// transitionLocked journals a PackML state change and makes it current.
func (c *Controller) transitionLocked(ctx context.Context, to packml.State, by journal.Actor, reason string) error {
	from := c.state
	if err := c.j.SetBatchState(ctx, c.batchID, string(to), by, reason); err != nil {
		return fmt.Errorf("batch %s: journal state %s: %w: %w", c.batchID, to, err, api.ErrUnavailable)
	}
	c.state = to
	c.snap.Store(&stateSnap{c.batchID, to})
	close(c.stateCh)
	c.stateCh = make(chan struct{})
	c.m.SetState(string(to))
	c.onTransition(from, to, by)
	c.log.Info("batch state", "batch", c.batchID, "from", from, "to", to, "by", by.String(), "reason", reason)
	if to == packml.Execute || to == packml.Starting || to == packml.Unholding || to == packml.Unsuspending {
		select {
		case c.drawKick <- struct{}{}:
		default:
		}
	}
	// The target may have been reached while the batch was not in Execute
	// (holdLoop drops the completion request then): ask again.
	if to == packml.Execute && c.targetReached(c.commissioned.Load()) {
		c.requestComplete()
	}
	return nil
}

// startActLocked hands an acting state's work to the state worker.
func (c *Controller) startActLocked(s packml.State) {
	if !s.Acting() {
		return
	}
	if c.actCancel != nil {
		c.actCancel()
	}
	base := c.runCtx
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	c.actCancel = cancel
	select {
	case c.acts <- actReq{ctx: ctx, state: s}:
	default:
		c.log.Error("state worker busy; acting state not started", "state", s)
	}
}

// actLoop runs acting states' work one at a time and completes them (SC).
func (c *Controller) actLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-c.acts:
			err := c.act(a.ctx, a.state)
			if err != nil && batchEnd(a.state) {
				err = c.retryBatchEnd(a.ctx, a.state, err)
			}
			if a.ctx.Err() != nil || ctx.Err() != nil {
				continue // superseded by another command
			}
			c.mu.Lock()
			if c.state == a.state {
				if err != nil {
					c.log.Error("acting state failed", "state", a.state, "err", err)
					c.alarm(api.SeverityFault, "line", fmt.Sprintf("%s failed: %v", a.state, err))
					if a.state == packml.Starting || a.state == packml.Unholding || a.state == packml.Unsuspending {
						// Back to a safe state: hold.
						c.transitionLocked(ctx, packml.Execute, journal.ActorSystem, "state complete")
						c.transitionLocked(ctx, packml.Holding, journal.ActorSystem, err.Error())
						c.startActLocked(packml.Holding)
						c.mu.Unlock()
						continue
					}
				}
				if to, derr := packml.Done(a.state); derr == nil {
					c.transitionLocked(ctx, to, journal.ActorSystem, "state complete")
				}
			}
			c.mu.Unlock()
		}
	}
}

// batchEnd reports whether s is an acting state that ends the batch.
func batchEnd(s packml.State) bool {
	return s == packml.Completing || s == packml.Stopping || s == packml.Aborting
}

// retryBatchEnd redoes a batch end that failed (e.g. its journal writes on
// a full disk) until it succeeds or ctx ends (a command superseded it): the
// batch stays in its acting state, with the alarm saying why, rather than
// reaching its final state without its units resolved and its EPCIS
// documents in the outbox. Each step of the batch end is safe to redo.
// It returns nil once a retry succeeded (the alarm is cleared).
func (c *Controller) retryBatchEnd(ctx context.Context, s packml.State, err error) error {
	wait := 500 * time.Millisecond
	for err != nil && ctx.Err() == nil {
		c.log.Error("batch end failed; retrying", "state", s, "err", err, "in", wait)
		c.alarm(api.SeverityFault, "line", fmt.Sprintf("%s failed: %v", s, err))
		if !devices.Sleep(ctx, wait) {
			return err
		}
		wait = min(2*wait, 10*time.Second)
		err = c.act(ctx, s)
		if err == nil {
			c.ClearCondition("line:act", "system")
		}
	}
	return err
}

// act is the work of an acting state.
func (c *Controller) act(ctx context.Context, s packml.State) error {
	switch s {
	case packml.Starting, packml.Unholding, packml.Unsuspending:
		if err := c.printerReady(ctx); err != nil {
			return err
		}
		c.resync(ctx)
		c.clearOnResume()
		c.q.Resume()
		select {
		case c.drawKick <- struct{}{}:
		default:
		}
		c.primePrinter(ctx)
		// The line runs only once the PLC took the run outputs: a PLC that
		// does not answer (a link blip not yet reconnected) sends the
		// line back to Held with the reason, rather than to an Execute
		// whose conveyor the PLC never released.
		if err := c.setOutputs(ctx, false, devices.LightGreen, false); err != nil {
			return fmt.Errorf("PLC did not take the run outputs: %w", err)
		}
		return nil
	case packml.Holding, packml.Suspending:
		c.q.Hold()
		c.drain(ctx)
		c.outputs(ctx, true, devices.LightAmber, false)
		c.quiesce(ctx)
		c.resync(ctx)
		return nil
	case packml.Completing, packml.Stopping:
		c.q.Hold()
		c.drain(ctx)
		c.outputs(ctx, true, devices.LightAmber, false)
		return c.finishBatch(ctx, s)
	case packml.Aborting:
		c.q.Hold()
		c.outputs(ctx, true, devices.LightRed, false)
		return c.finishBatch(ctx, s)
	case packml.Clearing, packml.Resetting:
		c.outputs(ctx, true, devices.LightOff, false)
		return nil
	}
	return nil
}

// printerFaults is the optional fault interface of a printer driver
// (tij.Client): the operator's Start/Unhold acknowledges the printer's
// faults, and the line only runs when none is left.
type printerFaults interface {
	ClearFaults(ctx context.Context) error
	Faults(ctx context.Context, warnings bool) ([]tij.Fault, error)
}

// printerReady clears the printer's faults and fails when any remains.
func (c *Controller) printerReady(ctx context.Context) error {
	pf, ok := c.o.Printer.(printerFaults)
	if !ok {
		return nil
	}
	if err := pf.ClearFaults(ctx); err != nil {
		return fmt.Errorf("printer: clear faults: %w", err)
	}
	fs, err := pf.Faults(ctx, false)
	if err != nil {
		return fmt.Errorf("printer: read faults: %w", err)
	}
	if len(fs) > 0 {
		return fmt.Errorf("printer not ready: fault %s (%s)", fs[0].Code, fs[0].Text)
	}
	return nil
}

// primePrinter waits (up to 2 s) until the printer queue holds its depth
// of records (or all the batch still needs), so that the first products do
// not pass the print head blank.
func (c *Controller) primePrinter(ctx context.Context) {
	want := min(c.cfg.Cycle.PrinterDepth, c.remainingToFeed()+int(c.open.Load()))
	deadline := c.now().Add(2 * time.Second)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for len(c.q.InFlight()) < want && c.now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// drain waits (up to Cycle.DrainTimeout) until no unit is in flight: every
// unit decided, its product through the gate (its gate result read back,
// or, without read-back, its travel past the gate) and its outcome
// durable, and the printer holding no record. The conveyor keeps running
// meanwhile so the units in flight reach the camera and the gate.
func (c *Controller) drain(ctx context.Context) {
	deadline := c.now().Add(c.cfg.Cycle.DrainTimeout)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		done := make(chan int, 1)
		c.send(ctx, evDrain{done})
		var n int
		select {
		case n = <-done:
		case <-ctx.Done():
			return
		}
		if n == 0 && c.atGate.Load() == 0 && len(c.q.InFlight()) == 0 && c.open.Load() == 0 {
			return
		}
		if !c.now().Before(deadline) {
			c.log.Warn("drain timed out", "units_open", n, "at_gate", c.atGate.Load(), "printer_inflight", len(c.q.InFlight()), "not_durable", c.open.Load())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// quiesce waits, once the line is told to stop, until the last products'
// triggers and printer reports have come in (none for a fifth of the
// pairing window, at most 2 s): realigning the streams before that would
// pair a late report with a product after the restart.
func (c *Controller) quiesce(ctx context.Context) {
	quiet := c.cfg.Cycle.PairWindow / 5
	deadline := c.now().Add(2 * time.Second)
	t := time.NewTicker(quiet / 4)
	defer t.Stop()
	for c.now().Before(deadline) && c.now().Sub(time.Unix(0, c.lastEvent.Load())) < quiet {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resync realigns prints and triggers after the line stopped.
func (c *Controller) resync(ctx context.Context) {
	done := make(chan struct{})
	c.send(ctx, evResync{done})
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// holdLoop turns system hold requests (device faults) into Hold commands.
func (c *Controller) holdLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case why := <-c.holds:
			c.mu.Lock()
			id, st := c.batchID, c.state
			c.mu.Unlock()
			switch st {
			case packml.Execute, packml.Suspended: // OPC 30050: SuspendedToHolding
				if err := c.command(ctx, id, packml.CmdHold, journal.ActorSystem, why); err != nil {
					c.log.Warn("system hold refused", "reason", why, "err", err)
				}
			case packml.Starting, packml.Unholding, packml.Unsuspending:
				// Let the acting state finish, then hold.
				select {
				case c.holds <- why:
				default:
				}
				t := time.NewTimer(20 * time.Millisecond)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		case <-c.completeCh:
			c.mu.Lock()
			id, st := c.batchID, c.state
			c.mu.Unlock()
			if st == packml.Execute {
				if err := c.command(ctx, id, packml.CmdComplete, journal.ActorSystem, "target quantity reached"); err != nil {
					c.log.Warn("auto complete refused", "err", err)
				}
			}
		}
	}
}

// requestHold asks for a system hold (non-blocking).
func (c *Controller) requestHold(why string) {
	select {
	case c.holds <- why:
	default:
	}
}

func (c *Controller) requestComplete() {
	select {
	case c.completeCh <- struct{}{}:
	default:
	}
}

// feeding reports the current batch id when new units may be fed.
func (c *Controller) feeding() (string, bool) {
	s := c.snap.Load()
	if s == nil || s.id == "" {
		return "", false
	}
	switch s.state {
	case packml.Execute, packml.Starting, packml.Unholding, packml.Unsuspending:
		// The acting states fill the printer queue before the conveyor runs.
		return s.id, true
	}
	return "", false
}

// remainingToFeed is how many more units the batch needs beyond those
// commissioned and in flight.
func (c *Controller) remainingToFeed() int {
	r := c.currentRun()
	if r == nil {
		return 0
	}
	return max(0, r.def.Target-int(c.commissioned.Load())-int(c.open.Load()))
}

func (c *Controller) targetReached(n int64) bool {
	r := c.currentRun()
	return r != nil && n >= int64(r.def.Target)
}

// clearanceLocked checks line clearance before Start. With override, a
// pool below pools.min_start (but not empty) is accepted and described in
// overridden; line clearance (the confirmed checklist, units in flight,
// printer queue) never is.
func (c *Controller) clearanceLocked(ctx context.Context, override bool) (overridden string, err error) {
	if err := c.clearedLocked(c.batchID); err != nil {
		return "", err
	}
	if err := c.aggLeftOpen(); err != nil {
		return "", err
	}
	ctr, err := c.j.Counters(c.batchID)
	if err != nil {
		return "", fmt.Errorf("line clearance: %w: %w", err, api.ErrUnavailable)
	}
	if n := ctr.Queued + ctr.Printed + ctr.Verified; n > 0 || c.open.Load() > 0 {
		return "", fmt.Errorf("%w: %d unit(s) of batch %s still in flight (queued, printed or verified): %w",
			ErrClearance, max(n, int(c.open.Load())), c.batchID, api.ErrRefused)
	}
	if n := len(c.q.InFlight()); n > 0 {
		return "", fmt.Errorf("%w: printer queue holds %d record(s) from before: %w", ErrClearance, n, api.ErrRefused)
	}
	if d, err := c.o.Printer.QueueDepth(ctx); err == nil && d > 0 {
		return "", fmt.Errorf("%w: printer queue not empty (%d record(s)); clear it first: %w", ErrClearance, d, api.ErrRefused)
	}
	r := c.currentRun()
	need := min(c.cfg.Pools.MinStart, max(0, r.def.Target-int(c.commissioned.Load())))
	if have := c.poolLevel() + c.drawnLen(); have < need {
		if !override || have == 0 {
			return "", fmt.Errorf("%w: %d serial(s) available for GTIN %s, start needs %d: %w",
				ErrPoolLow, have, r.def.GTIN, need, api.ErrRefused)
		}
		overridden = fmt.Sprintf("%d serial(s) available for GTIN %s, below the start minimum %d", have, r.def.GTIN, need)
	}
	if why := c.clockRefusal(); why != "" {
		if !override {
			return "", fmt.Errorf("%w: %s; a supervisor may start with an e-signed override: %w", ErrClockUnsynced, why, api.ErrRefused)
		}
		overridden = strings.TrimPrefix(overridden+"; "+why, "; ")
	}
	return overridden, nil
}

// aggLeftOpen refuses the start while an earlier batch still has
// aggregation parents open (cases, pallets): the stations would go on
// building them with the new batch's packs, which the journal refuses.
// The aggregation station code shares the journal, which knows every
// batch's parents; a line without aggregation has none.
func (c *Controller) aggLeftOpen() error {
	open, err := c.j.AggOpenParents()
	if err != nil {
		return fmt.Errorf("line clearance: aggregation: %w: %w", err, api.ErrUnavailable)
	}
	for _, op := range open {
		if op.Batch == c.batchID {
			continue
		}
		return fmt.Errorf("%w: aggregation of an earlier batch left open: %w: close each as partial at its station "+
			"(supervisor's e-signature) or unpack it in rework, then start %s: %w", ErrClearance, op, c.batchID, api.ErrRefused)
	}
	return nil
}

func (c *Controller) drawnLen() int {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return len(c.drawn)
}

// State returns the current batch and its PackML state.
func (c *Controller) State() (batch string, s packml.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batchID, c.state
}

// WaitState waits until the current batch is in one of the states and
// returns it (ctx.Err() when ctx ends first).
func (c *Controller) WaitState(ctx context.Context, states ...packml.State) (packml.State, error) {
	for {
		c.mu.Lock()
		st, ch := c.state, c.stateCh
		c.mu.Unlock()
		for _, s := range states {
			if st == s {
				return st, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, fmt.Errorf("waiting for %v (state %s): %w", states, st, ctx.Err())
		}
	}
}

// ---- devices, alarms, latencies ----

func (c *Controller) setLink(name, link, detail string) {
	c.devMu.Lock()
	defer c.devMu.Unlock()
	d := c.devs[name]
	if d == nil {
		return
	}
	if d.Link != link {
		d.Since = c.now()
	}
	d.Link, d.Detail = link, detail
	c.m.SetDeviceLink(name, link == api.LinkUp)
}

// alarm raises an alarm for the condition behind text (api.Classify):
// while that condition's alarm is active a repeat only counts.
func (c *Controller) alarm(sev, source, text string) {
	c.Raise(sev, source, text, "system")
}

// alarmCode raises an alarm with an explicit support code (the catalogue's
// "alarm.<code>" text with params), one per condition (cond; "" = the
// code); latched alarms stay until a person closes them out. detail is the
// controller's own wording, kept for support.
func (c *Controller) alarmCode(sev, source, code, cond string, latched bool, params map[string]string, detail string) {
	if cond == "" {
		cond = source + ":" + code
	}
	c.RaiseCondition(api.Alarm{Severity: sev, Source: source, Code: code, Condition: cond, Latched: latched,
		Params: params, Detail: detail, RaisedBy: "system"})
}

func (c *Controller) recordLatency(added, fromRead time.Duration) {
	c.latMu.Lock()
	if len(c.lat) < 1<<20 {
		c.lat = append(c.lat, added)
		c.latRead = append(c.latRead, fromRead)
	}
	c.latMu.Unlock()
}

// Latencies returns and resets the controller-added latencies recorded
// since the last call: from the moment a unit's verdict inputs are all in
// (camera decision, print complete, PLC trigger) to its verdict written to
// the PLC — the group commit to the journal included.
func (c *Controller) Latencies() []time.Duration {
	c.latMu.Lock()
	defer c.latMu.Unlock()
	l := c.lat
	c.lat, c.latRead = nil, nil
	return l
}

// ReadLatencies is Latencies measured from the camera result's arrival
// instead (it includes waiting for the printer's print-complete and the
// PLC's trigger). Call it before Latencies, which resets both.
func (c *Controller) ReadLatencies() []time.Duration {
	c.latMu.Lock()
	defer c.latMu.Unlock()
	return append([]time.Duration(nil), c.latRead...)
}

// rateMeter counts finished units over the last minute.
type rateMeter struct {
	mu  sync.Mutex
	ts  []time.Time
	pos int
}

func (r *rateMeter) add(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ts) < 4096 {
		r.ts = append(r.ts, t)
		return
	}
	r.ts[r.pos] = t
	r.pos = (r.pos + 1) % len(r.ts)
}

// perMinute is the rate over the last 10 seconds, per minute.
func (r *rateMeter) perMinute(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, t := range r.ts {
		if now.Sub(t) <= 10*time.Second {
			n++
		}
	}
	return float64(n) * 6
}
