package apitest

import (
	"context"
	"fmt"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/packml"
)

var _ api.ModeController = (*Fake)(nil)

func (f *Fake) unitMode() packml.UnitMode {
	if f.mode == 0 {
		return packml.ModeProduction
	}
	return f.mode
}

// SetUnitMode implements api.ModeController with line/packml's rules (a
// mode change only in Idle, Held, Complete, Stopped, Aborted or with no
// batch; outside Production no command leads to Execute).
func (f *Fake) SetUnitMode(ctx context.Context, mode, reason string, by api.Actor) error {
	m, err := packml.ParseUnitMode(mode)
	if err != nil {
		return fmt.Errorf("%w: %w", err, api.ErrBadRequest)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var st packml.State
	if b := f.batches[f.current]; b != nil {
		st = packml.State(b.State)
	}
	if err := packml.CheckModeChange(st, f.unitMode(), m); err != nil {
		return fmt.Errorf("%w: %w", err, api.ErrInvalidState)
	}
	f.mode = m
	return nil
}
