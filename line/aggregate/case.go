package aggregate

// The inline case station, one case's whole path:
//
//	case closed at the packer → case line PLC trigger (seq)    caseTriggers
//	aggregation camera: every code in the case, one line       caseReads (vision/multiread)
//	  → trigger and read paired in order                        caseStation
//	  → check: count = capacity (or an armed partial close),    checkCase
//	    no duplicate, no foreign code, every unit commissioned
//	    (waiting up to commission_wait for a verdict just out)
//	  good: draw the case's code (journal, durable)             openCase
//	        → ZPL label to the print-and-apply labeller
//	  bad:  a REWORK label (keeps the labeller's labels in step with the cases)
//	label scanner read, paired in order                         caseScans
//	  → scan = the case's code: children added and the case     closeCase
//	    closed in ONE journal transaction (events with it)
//	    → accept verdict to the PLC (to the palletiser)
//	  → anything else: code scrapped (void), reject verdict
//	    (rework lane); no verdict in time: the gate rejects
//	    fail-safe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/logistic"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/multiread"
	"github.com/serialine/serialine/vision/pattern"
)

// CameraFormat is the result format the case camera's driver must use: the
// whole multi-read line as the result's data (the station splits it).
func CameraFormat(m multiread.Config) (*pattern.Format, error) {
	return pattern.Compile(pattern.Options{Pattern: "{data}", NoRead: multiread.New(m).NoReadLine(), Source: "multiread"})
}

type caseRead struct {
	read multiread.Read
	err  error
	at   time.Time
}

type labelScan struct {
	data string
	err  error // no-read or garbled
}

// caseJob is one case between its read and its verdict.
type caseJob struct {
	seq     uint64
	read    caseRead
	batch   string
	serials []string
	bad     string // why it goes to rework ("" = good so far)
	code    string // its parent code once opened
	level   Level
	partial *journal.Actor
}

func (a *Aggregator) caseStation(ctx context.Context) {
	d := a.o.Case
	b := devices.DefaultBackoff()
	if a.o.Config.CaseStation != nil {
		b = a.o.Config.CaseStation.PLC.Backoff
	}
	trig := make(chan devices.Trigger, 256)
	reads := make(chan caseRead, 256)
	scans := make(chan labelScan, 256)
	up := make(chan struct{}, 4)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if a.connect(ctx, "case", "plc", b, d.PLC.Connect) != nil {
			return
		}
		up <- struct{}{}
		for {
			t, err := d.PLC.NextTrigger(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				a.linkAlarm("case", "plc", "case line PLC: "+err.Error())
				if errors.Is(err, devices.ErrClosed) || errors.Is(err, devices.ErrNotConnected) {
					if a.connect(ctx, "case", "plc", b, d.PLC.Connect) != nil {
						return
					}
				}
				continue
			}
			select {
			case trig <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	a.readLoop(ctx, "case", "camera", d.Camera, up, func(r vision.Result, err error) {
		cr := caseRead{at: a.now(), err: err}
		if err == nil {
			if r.NoRead {
				cr.read = multiread.Read{NoRead: true, Count: -1, Raw: r.Raw}
			} else {
				cr.read, cr.err = a.multi().Parse(r.Raw)
			}
		}
		select {
		case reads <- cr:
		case <-ctx.Done():
		}
	})
	a.readLoop(ctx, "case", "scanner", d.Scanner, up, func(r vision.Result, err error) {
		s := labelScan{data: r.Data, err: err}
		if err == nil && r.NoRead {
			s.err = errors.New("no label read")
		}
		select {
		case scans <- s:
		case <-ctx.Done():
		}
	})
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.labellerLoop(ctx, "case", d.Labeller) }()
	for range 3 {
		select {
		case <-up:
		case <-ctx.Done():
			return
		}
	}
	a.setLink("case", api.LinkUp)
	var (
		trigQ   []devices.Trigger
		readQ   []caseRead
		waiting []*caseJob // labelled, waiting for their label scan
		scanQ   []labelScan
	)
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-trig:
			for range t.Missed {
				// a case passed unseen: its read (if any) is dropped with it
				trigQ = append(trigQ, devices.Trigger{})
				a.alarm(api.SeverityWarning, CodeCaseMissedTrigger, "", nil, "case line: a case passed without a trigger the station could follow")
			}
			trigQ = append(trigQ, t)
		case r := <-reads:
			readQ = append(readQ, r)
		case s := <-scans:
			scanQ = append(scanQ, s)
		}
		for len(trigQ) > 0 && len(readQ) > 0 {
			t, r := trigQ[0], readQ[0]
			trigQ, readQ = trigQ[1:], readQ[1:]
			t0 := a.now()
			job := a.checkCase(ctx, t.Seq, r)
			t1 := a.now()
			a.labelCase(ctx, job)
			a.log.Debug("case checked and labelled", "seq", t.Seq, "read_at", r.at, "check", t1.Sub(t0), "label", a.now().Sub(t1), "bad", job.bad)
			waiting = append(waiting, job)
		}
		for len(waiting) > 0 && len(scanQ) > 0 {
			job, s := waiting[0], scanQ[0]
			waiting, scanQ = waiting[1:], scanQ[1:]
			a.closeCase(ctx, job, s)
		}
	}
}

