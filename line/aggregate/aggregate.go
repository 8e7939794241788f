// Package aggregate packs a batch's units into cases and cases into
// pallets, as a real line does it, beside the unit cycle (package line)
// and through the same journal:
//
//   - the inline case station: the case line PLC counts each closed case
//     (Modbus trigger), the aggregation camera reads every unit code in it
//     in one image (DMCC or Keyence multi-read), the controller checks the
//     read (count, duplicates, foreign or not commissioned codes), draws
//     the case's SSCC (durable before its label prints), has the
//     print-and-apply labeller print the GS1 logistic label (ZPL), pairs
//     the label scanner's read with the case, closes the case in the
//     journal (children, events, one transaction) and only then sends the
//     accept verdict; any failure sends the case to the rework lane
//     (reject verdict, or none: the gate rejects fail-safe);
//   - the pallet station: each case label scanned at the palletiser adds
//     the case to the open pallet; a full pallet gets its SSCC label, and
//     the scan of that label closes it;
//   - the manual station (handheld scanner on a serial port, or the HMI's
//     scan field): build cases and pallets by hand, rework (remove or add
//     units, unpack, relabel), every scan answered at once;
//   - the EPCIS aggregation documents go upstream once the batch's own
//     commissioning documents have (the batch reached a final state),
//     then after every later step;
//   - the reconciliation per level and the batch-end finish (orphans by
//     the batch policy, partial parents closed by a supervisor).
//
// The journal enforces the rules (store/journal agg.go): a child in at
// most one parent, only commissioned units of the batch, counts checked on
// close, every step with its events in one transaction.
package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/gs1/gcp"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision"
)

// Line is what the aggregator needs from the line controller
// (*line.Controller satisfies it).
type Line interface {
	State() (batch string, s packml.State)
}

// Alarms raises and clears alarms by condition (*line.Controller's
// embedded api.AlarmBook satisfies it). The aggregation's alarms carry
// their support code (alarms.go: AGG-*, texts in the catalogues under
// alarm.<code>) and a condition key: one active alarm per condition.
type Alarms interface {
	RaiseCondition(a api.Alarm) api.Alarm
	ClearCondition(condition, by string) bool
}

// PLC is the case line PLC (devices/modbus.Client, devices/opcua.Client).
type PLC interface {
	Connect(ctx context.Context) error
	NextTrigger(ctx context.Context) (devices.Trigger, error)
	Decide(ctx context.Context, seq uint64, reject bool) error
	Close(ctx context.Context) error
}

// SSCCUpstream is the site server's SSCC service (*upstream.Client).
type SSCCUpstream interface {
	RequestSSCCsWithID(ctx context.Context, id string, n int) (upstream.SSCCPool, error)
}

// SSCCSource finds the SSCC service of the line's upstream (the site
// server client itself, or the serial source of an upstream.Split); nil
// when it has none (e.g. an Open-SCS site server: SSCCs then come from a
// local range).
func SSCCSource(up any) SSCCUpstream {
	switch u := up.(type) {
	case SSCCUpstream:
		return u
	case upstream.Split:
		if s, ok := u.Serials.(SSCCUpstream); ok {
			return s
		}
	}
	return nil
}

// CaseDevices are the inline case station's devices (not yet connected).
type CaseDevices struct {
	PLC      PLC
	Camera   vision.Camera
	Labeller printer.Driver
	Scanner  vision.Camera
}

// PalletDevices are the palletiser's devices.
type PalletDevices struct {
	Scanner  vision.Camera
	Labeller printer.Driver
}

