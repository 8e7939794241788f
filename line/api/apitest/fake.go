// Package apitest provides Fake, an in-memory api.Controller for tests of
// the API, the HMI and the CLI client when no real line is wanted. It keeps
// a simplified PackML state machine and produces units only when the test
// calls Produce, so tests control every change (no timers).
package apitest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/reconcile"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/store/journal"
)

// Fake is an in-memory controller. The zero value is not usable; use New.
type Fake struct {
	api.AlarmBook

	now func() time.Time

	mu        sync.Mutex
	line      string
	batches   map[string]*api.Batch
	order     []string // creation order
	current   string
	units     []api.Unit // production order
	bySer     map[string]int
	pools     map[string]int
	devices   []api.Device
	sigs      map[string]*api.Signature
	queue     int
	poolShort bool
	next      int
	mode      packml.UnitMode // 0 = Production (see mode.go)

	// line clearance (SetClearance): the checklist, the store of the
	// confirmations (rec, or cleared without one)
	checklist []config.ChecklistItem
	rec       *records.Store
	cleared   map[string]records.Clearance
}

// New returns a Fake with one pool of poolSize serials for gtin and four
// devices, all up.
func New(now func() time.Time, gtin string, poolSize int) *Fake {
	if now == nil {
		now = time.Now
	}
	f := &Fake{now: now, line: "line-1", batches: map[string]*api.Batch{}, bySer: map[string]int{},
		pools: map[string]int{gtin: poolSize}, sigs: map[string]*api.Signature{}}
	f.AlarmBook.Now = now
	f.AlarmBook.BatchOf = func() string { f.mu.Lock(); defer f.mu.Unlock(); return f.current }
	for _, d := range []struct{ n, k string }{{"plc", "modbus"}, {"printer", "tij"}, {"camera", "dmcc"}, {"upstream", "http"}} {
		f.devices = append(f.devices, api.Device{Name: d.n, Kind: d.k, Link: api.LinkUp, Since: now()})
	}
	return f
}

var _ api.Controller = (*Fake)(nil)

// SetDevice changes a device's link state.
func (f *Fake) SetDevice(name, link, detail string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.devices {
		if f.devices[i].Name == name {
			f.devices[i].Link, f.devices[i].Detail, f.devices[i].Since = link, detail, f.now()
		}
	}
}

// SetPoolShort makes Start refused as "pool below the start minimum",
// which a supervisor may override (e-signed).
func (f *Fake) SetPoolShort(short bool) { f.mu.Lock(); f.poolShort = short; f.mu.Unlock() }

// SetPrinterQueue sets the printer queue depth shown in Status (Start is
// refused for line clearance while it is > 0, override or not).
func (f *Fake) SetPrinterQueue(n int) { f.mu.Lock(); f.queue = n; f.mu.Unlock() }

// Produce makes n units on the current batch, which must be in Execute:
// every rejectEvery-th unit (0 = none) is rejected for low grade, the
// others commissioned. It returns the serials.
func (f *Fake) Produce(n, rejectEvery int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.batches[f.current]
	if b == nil || b.State != "Execute" {
		return nil, fmt.Errorf("produce: no batch in Execute: %w", api.ErrInvalidState)
	}
	var out []string
	for range n {
		if f.pools[b.GTIN] == 0 {
			return out, fmt.Errorf("produce: pool empty: %w", api.ErrRefused)
		}
		f.pools[b.GTIN]--
		f.next++
		serial := fmt.Sprintf("SN%07d", f.next)
		u := api.Unit{Serial: serial, GTIN: b.GTIN, Batch: b.ID, Seq: uint64(f.next), Updated: f.now(),
			ElementString: "01" + b.GTIN + "21" + serial + "\x1d17" + b.Expiry + "10" + b.Lot,
			Grade:         gradePtr(3.5), GradeParams: map[string]float64{"SC": 4, "MOD": 3.5}}
		if rejectEvery > 0 && f.next%rejectEvery == 0 {
			u.State, u.Reason, u.Grade = "rejected", "low-grade", gradePtr(1.0)
			u.GradeParams = map[string]float64{"SC": 1.0, "MOD": 2.0}
			b.Counters.Rejected++
			if b.Counters.RejectedBy == nil {
				b.Counters.RejectedBy = map[string]int{}
			}
			b.Counters.RejectedBy["low-grade"]++
		} else {
			u.State = "commissioned"
			b.Counters.Commissioned++
		}
		u.History = []api.UnitEvent{{State: "drawn", At: f.now()}, {State: u.State, Reason: u.Reason, At: f.now()}}
		f.bySer[serial] = len(f.units)
		f.units = append(f.units, u)
		out = append(out, serial)
	}
	return out, nil
}

