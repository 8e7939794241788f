package api

import (
	"context"
	"net/http"
)

// ModeController is implemented by controllers with PackML unit modes
// (Production, Maintenance, Manual); *line.Controller does. The API serves
// POST /api/v1/mode only for them.
type ModeController interface {
	// SetUnitMode changes the unit mode (name, case-insensitive) with the
	// reason; it journals and audits the change. ErrBadRequest for an
	// unknown mode, ErrInvalidState when the batch's PackML state does not
	// allow a mode change (only Idle, Held, Complete, Stopped, Aborted).
	SetUnitMode(ctx context.Context, mode, reason string, by Actor) error
}

// ModeRequest is the body of POST /api/v1/mode.
type ModeRequest struct {
	Mode   string `json:"mode"` // production, maintenance, manual
	Reason string `json:"reason"`
}

// setMode changes the unit mode (supervisor; audited as api.mode with the
// change from and to).
func (s *Server) setMode(c *call) error {
	mc, ok := s.o.Controller.(ModeController)
	if !ok {
		return &Error{Status: http.StatusNotImplemented, Code: CodeUnavailable, Message: "this controller has no unit modes"}
	}
	var req ModeRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Reason == "" {
		return badRequest("reason: required for a unit mode change")
	}
	before := ""
	if st, err := s.o.Controller.Status(c.r.Context()); err == nil {
		before = st.UnitMode
	}
	if err := mc.SetUnitMode(c.r.Context(), req.Mode, req.Reason, c.actor()); err != nil {
		return err
	}
	st, err := s.o.Controller.Status(c.r.Context())
	if err != nil {
		return err
	}
	return s.done(c, http.StatusOK, st, req.Reason, "unit mode "+before+" -> "+st.UnitMode)
}
