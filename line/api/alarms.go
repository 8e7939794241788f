package api

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/line/i18n"
	"github.com/serialine/serialine/line/metrics"
)

// AlarmBook is a concurrency-safe alarm list with a lifecycle, implementing
// the alarm methods of Controller (and AlarmLister). A controller embeds it
// and calls RaiseCondition/ClearCondition (or Raise/Clear) from its fault
// handling. The zero value is ready to use (clock time.Now).
//
// Lifecycle: an alarm is raised for a condition (a device link down, a
// reject not confirmed for one unit, ink out …); while it is active a
// second raise of the same condition only counts (Count, LastSeen): one
// active alarm per condition, whatever the error text. A person
// acknowledges it (who, when); it is cleared when its condition clears
// (device back, ink refilled; who or what, when) — a latched alarm (a pack
// to find) only by ClearCondition (the close-out). It needs attention while
// it is active or not acknowledged; after both it is history.
type AlarmBook struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnEvent, when set, receives every raise, acknowledgement and clear
	// (after the change, outside the book's lock, in order): the controller
	// journals them. It must not block.
	OnEvent func(AlarmEvent)
	// Metrics, when set, gets the alarm series.
	Metrics *metrics.Metrics
	// BatchOf, when set, names the batch running when an alarm is raised
	// (its batch record lists the alarm).
	BatchOf func() string
	// MaxHistory bounds the alarms kept in memory (oldest inactive and
	// acknowledged ones go first); default 5000.
	MaxHistory int

	mu     sync.Mutex
	evMu   sync.Mutex // keeps OnEvent calls in order
	next   int
	alarms []Alarm // oldest first
}

// AlarmEvent is one change of an alarm's lifecycle.
type AlarmEvent struct {
	Kind  string // "raise", "ack", "clear"
	Alarm Alarm  // the alarm after the change
	By    string // who acknowledged or cleared it
}

// Alarm event kinds.
const (
	AlarmRaised       = "raise"
	AlarmAcknowledged = "ack"
	AlarmCleared      = "clear"
)

// AlarmQuery selects alarms for AlarmView.
type AlarmQuery struct {
	// View is "attention" (active or not acknowledged; the default),
	// "active", "unacked" or "history" (every alarm, newest first).
	View  string
	Batch string // only alarms raised during this batch ("" = any)
	Limit int    // 0 = no limit
}

// Alarm views.
const (
	ViewAttention = "attention"
	ViewActive    = "active"
	ViewUnacked   = "unacked"
	ViewHistory   = "history"
)

// AlarmLister is implemented by controllers with an alarm history
// (*AlarmBook, so every controller embedding it): the views, "ack all",
// and the count of what needs attention.
type AlarmLister interface {
	AlarmView(ctx context.Context, q AlarmQuery) ([]Alarm, error)
	AckAll(ctx context.Context, by Actor) ([]Alarm, error)
}

func (b *AlarmBook) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Raise records an alarm for a controller message: its condition and
// code are taken from source and text (Classify), so that a repeated
// fault with a changing text is still one alarm.
func (b *AlarmBook) Raise(severity, source, text, by string) Alarm {
	cl := Classify(source, text)
	return b.RaiseCondition(Alarm{Severity: severity, Source: source, Code: cl.Code, Condition: cl.Condition,
		Params: cl.Params, Latched: cl.Latched, Detail: text, RaisedBy: by})
}

