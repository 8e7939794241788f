package vision

import (
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/vision/grade"
)

// Outcome is what a Decision means for the unit.
type Outcome string

// Outcomes.
const (
	// Pass: the unit's read matches what was printed and the grade meets
	// the policy. The line marks it verified/commissioned.
	Pass Outcome = "pass"
	// Reject: the unit must go out at the reject gate. Reason says why.
	Reject Outcome = "reject"
	// Alarm: no unit changes state (an unexpected read, a duplicate serial
	// seen, a late result for an already decided unit); the line records
	// it and raises the alarm. Hold may be set.
	Alarm Outcome = "alarm"
)

// Reason says why a Decision was taken.
type Reason string

// Reasons.
const (
	ReasonOK          Reason = "ok"           // content and grade good
	ReasonNoRead      Reason = "no-read"      // the camera saw the unit but decoded nothing
	ReasonMismatch    Reason = "mismatch"     // decoded content differs from what was printed (see Fields)
	ReasonLowGrade    Reason = "low-grade"    // grade below policy (see Param, Grade)
	ReasonLate        Reason = "late"         // no result before the unit's decision deadline
	ReasonSkipped     Reason = "skipped"      // no result for the unit while later units were read
	ReasonDuplicate   Reason = "duplicate"    // a serial already read was read again: possible double print (Hold)
	ReasonUnexpected  Reason = "unexpected"   // a read with no unit awaiting one
	ReasonLateRead    Reason = "late-read"    // a result for a unit already decided without one
	ReasonCameraFault Reason = "camera-fault" // the camera failed (disconnect); pending units rejected (Hold)
)

// Field names a part of the content that did not match.
type Field string

// Fields of a content mismatch. Other AIs are reported as "ai:NNN".
const (
	FieldGTIN      Field = "gtin"      // AI 01
	FieldSerial    Field = "serial"    // AI 21
	FieldLot       Field = "lot"       // AI 10
	FieldExpiry    Field = "expiry"    // AI 17
	FieldSymbology Field = "symbology" // not GS1 DataMatrix (identifier other than ]d2)
	FieldContent   Field = "content"   // not a GS1 element string, or same elements encoded differently
)

// fieldOf maps an AI to its Field.
func fieldOf(ai string) Field {
	switch ai {
	case "01":
		return FieldGTIN
	case "21":
		return FieldSerial
	case "10":
		return FieldLot
	case "17":
		return FieldExpiry
	case "":
		return FieldContent
	}
	return Field("ai:" + ai)
}

// Decision is the verifier's verdict, a value the line journals as is:
// which unit (Seq, Serial), the Outcome and Reason, the mismatching Fields,
// the failing grade Param and the Grade, whether to Hold the line, and the
// Read it was based on.
type Decision struct {
	// Seq is the unit's PLC product sequence id (for an Alarm about a
	// known serial, the seq of the unit that serial was printed on; 0 when
	// no unit is concerned).
	Seq uint64
	// Serial is the unit's serial (AI 21); for an unexpected read the
	// serial decoded, if any.
	Serial string
	// Outcome: Pass, Reject or Alarm.
	Outcome Outcome
	// Reason: why.
	Reason Reason
	// Fields are the mismatching parts of the content (ReasonMismatch).
	Fields []Field
	// Param is the failing grade parameter (ReasonLowGrade).
	Param grade.Param
	// Grade is the overall grade of the read (0 when no read / ungraded).
	Grade float64
	// Hold asks the line to hold (stop and wait for an operator):
	// duplicate serial, a run of no-reads or low grades, camera fault.
	Hold bool
	// HoldReason explains Hold.
	HoldReason string
	// Detail is a human explanation (what differed, which minimum failed).
	Detail string
	// Read is the camera result the decision is based on (zero when the
	// decision is for lack of a read).
	Read Result
	// At is when the decision was taken (verifier clock).
	At time.Time
}

// String is a one-line summary for logs.
func (d Decision) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seq=%d serial=%q %s/%s", d.Seq, d.Serial, d.Outcome, d.Reason)
	if len(d.Fields) > 0 {
		fs := make([]string, len(d.Fields))
		for i, f := range d.Fields {
			fs[i] = string(f)
		}
		fmt.Fprintf(&b, " fields=%s", strings.Join(fs, ","))
	}
	if d.Param != "" {
		fmt.Fprintf(&b, " param=%s", d.Param)
	}
	if d.Read.Grade.Graded() {
		fmt.Fprintf(&b, " grade=%.1f", d.Grade)
	}
	if d.Hold {
		fmt.Fprintf(&b, " HOLD(%s)", d.HoldReason)
	}
	if d.Detail != "" {
		fmt.Fprintf(&b, ": %s", d.Detail)
	}
	return b.String()
}
