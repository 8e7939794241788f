// Package packml is the PackML state model of ISA-TR88.00.02 for a batch on
// the line: seventeen states, ten commands, and the state-complete (SC)
// transitions of the acting states. It is pure: no clocks, no goroutines, no
// I/O. The controller asks Next for a command and Done when an acting state
// has finished its work, and journals every transition.
//
// The model:
//
//	Idle --Start--> Starting --SC--> Execute
//	Execute --Complete--> Completing --SC--> Complete --Reset--> Resetting --SC--> Idle
//	Execute --Hold--> Holding --SC--> Held --Unhold--> Unholding --SC--> Execute
//	Execute --Suspend--> Suspending --SC--> Suspended --Unsuspend--> Unsuspending --SC--> Execute
//	Starting, Suspending, Suspended, Unsuspending, Unholding --Hold--> Holding
//	(stoppable states) --Stop--> Stopping --SC--> Stopped --Reset--> Resetting
//	(any state but Aborting, Aborted) --Abort--> Aborting --SC--> Aborted --Clear--> Clearing --SC--> Stopped
//
// The stoppable states are every state except Stopping, Stopped, Aborting,
// Aborted and Clearing.
//
// The Hold transitions out of Starting, Suspending, Suspended, Unsuspending
// and Unholding are those of TR88.00.02-2015 as OPC 30050 (PackML) models
// them (PackMLExecuteStateMachineType: StartingToHolding,
// SuspendingToHolding, SuspendedToHolding, UnsuspendingToHolding,
// UnholdingToHolding): a machine that is not producing can still be held,
// for instance on an internal fault while it waits for material.
//
// Unit modes (Production, Maintenance, Manual) and their rules are in
// mode.go.
package packml

import (
	"fmt"
	"slices"
)

// State is a PackML state. Its string is the name the journal records.
type State string

// The seventeen PackML states.
const (
	Idle         State = "Idle"
	Starting     State = "Starting"
	Execute      State = "Execute"
	Holding      State = "Holding"
	Held         State = "Held"
	Unholding    State = "Unholding"
	Suspending   State = "Suspending"
	Suspended    State = "Suspended"
	Unsuspending State = "Unsuspending"
	Completing   State = "Completing"
	Complete     State = "Complete"
	Stopping     State = "Stopping"
	Stopped      State = "Stopped"
	Aborting     State = "Aborting"
	Aborted      State = "Aborted"
	Clearing     State = "Clearing"
	Resetting    State = "Resetting"
)

// States lists every state in PackML's conventional order.
func States() []State {
	return []State{Idle, Starting, Execute, Holding, Held, Unholding, Suspending, Suspended,
		Unsuspending, Completing, Complete, Stopping, Stopped, Aborting, Aborted, Clearing, Resetting}
}

// Command is an operator or system command.
type Command string

// The ten PackML commands.
const (
	CmdStart     Command = "Start"
	CmdHold      Command = "Hold"
	CmdUnhold    Command = "Unhold"
	CmdSuspend   Command = "Suspend"
	CmdUnsuspend Command = "Unsuspend"
	CmdStop      Command = "Stop"
	CmdAbort     Command = "Abort"
	CmdClear     Command = "Clear"
	CmdReset     Command = "Reset"
	CmdComplete  Command = "Complete"
)

// Commands lists every command.
func Commands() []Command {
	return []Command{CmdStart, CmdHold, CmdUnhold, CmdSuspend, CmdUnsuspend, CmdStop, CmdAbort,
		CmdClear, CmdReset, CmdComplete}
}

// ParseState returns the state named s (exact PackML spelling, case-insensitive).
func ParseState(s string) (State, error) {
	for _, st := range States() {
		if equalFold(string(st), s) {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownState, s)
}

// ParseCommand returns the command named s (case-insensitive).
func ParseCommand(s string) (Command, error) {
	for _, c := range Commands() {
		if equalFold(string(c), s) {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownCommand, s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

type key struct {
	from State
	cmd  Command
}

// commandTable holds every command transition except Stop and Abort, which
// follow the region rules below.
var commandTable = map[key]State{
	{Idle, CmdStart}:          Starting,
	{Execute, CmdHold}:        Holding,
	{Starting, CmdHold}:       Holding,
	{Suspending, CmdHold}:     Holding,
	{Suspended, CmdHold}:      Holding,
	{Unsuspending, CmdHold}:   Holding,
	{Unholding, CmdHold}:      Holding,
	{Held, CmdUnhold}:         Unholding,
	{Execute, CmdSuspend}:     Suspending,
	{Suspended, CmdUnsuspend}: Unsuspending,
	{Execute, CmdComplete}:    Completing,
	{Complete, CmdReset}:      Resetting,
	{Stopped, CmdReset}:       Resetting,
	{Aborted, CmdClear}:       Clearing,
}

// scTable: where each acting state goes when its work is done.
var scTable = map[State]State{
	Starting:     Execute,
	Holding:      Held,
	Unholding:    Execute,
	Suspending:   Suspended,
	Unsuspending: Execute,
	Completing:   Complete,
	Stopping:     Stopped,
	Aborting:     Aborted,
	Clearing:     Stopped,
	Resetting:    Idle,
}

// Stoppable reports whether Stop is accepted in s.
func (s State) Stoppable() bool {
	switch s {
	case Stopping, Stopped, Aborting, Aborted, Clearing:
		return false
	}
	return s.Valid()
}

// Abortable reports whether Abort is accepted in s.
func (s State) Abortable() bool {
	return s.Valid() && s != Aborting && s != Aborted
}

// Acting reports whether s is an acting state (it has work to do and ends
// with a state-complete transition).
func (s State) Acting() bool { _, ok := scTable[s]; return ok }

// Valid reports whether s is one of the seventeen states.
func (s State) Valid() bool { return slices.Contains(States(), s) }

// Producing reports whether new units may be drawn and printed in s: only
// in Execute. (In the acting states that leave Execute the controller lets
// in-flight units finish but starts no new ones.)
func (s State) Producing() bool { return s == Execute }

// Final reports whether s ends a batch: Complete, Stopped or Aborted.
func (s State) Final() bool { return s == Complete || s == Stopped || s == Aborted }

// Next returns the state that command c leads to from s, or an error
// wrapping ErrNotAllowed that names both.
func Next(s State, c Command) (State, error) {
	if !s.Valid() {
		return "", fmt.Errorf("%w: %q", ErrUnknownState, s)
	}
	switch c {
	case CmdStop:
		if s.Stoppable() {
			return Stopping, nil
		}
	case CmdAbort:
		if s.Abortable() {
			return Aborting, nil
		}
	default:
		if !slices.Contains(Commands(), c) {
			return "", fmt.Errorf("%w: %q", ErrUnknownCommand, c)
		}
		if to, ok := commandTable[key{s, c}]; ok {
			return to, nil
		}
	}
	return "", fmt.Errorf("%w: %s in state %s", ErrNotAllowed, c, s)
}

// Done returns the state an acting state moves to on state complete (SC),
// or an error wrapping ErrNotActing for a wait state.
func Done(s State) (State, error) {
	if to, ok := scTable[s]; ok {
		return to, nil
	}
	return "", fmt.Errorf("%w: %s", ErrNotActing, s)
}

// Allowed lists the commands accepted in s, in Commands order.
func Allowed(s State) []Command {
	var out []Command
	for _, c := range Commands() {
		if _, err := Next(s, c); err == nil {
			out = append(out, c)
		}
	}
	return out
}
