package printer

import "fmt"

// Result is what the journal should record for a serial after a printer
// occurrence. A serial is never re-sent whatever the result.
type Result int

// Results.
const (
	// ResultNone: no serial changes state (alarm only).
	ResultNone Result = iota
	// ResultPrinted: the printer printed this exact record.
	ResultPrinted
	// ResultUncertain: the record may or may not be on a unit.
	ResultUncertain
	// ResultReturned: the record is certainly on no unit (returned unused).
	ResultReturned
)

var resultNames = [...]string{"none", "printed", "uncertain", "returned"}

func (r Result) String() string {
	if r >= 0 && int(r) < len(resultNames) {
		return resultNames[r]
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Alarm is how loudly an outcome must be raised to the operator.
type Alarm int

// Alarm levels.
const (
	// AlarmNone: normal operation.
	AlarmNone Alarm = iota
	// AlarmWarning: tell the operator; production continues.
	AlarmWarning
	// AlarmHold: the batch must hold (PackML Held). The Queue stops sending
	// until Resume.
	AlarmHold
)

var alarmNames = [...]string{"none", "warning", "hold"}

func (a Alarm) String() string {
	if a >= 0 && int(a) < len(alarmNames) {
		return alarmNames[a]
	}
	return fmt.Sprintf("Alarm(%d)", int(a))
}

// Cause names the occurrence behind an Outcome.
type Cause int

// Causes; see OutcomeTable for what each does.
const (
	CausePrintComplete Cause = iota + 1
	CauseRefused
	CauseSendFailed
	CauseDisconnect
	CauseQueueCleared
	CauseOutOfOrder
	CauseSkipped
	CauseDuplicate
	CauseUnknownAck
	CauseMissed
	CauseFault
	CauseWarning
	CauseDepthMismatch
	CauseUnknownRecords
	CauseNotSent
	CauseCounterReset
)

// Rule is one row of the outcome table: for a cause, the result recorded
// for the serials involved and the alarm raised.
type Rule struct {
	Cause  Cause
	Name   string
	Result Result // for the serial(s) named in the Doc
	Alarm  Alarm
	Doc    string
}

// outcomeTable is THE table of what the queue manager does. Keep it in step
// with the README (readme-printer.md) and TestOutcomeTable.
var outcomeTable = []Rule{
	{CausePrintComplete, "print-complete", ResultPrinted, AlarmNone,
		"print-complete for the record at the head of the queue (or, when the protocol carries no record id, the head itself): that unit is printed"},
	{CauseRefused, "refused", ResultReturned, AlarmWarning,
		"the printer refused the record (queue full or error reply): it is not in the printer; returned, not re-sent (an error reply other than queue full raises AlarmHold: the next records would be refused the same way)"},
	{CauseSendFailed, "send-failed", ResultUncertain, AlarmHold,
		"no acknowledgement for the record (timeout, disconnect, cancel): the printer may hold it; uncertain"},
	{CauseDisconnect, "disconnect", ResultUncertain, AlarmHold,
		"connection lost: every record sent and not yet print-complete may still print; uncertain"},
	{CauseQueueCleared, "queue-cleared", ResultReturned, AlarmHold,
		"the printer queue was cleared (by a fault, or by Clear): the head record and any started record are uncertain (they may be mid-print), the rest returned"},
	{CauseOutOfOrder, "out-of-order", ResultPrinted, AlarmHold,
		"print-complete for a record behind the head: that record is printed (the printer says so; the camera checks it)"},
	{CauseSkipped, "skipped", ResultUncertain, AlarmHold,
		"records ahead of an out-of-order print-complete were skipped and may still print later; uncertain"},
	{CauseDuplicate, "duplicate-ack", ResultNone, AlarmWarning,
		"a second print-complete for a record already printed with the same counter (without record IDs: a counter equal to the last one): a duplicated message, ignored (a different counter means printed twice: AlarmHold)"},
	{CauseUnknownAck, "unknown-ack", ResultNone, AlarmHold,
		"print-complete for a record this queue did not send or already resolved (without record IDs: a print counter that went back): no state change; hold for investigation"},
	{CauseMissed, "missed-print", ResultNone, AlarmWarning,
		"the printer was triggered with an empty queue: a product passed without a code (the camera rejects it); no serial involved"},
	{CauseFault, "fault", ResultNone, AlarmHold,
		"printer fault: hold; then the printer's queue depth is reconciled (queue-cleared / depth-mismatch)"},
	{CauseWarning, "warning", ResultNone, AlarmWarning,
		"printer warning (e.g. ink low): alarm only"},
	{CauseDepthMismatch, "depth-mismatch", ResultUncertain, AlarmHold,
		"the printer holds fewer records than were sent and not acknowledged: the oldest surplus ones were printed or lost without a print-complete; uncertain"},
	{CauseUnknownRecords, "unknown-records", ResultNone, AlarmHold,
		"the printer holds more records than this queue sent (left from an earlier connection?): hold, clear the printer"},
	{CauseNotSent, "not-sent", ResultReturned, AlarmNone,
		"journaled as queued but never sent (Clear, or Release at batch end): returned"},
	{CauseCounterReset, "counter-reset", ResultUncertain, AlarmHold,
		"without record IDs, a print-complete whose counter went back (SPC, printer restart): a print happened (reported as unknown-ack, no serial) that cannot be matched for sure; the head record is uncertain and the counter baseline follows the printer, so the next prints match the next records"},
}

// OutcomeTable returns a copy of the outcome rules, one per Cause.
func OutcomeTable() []Rule { return append([]Rule(nil), outcomeTable...) }

// RuleFor returns the rule of a cause.
func RuleFor(c Cause) Rule {
	for _, r := range outcomeTable {
		if r.Cause == c {
			return r
		}
	}
	return Rule{Cause: c, Name: fmt.Sprintf("Cause(%d)", int(c))}
}

func (c Cause) String() string { return RuleFor(c).Name }

// Outcome is one occurrence reported to the consumer: a serial's new state
// (Serial != "", Result != ResultNone) and/or an alarm.
type Outcome struct {
	// Serial is the record ID involved; "" when no serial is.
	Serial string
	// Result is the state the journal should record for Serial.
	Result Result
	// Cause is why.
	Cause Cause
	// Alarm is how loudly to raise it.
	Alarm Alarm
	// Counter is the printer's print counter for a print (0 if unknown).
	Counter uint64
	// Event is the printer event behind the outcome (zero if none).
	Event Event
	// Detail says more, for logs and the alarm text.
	Detail string
}

// ExtraProduct reports whether the outcome stands for a product that
// passed the print head without carrying a print of one of the queue's
// records in flight: a missed print, a print of a record no longer in
// flight (unknown-ack), or a record printed a second time (a duplicate
// print-complete with another counter). A line pairing prints with its
// products counts it as one product.
func (o Outcome) ExtraProduct() bool {
	switch o.Cause {
	case CauseMissed, CauseUnknownAck:
		return true
	case CauseDuplicate:
		return o.Alarm == AlarmHold
	}
	return false
}

func (o Outcome) String() string {
	s := o.Cause.String()
	if o.Serial != "" {
		s += " serial=" + o.Serial + " -> " + o.Result.String()
	}
	if o.Alarm != AlarmNone {
		s += " alarm=" + o.Alarm.String()
	}
	if o.Detail != "" {
		s += ": " + o.Detail
	}
	return s
}

func outcome(c Cause, serial string, detail string) Outcome {
	r := RuleFor(c)
	res := r.Result
	if serial == "" {
		res = ResultNone
	}
	return Outcome{Serial: serial, Result: res, Cause: c, Alarm: r.Alarm, Detail: detail}
}
