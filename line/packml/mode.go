package packml

import (
	"fmt"
	"strings"
)

// UnitMode is the line's PackML unit mode. The numbers are those of OPC
// 30050's ProductionMaintenanceModeEnum (Invalid 0, Produce 1, Maintenance
// 2, Manual 3), which is what the PackTags UnitModeCurrent carries.
//
// The rules (TR88.00.02 leaves them to the machine; these are the line's):
//
//   - Serialised production happens only in Production: outside it, the
//     commands that lead to Execute (Start, Unhold, Unsuspend) are refused,
//     so no serial is drawn, printed or commissioned. Stopping, holding,
//     aborting, clearing and resetting stay possible in every mode.
//   - The mode changes only in a wait state in which nothing moves and no
//     unit is in flight: Idle, Held, Complete, Stopped, Aborted (or with no
//     batch defined). Suspended is not one of them (the machine may be
//     waiting to resume by itself): hold the line first (Suspended → Hold).
//   - A mode change is made by a supervisor and is audited (the controller
//     and the API see to that).
type UnitMode int32

// The unit modes.
const (
	ModeInvalid     UnitMode = 0
	ModeProduction  UnitMode = 1
	ModeMaintenance UnitMode = 2
	ModeManual      UnitMode = 3
)

// UnitModes lists the valid modes in number order.
func UnitModes() []UnitMode { return []UnitMode{ModeProduction, ModeMaintenance, ModeManual} }

// String is the mode's name as the line journals it: Production,
// Maintenance or Manual ("Invalid" otherwise).
func (m UnitMode) String() string {
	switch m {
	case ModeProduction:
		return "Production"
	case ModeMaintenance:
		return "Maintenance"
	case ModeManual:
		return "Manual"
	}
	return "Invalid"
}

// Valid reports whether m is Production, Maintenance or Manual.
func (m UnitMode) Valid() bool { return m >= ModeProduction && m <= ModeManual }

// ParseUnitMode parses a mode name (case-insensitive; "produce", OPC
// 30050's name for Production, is accepted too).
func ParseUnitMode(s string) (UnitMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "production", "produce":
		return ModeProduction, nil
	case "maintenance":
		return ModeMaintenance, nil
	case "manual":
		return ModeManual, nil
	}
	return ModeInvalid, fmt.Errorf("%w: %q (want production, maintenance or manual)", ErrUnknownMode, s)
}

// ModeChangeAllowed reports whether the unit mode may change while the
// line's batch is in s ("" = no batch defined).
func ModeChangeAllowed(s State) bool {
	switch s {
	case "", Idle, Held, Complete, Stopped, Aborted:
		return true
	}
	return false
}

// CheckModeChange returns nil when the mode may change from m to to in s,
// or an error wrapping ErrUnknownMode or ErrModeChange naming both.
func CheckModeChange(s State, m, to UnitMode) error {
	if !to.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownMode, int32(to))
	}
	if !ModeChangeAllowed(s) {
		return fmt.Errorf("%w: %s -> %s in state %s (allowed in Idle, Held, Complete, Stopped, Aborted)", ErrModeChange, m, to, s)
	}
	return nil
}

// Permits returns nil when command c may be given in mode m, or an error
// wrapping ErrModeForbids: outside Production, Start, Unhold and Unsuspend
// (which lead to Execute, where serials are printed) are refused.
func (m UnitMode) Permits(c Command) error {
	if m == ModeProduction {
		return nil
	}
	switch c {
	case CmdStart, CmdUnhold, CmdUnsuspend:
		return fmt.Errorf("%w: %s in %s mode: no serialised production outside Production", ErrModeForbids, c, m)
	}
	return nil
}