// Options are the aggregator's dependencies.
type Options struct {
	// Config is the aggregation section (validated).
	Config config.Aggregation
	// Identity is the line section: company prefix length (EPCs), read
	// point, business location, time zone.
	Identity config.Line
	// Journal is the line's journal (shared with the controller).
	Journal *journal.Journal
	// Line is the controller (current batch and its state).
	Line Line
	// Alarms receives station alarms; nil = logged only.
	Alarms Alarms
	// Upstream asks the site server for SSCCs (source upstream); nil = none.
	Upstream SSCCUpstream
	// Hierarchy gives the packaging levels per GTIN (default:
	// Config.Products, then Products).
	Hierarchy HierarchySource
	// Products is the product master (line/records.Store, as
	// line.Controller.Records gives it): the packaging levels of a product
	// whose GTIN Config.Products does not list; nil = none.
	Products ProductMaster
	// Prefixes gives the GS1 Company Prefix length of a GTIN for the EPCs
	// (line.Controller.Prefixes: the product master first); nil = the
	// line section's own lookup (Identity.Prefixes without a master).
	Prefixes gcp.Lookup
	// Case, Pallet: the stations' devices; nil = station not present.
	Case   *CaseDevices
	Pallet *PalletDevices
	// ManualScanner opens the manual station's handheld scanner port
	// (devices/serialport); nil = HMI scan field only.
	ManualScanner func(ctx context.Context) (ScannerPort, error)
	// ManualLabeller prints the manual station's labels; nil = none (a
	// manual parent is then closed on its last child, without label scan).
	ManualLabeller printer.Driver
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// Aggregator runs the aggregation stations of one line.
type Aggregator struct {
	o    Options
	j    *journal.Journal
	log  *slog.Logger
	now  func() time.Time
	hier HierarchySource
	// prefixes gives the company prefix length of a GTIN (EPCs).
	prefixes gcp.Lookup
	kind     journal.IDKind
	wait     time.Duration
	kick     chan struct{}
	wg       sync.WaitGroup
	start    time.Time

	mu       sync.Mutex
	stations map[string]*station
	cases    []api.CaseRead // last cases, newest last
	rework   map[string]int // batch -> cases to the rework lane
	finished map[string]*api.Signature
	units    UnitActor
	// verdictAlarms are the conditions of active case verdict alarms
	// (cleared when a later verdict is delivered: alarms.go).
	verdictAlarms []string
}

// station is one station's state (guarded by Aggregator.mu). busy
// serializes the station's work (scans from its scanner, the HMI and a
// handheld; commands): one scan is decided before the next is looked at.
type station struct {
	busy       sync.Mutex
	name       string
	mode       string // manual: case, pallet, rework-remove, rework-add
	link       string
	open       string // code of the open parent ("" none)
	awaitLabel bool
	partial    *journal.Actor // armed partial close
	partialWhy string
	last       *api.ScanResult
	relabelOf  string       // manual relabel: the old parent
	queued     []queuedScan // pallet: cases stacked while the full pallet waits for its label
}

type queuedScan struct {
	code string
	by   journal.Actor
}

// New checks o and returns an Aggregator; nothing runs until Run.
func New(o Options) (*Aggregator, error) {
	if o.Journal == nil || o.Line == nil {
		return nil, errors.New("aggregate: Options.Journal and Line are required")
	}
	if err := o.Config.Validate().Err(); err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Aggregator{o: o, j: o.Journal, log: o.Logger, now: o.Now, hier: o.Hierarchy, kind: journal.IDSSCC,
		wait: o.Config.CommissionWait, kick: make(chan struct{}, 1), stations: map[string]*station{},
		rework: map[string]int{}, finished: map[string]*api.Signature{}}
	if a.hier == nil {
		a.hier = Hierarchies(ConfigHierarchy(o.Config), MasterHierarchy(o.Products))
	}
	if a.prefixes = o.Prefixes; a.prefixes == nil {
		p, err := o.Identity.Prefixes(nil)
		if err != nil {
			return nil, fmt.Errorf("aggregate: %w", err)
		}
		a.prefixes = p
	}
	if a.wait <= 0 {
		a.wait = 5 * time.Second
	}
	a.stations["manual"] = &station{name: "manual", mode: "case", link: api.LinkUp}
	if o.Case != nil {
		a.stations["case"] = &station{name: "case", mode: "inline", link: api.LinkDown}
	}
	if o.Pallet != nil {
		a.stations["pallet"] = &station{name: "pallet", mode: "inline", link: api.LinkDown}
	}
	return a, nil
}

var (
	_ api.Aggregation = (*Aggregator)(nil)
	_ api.AggOpener   = (*Aggregator)(nil)
)

// Run runs the stations, the SSCC pool keeper and the EPCIS reporter until
// ctx ends, then closes the devices.
func (a *Aggregator) Run(ctx context.Context) error {
	a.start = a.now()
	if err := a.ensureRange(ctx); err != nil {
		a.alarm(api.SeverityFault, CodeSSCCRange, "", nil, err.Error())
	} else {
		a.clearAlarm(condOf(CodeSSCCRange, ""))
	}
	a.resume(ctx)
	loops := []func(context.Context){a.reportLoop, a.idLoop}
	if a.o.Case != nil {
		loops = append(loops, a.caseStation)
	}
	if a.o.Pallet != nil {
		loops = append(loops, a.palletStation)
	}
	if a.o.ManualScanner != nil {
		loops = append(loops, a.manualScannerLoop)
	}
	if a.o.ManualLabeller != nil {
		loops = append(loops, func(ctx context.Context) { a.labellerLoop(ctx, "manual", a.o.ManualLabeller) })
	}
	for _, f := range loops {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); f(ctx) }()
	}
	<-ctx.Done()
	a.wg.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	if d := a.o.Case; d != nil {
		errs = append(errs, d.PLC.Close(cctx), d.Camera.Close(cctx), d.Labeller.Close(cctx), d.Scanner.Close(cctx))
	}
	if d := a.o.Pallet; d != nil {
		errs = append(errs, d.Scanner.Close(cctx), d.Labeller.Close(cctx))
	}
	if a.o.ManualLabeller != nil {
		errs = append(errs, a.o.ManualLabeller.Close(cctx))
	}
	if err := errors.Join(errs...); err != nil {
		a.log.Warn("aggregation: closing devices", "err", err)
	}
	return nil
}

