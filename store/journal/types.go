package journal

import (
	"fmt"
	"strings"
	"time"
)

// Pool is a list of serials received from upstream for one GTIN, in the
// order they are to be used.
type Pool struct {
	ID      string   // pool / request id from upstream; unique on this line
	GTIN    string   // 14 digits with a valid check digit
	Serials []string // AI 21 values, in order
	// RequestID is the serial request this pool answers; when it is the
	// GTIN's pending request (SetPendingRequest), ImportPool clears that in
	// the same transaction. "" = none. Not stored with the pool.
	RequestID string
}

// PoolInfo describes an imported pool.
type PoolInfo struct {
	ID         string    `json:"id"`
	GTIN       string    `json:"gtin"`
	Count      int       `json:"count"` // serials imported
	ImportedAt time.Time `json:"imported_at"`
}

// BadSerial is one refused entry of a pool.
type BadSerial struct {
	Index   int    // position in Pool.Serials; -1 for a problem with the pool itself
	Serial  string // the offending value
	Problem string // what is wrong
}

// PoolError is returned (wrapping ErrPoolRefused) when ImportPool refuses a
// pool; it lists every bad entry. Nothing was written.
type PoolError struct {
	Pool string
	Bad  []BadSerial
}

func (e *PoolError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "journal: pool %q refused (%d problem(s))", e.Pool, len(e.Bad))
	const max = 20
	for i, bad := range e.Bad {
		if i == max {
			fmt.Fprintf(&b, "; … and %d more", len(e.Bad)-max)
			break
		}
		if bad.Index < 0 {
			fmt.Fprintf(&b, "; %s", bad.Problem)
		} else {
			fmt.Fprintf(&b, "; serial #%d %q: %s", bad.Index, bad.Serial, bad.Problem)
		}
	}
	return b.String()
}

// Unwrap returns ErrPoolRefused.
func (e *PoolError) Unwrap() error { return ErrPoolRefused }

// BatchDef defines a batch (production order).
type BatchDef struct {
	ID       string `json:"id"`
	GTIN     string `json:"gtin"`     // 14 digits
	Lot      string `json:"lot"`      // AI 10
	Expiry   string `json:"expiry"`   // AI 17, YYMMDD
	Profile  string `json:"profile"`  // market profile name ("eu-fmd", "us-dscsa", …)
	Target   int    `json:"target"`   // target quantity
	Template string `json:"template"` // printer template / message name
	// NHRN is the national healthcare reimbursement number printed on every
	// unit of the batch (PZN, CIP …), in the AI the market profile names
	// (710-715); "" when the market needs none. Stored from record version 2.
	NHRN string `json:"nhrn,omitempty"`
}

// StateChange is one entry of a batch's PackML state history.
type StateChange struct {
	State  string    `json:"state"`
	At     time.Time `json:"at"`
	Actor  Actor     `json:"actor"`
	Reason string    `json:"reason,omitempty"`
}

// Batch is a batch as stored: its definition, current PackML state and
// history, and unit counters.
type Batch struct {
	BatchDef
	CreatedAt time.Time     `json:"created_at"`
	State     string        `json:"state"` // last SetBatchState ("" before the first)
	History   []StateChange `json:"history"`
	Counters  Counters      `json:"counters"`
	// Archive is the archive file (base name) the batch was read from; ""
	// for a batch of the live journal.
	Archive string `json:"archive,omitempty"`
}

// Counters counts a batch's units by current state. They are updated in the
// same transaction as the units, and recounted by Verify and on Open.
type Counters struct {
	Drawn        int `json:"drawn"`
	Queued       int `json:"queued"`
	Printed      int `json:"printed"`
	Verified     int `json:"verified"`
	Commissioned int `json:"commissioned"`
	Rejected     int `json:"rejected"`
	Sampled      int `json:"sampled"`
	Returned     int `json:"returned"`
	Uncertain    int `json:"uncertain"`
}

func (c *Counters) ptr(s State) *int {
	switch s {
	case Drawn:
		return &c.Drawn
	case Queued:
		return &c.Queued
	case Printed:
		return &c.Printed
	case Verified:
		return &c.Verified
	case Commissioned:
		return &c.Commissioned
	case Rejected:
		return &c.Rejected
	case Sampled:
		return &c.Sampled
	case Returned:
		return &c.Returned
	case Uncertain:
		return &c.Uncertain
	}
	return nil
}

// Of returns the number of units currently in s.
func (c Counters) Of(s State) int {
	if p := c.ptr(s); p != nil {
		return *p
	}
	return 0
}

// Total is the number of serials drawn for the batch (all states).
func (c Counters) Total() int {
	n := 0
	for _, s := range States() {
		n += c.Of(s)
	}
	return n
}

// InFlight is the number of units drawn, queued, printed or verified.
func (c Counters) InFlight() int { return c.Drawn + c.Queued + c.Printed + c.Verified }

func (c *Counters) add(s State, d int) {
	if p := c.ptr(s); p != nil {
		*p += d
	}
}

