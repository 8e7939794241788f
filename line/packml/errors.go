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