// readLoop connects a camera and hands every read (or garbled line) to fn.
func (a *Aggregator) readLoop(ctx context.Context, st, dev string, cam vision.Camera, up chan<- struct{}, fn func(vision.Result, error)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if a.connect(ctx, st, dev, devices.DefaultBackoff(), cam.Connect) != nil {
			return
		}
		if up != nil {
			up <- struct{}{}
		}
		for {
			r, err := cam.Read(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil && !errors.Is(err, vision.ErrGarbled) {
				a.linkAlarm(st, dev, fmt.Sprintf("%s station %s: %v", st, dev, err))
				if a.connect(ctx, st, dev, devices.DefaultBackoff(), cam.Connect) != nil {
					return
				}
				continue
			}
			fn(r, err)
		}
	}()
}

func (a *Aggregator) multi() *multiread.Format {
	if c := a.o.Config.CaseStation; c != nil {
		return multiread.New(c.Multi)
	}
	return multiread.New(multiread.Config{})
}

// checkCase pairs a trigger with the camera's read and checks it.
func (a *Aggregator) checkCase(ctx context.Context, seq uint64, r caseRead) *caseJob {
	job := &caseJob{seq: seq, read: r}
	b, h, err := a.current()
	if err != nil {
		job.bad = err.Error()
		return job
	}
	job.batch = b.ID
	lvl, ok := h.Above(journal.UnitLevel)
	if !ok {
		job.bad = "no packaging level above the unit"
		return job
	}
	job.level = lvl
	a.recordCase(api.CaseRead{Seq: seq, Codes: len(r.read.Codes), Capacity: lvl.Quantity, Result: "waiting", At: r.at}, b.ID)
	switch {
	case seq == 0:
		job.bad = "case passed without a trigger"
		return job
	case r.err != nil:
		job.bad = "camera line not understood: " + r.err.Error()
		return job
	case r.read.NoRead:
		job.bad = "camera read no code"
		return job
	}
	var probs []string
	seen := map[string]bool{}
	for _, c := range r.read.Codes {
		sc := classify(c.Data, b.GTIN)
		switch {
		case sc.err != nil:
			probs = append(probs, fmt.Sprintf("unreadable code %q: %v", c.Data, sc.err))
		case sc.parent != "":
			probs = append(probs, "foreign code "+hri(sc.parent)+" (not a unit of GTIN "+b.GTIN+")")
		case seen[sc.serial]:
			probs = append(probs, "duplicate code: serial "+sc.serial+" read twice")
		default:
			seen[sc.serial] = true
			job.serials = append(job.serials, sc.serial)
		}
	}
	n := len(r.read.Codes)
	var partial *journal.Actor
	a.mu.Lock()
	if st := a.stations["case"]; st != nil {
		partial = st.partial
	}
	a.mu.Unlock()
	switch {
	case n > lvl.Quantity:
		probs = append(probs, fmt.Sprintf("extra codes: %d read, a %s holds %d", n, lvl.Name, lvl.Quantity))
	case n < lvl.Quantity && partial == nil:
		probs = append(probs, fmt.Sprintf("missing codes: %d read, a %s holds %d", n, lvl.Name, lvl.Quantity))
	case n < lvl.Quantity:
		job.partial = partial
	}
	if len(job.serials) > 0 {
		a.waitCommissioned(ctx, job.serials)
		cp, err := a.j.CheckCandidates(b.ID, journal.UnitLevel, job.serials)
		if err != nil {
			probs = append(probs, "journal: "+err.Error())
		}
		for i, p := range cp {
			if p != "" {
				probs = append(probs, "serial "+job.serials[i]+": "+p)
			}
		}
	}
	if len(probs) > 0 {
		job.bad = summarize(probs)
	}
	return job
}

