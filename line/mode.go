package line

import (
	"context"
	"fmt"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
)

var _ api.ModeController = (*Controller)(nil)

// loadMode reads the unit mode the journal recorded (Production when none).
func (c *Controller) loadMode() error {
	name, err := c.j.UnitMode()
	if err != nil {
		return fmt.Errorf("line: read unit mode: %w", err)
	}
	c.mode = packml.ModeProduction
	if name != "" {
		m, err := packml.ParseUnitMode(name)
		if err != nil {
			return fmt.Errorf("line: journal unit mode: %w", err)
		}
		c.mode = m
	}
	return nil
}

// UnitMode returns the line's PackML unit mode.
func (c *Controller) UnitMode() packml.UnitMode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mode
}

// SetUnitMode implements api.ModeController: a supervisor (or admin)
// changes the unit mode while the batch is in a state that allows it
// (packml.CheckModeChange); the new mode and its audit entry (line.mode,
// before and after) are journaled in one transaction before the mode
// applies. Outside Production, Start, Unhold and Unsuspend are refused
// (commandOpt), so no serial is printed.
func (c *Controller) SetUnitMode(ctx context.Context, mode, reason string, by api.Actor) error {
	m, err := packml.ParseUnitMode(mode)
	if err != nil {
		return fmt.Errorf("%w: %w", err, api.ErrBadRequest)
	}
	if !auth.Role(by.Role).AtLeast(auth.RoleSupervisor) {
		return fmt.Errorf("unit mode change by %s (%s): needs role supervisor: %w", by.User, by.Role, api.ErrRefused)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var st packml.State
	if c.batchID != "" {
		st = c.state
	}
	if err := packml.CheckModeChange(st, c.mode, m); err != nil {
		return fmt.Errorf("%w: %w", err, api.ErrInvalidState)
	}
	if m == c.mode {
		return nil
	}
	e := journal.AuditEntry{Who: by.User, Role: by.Role, Action: "line.mode", Reason: reason,
		Before: c.mode.String(), After: m.String()}
	if c.batchID != "" {
		e.After += " (batch " + c.batchID + " " + string(c.state) + ")"
	}
	if err := c.j.SetUnitMode(ctx, m.String(), e); err != nil {
		return fmt.Errorf("unit mode: %w: %w", err, api.ErrUnavailable)
	}
	c.log.Info("unit mode", "from", c.mode, "to", m, "by", by.User, "reason", reason)
	c.mode = m
	return nil
}
