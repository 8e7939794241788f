package packml

import "errors"

// Sentinel errors; match with errors.Is.
var (
	// ErrNotAllowed: the command is not accepted in the current state.
	ErrNotAllowed = errors.New("packml: command not allowed")
	// ErrNotActing: Done was called on a wait state.
	ErrNotActing = errors.New("packml: not an acting state")
	// ErrUnknownState: a name that is none of the seventeen states.
	ErrUnknownState = errors.New("packml: unknown state")
	// ErrUnknownCommand: a name that is none of the ten commands.
	ErrUnknownCommand = errors.New("packml: unknown command")
)

// Sentinel errors of the unit modes (mode.go).
var (
	// ErrUnknownMode: a name or number that is none of the unit modes.
	ErrUnknownMode = errors.New("packml: unknown unit mode")
	// ErrModeChange: the unit mode cannot change in the current state.
	ErrModeChange = errors.New("packml: unit mode change not allowed in this state")
	// ErrModeForbids: the command would start serialised production
	// outside the Production mode.
	ErrModeForbids = errors.New("packml: command not allowed in this unit mode")
)
