package api

import (
	"context"
	"encoding/hex"
	"errors"

	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/store/journal"
)

// JournalAudit adapts the unit journal's hash-chained audit trail to
// AuditTrail (and auth.AuditLog).
type JournalAudit struct {
	J *journal.Journal
}

var (
	_ AuditTrail    = JournalAudit{}
	_ auth.AuditLog = JournalAudit{}
)

// AppendAudit implements AuditTrail.
func (a JournalAudit) AppendAudit(ctx context.Context, e auth.AuditEntry) error {
	if e.Who == "" {
		e.Who = "anonymous"
	}
	return a.J.AppendAudit(ctx, journal.AuditEntry{Who: e.Who, Role: e.Role, Action: e.Action,
		Reason: e.Reason, Before: e.Before, After: e.After})
}

var errEnough = errors.New("enough")

// QueryAudit implements AuditTrail. With q.Newest it returns the last
// q.Limit matching entries (still oldest first).
func (a JournalAudit) QueryAudit(ctx context.Context, q AuditQuery) ([]AuditRecord, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 200
	}
	var out []AuditRecord
	f := journal.AuditFilter{Since: q.Since, Until: q.Until, Who: q.Who, Action: q.Action, FromSeq: q.FromSeq}
	err := a.J.Audit(ctx, f, func(e journal.AuditEntry) error {
		out = append(out, AuditRecord{Seq: e.Seq, At: e.At, Who: e.Who, Role: e.Role, Action: e.Action,
			Reason: e.Reason, Before: e.Before, After: e.After, Hash: hex.EncodeToString(e.Hash[:])})
		if len(out) == limit && !q.Newest {
			return errEnough
		}
		if q.Newest && len(out) >= 2*limit {
			out = append(out[:0], out[len(out)-limit:]...)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}