// MarkNotConfirmed makes serial a reject the gate did not confirm (reason
// reject-not-confirmed) and raises its latched alarm, as the controller
// does when the gate's sensor misses a reject.
func (f *Fake) MarkNotConfirmed(serial string) error {
	f.mu.Lock()
	i, ok := f.bySer[serial]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("unit %q: %w", serial, api.ErrNotFound)
	}
	u := &f.units[i]
	b := f.batches[u.Batch]
	if u.State == "commissioned" {
		b.Counters.Commissioned--
		b.Counters.Rejected++
	} else if b.Counters.RejectedBy[u.Reason] > 0 {
		b.Counters.RejectedBy[u.Reason]--
	}
	if b.Counters.RejectedBy == nil {
		b.Counters.RejectedBy = map[string]int{}
	}
	b.Counters.RejectedBy["reject-not-confirmed"]++
	u.State, u.Reason = "rejected", "reject-not-confirmed"
	u.History = append(u.History, api.UnitEvent{State: "rejected", Reason: "reject-not-confirmed: product passed the gate", By: "plc(system)", At: f.now()})
	seq := u.Seq
	f.mu.Unlock()
	f.Raise(api.SeverityFault, "plc", fmt.Sprintf("reject of unit %s (product %d) not confirmed: product passed the gate", serial, seq), "system")
	return nil
}

func (f *Fake) drawn(b *api.Batch) int {
	c := b.Counters
	return c.Commissioned + c.Rejected + c.Sampled + c.Returned + c.Uncertain
}

// Status implements api.Controller.
func (f *Fake) Status(ctx context.Context) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := api.Status{Line: f.line, State: "Idle", PrinterQueue: f.queue, At: f.now(),
		Devices: slices.Clone(f.devices), ActiveAlarms: f.AlarmBook.ActiveCount(), UnitMode: f.unitMode().String()}
	if b := f.batches[f.current]; b != nil {
		c := *b
		c.Counters.Drawn = f.drawn(b)
		st.Batch = &c
		st.State = b.State
		if b.State == "Execute" {
			st.RatePerMin = 300
		}
	}
	for g, n := range f.pools {
		st.Pools = append(st.Pools, api.PoolLevel{GTIN: g, Available: n, LowWater: 100})
	}
	return st, nil
}

// CreateBatch implements api.Controller.
func (f *Fake) CreateBatch(ctx context.Context, def api.BatchDef, by api.Actor) (api.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(def.GTIN) != 14 {
		return api.Batch{}, fmt.Errorf("gtin %q: want 14 digits: %w", def.GTIN, api.ErrBadRequest)
	}
	if _, ok := f.batches[def.ID]; ok {
		return api.Batch{}, fmt.Errorf("batch %q exists: %w", def.ID, api.ErrInvalidState)
	}
	if cur := f.batches[f.current]; cur != nil && !final(cur.State) && cur.State != "Idle" {
		return api.Batch{}, fmt.Errorf("batch %s is %s: %w", cur.ID, cur.State, api.ErrInvalidState)
	}
	b := &api.Batch{BatchDef: def, State: "Idle", Created: f.now(),
		History: []api.StateChange{{To: "Idle", By: by, At: f.now()}}}
	f.batches[def.ID] = b
	f.order = append(f.order, def.ID)
	f.current = def.ID
	return *b, nil
}

func final(state string) bool { return state == "Complete" || state == "Stopped" || state == "Aborted" }

// Batch implements api.Controller.
func (f *Fake) Batch(ctx context.Context, id string) (api.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.batches[id]
	if b == nil {
		return api.Batch{}, fmt.Errorf("batch %q: %w", id, api.ErrNotFound)
	}
	c := *b
	c.Signed = f.sigs[id]
	return c, nil
}

// Batches implements api.Controller.
func (f *Fake) Batches(ctx context.Context, limit int) ([]api.Batch, error) {
	var out []api.Batch
	f.mu.Lock()
	ids := slices.Clone(f.order)
	f.mu.Unlock()
	for _, id := range slices.Backward(ids) {
		if limit > 0 && len(out) == limit {
			break
		}
		b, _ := f.Batch(ctx, id)
		out = append(out, b)
	}
	return out, nil
}

var transitions = map[string]map[string]string{ // command -> from -> to
	api.CmdStart:     {"Idle": "Execute"},
	api.CmdHold:      {"Execute": "Held", "Suspended": "Held"},
	api.CmdUnhold:    {"Held": "Execute"},
	api.CmdSuspend:   {"Execute": "Suspended"},
	api.CmdUnsuspend: {"Suspended": "Execute"},
	api.CmdStop:      {"Idle": "Stopped", "Execute": "Stopped", "Held": "Stopped", "Suspended": "Stopped", "Complete": "Stopped"},
	api.CmdAbort:     {"Idle": "Aborted", "Execute": "Aborted", "Held": "Aborted", "Suspended": "Aborted", "Stopped": "Aborted", "Complete": "Aborted"},
	api.CmdClear:     {"Aborted": "Stopped"},
	api.CmdReset:     {"Stopped": "Idle", "Complete": "Idle"},
	api.CmdComplete:  {"Execute": "Complete"}, // PackML: only from Execute
}

