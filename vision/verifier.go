package vision

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/vision/grade"
)

// Expected is a unit printed and awaiting its camera read.
type Expected struct {
	// Seq is the PLC product sequence id of the unit.
	Seq uint64
	// Serial is the unit's serial number (AI 21 value).
	Serial string
	// Data is the element string printed: GS-separated, without the
	// leading FNC1 (gs1.Message.ElementString()).
	Data string
	// Deadline is when the unit needs its verdict (it reaches the reject
	// gate); zero = no deadline (use Timeout). Expire decides units whose
	// deadline has passed.
	Deadline time.Time
}

// VerifierOptions configure a Verifier. The zero value is usable.
type VerifierOptions struct {
	// Policy is the grading policy of the batch's market. The zero value
	// means grade.DefaultPolicy() (minimum overall 1.5).
	Policy grade.Policy
	// Window is how many awaiting units (oldest first) a read may be
	// matched against, and how many later reads may overtake a unit before
	// it is decided skipped. 0 = 3.
	Window int
	// MaxNoReads holds the line after this many units in a row got no
	// usable read (no-read, late, skipped). 0 = 3; negative = never.
	MaxNoReads int
	// MaxLowGrades holds the line after this many units in a row failed
	// the grade policy. 0 = 3; negative = never.
	MaxLowGrades int
	// AllowNonGS1 accepts reads whose symbology identifier is not "]d2"
	// (e.g. a reader set up without GS1 mode). Off: such a read is a
	// mismatch on FieldSymbology. A read without any identifier is always
	// accepted (many readers do not transmit one).
	AllowNonGS1 bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives holds and alarms (default: discard).
	Logger *slog.Logger
}

// Verifier matches camera reads to printed units and decides each unit.
// Its methods are safe for concurrent use and never block on I/O: a
// decision is pure computation on the read and the awaiting queue.
//
// Matching: units are expected in print order (Expect). A read is matched
// to one of the oldest Window awaiting units: by exact data, else by serial.
// A no-read goes to the oldest awaiting unit. A read that matches no
// awaiting unit is a duplicate when its serial was already read (possible
// double print: Alarm and Hold), a late read when its unit was already
// decided without a read, a mismatch of the oldest awaiting unit otherwise,
// or unexpected when no unit awaits. Units overtaken by Window later reads,
// or still awaiting at their deadline, are rejected (skipped or late).
type Verifier struct {
	o      VerifierOptions
	policy grade.Policy
	mu     sync.Mutex

	pending []*pendingUnit
	waiting map[string]uint64  // serial → seq of awaiting units
	decided map[string]history // by serial

	noReadRun int
	lowRun    int
}

type pendingUnit struct {
	Expected
	overtaken int
	msg       *gs1.Message // parsed lazily on a mismatch
}

type history struct {
	seq     uint64
	reason  Reason
	hadRead bool
}

// NewVerifier returns a Verifier with o's settings (defaults filled in).
func NewVerifier(o VerifierOptions) *Verifier {
	if o.Window <= 0 {
		o.Window = 3
	}
	if o.MaxNoReads == 0 {
		o.MaxNoReads = 3
	}
	if o.MaxLowGrades == 0 {
		o.MaxLowGrades = 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := o.Policy
	if p.MinOverall == 0 && p.MinParam == nil && !p.AllowUngraded && p.Name == "" {
		p = grade.DefaultPolicy()
	}
	return &Verifier{o: o, policy: p, decided: map[string]history{}, waiting: map[string]uint64{}}
}

// Policy returns the grading policy in force.
func (v *Verifier) Policy() grade.Policy { return v.policy }

// Expect registers a printed unit awaiting its read, in print order. It
// returns ErrBadExpected when Serial or Data is empty, and
// ErrDuplicateSerial when the serial is already awaiting or decided (the
// line must never print a serial twice; the unit is not registered).
func (v *Verifier) Expect(u Expected) error {
	if u.Serial == "" || u.Data == "" {
		return fmt.Errorf("vision: expect seq %d: %w", u.Seq, ErrBadExpected)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.decided[u.Serial]; ok {
		return fmt.Errorf("vision: expect seq %d serial %q: %w", u.Seq, u.Serial, ErrDuplicateSerial)
	}
	if seq, ok := v.waiting[u.Serial]; ok {
		return fmt.Errorf("vision: expect seq %d serial %q (awaiting as seq %d): %w", u.Seq, u.Serial, seq, ErrDuplicateSerial)
	}
	v.pending = append(v.pending, &pendingUnit{Expected: u})
	v.waiting[u.Serial] = u.Seq
	return nil
}

// Pending returns how many units await a read.
func (v *Verifier) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.pending)
}