// resume picks up the parents left open by a previous run (a restart or a
// crash): an inline case opened but not closed went on without its verdict
// (the gate sent it to the rework lane): its code is scrapped; an open
// pallet or manual parent is still being built: the station continues it.
func (a *Aggregator) resume(ctx context.Context) {
	id, _ := a.o.Line.State()
	if id == "" {
		return
	}
	var open []journal.Parent
	_ = a.j.Parents(id, func(p journal.Parent) error {
		if p.State == journal.ParentOpen {
			open = append(open, p)
		}
		return nil
	})
	for _, p := range open {
		switch p.Station {
		case "case":
			if p.Commissioned() {
				continue
			}
			err := a.j.Aggregate(ctx, func(t *journal.AggTx) error {
				return t.Void(p.Code, "controller restarted before the case was decided: the case went to the rework lane", journal.Actor{})
			})
			if err != nil {
				a.log.Error("aggregation resume: void case", "code", p.Code, "err", err)
			}
		default:
			a.mu.Lock()
			if st := a.stations[p.Station]; st != nil && st.open == "" {
				st.open = p.Code
				if p.Station == "manual" {
					st.mode = p.Level
				}
				// a full one gets its label (again) at the next scan
			}
			a.mu.Unlock()
			a.log.Info("aggregation resume", "station", p.Station, "code", p.Code, "children", len(p.Children))
		}
	}
}

func (a *Aggregator) kickReport() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// current returns the line's current batch with its hierarchy.
func (a *Aggregator) current() (journal.Batch, Hierarchy, error) {
	id, _ := a.o.Line.State()
	if id == "" {
		return journal.Batch{}, Hierarchy{}, fmt.Errorf("no batch on the line: %w", api.ErrRefused)
	}
	b, err := a.j.Batch(id)
	if err != nil {
		return journal.Batch{}, Hierarchy{}, fmt.Errorf("batch %s: %w", id, err)
	}
	h, err := a.hier.Hierarchy(b.GTIN, b.CreatedAt)
	if err != nil {
		return journal.Batch{}, Hierarchy{}, fmt.Errorf("batch %s: %w: %w", id, err, api.ErrRefused)
	}
	return b, h, nil
}

// connect connects a device with backoff, keeping the station's link.
func (a *Aggregator) connect(ctx context.Context, st, dev string, b devices.Backoff, fn func(context.Context) error) error {
	a.setLink(st, api.LinkConnecting)
	err := devices.Retry(ctx, b, fn, func(n int, err error, wait time.Duration) {
		if n == 1 {
			a.linkAlarm(st, dev, fmt.Sprintf("%s station: %s: cannot connect: %v", st, dev, err))
		}
		a.log.Warn("aggregation device connect failed", "station", st, "device", dev, "attempt", n, "retry_in", wait, "err", err)
	})
	if err == nil {
		a.setLink(st, api.LinkUp)
		a.clearAlarm(linkCond(st, dev))
	}
	return err
}

// lockStation takes a station's busy lock (no-op for an unknown station).
func (a *Aggregator) lockStation(name string) func() {
	a.mu.Lock()
	st := a.stations[name]
	a.mu.Unlock()
	if st == nil {
		return func() {}
	}
	st.busy.Lock()
	return st.busy.Unlock
}

func (a *Aggregator) setLink(st, link string) {
	a.mu.Lock()
	if s := a.stations[st]; s != nil {
		s.link = link
	}
	a.mu.Unlock()
}

// labellerLoop consumes a label printer's events (faults become alarms)
// and reconnects it.
func (a *Aggregator) labellerLoop(ctx context.Context, st string, drv printer.Driver) {
	for ctx.Err() == nil {
		if err := a.connect(ctx, st, "labeller", devices.DefaultBackoff(), drv.Connect); err != nil {
			return
		}
		for {
			ev, err := drv.Next(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				a.linkAlarm(st, "labeller", fmt.Sprintf("%s station labeller: %v", st, err))
				break
			}
			p := map[string]string{"station": st, "code": ev.Code, "text": ev.Text}
			switch ev.Kind {
			case printer.Fault:
				a.alarm(api.SeverityFault, CodeLabellerFault, st, p, fmt.Sprintf("%s station labeller: %s %s", st, ev.Code, ev.Text))
			case printer.Warning:
				a.alarm(api.SeverityWarning, CodeLabellerWarning, st, p, fmt.Sprintf("%s station labeller: %s %s", st, ev.Code, ev.Text))
			case printer.PrintComplete: // it prints again
				a.clearAlarm(condOf(CodeLabellerFault, st))
				a.clearAlarm(condOf(CodeLabellerWarning, st))
				a.clearAlarm(condOf(CodeLabelNotSent, st))
			}
		}
	}
}