func summarize(probs []string) string {
	if len(probs) > 3 {
		return strings.Join(probs[:3], "; ") + fmt.Sprintf("; … %d problems", len(probs))
	}
	return strings.Join(probs, "; ")
}

// waitCommissioned waits (up to commission_wait) while any of the
// serials is still in flight: its verdict went out, its Commissioned step
// follows in milliseconds (the unit cycle commits it with the next group).
func (a *Aggregator) waitCommissioned(ctx context.Context, serials []string) {
	deadline := a.now().Add(a.wait)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		states, err := a.j.UnitStates(serials)
		if err != nil {
			return
		}
		inFlight := false
		for _, s := range states {
			inFlight = inFlight || s.InFlight()
		}
		if !inFlight || !a.now().Before(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// labelCase draws a good case's code and sends its label, or sends a
// REWORK label for a bad one: one label per case, in case order.
func (a *Aggregator) labelCase(ctx context.Context, job *caseJob) {
	lab := a.o.Case.Labeller
	if job.bad == "" {
		p, err := a.j.OpenParent(ctx, job.level.Spec(job.batch, "case"), journal.Actor{})
		if err != nil {
			job.bad = "no code for the case: " + err.Error()
			a.alarm(api.SeverityFault, CodeCaseNoCode, "", map[string]string{"detail": err.Error()}, "case station: "+job.bad)
		} else {
			job.code = p.Code
			b, _ := a.j.Batch(job.batch)
			rec, err := labelRecord(p.Code, fmt.Sprintf("%s %d x %s", strings.ToUpper(job.level.Name), len(job.serials), b.GTIN), "LOT "+b.Lot+"  EXP "+b.Expiry)
			if err == nil {
				rec.Fields["track"] = strconv.FormatUint(job.seq, 10)
				err = lab.Enqueue(ctx, rec)
			}
			if err == nil {
				return
			}
			job.bad = "label not sent: " + err.Error()
			a.alarm(api.SeverityFault, CodeLabelNotSent, "case", map[string]string{"station": "case", "detail": err.Error()}, "case station labeller: "+err.Error())
			if verr := a.j.Aggregate(ctx, func(t *journal.AggTx) error { return t.Void(p.Code, job.bad, journal.Actor{}) }); verr != nil {
				a.log.Error("void case code", "code", p.Code, "err", verr)
			}
			job.code = ""
			return
		}
	}
	reason := job.bad
	if len(reason) > 60 {
		reason = reason[:60]
	}
	if err := lab.Enqueue(ctx, printer.Record{ID: fmt.Sprintf("REWORK-%d", job.seq),
		Fields: map[string]string{"title": "REWORK - DO NOT SHIP", "lotexp": reason, "track": strconv.FormatUint(job.seq, 10)}}); err != nil {
		a.log.Warn("rework label not sent", "seq", job.seq, "err", err)
	}
}

// labelRecord is the printer record of a parent's logistic label.
func labelRecord(code, title, lotexp string) (printer.Record, error) {
	k, key, serial, err := journal.SplitCode(code)
	if err != nil {
		return printer.Record{}, err
	}
	if k == journal.IDSSCC {
		f, err := logistic.RecordFields(logistic.Label{SSCC: key, Title: title, LotExp: lotexp})
		return printer.Record{ID: code, Fields: f}, err
	}
	return printer.Record{ID: code, Fields: map[string]string{"code128": "(01)" + key + "(21)" + serial,
		"hri": "(01) " + key + " (21) " + serial, "matrix": "_101" + key + "21" + serial, "title": title, "lotexp": lotexp}}, nil
}

// closeCase decides a case on its label scan: closed and accepted, or
// rework.
func (a *Aggregator) closeCase(ctx context.Context, job *caseJob, s labelScan) {
	cr := api.CaseRead{Seq: job.seq, Codes: len(job.read.read.Codes), Capacity: job.level.Quantity, At: a.now()}
	reject := true
	switch {
	case job.bad != "":
		cr.Result, cr.Reason = "rework", job.bad
	case s.err != nil:
		cr.Result, cr.Reason = "rework", "label not verified: "+s.err.Error()
	default:
		b, _ := a.j.Batch(job.batch)
		sc := classify(s.data, b.GTIN)
		switch {
		case sc.parent != job.code:
			cr.Result, cr.Reason = "rework", fmt.Sprintf("label reads %q, the case's code is %s", s.data, hri(job.code))
		default:
			partial := job.partial != nil
			by := journal.Actor{}
			why := ""
			if partial {
				by, why = *job.partial, "partial case at batch end"
			}
			err := a.j.Aggregate(ctx, func(t *journal.AggTx) error {
				if err := t.Add(job.code, job.serials, journal.Actor{}); err != nil {
					return err
				}
				return t.Close(job.code, partial, why, by)
			})
			if err != nil {
				cr.Result, cr.Reason = "rework", "not closed: "+err.Error()
				break
			}
			if partial {
				a.mu.Lock()
				a.stations["case"].partial = nil
				a.mu.Unlock()
			}
			cr.Result, cr.Code, reject = "packed", job.code, false
		}
	}
	if reject && job.code != "" {
		if err := a.j.Aggregate(ctx, func(t *journal.AggTx) error { return t.Void(job.code, cr.Reason, journal.Actor{}) }); err != nil {
			a.log.Error("void case code", "code", job.code, "err", err)
		}
	}
	if reject && job.batch != "" {
		if err := a.j.AppendAudit(ctx, journal.AuditEntry{Who: "system", Role: "system", Action: "aggregation.case.rework",
			Reason: cr.Reason, After: fmt.Sprintf("case %d (%d codes read) to the rework lane", job.seq, cr.Codes)}); err != nil {
			a.log.Error("audit rework case", "err", err)
		}
	}
	a.recordCase(cr, job.batch)
	a.kickReport()
	if job.seq == 0 {
		return
	}
	if err := a.o.Case.PLC.Decide(ctx, job.seq, reject); err != nil && ctx.Err() == nil {
		msg := fmt.Sprintf("case %d: verdict not delivered (%v): the gate sends it to the rework lane", job.seq, err)
		code, p := CodeCaseVerdict, map[string]string{"case": strconv.FormatUint(job.seq, 10)}
		if !reject {
			msg += "; it is closed as " + hri(job.code) + ": put it back on the palletiser"
			code, p["code"] = CodeCaseVerdictClosed, hri(job.code)
		}
		a.alarm(api.SeverityFault, code, p["case"], p, msg)
		a.mu.Lock()
		a.verdictAlarms = append(a.verdictAlarms, condOf(code, p["case"]))
		a.mu.Unlock()
		return
	}
	if !reject && job.code != "" {
		a.caseDone()
	}
}