// Observe takes one camera result and returns the decisions it settles:
// usually one (the unit read), plus units rejected as skipped because this
// read overtook them Window times, or one Alarm when the read belongs to
// no awaiting unit.
func (v *Verifier) Observe(r Result) []Decision {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.o.Now()
	if r.NoRead {
		if len(v.pending) == 0 {
			return []Decision{v.alarm(Decision{Reason: ReasonUnexpected, Read: r, At: now,
				Detail: "no-read with no unit awaiting a read (spurious trigger?)"})}
		}
		u := v.take(0)
		d := Decision{Seq: u.Seq, Serial: u.Serial, Outcome: Reject, Reason: ReasonNoRead, Read: r, At: now,
			Detail: "camera decoded nothing"}
		return []Decision{v.finishNoRead(d)}
	}
	idx, serial, parsed, perr := v.match(r.Data)
	if idx >= 0 {
		var out []Decision
		// Units before idx were overtaken by this read.
		for i := 0; i < idx; i++ {
			v.pending[i].overtaken++
		}
		u := v.take(idx)
		for i := 0; i < idx && i < len(v.pending); {
			p := v.pending[i]
			if p.overtaken >= v.o.Window {
				v.take(i)
				idx--
				out = append(out, v.finishNoRead(Decision{Seq: p.Seq, Serial: p.Serial, Outcome: Reject, Reason: ReasonSkipped, At: now,
					Detail: fmt.Sprintf("no result while %d later units were read", p.overtaken)}))
				continue
			}
			i++
		}
		return append(out, v.decide(u, r, parsed, perr, now))
	}
	if serial != "" {
		if h, ok := v.decided[serial]; ok {
			if h.hadRead {
				d := v.alarm(Decision{Seq: h.seq, Serial: serial, Reason: ReasonDuplicate, Read: r, At: now, Grade: r.Grade.Overall,
					Hold: true, HoldReason: "serial " + serial + " read twice: possible double print",
					Detail: fmt.Sprintf("serial already read on unit seq %d (decided %s)", h.seq, h.reason)})
				return []Decision{d}
			}
			return []Decision{v.alarm(Decision{Seq: h.seq, Serial: serial, Reason: ReasonLateRead, Read: r, At: now, Grade: r.Grade.Overall,
				Detail: fmt.Sprintf("result arrived after the unit was decided %s", h.reason)})}
		}
	}
	if len(v.pending) == 0 {
		return []Decision{v.alarm(Decision{Serial: serial, Reason: ReasonUnexpected, Read: r, At: now, Grade: r.Grade.Overall,
			Detail: "read with no unit awaiting a read"})}
	}
	u := v.take(0)
	return []Decision{v.decide(u, r, parsed, perr, now)}
}

// match finds the awaiting unit (within the window) a read belongs to:
// exact data first, then serial. It returns the index (-1 = none), the
// read's serial (if it parsed), and the parse result.
func (v *Verifier) match(data string) (idx int, serial string, parsed *gs1.Message, perr error) {
	w := min(v.o.Window, len(v.pending))
	for i := 0; i < w; i++ {
		if v.pending[i].Data == data {
			return i, v.pending[i].Serial, nil, nil
		}
	}
	m, err := parseRead(data)
	if err != nil {
		return -1, "", nil, err
	}
	serial, _ = m.Value("21")
	if serial != "" {
		for i := 0; i < w; i++ {
			if v.pending[i].Serial == serial {
				return i, serial, &m, nil
			}
		}
	}
	return -1, serial, &m, nil
}

var readOpts = gs1.Options{SkipAssociations: true}

func parseRead(data string) (gs1.Message, error) { return readOpts.ParseRaw(data) }

// take removes pending[i] and returns it.
func (v *Verifier) take(i int) *pendingUnit {
	u := v.pending[i]
	delete(v.waiting, u.Serial)
	copy(v.pending[i:], v.pending[i+1:])
	v.pending[len(v.pending)-1] = nil
	v.pending = v.pending[:len(v.pending)-1]
	return u
}

