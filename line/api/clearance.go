package api

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/records"
)

// ClearanceKeeper is a controller that keeps the line clearance and
// refuses Start without it, for every caller: the API, the OPC UA PackML
// methods, the CLI (through the API) and the controller's own users
// (*line.Controller, apitest.Fake). The API shows and confirms the line
// clearance through it; a controller without it requires none.
type ClearanceKeeper interface {
	// ClearanceChecklist is the line clearance checklist every batch
	// confirms before its Start; empty = no line clearance required.
	ClearanceChecklist() []config.ChecklistItem
	// Clearance returns the confirmed line clearance of batch, if any.
	Clearance(batch string) (records.Clearance, bool)
	// ConfirmClearance records cl (e-signed: the caller checked the
	// signer's password). ErrNotFound for an unknown batch,
	// ErrInvalidState when the batch is not the line's current batch in
	// Idle, ErrBadRequest when an item of the checklist is not checked or
	// the signature is incomplete (the message names them).
	ConfirmClearance(ctx context.Context, cl records.Clearance) error
}

// CheckClearance checks a line clearance against the checklist: every
// item's id among cl.Items and a complete signature. Implementations of
// ClearanceKeeper call it before recording cl.
func CheckClearance(checklist []config.ChecklistItem, cl records.Clearance) error {
	var missing []string
	for _, it := range checklist {
		if !slices.ContainsFunc(cl.Items, func(c records.CheckItem) bool { return c.ID == it.ID }) {
			missing = append(missing, it.ID+" ("+it.Text+")")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("line clearance not confirmed; check every item first: %s: %w", strings.Join(missing, "; "), ErrBadRequest)
	}
	if cl.Signer.User == "" || cl.Signer.Meaning == "" || cl.Signer.At.IsZero() {
		return fmt.Errorf("line clearance of batch %s: the signature needs the signer, the meaning and the time: %w", cl.Batch, ErrBadRequest)
	}
	return nil
}

// ClearanceRefused is the error of a Start refused for want of a
// confirmed line clearance (wraps ErrRefused).
func ClearanceRefused(batch string) error {
	return fmt.Errorf("start of batch %s refused: line clearance not confirmed; confirm the checklist (e-signed) first (line clearance page, POST /api/v1/batches/%s/clearance, `serialine batch clearance %s --all`): %w",
		batch, batch, batch, ErrRefused)
}