// RaiseCondition raises a (Condition, Code, Params, Detail, Severity,
// Source, RaisedBy, Latched); while an alarm of the same condition is
// active it only counts the repeat and returns that alarm.
func (b *AlarmBook) RaiseCondition(a Alarm) Alarm {
	if a.Condition == "" {
		a.Condition = a.Source + ":" + normalize(a.Detail)
	}
	if a.Code == "" {
		a.Code = CodeOther
	}
	if a.Severity == "" {
		a.Severity = SeverityWarning
	}
	now := b.now()
	b.mu.Lock()
	for i := range b.alarms {
		p := &b.alarms[i]
		if p.Active && p.Condition == a.Condition {
			p.Count++
			p.LastSeen = now
			if a.Detail != "" {
				p.Detail = a.Detail
			}
			if sevRank(a.Severity) > sevRank(p.Severity) {
				p.Severity = a.Severity
			}
			out := *p
			b.mu.Unlock()
			return out
		}
	}
	b.next++
	a.ID = "A" + strconv.Itoa(b.next)
	a.Raised, a.LastSeen, a.Active, a.Count = now, now, true, 1
	a.Acked, a.AckedBy, a.AckedAt, a.Cleared, a.ClearedBy = false, "", time.Time{}, time.Time{}, ""
	if b.BatchOf != nil && a.Batch == "" {
		a.Batch = b.BatchOf()
	}
	a.Text = i18n.TMap(i18n.Default, "alarm."+a.Code, withDetail(a.Params, a.Detail))
	b.alarms = append(b.alarms, a)
	b.trimLocked()
	b.gaugeLocked()
	b.mu.Unlock()
	b.Metrics.AlarmRaised(a.Code, a.Severity)
	b.emit(AlarmEvent{Kind: AlarmRaised, Alarm: a, By: a.RaisedBy})
	return a
}

func withDetail(p map[string]string, detail string) map[string]string {
	m := make(map[string]string, len(p)+1)
	for k, v := range p {
		m[k] = v
	}
	if _, ok := m["detail"]; !ok {
		m["detail"] = detail
	}
	return m
}

func sevRank(s string) int {
	switch s {
	case SeverityFault:
		return 3
	case SeverityWarning:
		return 2
	case SeverityInfo:
		return 1
	}
	return 0
}

// Clear clears every active, non-latched alarm of source: its condition
// is gone (the device is back, the line resumed after the fix).
func (b *AlarmBook) Clear(source string) {
	b.clearWhere(func(a *Alarm) bool { return a.Source == source && !a.Latched }, "system")
}

// ClearCondition clears the active alarm of condition (latched or not);
// by is who or what cleared it. It reports whether one was active.
func (b *AlarmBook) ClearCondition(condition, by string) bool {
	return b.clearWhere(func(a *Alarm) bool { return a.Condition == condition }, by) > 0
}

// ClearCodes clears the active, non-latched alarms of source whose code
// is one of codes.
func (b *AlarmBook) ClearCodes(source, by string, codes ...string) {
	b.clearWhere(func(a *Alarm) bool { return a.Source == source && !a.Latched && slices.Contains(codes, a.Code) }, by)
}

func (b *AlarmBook) clearWhere(match func(*Alarm) bool, by string) int {
	now := b.now()
	var evs []AlarmEvent
	b.mu.Lock()
	for i := range b.alarms {
		p := &b.alarms[i]
		if p.Active && match(p) {
			p.Active, p.Cleared, p.ClearedBy = false, now, by
			evs = append(evs, AlarmEvent{Kind: AlarmCleared, Alarm: *p, By: by})
		}
	}
	if len(evs) > 0 {
		b.gaugeLocked()
	}
	b.mu.Unlock()
	for _, ev := range evs {
		b.emit(ev)
	}
	return len(evs)
}

func (b *AlarmBook) emit(ev AlarmEvent) {
	if b.OnEvent == nil {
		return
	}
	b.evMu.Lock()
	defer b.evMu.Unlock()
	b.OnEvent(ev)
}

// trimLocked drops the oldest alarms that need no attention beyond MaxHistory.
func (b *AlarmBook) trimLocked() {
	limit := b.MaxHistory
	if limit <= 0 {
		limit = 5000
	}
	for len(b.alarms) > limit {
		i := slices.IndexFunc(b.alarms, func(a Alarm) bool { return !a.Active && a.Acked })
		if i < 0 {
			return
		}
		b.alarms = slices.Delete(b.alarms, i, i+1)
	}
}

func (b *AlarmBook) gaugeLocked() {
	if b.Metrics == nil {
		return
	}
	active := map[string]int{SeverityInfo: 0, SeverityWarning: 0, SeverityFault: 0}
	unacked := 0
	for _, a := range b.alarms {
		if a.Active {
			active[a.Severity]++
		}
		if !a.Acked {
			unacked++
		}
	}
	for s, n := range active {
		b.Metrics.SetAlarmsActive(s, n)
	}
	b.Metrics.SetAlarmsUnacked(unacked)
}