// decide settles unit u with read r (content, then grade).
func (v *Verifier) decide(u *pendingUnit, r Result, parsed *gs1.Message, perr error, now time.Time) Decision {
	d := Decision{Seq: u.Seq, Serial: u.Serial, Read: r, At: now, Grade: r.Grade.Overall}
	v.noReadRun = 0
	v.record(u.Expected, ReasonOK, true) // reason fixed below
	if fields, detail := v.compare(u, r, parsed, perr); len(fields) > 0 {
		d.Outcome, d.Reason, d.Fields, d.Detail = Reject, ReasonMismatch, fields, detail
		v.record(u.Expected, d.Reason, true)
		return d
	}
	verdict := v.policy.Evaluate(r.Grade)
	if !verdict.OK {
		d.Outcome, d.Reason, d.Param, d.Detail = Reject, ReasonLowGrade, verdict.Param, verdict.Reason
		v.record(u.Expected, d.Reason, true)
		v.lowRun++
		if v.o.MaxLowGrades > 0 && v.lowRun >= v.o.MaxLowGrades {
			d.Hold = true
			d.HoldReason = fmt.Sprintf("%d units in a row below the grade policy", v.lowRun)
			v.o.Logger.Warn("vision: hold", "reason", d.HoldReason, "seq", d.Seq)
		}
		return d
	}
	v.lowRun = 0
	d.Outcome, d.Reason = Pass, ReasonOK
	return d
}

// compare returns the mismatching fields of read r against unit u.
func (v *Verifier) compare(u *pendingUnit, r Result, parsed *gs1.Message, perr error) ([]Field, string) {
	var fields []Field
	var details []string
	if r.SymbologyID != "" && r.SymbologyID != "]d2" && !v.o.AllowNonGS1 {
		fields = append(fields, FieldSymbology)
		details = append(details, fmt.Sprintf("symbology identifier %q, want ]d2 (GS1 DataMatrix)", r.SymbologyID))
	}
	if r.Data == u.Data {
		return fields, strings.Join(details, "; ")
	}
	if parsed == nil && perr == nil {
		m, err := parseRead(r.Data)
		if err != nil {
			perr = err
		} else {
			parsed = &m
		}
	}
	if perr != nil {
		f := FieldContent
		var ge *gs1.Error
		if errors.As(perr, &ge) && ge.AI != "" {
			f = fieldOf(ge.AI)
		}
		fields = append(fields, f)
		details = append(details, fmt.Sprintf("read is not the printed element string: %v", perr))
		return fields, strings.Join(details, "; ")
	}
	if u.msg == nil {
		m, err := gs1.ParseRaw(u.Data)
		if err != nil {
			m, err = readOpts.ParseRaw(u.Data)
		}
		if err != nil {
			fields = append(fields, FieldContent)
			details = append(details, fmt.Sprintf("printed data does not parse (%v); read differs", err))
			return fields, strings.Join(details, "; ")
		}
		u.msg = &m
	}
	want := map[string]string{}
	var order []string
	for _, e := range u.msg.Elements() {
		if _, ok := want[e.AI]; !ok {
			order = append(order, e.AI)
		}
		want[e.AI] = e.Value
	}
	got := map[string]string{}
	for _, e := range parsed.Elements() {
		if _, ok := got[e.AI]; !ok {
			if _, in := want[e.AI]; !in {
				order = append(order, e.AI)
			}
		}
		got[e.AI] = e.Value
	}
	before := len(fields)
	for _, ai := range order {
		w, wok := want[ai]
		g, gok := got[ai]
		switch {
		case wok && !gok:
			fields = append(fields, fieldOf(ai))
			details = append(details, fmt.Sprintf("(%s) missing, printed %q", ai, w))
		case !wok && gok:
			fields = append(fields, fieldOf(ai))
			details = append(details, fmt.Sprintf("(%s) %q read but not printed", ai, g))
		case w != g:
			fields = append(fields, fieldOf(ai))
			details = append(details, fmt.Sprintf("(%s) read %q, printed %q", ai, g, w))
		}
	}
	if len(fields) == before {
		fields = append(fields, FieldContent)
		details = append(details, "same elements, encoded in a different order or with different separators")
	}
	return fields, strings.Join(details, "; ")
}

