package line

import (
	"context"
	"fmt"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/printer/gs1/gcp"
)

// Records are the shift's GMP records the controller keeps (product
// master, signatures, close-outs, line clearances, handovers): the one
// index of them over the journal's audit trail. The operator API and HMI
// use this store (hmi.StackOptions.Records), so a line clearance confirmed
// there is the one Start checks.
func (c *Controller) Records() *records.Store { return c.rec }

// Prefixes is the GS1 Company Prefix lookup of the line's EPCs: the
// product master's gcp_length, then line.company_prefixes, then
// line.gcp_file, then line.company_prefix_len.
func (c *Controller) Prefixes() gcp.Lookup { return c.prefixes }

var _ api.ClearanceKeeper = (*Controller)(nil)

// ClearanceChecklist implements api.ClearanceKeeper: shift.clearance
// (default config.DefaultClearance; an explicit empty list: none).
func (c *Controller) ClearanceChecklist() []config.ChecklistItem {
	return c.cfg.Shift.Effective().Clearance
}

// Clearance implements api.ClearanceKeeper.
func (c *Controller) Clearance(batch string) (records.Clearance, bool) {
	return c.rec.Clearance(batch)
}

// ConfirmClearance implements api.ClearanceKeeper: the line clearance of
// the line's current batch, in Idle, every checklist item checked, is
// recorded (audit entry record.clearance) and Start may proceed.
func (c *Controller) ConfirmClearance(ctx context.Context, cl records.Clearance) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl.Batch != c.batchID || c.batchID == "" {
		if _, err := c.j.Batch(cl.Batch); err != nil {
			return fmt.Errorf("batch %q: %w", cl.Batch, api.ErrNotFound)
		}
		return fmt.Errorf("batch %s is not the line's current batch (%s): line clearance is confirmed before its start: %w", cl.Batch, c.batchID, api.ErrInvalidState)
	}
	if c.state != packml.Idle {
		return fmt.Errorf("batch %s is %s: line clearance is confirmed before its start: %w", cl.Batch, c.state, api.ErrInvalidState)
	}
	if err := api.CheckClearance(c.ClearanceChecklist(), cl); err != nil {
		return err
	}
	if err := c.rec.ConfirmClearance(ctx, cl); err != nil {
		return fmt.Errorf("line clearance of batch %s: %w: %w", cl.Batch, err, api.ErrUnavailable)
	}
	return nil
}

// clearedLocked refuses Start of batch id without a confirmed line
// clearance when the line requires one.
func (c *Controller) clearedLocked(id string) error {
	if len(c.ClearanceChecklist()) == 0 {
		return nil
	}
	if _, ok := c.rec.Clearance(id); !ok {
		return fmt.Errorf("%w: %w", ErrClearance, api.ClearanceRefused(id))
	}
	return nil
}