// ---- codes ----

// scanned is a scanned or read code, classified.
type scanned struct {
	raw    string
	parent string // journal parent code (00+SSCC, 01+GTIN+21+serial of a higher level)
	serial string // a unit's serial (AI 21 with the unit GTIN)
	gtin   string
	err    error
}

// classify parses a scan: an SSCC (AI 00) is a parent; GTIN + serial is a
// unit when the GTIN is the batch's unit GTIN, a parent otherwise. A
// plain string is taken as a serial.
func classify(code, unitGTIN string) scanned {
	s := scanned{raw: code}
	c := strings.TrimSpace(code)
	for _, pre := range []string{"]C1", "]d2", "]Q3", "]e0", "]J1"} {
		c = strings.TrimPrefix(c, pre)
	}
	c = strings.TrimPrefix(c, "\x1d")
	if c == "" {
		s.err = errors.New("empty scan")
		return s
	}
	if strings.HasPrefix(c, "00") || strings.HasPrefix(c, "01") || strings.HasPrefix(c, "(") || strings.HasPrefix(c, "http") {
		m, err := gs1.Parse(c)
		if err != nil {
			if strings.HasPrefix(c, "00") && len(c) == 20 {
				s.err = fmt.Errorf("not a valid SSCC: %w", err)
				return s
			}
			if strings.ContainsAny(c, "(\x1d") || strings.HasPrefix(c, "http") || len(c) > 20 {
				s.err = fmt.Errorf("not a valid GS1 code: %w", err)
				return s
			}
			s.serial = c // an all-digit serial that only looks like an AI
			return s
		}
		if v, ok := m.Value("00"); ok {
			s.parent = journal.SSCCCode(v)
			return s
		}
		g, _ := m.Value("01")
		ser, ok := m.Value("21")
		if !ok {
			s.err = errors.New("code has no serial (AI 21) and no SSCC (AI 00)")
			return s
		}
		s.gtin = g
		if g != "" && g != unitGTIN {
			s.parent = journal.SGTINCode(g, ser)
			return s
		}
		s.serial = ser
		return s
	}
	s.serial = c
	return s
}

// hri is a parent code as people read it.
func hri(code string) string {
	k, key, serial, err := journal.SplitCode(code)
	switch {
	case err != nil:
		return code
	case k == journal.IDSSCC:
		return "(00) " + key
	}
	return "(01) " + key + " (21) " + serial
}

func toParent(p journal.Parent) api.AggParent {
	out := api.AggParent{Code: p.Code, HRI: hri(p.Code), Level: p.Level, State: p.State.String(), Partial: p.Partial,
		Count: len(p.Children), Capacity: p.Capacity, Batch: p.Batch, In: p.In, Station: p.Station, Children: p.Children,
		Archive: p.Archive}
	if n := len(p.History); n > 0 {
		out.Updated = p.History[n-1].At
	}
	return out
}

func actorOf(a api.Actor) journal.Actor { return journal.Actor{User: a.User, Role: a.Role} }

// wrap maps journal errors to the API's sentinels.
func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, journal.ErrAggRefused):
		return fmt.Errorf("%w: %w", err, api.ErrRefused)
	case errors.As(err, new(*journal.OpenParentsError)):
		return fmt.Errorf("%w: %w", err, api.ErrRefused)
	case errors.Is(err, journal.ErrNotFound):
		return fmt.Errorf("%w: %w", err, api.ErrNotFound)
	case errors.Is(err, journal.ErrIDsEmpty):
		return fmt.Errorf("%w: %w", err, api.ErrRefused)
	case errors.Is(err, journal.ErrInvalid):
		return fmt.Errorf("%w: %w", err, api.ErrBadRequest)
	}
	return err
}

// recordCase keeps the last cases for the HMI.
func (a *Aggregator) recordCase(cr api.CaseRead, batch string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cr.Result == "rework" {
		a.rework[batch]++
	}
	for i := range a.cases {
		if a.cases[i].Seq == cr.Seq && a.cases[i].Result == "waiting" {
			a.cases[i] = cr
			return
		}
	}
	a.cases = append(a.cases, cr)
	if len(a.cases) > 50 {
		a.cases = slices.Clone(a.cases[len(a.cases)-50:])
	}
}