// Grade is the print quality reported by the camera (ISO/IEC 15415). It is
// stored with one decimal.
type Grade struct {
	Overall    float32 `json:"overall"`               // 0.0–4.0
	Param      string  `json:"param,omitempty"`       // failing (or lowest) parameter name
	ParamGrade float32 `json:"param_grade,omitempty"` // its grade 0.0–4.0
}

// Change moves one unit to a new state. Apply takes several.
type Change struct {
	Serial string
	To     State
	// Seq is the PLC product sequence id the unit is bound to (0 = keep).
	Seq uint64
	// Reason is required for Rejected, Returned and Uncertain.
	Reason Reason
	// Detail is free text (which field mismatched, which parameter failed…). Keep it short.
	Detail string
	// Grade, when set, is stored as the unit's latest grade.
	Grade *Grade
	// ReadData is the decoded camera data; store it only for a mismatch (it costs bytes).
	ReadData string
	// Actor made the change; the zero Actor is ActorSystem. Leaving Commissioned
	// and ReasonManual need a person.
	Actor Actor
	// At is when it happened; zero means Options.Now().
	At time.Time
}

// Step is one entry of a unit's history.
type Step struct {
	State  State     `json:"state"`
	At     time.Time `json:"at"`
	Actor  Actor     `json:"actor"`
	Reason Reason    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Unit is one drawn serial with its whole history.
type Unit struct {
	Serial   string `json:"serial"`
	GTIN     string `json:"gtin"`
	Batch    string `json:"batch"`
	Pool     string `json:"pool"`
	Index    int    `json:"index"` // draw order within the batch, from 0
	State    State  `json:"state"`
	Seq      uint64 `json:"seq,omitempty"`
	Reason   Reason `json:"reason,omitempty"` // of the last step
	Detail   string `json:"detail,omitempty"` // of the last step
	Grade    *Grade `json:"grade,omitempty"`
	ReadData string `json:"read_data,omitempty"`
	History  []Step `json:"history"`
	// Archive is the archive file (base name) the unit was read from; ""
	// for a unit of the live journal.
	Archive string `json:"archive,omitempty"`
}

// AuditEntry is one record of the append-only, hash-chained audit trail.
// AppendAudit fills Seq, At, Prev and Hash.
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	Role   string    `json:"role"`
	Action string    `json:"action"` // e.g. "batch.state", "unit.reject", "pool.import", "recovery"
	Reason string    `json:"reason,omitempty"`
	Before string    `json:"before,omitempty"`
	After  string    `json:"after,omitempty"`
	Prev   [32]byte  `json:"-"` // hash of the previous entry (zero for the first)
	Hash   [32]byte  `json:"-"` // SHA-256 over Prev and this entry's fields
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Since, Until time.Time // At in [Since, Until)
	Who          string
	Action       string // exact, or prefix when it ends in "*" (e.g. "batch.*")
	FromSeq      uint64 // first Seq to consider
}

// OutboxItem is an event waiting to go upstream.
type OutboxItem struct {
	ID      uint64    `json:"id"`
	Kind    string    `json:"kind"` // e.g. "epcis"
	Payload []byte    `json:"payload"`
	At      time.Time `json:"at"`
	// Batch the item belongs to ("" = none): kept once sent until the
	// batch is archived (OutboxPutBatch).
	Batch string `json:"batch,omitempty"`
}

// RecoveryReport says what Open did to bring in-flight units to a state a
// supervisor can reconcile. See doc.go for the rules.
type RecoveryReport struct {
	At        time.Time `json:"at"`
	Returned  []string  `json:"returned"`  // drawn, never sent: now Returned (not re-issued)
	Uncertain []string  `json:"uncertain"` // sent, no decision: now Uncertain
	// CounterFixes lists batches whose stored counters differed from the
	// recount (which should never happen); they were rewritten.
	CounterFixes []string `json:"counter_fixes,omitempty"`
	// Skipped is true when the journal was opened ReadOnly (no recovery run).
	Skipped bool `json:"skipped,omitempty"`
}

// Clean reports whether recovery changed nothing.
func (r RecoveryReport) Clean() bool {
	return len(r.Returned) == 0 && len(r.Uncertain) == 0 && len(r.CounterFixes) == 0
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Pools, Batches, Units       int
	Available, ReturnedUpstream int
	AuditEntries, OutboxItems   int
	// Archives recorded, serials archived (tombstones), sent items kept
	// until their batch is archived.
	Archives, Archived, SentItems int
	ByState                       Counters // all units of all batches
	Problems                      []string // every violation found (empty = OK)
	Duration                      time.Duration
	// Aggregation (agg_verify.go): parents by state, codes available in
	// ID pools, aggregation events, parent codes archived (tombstones).
	Parents         map[string]int `json:",omitempty"`
	IDsAvail        int
	AggEvents       int
	ArchivedParents int
}

// OK reports whether no violation was found.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 }