// Restore puts alarms read back from the journal (oldest first) into the
// book, e.g. after a restart; IDs continue after the highest one.
func (b *AlarmBook) Restore(as []Alarm) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range as {
		if n, err := strconv.Atoi(strings.TrimPrefix(a.ID, "A")); err == nil && n > b.next {
			b.next = n
		}
		b.alarms = append(b.alarms, a)
	}
	b.trimLocked()
	b.gaugeLocked()
}

// Alarms implements Controller.Alarms: with activeOnly the alarms that
// need attention (active or not acknowledged), else all; newest first.
func (b *AlarmBook) Alarms(ctx context.Context, activeOnly bool) ([]Alarm, error) {
	v := ViewHistory
	if activeOnly {
		v = ViewAttention
	}
	return b.AlarmView(ctx, AlarmQuery{View: v})
}

// AlarmView implements AlarmLister.
func (b *AlarmBook) AlarmView(ctx context.Context, q AlarmQuery) ([]Alarm, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var keep func(Alarm) bool
	switch q.View {
	case "", ViewAttention:
		keep = func(a Alarm) bool { return a.Active || !a.Acked }
	case ViewActive:
		keep = func(a Alarm) bool { return a.Active }
	case ViewUnacked:
		keep = func(a Alarm) bool { return !a.Acked }
	case ViewHistory:
		keep = func(Alarm) bool { return true }
	default:
		return nil, fmt.Errorf("alarm view %q: want attention, active, unacked or history: %w", q.View, ErrBadRequest)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Alarm, 0, 16)
	for _, a := range slices.Backward(b.alarms) {
		if !keep(a) || (q.Batch != "" && a.Batch != q.Batch) {
			continue
		}
		out = append(out, a)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// RaiseAlarm implements Controller.RaiseAlarm (a manual alarm from the HMI
// or CLI: it clears when acknowledged).
func (b *AlarmBook) RaiseAlarm(ctx context.Context, a Alarm, by Actor) (Alarm, error) {
	if err := ctx.Err(); err != nil {
		return Alarm{}, err
	}
	if strings.TrimSpace(a.Text) == "" {
		return Alarm{}, fmt.Errorf("alarm text is empty: %w", ErrBadRequest)
	}
	switch a.Severity {
	case "":
		a.Severity = SeverityWarning
	case SeverityInfo, SeverityWarning, SeverityFault:
	default:
		return Alarm{}, fmt.Errorf("alarm severity %q: want info, warning or fault: %w", a.Severity, ErrBadRequest)
	}
	if a.Source == "" {
		a.Source = "operator"
	}
	b.mu.Lock()
	n := b.next + 1
	b.mu.Unlock()
	return b.RaiseCondition(Alarm{Severity: a.Severity, Source: a.Source, Code: CodeManual, Detail: a.Text,
		Condition: "manual:" + strconv.Itoa(n) + ":" + a.Text, RaisedBy: by.User}), nil
}

// AckAlarm implements Controller.AckAlarm. Acknowledging twice is refused
// with ErrInvalidState.
func (b *AlarmBook) AckAlarm(ctx context.Context, id string, by Actor) (Alarm, error) {
	if err := ctx.Err(); err != nil {
		return Alarm{}, err
	}
	b.mu.Lock()
	for i := range b.alarms {
		p := &b.alarms[i]
		if p.ID != id {
			continue
		}
		if p.Acked {
			out := *p
			b.mu.Unlock()
			return out, fmt.Errorf("alarm %s already acknowledged by %s: %w", id, p.AckedBy, ErrInvalidState)
		}
		evs := b.ackLocked(p, by)
		out := *p
		b.gaugeLocked()
		b.mu.Unlock()
		for _, ev := range evs {
			b.emit(ev)
		}
		return out, nil
	}
	b.mu.Unlock()
	return Alarm{}, fmt.Errorf("alarm %q: %w", id, ErrNotFound)
}

func (b *AlarmBook) ackLocked(p *Alarm, by Actor) []AlarmEvent {
	now := b.now()
	p.Acked, p.AckedBy, p.AckedAt = true, by.User, now
	evs := []AlarmEvent{{Kind: AlarmAcknowledged, Alarm: *p, By: by.User}}
	if p.Code == CodeManual && p.Active {
		p.Active, p.Cleared, p.ClearedBy = false, now, by.User // manual alarms clear on acknowledge
		evs = append(evs, AlarmEvent{Kind: AlarmCleared, Alarm: *p, By: by.User})
	}
	return evs
}

// AckAll implements AlarmLister: it acknowledges every unacknowledged
// alarm and returns them.
func (b *AlarmBook) AckAll(ctx context.Context, by Actor) ([]Alarm, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var evs []AlarmEvent
	var out []Alarm
	b.mu.Lock()
	for i := range b.alarms {
		if p := &b.alarms[i]; !p.Acked {
			evs = append(evs, b.ackLocked(p, by)...)
			out = append(out, *p)
		}
	}
	b.gaugeLocked()
	b.mu.Unlock()
	for _, ev := range evs {
		b.emit(ev)
	}
	return out, nil
}

// ActiveCount is the number of alarms that need attention: active or not
// acknowledged (the HMI's badge).
func (b *AlarmBook) ActiveCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, a := range b.alarms {
		if a.Active || !a.Acked {
			n++
		}
	}
	return n
}

// Alarm codes of the book itself (the controller's are in Classify).
const (
	CodeOther  = "OTHER"
	CodeManual = "MANUAL"
)

// Classification is what Classify makes of a controller's alarm message.
type Classification struct {
	Code      string            // support code, the catalogue key "alarm.<Code>"
	Condition string            // one active alarm per condition
	Params    map[string]string // placeholders of the catalogue text
	Latched   bool              // cleared only by a person's close-out
}

var digits = regexp.MustCompile(`[0-9]+`)

// normalize turns a message into a condition key that does not change
// with the numbers in it (counts, addresses, product numbers).
func normalize(s string) string {
	s = digits.ReplaceAllString(s, "#")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

type alarmRule struct {
	source string // "" = any
	re     *regexp.Regexp
	code   string
	cond   string // condition key; $name = the named group
	latch  bool
}

// alarmRules map the controller's messages (line/, devices, vision,
// printer) to codes and conditions; the first match wins. A message no
// rule matches is code OTHER with the message (numbers folded) as its
// condition.
var alarmRules = []alarmRule{
	{"", regexp.MustCompile(`^(?P<device>[a-z]+): cannot connect`), "DEV-CONNECT", "$device:link", false},
	{"", regexp.MustCompile(`reject of unit (?P<serial>\S+) \(product (?P<product>\d+)\) not confirmed`), "GATE-NOT-CONFIRMED", "gate:$serial", true},
	{"", regexp.MustCompile(`unit (?P<serial>\S+) \(product (?P<product>\d+)\): verdict delivery and gate result unknown`), "GATE-UNKNOWN", "gate:$serial", true},
	{"", regexp.MustCompile(`(?i)gate.*(mismatch|disagree).*unit (?P<serial>\S+)|unit (?P<serial2>\S+).*gate.*(mismatch|disagree)`), "GATE-MISMATCH", "gate-mismatch:$serial$serial2", true},
	{"", regexp.MustCompile(`(?i)late[- ]verdict|verdicts? .*too late|late verdicts?`), "LATE-VERDICT", "plc:late-verdict", false},
	{"plc", regexp.MustCompile(`^PLC heartbeat stalled`), "PLC-HEARTBEAT", "plc:heartbeat", false},
	{"plc", regexp.MustCompile(`^PLC link`), "PLC-LINK", "plc:link", false},
	{"plc", regexp.MustCompile(`^verdict for product \d+ not delivered`), "PLC-VERDICT", "plc:verdict", false},
	{"plc", regexp.MustCompile(`^(?P<count>\d+) product\(s\) passed without a trigger`), "PLC-MISSED-TRIGGER", "plc:missed-trigger", false},
	{"plc", regexp.MustCompile(`^setting line outputs failed`), "PLC-OUTPUTS", "plc:outputs", false},
	{"printer", regexp.MustCompile(`^printer stopped`), "PRN-LINK", "printer:link", false},
	{"printer", regexp.MustCompile(`INKOUT|(?i)ink out`), "PRN-INK-OUT", "printer:ink-out", false},
	{"printer", regexp.MustCompile(`INKLOW|(?i)ink low`), "PRN-INK-LOW", "printer:ink-low", false},
	{"printer", regexp.MustCompile(`^fault\b.*?: (?P<code>[A-Z0-9_]+)`), "PRN-FAULT", "printer:fault:$code", false},
	{"printer", regexp.MustCompile(`^warning\b.*?: (?P<code>[A-Z0-9_]+)`), "PRN-WARNING", "printer:warning:$code", false},
	{"printer", regexp.MustCompile(`^missed-print\b`), "PRN-MISSED", "printer:missed-print", false},
	{"printer", regexp.MustCompile(`^(?P<cause>refused|send-failed|disconnect|queue-cleared|out-of-order|skipped|duplicate-ack|unknown-ack|missed-print|depth-mismatch|unknown-records|counter-reset)\b`), "PRN-ACCOUNTING", "printer:$cause", false},
	{"camera", regexp.MustCompile(`^camera link`), "CAM-LINK", "camera:link", false},
	{"camera", regexp.MustCompile(`^camera fault`), "CAM-LINK", "camera:link", false},
	{"camera", regexp.MustCompile(`without a usable read`), "CAM-NOREAD-RUN", "camera:no-read-run", false},
	{"camera", regexp.MustCompile(`below the grade policy`), "CAM-LOWGRADE-RUN", "camera:low-grade-run", false},
	{"camera", regexp.MustCompile(`serial (?P<serial>\S+) read twice`), "CAM-DOUBLE-READ", "camera:double:$serial", true},
	{"upstream", regexp.MustCompile(`^site server unreachable`), "UPS-DOWN", "upstream:link", false},
	{"upstream", regexp.MustCompile(`^site server refused the serial request`), "UPS-REFUSED", "upstream:request", false},
	{"upstream", regexp.MustCompile(`^serial pool (?P<pool>\S+) refused`), "POOL-REFUSED", "pool:refused:$pool", false},
	{"upstream", regexp.MustCompile(`^site server refused EPCIS`), "UPS-EPCIS", "upstream:epcis", false},
	{"upstream", regexp.MustCompile(`^site server refused returned serials`), "UPS-RETURN", "upstream:return", false},
	{"pool", regexp.MustCompile(`^serial pool for (?P<gtin>\d+) nearly empty`), "POOL-LOW", "pool:low:$gtin", false},
	{"journal", regexp.MustCompile(`^journal commit failed`), "JNL-COMMIT", "journal:commit", false},
	{"journal", regexp.MustCompile(`^drawing serials failed`), "JNL-DRAW", "journal:draw", false},
	{"journal", regexp.MustCompile(`step \S+ refused by the journal`), "JNL-STEP", "journal:step", false},
	{"journal", regexp.MustCompile(`^journal recovered after an interruption: (?P<returned>\d+) drawn serials returned, (?P<uncertain>\d+) in-flight`), "JNL-RECOVERED", "journal:recovered", false},
	{"line", regexp.MustCompile(`^(?P<state>[A-Z][a-zA-Z]+) failed`), "LINE-ACT", "line:act", false},
}

// Classify maps a controller alarm message from source to its code,
// condition and text parameters.
func Classify(source, text string) Classification {
	for _, r := range alarmRules {
		if r.source != "" && r.source != source {
			continue
		}
		m := r.re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		params := map[string]string{}
		for i, n := range r.re.SubexpNames() {
			if n != "" && m[i] != "" {
				params[strings.TrimSuffix(n, "2")] = m[i]
			}
		}
		cond := r.cond
		for i, n := range r.re.SubexpNames() {
			if n != "" {
				cond = strings.ReplaceAll(cond, "$"+n, m[i])
			}
		}
		return Classification{Code: r.code, Condition: cond, Params: params, Latched: r.latch}
	}
	return Classification{Code: CodeOther, Condition: source + ":" + normalize(text), Params: map[string]string{"detail": text}}
}

// Localize returns a copy of a with Text in lang (from the catalogue).
func (a Alarm) Localize(lang string) Alarm {
	a.Text = i18n.TMap(lang, "alarm."+a.Code, withDetail(a.Params, a.Detail))
	return a
}
