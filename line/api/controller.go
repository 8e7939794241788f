package api

import (
	"context"
	"time"

	"github.com/serialine/serialine/line/records"
)

// Controller is what the API needs from the line controller. It is defined
// here, on the consumer side; *line.Controller satisfies it (line may import
// line/api; line/api never imports line). Method contract:
//
//   - ctx bounds the call; a cancelled ctx returns ctx.Err() (wrapped).
//   - Errors wrap one of the sentinels in errors.go so the API can map them
//     to HTTP status codes: ErrNotFound (404), ErrInvalidState (409, the
//     PackML state machine refuses the command), ErrRefused (409, a
//     precondition failed: line clearance, pool too low…; the message says
//     which), ErrBadRequest (400, bad input: GTIN check digit, unknown
//     profile…). Any other error is a 500 with the error's text.
//   - by is the authenticated user that caused the action; the controller
//     journals it with every transition it makes.
type Controller interface {
	// Status is the live snapshot of the line: PackML state, current batch
	// and its counters, rate, printer queue, pools, devices, alarms.
	Status(ctx context.Context) (Status, error)

	// CreateBatch defines a new batch (PackML Idle). ErrBadRequest for an
	// invalid definition, ErrInvalidState when another batch is running.
	CreateBatch(ctx context.Context, def BatchDef, by Actor) (Batch, error)
	// Batch returns one batch by id (ErrNotFound when unknown).
	Batch(ctx context.Context, id string) (Batch, error)
	// Batches lists batches, newest first, at most limit (0 = all).
	Batches(ctx context.Context, limit int) ([]Batch, error)
	// Command applies a PackML command (Command* constants) to batch id.
	// It returns once the command has been accepted and the resulting state
	// change journaled (acting states such as Holding may still be running:
	// the caller watches Status). cmd.Override is only set by a supervisor
	// with an electronic signature; a controller that cannot override a
	// refusal returns ErrRefused.
	Command(ctx context.Context, id string, cmd Command, by Actor) error

	// Unit looks a unit up by serial (ErrNotFound when this line never drew
	// it).
	Unit(ctx context.Context, serial string) (Unit, error)
	// Units lists units of batch id (all batches when id is ""), newest
	// first, filtered by q (zero UnitQuery = every unit), at most q.Limit.
	Units(ctx context.Context, id string, q UnitQuery) ([]Unit, error)
	// UnitAction is a manual action on one unit by a supervisor (with
	// e-signature checked by the API): UnitReject, UnitSample (QA pull) or
	// UnitDecommission. ErrInvalidState when the unit's state forbids it.
	UnitAction(ctx context.Context, serial string, action UnitActionKind, reason string, by Actor) (Unit, error)

	// Devices lists the line's devices and their link state.
	Devices(ctx context.Context) ([]Device, error)
	// PoolLevels lists the local serial pool level per GTIN.
	PoolLevels(ctx context.Context) ([]PoolLevel, error)

	// Alarms lists alarms (only active or unacknowledged ones when
	// activeOnly), newest first. *AlarmBook implements the three alarm
	// methods and may be embedded by the controller.
	Alarms(ctx context.Context, activeOnly bool) ([]Alarm, error)
	// RaiseAlarm raises an alarm (manual alarms from the HMI, or the
	// controller's own); it returns the alarm with its ID.
	RaiseAlarm(ctx context.Context, a Alarm, by Actor) (Alarm, error)
	// AckAlarm acknowledges alarm id (ErrNotFound when unknown).
	AckAlarm(ctx context.Context, id string, by Actor) (Alarm, error)

	// Reconciliation computes the reconciliation of batch id (any state;
	// final once the batch is Complete/Stopped/Aborted).
	Reconciliation(ctx context.Context, id string) (Reconciliation, error)
	// SignReconciliation records the supervisor's electronic signature on
	// the reconciliation of batch id (the API has already re-checked the
	// password). ErrInvalidState when the batch is not finished or already
	// signed; ErrRefused when it does not balance and sig.Meaning is not
	// MeaningApprovedWithDeviation.
	SignReconciliation(ctx context.Context, id string, sig Signature) (Reconciliation, error)
}

// Actor is who caused an action: a user and role ("operator",
// "supervisor", "admin") or a system actor ("system", "plc", "printer",
// "camera").
type Actor struct {
	User string `json:"user"`
	Role string `json:"role"`
}

// PackML commands (Command.Name).
const (
	CmdStart     = "start"
	CmdHold      = "hold"
	CmdUnhold    = "unhold"
	CmdSuspend   = "suspend"
	CmdUnsuspend = "unsuspend"
	CmdStop      = "stop"
	CmdAbort     = "abort"
	CmdClear     = "clear"
	CmdReset     = "reset"
	CmdComplete  = "complete"
)

