package api

import (
	"context"
	"time"

	"github.com/serialine/serialine/line/auth"
)

// AuditTrail is the audit trail the API writes every action to and reads
// for the audit view. The journal implements it through JournalAudit.
type AuditTrail interface {
	// AppendAudit appends one entry durably (also used by line/auth).
	AppendAudit(ctx context.Context, e auth.AuditEntry) error
	// QueryAudit returns entries matching q, oldest first, at most q.Limit.
	QueryAudit(ctx context.Context, q AuditQuery) ([]AuditRecord, error)
}

// AuditQuery filters the audit trail; zero fields match everything.
type AuditQuery struct {
	Who     string
	Action  string // exact, or prefix when it ends in "*"
	Since   time.Time
	Until   time.Time
	FromSeq uint64
	Limit   int  // default 200, at most 5000
	Newest  bool // the last Limit matching entries instead of the first
}

// AuditRecord is one audit-trail entry as served by the API.
type AuditRecord struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	Role   string    `json:"role"`
	Action string    `json:"action"`
	Reason string    `json:"reason,omitempty"`
	Before string    `json:"before,omitempty"`
	After  string    `json:"after,omitempty"`
	Hash   string    `json:"hash,omitempty"` // hex SHA-256 chaining this entry to the previous one
}