// finishNoRead records a unit decided without a read and applies the
// no-read run limit.
func (v *Verifier) finishNoRead(d Decision) Decision {
	v.record(Expected{Seq: d.Seq, Serial: d.Serial}, d.Reason, false)
	v.noReadRun++
	if v.o.MaxNoReads > 0 && v.noReadRun >= v.o.MaxNoReads {
		d.Hold = true
		d.HoldReason = fmt.Sprintf("%d units in a row without a usable read", v.noReadRun)
		v.o.Logger.Warn("vision: hold", "reason", d.HoldReason, "seq", d.Seq)
	}
	return d
}

func (v *Verifier) alarm(d Decision) Decision {
	d.Outcome = Alarm
	v.o.Logger.Warn("vision: alarm", "reason", d.Reason, "seq", d.Seq, "serial", d.Serial, "hold", d.Hold, "detail", d.Detail)
	return d
}

func (v *Verifier) record(u Expected, reason Reason, hadRead bool) {
	v.decided[u.Serial] = history{seq: u.Seq, reason: reason, hadRead: hadRead}
}

// Timeout decides the awaiting unit seq for lack of a read (the line calls
// it when the unit must have its verdict): Reject with ReasonSkipped when
// later units were read meanwhile, else ReasonLate. ok is false when seq
// is not awaiting (already decided or never expected).
func (v *Verifier) Timeout(seq uint64) (d Decision, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, p := range v.pending {
		if p.Seq == seq {
			v.take(i)
			return v.expire(p, v.o.Now()), true
		}
	}
	return Decision{}, false
}

// Expire decides every awaiting unit whose Deadline is at or before now,
// as Timeout does, oldest first.
func (v *Verifier) Expire(now time.Time) []Decision {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Decision
	for i := 0; i < len(v.pending); {
		p := v.pending[i]
		if !p.Deadline.IsZero() && !now.Before(p.Deadline) {
			v.take(i)
			out = append(out, v.expire(p, now))
			continue
		}
		i++
	}
	return out
}

func (v *Verifier) expire(p *pendingUnit, now time.Time) Decision {
	d := Decision{Seq: p.Seq, Serial: p.Serial, Outcome: Reject, Reason: ReasonLate, At: now,
		Detail: "no camera result before the decision deadline"}
	if p.overtaken > 0 {
		d.Reason = ReasonSkipped
		d.Detail = fmt.Sprintf("no camera result before the deadline while %d later units were read", p.overtaken)
	}
	return v.finishNoRead(d)
}

// Fault rejects every awaiting unit because the camera failed (err, e.g.
// ErrDisconnected from Read) and asks for a hold. The units cannot be
// verified any more: their reads, if the camera comes back, are late reads.
func (v *Verifier) Fault(err error) []Decision {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.o.Now()
	out := make([]Decision, 0, len(v.pending))
	for _, p := range v.pending {
		v.record(p.Expected, ReasonCameraFault, false)
		out = append(out, Decision{Seq: p.Seq, Serial: p.Serial, Outcome: Reject, Reason: ReasonCameraFault, At: now,
			Hold: true, HoldReason: "camera fault", Detail: fmt.Sprint(err)})
	}
	for i := range v.pending {
		v.pending[i] = nil
	}
	v.pending = v.pending[:0]
	clear(v.waiting)
	if len(out) > 0 {
		v.o.Logger.Warn("vision: camera fault, awaiting units rejected", "units", len(out), "err", err)
	}
	return out
}

// Reset forgets awaiting units, decided serials and failure runs (a new
// batch). It returns the serials that were still awaiting, oldest first,
// so the caller can account for them.
func (v *Verifier) Reset() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]string, 0, len(v.pending))
	for _, p := range v.pending {
		out = append(out, p.Serial)
	}
	v.pending = nil
	clear(v.waiting)
	v.decided = map[string]history{}
	v.noReadRun, v.lowRun = 0, 0
	return out
}

// Awaiting returns the awaiting units' sequence ids, oldest first.
func (v *Verifier) Awaiting() []uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]uint64, len(v.pending))
	for i, p := range v.pending {
		out[i] = p.Seq
	}
	return out
}