// Commands lists every PackML command name the API accepts.
func Commands() []string {
	return []string{CmdStart, CmdHold, CmdUnhold, CmdSuspend, CmdUnsuspend, CmdStop, CmdAbort, CmdClear, CmdReset, CmdComplete}
}

// Command is one PackML command with the operator's reason.
type Command struct {
	Name     string `json:"command"`
	Reason   string `json:"reason,omitempty"`
	Override bool   `json:"override,omitempty"` // supervisor override of a refused precondition (e-signed)
	// Signature is the verified electronic signature of the override (set
	// by the API after checking the password and the supervisor role; nil
	// without Override). Controllers refuse an override without one.
	Signature *Signature `json:"-"`
}

// BatchDef defines a batch (mirrors journal.BatchDef).
type BatchDef struct {
	ID       string `json:"id"`
	GTIN     string `json:"gtin"`
	Lot      string `json:"lot"`
	Expiry   string `json:"expiry"`  // YYMMDD
	Profile  string `json:"profile"` // market profile: "us-dscsa", "eu-fmd", …
	Target   int    `json:"target"`  // target quantity
	Template string `json:"template,omitempty"`
	// NHRN is the national healthcare reimbursement number (PZN, CIP …)
	// printed on every unit, in the AI the profile names (710-715);
	// required by the profiles that have one (eu-fmd-de …), refused otherwise.
	NHRN string `json:"nhrn,omitempty"`
	// Product is the product's name from the product master (set by the
	// API from the GTIN; not stored in the journal's batch record).
	Product string `json:"product,omitempty"`
}

// Batch is a batch with its PackML state, counters and history.
type Batch struct {
	BatchDef
	State    string        `json:"state"` // PackML state name: "Idle", "Execute", "Held", …
	Counters Counters      `json:"counters"`
	History  []StateChange `json:"history,omitempty"`
	Created  time.Time     `json:"created"`
	Signed   *Signature    `json:"signed,omitempty"` // reconciliation signature, once signed
}

// StateChange is one PackML transition of a batch.
type StateChange struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	By     Actor     `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Counters are a batch's unit counts per state. Good = Commissioned.
type Counters struct {
	// Drawn is the cumulative number of serials drawn for the batch (the
	// reconciliation's drawn; = commissioned + rejected + sampled +
	// returned + uncertain + in flight + drawn but not yet queued).
	Drawn        int `json:"drawn"`
	Queued       int `json:"queued"`
	Printed      int `json:"printed"`
	Verified     int `json:"verified"`
	Commissioned int `json:"commissioned"`
	Rejected     int `json:"rejected"`
	Sampled      int `json:"sampled"`
	Returned     int `json:"returned"`
	Uncertain    int `json:"uncertain"`
	// RejectedBy counts rejected units per reason ("no-read", "mismatch",
	// "low-grade", "missed-print", "not-confirmed", "manual", …).
	RejectedBy map[string]int `json:"rejected_by,omitempty"`
}

// Status is the live snapshot streamed to the HMI.
type Status struct {
	Line         string      `json:"line"`
	State        string      `json:"state"`               // PackML state of the line
	UnitMode     string      `json:"unit_mode,omitempty"` // PackML unit mode: Production, Maintenance, Manual ("" = Production)
	Batch        *Batch      `json:"batch,omitempty"`     // current (or last) batch; nil when none
	RatePerMin   float64     `json:"rate_per_min"`        // good + rejected units per minute, recent
	PrinterQueue int         `json:"printer_queue"`
	InFlight     int         `json:"in_flight"` // units between trigger and final decision
	Pools        []PoolLevel `json:"pools,omitempty"`
	Devices      []Device    `json:"devices,omitempty"`
	ActiveAlarms int         `json:"active_alarms"`
	At           time.Time   `json:"at"`
}

// UnitQuery filters Units.
type UnitQuery struct {
	States []string // unit states ("rejected", …); empty = any
	Limit  int      // 0 = no limit
}

// Unit is one serialized unit and what happened to it.
type Unit struct {
	Serial        string             `json:"serial"`
	GTIN          string             `json:"gtin"`
	Batch         string             `json:"batch"`
	State         string             `json:"state"` // drawn, queued, printed, verified, commissioned, rejected, sampled, returned, uncertain
	Reason        string             `json:"reason,omitempty"`
	Seq           uint64             `json:"seq,omitempty"`            // PLC product id
	Grade         *float64           `json:"grade,omitempty"`          // ISO/IEC 15415 overall grade (0..4; 0 is an F); absent = ungraded
	GradeParams   map[string]float64 `json:"grade_params,omitempty"`   // per parameter
	ElementString string             `json:"element_string,omitempty"` // what was printed (GS separated)
	ReadData      string             `json:"read_data,omitempty"`      // what the camera read
	History       []UnitEvent        `json:"history,omitempty"`
	Updated       time.Time          `json:"updated"`
	// Saleable: the unit is commissioned, the only state in which a pack
	// carrying it may be in the saleable stream (see Assess).
	Saleable bool `json:"saleable"`
	// Warning says why a unit is not saleable and what to do (see Assess).
	Warning string `json:"warning,omitempty"`
	// Mismatches: elements of a scanned code that differ from what was
	// printed for this serial (lookup by code only; see CompareCode).
	Mismatches []FieldMismatch `json:"mismatches,omitempty"`
	// Lot, Expiry and HRI are what was printed on the pack (from the
	// element string): the human-readable text to compare with the pack.
	Lot    string `json:"lot,omitempty"`
	Expiry string `json:"expiry,omitempty"`
	HRI    string `json:"hri,omitempty"`
	// Closeout is the supervisor's close-out of a reject the gate did not
	// confirm, when there is one.
	Closeout *Closeout `json:"closeout,omitempty"`
}

// UnitEvent is one state change of a unit.
type UnitEvent struct {
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

// UnitActionKind is a manual supervisor action on a unit.
type UnitActionKind string

// Manual unit actions.
const (
	UnitReject       UnitActionKind = "reject"
	UnitSample       UnitActionKind = "sample"
	UnitDecommission UnitActionKind = "decommission"
)

// Device is one device's link state.
type Device struct {
	Name   string    `json:"name"` // "plc", "printer", "camera", "upstream"
	Kind   string    `json:"kind"` // "modbus", "opcua", "tij", "zpl", "dmcc", "keyence", "http"…
	Link   string    `json:"link"` // LinkUp, LinkDown, LinkConnecting
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since"`
}