// Command implements api.Controller.
func (f *Fake) Command(ctx context.Context, id string, cmd api.Command, by api.Actor) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.batches[id]
	if b == nil {
		return fmt.Errorf("batch %q: %w", id, api.ErrNotFound)
	}
	to, ok := transitions[cmd.Name][b.State]
	if !ok {
		return fmt.Errorf("%s refused in state %s: %w", cmd.Name, b.State, api.ErrInvalidState)
	}
	if pc, err := packml.ParseCommand(cmd.Name); err == nil {
		if err := f.unitMode().Permits(pc); err != nil {
			return fmt.Errorf("batch %s: %w: %w", id, err, api.ErrInvalidState)
		}
	}
	if cmd.Name == api.CmdStart && len(f.checklist) > 0 {
		if _, ok := f.clearanceLocked(id); !ok {
			return api.ClearanceRefused(id)
		}
	}
	if cmd.Name == api.CmdStart && f.queue > 0 {
		// line clearance is never overridden
		return fmt.Errorf("line clearance: printer queue holds %d records: %w", f.queue, api.ErrRefused)
	}
	if cmd.Override && (cmd.Signature == nil || cmd.Signature.User != by.User) {
		return fmt.Errorf("override without the signer's e-signature: %w", api.ErrRefused)
	}
	if cmd.Name == api.CmdStart && f.poolShort && !cmd.Override {
		return fmt.Errorf("pool below the start minimum: %w", api.ErrRefused)
	}
	b.History = append(b.History, api.StateChange{From: b.State, To: to, By: by, Reason: cmd.Reason, At: f.now()})
	b.State = to
	return nil
}

// Unit implements api.Controller.
func (f *Fake) Unit(ctx context.Context, serial string) (api.Unit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.bySer[serial]
	if !ok {
		// as line.Controller passes the journal's answer on
		return api.Unit{}, fmt.Errorf("unit %q: %w: %w", serial, &journal.UnknownSerialError{Serial: serial}, api.ErrNotFound)
	}
	return f.units[i], nil
}

// Units implements api.Controller.
func (f *Fake) Units(ctx context.Context, id string, q api.UnitQuery) ([]api.Unit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Unit
	for _, u := range slices.Backward(f.units) {
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		if (id == "" || u.Batch == id) && (len(q.States) == 0 || slices.Contains(q.States, u.State)) {
			out = append(out, u)
		}
	}
	return out, nil
}

// UnitAction implements api.Controller.
func (f *Fake) UnitAction(ctx context.Context, serial string, action api.UnitActionKind, reason string, by api.Actor) (api.Unit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.bySer[serial]
	if !ok {
		return api.Unit{}, fmt.Errorf("unit %q: %w", serial, api.ErrNotFound)
	}
	u := &f.units[i]
	b := f.batches[u.Batch]
	if u.State != "commissioned" {
		return *u, fmt.Errorf("unit %s is %s: %w", serial, u.State, api.ErrInvalidState)
	}
	b.Counters.Commissioned--
	switch action {
	case api.UnitSample:
		u.State = "sampled"
		b.Counters.Sampled++
	default:
		u.State, u.Reason = "rejected", "manual"
		b.Counters.Rejected++
		if b.Counters.RejectedBy == nil {
			b.Counters.RejectedBy = map[string]int{}
		}
		b.Counters.RejectedBy["manual"]++
	}
	u.History = append(u.History, api.UnitEvent{State: u.State, Reason: reason, By: by.User, At: f.now()})
	return *u, nil
}

// Devices implements api.Controller.
func (f *Fake) Devices(ctx context.Context) ([]api.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.devices), nil
}

// PoolLevels implements api.Controller.
func (f *Fake) PoolLevels(ctx context.Context) ([]api.PoolLevel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.PoolLevel
	for g, n := range f.pools {
		out = append(out, api.PoolLevel{GTIN: g, Available: n, LowWater: 100})
	}
	return out, nil
}

// Reconciliation implements api.Controller.
func (f *Fake) Reconciliation(ctx context.Context, id string) (api.Reconciliation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reconciliation(id)
}

