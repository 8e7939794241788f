package api

import (
	"fmt"
	"strings"

	"github.com/serialine/serialine/line/i18n"
	"github.com/serialine/serialine/printer/gs1"
)

// FieldMismatch is one GS1 element of a scanned code that differs from
// what the line printed for that serial.
type FieldMismatch struct {
	AI      string `json:"ai"`
	Scanned string `json:"scanned"`
	Printed string `json:"printed"` // "" when the line did not print this AI
}

func (m FieldMismatch) String() string {
	if m.Printed == "" {
		return fmt.Sprintf("(%s) %s was not printed", m.AI, m.Scanned)
	}
	return fmt.Sprintf("(%s) scanned %s, printed %s", m.AI, m.Scanned, m.Printed)
}

// Assess fills u.Saleable and u.Warning from the unit's state: only a
// commissioned unit may be in the saleable stream; a rejected (above all a
// reject the gate did not confirm), uncertain, sampled, returned or
// not-yet-commissioned unit carries a warning saying what to do.
func (u *Unit) Assess() {
	u.Saleable = u.State == "commissioned"
	u.Warning = ""
	switch u.State {
	case "commissioned":
	case "rejected":
		if strings.HasPrefix(u.Reason, "reject-not-confirmed") {
			u.Warning = "NOT SALEABLE: rejected, but the reject gate did not confirm it; the pack may have gone on down the line: find it and remove it"
		} else {
			u.Warning = "NOT SALEABLE: rejected at the line (" + ReasonText(i18n.Default, u.Reason) + "); a pack carrying this code in the good stream must be removed"
		}
	case "uncertain":
		u.Warning = "NOT SALEABLE: outcome uncertain (" + ReasonText(i18n.Default, u.Reason) + "), never commissioned; quarantine the pack"
	case "sampled":
		u.Warning = "NOT SALEABLE: pulled as a QA sample"
	case "returned":
		u.Warning = "NOT SALEABLE: serial returned unused, never printed by this line; a pack carrying it is suspect"
	default:
		u.Warning = "NOT SALEABLE: not commissioned yet (" + u.State + ")"
	}
}

// ReasonText is a unit reason code ("late-verdict") in plain language
// in lang, with the code kept ("… (late-verdict)"); an unknown code is
// returned as it is.
func ReasonText(lang, reason string) string {
	code, _, _ := strings.Cut(reason, ":")
	if t, ok := i18n.Lookup(lang, "ureason."+code); ok {
		return t + " (" + code + ")"
	}
	return reason
}

// CompareCode compares a scanned code, element by element, with the
// element string the line printed for u (u.ElementString): every AI of the
// scan must have been printed with the same value (GTIN, serial, lot,
// expiry, NHRN, …). AIs printed but absent from the scan (a short Digital
// Link) are not mismatches. It sets u.Mismatches and returns them.
func (u *Unit) CompareCode(scanned gs1.Message) []FieldMismatch {
	u.Mismatches = nil
	printed := map[string]string{}
	if u.ElementString != "" {
		if pm, err := gs1.ParseRaw(u.ElementString); err == nil {
			for _, e := range pm.Elements() {
				printed[e.AI] = e.Value
			}
		}
	}
	if len(printed) == 0 { // printed string unknown: check what we know
		printed["01"], printed["21"] = u.GTIN, u.Serial
	}
	for _, e := range scanned.Elements() {
		if p, ok := printed[e.AI]; !ok || p != e.Value {
			u.Mismatches = append(u.Mismatches, FieldMismatch{AI: e.AI, Scanned: e.Value, Printed: p})
		}
	}
	return u.Mismatches
}

// MismatchText is the one-line problem for a unit's mismatches ("" when none).
func (u *Unit) MismatchText() string {
	if len(u.Mismatches) == 0 {
		return ""
	}
	parts := make([]string, len(u.Mismatches))
	for i, m := range u.Mismatches {
		parts[i] = m.String()
	}
	return fmt.Sprintf("code does not match what this line printed for serial %s (possible counterfeit or mislabel): %s",
		u.Serial, strings.Join(parts, "; "))
}