// Device link states.
const (
	LinkUp         = "up"
	LinkDown       = "down"
	LinkConnecting = "connecting"
)

// PoolLevel is the local serial pool for one GTIN.
type PoolLevel struct {
	GTIN      string `json:"gtin"`
	Available int    `json:"available"`
	LowWater  int    `json:"low_water,omitempty"`
}

// Alarm severities.
const (
	SeverityInfo    = "info"
	SeverityWarning = "warning"
	SeverityFault   = "fault"
)

// Alarm is one alarm and its lifecycle: raised (by whom or what, when),
// acknowledged (by whom, when), cleared when its condition cleared (by whom
// or what, when).
type Alarm struct {
	ID string `json:"id"`
	// Code is the support code ("PRN-INK-OUT", "GATE-NOT-CONFIRMED" …):
	// the catalogue key of its text, kept for support whatever the language.
	Code string `json:"code"`
	// Condition is the fault behind the alarm ("printer:ink-out",
	// "gate:<serial>"): one active alarm per condition.
	Condition string `json:"condition"`
	Severity  string `json:"severity"`
	Source    string `json:"source"` // "plc", "printer", "operator", …
	// Text is the plain-language message with the action to take, in the
	// reader's language.
	Text string `json:"text"`
	// Detail is the technical message behind it (for support).
	Detail string            `json:"detail,omitempty"`
	Params map[string]string `json:"params,omitempty"` // placeholders of Text (serial, device …)
	Batch  string            `json:"batch,omitempty"`  // batch running when it was raised
	// Latched alarms (a pack to find) clear only by a person's close-out.
	Latched   bool      `json:"latched,omitempty"`
	Raised    time.Time `json:"raised"`
	RaisedBy  string    `json:"raised_by,omitempty"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	Count     int       `json:"count,omitempty"` // raises of the condition while active
	Active    bool      `json:"active"`          // condition still present
	Acked     bool      `json:"acked"`
	AckedBy   string    `json:"acked_by,omitempty"`
	AckedAt   time.Time `json:"acked_at,omitzero"`
	Cleared   time.Time `json:"cleared,omitzero"`
	ClearedBy string    `json:"cleared_by,omitempty"`
}

// Signature meanings (21 CFR 11.50(a)(3)): what a signature stands for.
const (
	MeaningApproved              = "approved"                // production sign-off of a batch record
	MeaningApprovedWithDeviation = "approved-with-deviation" // … that does not balance or has deviations
	MeaningReviewed              = "reviewed"
	MeaningReleased              = "released"                // QA release of a batch
	MeaningReleasedWithDeviation = "released-with-deviation" // … with deviations
	MeaningPerformed             = "performed"               // the signer did it (line clearance, close-out, unit action)
	MeaningHandedOver            = "handed-over"             // outgoing shift's handover note
	MeaningAcknowledged          = "acknowledged"            // incoming shift's acknowledgement
)

// Meanings lists every signature meaning.
func Meanings() []string {
	return []string{MeaningApproved, MeaningApprovedWithDeviation, MeaningReviewed, MeaningReleased, MeaningReleasedWithDeviation,
		MeaningPerformed, MeaningHandedOver, MeaningAcknowledged}
}

// Signature is an electronic signature (21 CFR Part 11): who, when, what
// it means and why. The password check is done by the API before it
// reaches the controller.
type Signature struct {
	User     string    `json:"user"`
	FullName string    `json:"full_name,omitempty"` // printed name of the signer (21 CFR 11.50)
	Role     string    `json:"role"`
	Meaning  string    `json:"meaning"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// Reconciliation is the serial balance of a batch:
// Drawn = Commissioned + Rejected + Sampled + Returned + Uncertain.
type Reconciliation struct {
	Batch        string         `json:"batch"`
	State        string         `json:"state"` // batch PackML state
	Final        bool           `json:"final"` // batch finished: figures no longer move
	Drawn        int            `json:"drawn"`
	Commissioned int            `json:"commissioned"`
	Rejected     int            `json:"rejected"`
	Sampled      int            `json:"sampled"`
	Returned     int            `json:"returned"`
	Uncertain    int            `json:"uncertain"`
	InFlight     int            `json:"in_flight"` // drawn but not in a terminal state
	Balanced     bool           `json:"balanced"`
	RejectedBy   map[string]int `json:"rejected_by,omitempty"`
	Differences  []Unit         `json:"differences,omitempty"` // units that break the balance, one by one
	// Deviations counts the differences that balance but need signing as
	// approved-with-deviation (a reject the gate did not confirm: the pack
	// may be in the good stream); they are listed in Differences too.
	Deviations int `json:"deviations,omitempty"`
	// DeviationSerials are the units behind Deviations (filled by the
	// controller; a close-out "pack found and destroyed" resolves one).
	DeviationSerials []string `json:"deviation_serials,omitempty"`
	// Signed is the valid production sign-off (nil when none, or when the
	// record changed after it: see Review).
	Signed    *Signature `json:"signed,omitempty"`
	Generated time.Time  `json:"generated"`
	// Review is the two-step review of the batch record (set by the API
	// when it keeps records).
	Review *Review `json:"review,omitempty"`
	// Closeouts are the supervisors' close-outs of rejects the gate did
	// not confirm.
	Closeouts []Closeout `json:"closeouts,omitempty"`
	// TimeZone names the line's time zone, in which times are shown.
	TimeZone string `json:"time_zone,omitempty"`
	// AggregationOpen names the batch's aggregation parents still open
	// (cases, pallets; set by the API with an Aggregation): the record is
	// not signed until they are closed or unpacked. Empty when none are.
	AggregationOpen string `json:"aggregation_open,omitempty"`
}

// Figures are the reconciliation figures a signature seals (records.Figures).
type Figures = records.Figures

// SignatureRecord is one signature of a batch record and whether it still
// seals the record as it is.
type SignatureRecord struct {
	Signature
	Step string `json:"step"` // "production" or "qa"
	// Valid: the record has not changed since this signature.
	Valid bool `json:"valid"`
	// Legacy: recorded before signatures sealed the figures.
	Legacy  bool    `json:"legacy,omitempty"`
	Digest  string  `json:"digest"`
	Figures Figures `json:"figures"` // as signed
}

// Review is the two-step review of a batch record: production sign-off,
// then QA release, each its own e-signature; the batch is released only
// when both seal the record as it is now.
type Review struct {
	Digest     string           `json:"digest"` // the record as it is now
	Production *SignatureRecord `json:"production,omitempty"`
	QA         *SignatureRecord `json:"qa,omitempty"`
	// ChangedAfterSigning: the record changed after a signature (a later
	// sample, manual reject, decommission or close-out); it needs signing again.
	ChangedAfterSigning bool `json:"changed_after_signing"`
	Released            bool `json:"released"`
	// Next is the signature due: "production", "qa" or "" (released, or
	// the batch is not finished).
	Next    string            `json:"next,omitempty"`
	Current Figures           `json:"current"`
	History []SignatureRecord `json:"history,omitempty"`
}

// Closeout is a supervisor's close-out of a unit whose reject the gate did
// not confirm: the pack found and destroyed, or not found (a deviation).
type Closeout struct {
	Serial    string    `json:"serial"`
	Batch     string    `json:"batch"`
	Outcome   string    `json:"outcome"` // "found-destroyed" or "not-found"
	Note      string    `json:"note,omitempty"`
	Signed    Signature `json:"signed"`
	Deviation bool      `json:"deviation"`
}