func (f *Fake) reconciliation(id string) (api.Reconciliation, error) {
	b := f.batches[id]
	if b == nil {
		return api.Reconciliation{}, fmt.Errorf("batch %q: %w", id, api.ErrNotFound)
	}
	c := b.Counters
	r := api.Reconciliation{Batch: id, State: b.State, Final: final(b.State), Drawn: f.drawn(b),
		Commissioned: c.Commissioned, Rejected: c.Rejected, Sampled: c.Sampled, Returned: c.Returned,
		Uncertain: c.Uncertain, RejectedBy: c.RejectedBy, Signed: f.sigs[id], Generated: f.now()}
	r.Balanced = r.Drawn == r.Commissioned+r.Rejected+r.Sampled+r.Returned+r.Uncertain
	for _, u := range f.units {
		if u.Batch == id && u.State == "rejected" && u.Reason == "reject-not-confirmed" {
			r.DeviationSerials = append(r.DeviationSerials, u.Serial)
			r.Differences = append(r.Differences, api.Unit{Serial: u.Serial, Batch: id, State: u.State,
				Reason: "reject not confirmed by the gate: the pack may be in the good stream (deviation)"})
		}
	}
	r.Deviations = len(r.DeviationSerials)
	return r, nil
}

// SignReconciliation implements api.Controller.
func (f *Fake) SignReconciliation(ctx context.Context, id string, sig api.Signature) (api.Reconciliation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.reconciliation(id)
	if err != nil {
		return r, err
	}
	if !r.Final {
		return r, fmt.Errorf("batch %s is %s, not finished: %w", id, r.State, api.ErrInvalidState)
	}
	if r.Signed != nil {
		return r, fmt.Errorf("batch %s already signed by %s: %w", id, r.Signed.User, api.ErrInvalidState)
	}
	f.sigs[id] = &sig
	r.Signed = &sig
	return r, nil
}

func gradePtr(g float64) *float64 { return &g }

// ReportingFake is a Fake that also writes reconciliation reports
// (api.Reporter), built from the Fake's counters: for tests of the report
// downloads (PDF, CSV, JSON, HTML).
type ReportingFake struct{ *Fake }

// ReconcileReport implements api.Reporter.
func (f ReportingFake) ReconcileReport(ctx context.Context, id string) (reconcile.Report, error) {
	b, err := f.Batch(ctx, id)
	if err != nil {
		return reconcile.Report{}, err
	}
	jb := journal.Batch{BatchDef: journal.BatchDef{ID: b.ID, GTIN: b.GTIN, Lot: b.Lot, Expiry: b.Expiry, Profile: b.Profile, Target: b.Target}, State: b.State}
	r := reconcile.Build(jb, nil, reconcile.Shifts{}, f.now())
	k := b.Counters
	r.Counts = reconcile.Counts{Drawn: k.Commissioned + k.Rejected + k.Sampled + k.Returned + k.Uncertain, Commissioned: k.Commissioned,
		Rejected: k.Rejected, Sampled: k.Sampled, Returned: k.Returned, Uncertain: k.Uncertain}
	for reason, n := range k.RejectedBy {
		r.RejectsByReason[reason] = n
	}
	r.Differences = nil
	r.Balanced = true
	return r, nil
}

// SetClearance makes the Fake require a line clearance with checklist
// before Start, as the controller does (nil or empty: none), kept in rec
// (nil: in memory).
func (f *Fake) SetClearance(rec *records.Store, checklist []config.ChecklistItem) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rec, f.checklist, f.cleared = rec, checklist, map[string]records.Clearance{}
}

var _ api.ClearanceKeeper = (*Fake)(nil)

// ClearanceChecklist implements api.ClearanceKeeper.
func (f *Fake) ClearanceChecklist() []config.ChecklistItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checklist
}

// Clearance implements api.ClearanceKeeper.
func (f *Fake) Clearance(batch string) (records.Clearance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clearanceLocked(batch)
}

func (f *Fake) clearanceLocked(batch string) (records.Clearance, bool) {
	if f.rec != nil {
		return f.rec.Clearance(batch)
	}
	cl, ok := f.cleared[batch]
	return cl, ok
}

// ConfirmClearance implements api.ClearanceKeeper.
func (f *Fake) ConfirmClearance(ctx context.Context, cl records.Clearance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.batches[cl.Batch]
	switch {
	case b == nil:
		return fmt.Errorf("batch %q: %w", cl.Batch, api.ErrNotFound)
	case b.State != "Idle":
		return fmt.Errorf("batch %s is %s: line clearance is confirmed before its start: %w", cl.Batch, b.State, api.ErrInvalidState)
	}
	if err := api.CheckClearance(f.checklist, cl); err != nil {
		return err
	}
	if f.rec != nil {
		return f.rec.ConfirmClearance(ctx, cl)
	}
	if f.cleared == nil {
		f.cleared = map[string]records.Clearance{}
	}
	f.cleared[cl.Batch] = cl
	return nil
}
