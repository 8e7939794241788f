// Package records keeps the shift's GMP records — the product master,
// electronic signatures of batch records (production sign-off and QA
// release), close-outs of rejects the gate did not confirm, line clearance
// confirmations and shift handovers — in the journal's hash-chained audit
// trail, and an index of them in memory.
//
// Each record is one audit entry whose After field is the record as JSON
// (action names below); the journal's verify checks the chain like every
// other entry, and old journals stay readable (the index is rebuilt from
// the trail at Open, including the older "reconciliation.sign" entries).
// Nothing is ever changed or deleted: a new product version, a new
// signature after a change, a handover acknowledgement are new entries.
//
//	product.version        a product master version (Product)
//	record.signature       a batch record signature (Signature)
//	record.closeout        a close-out of a reject not confirmed (Closeout)
//	record.clearance       a line clearance confirmation (Clearance)
//	record.handover        a shift handover note, signed (Handover)
//	record.handover.ack    its acknowledgement by the incoming shift (HandoverAck)
package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/gs1/gcp"
	"github.com/serialine/serialine/store/journal"
)

// Audit actions of the records.
const (
	ActionProduct     = "product.version"
	ActionSignature   = journal.AuditActionRecordSignature
	ActionCloseout    = journal.AuditActionRecordCloseout
	ActionClearance   = "record.clearance"
	ActionHandover    = "record.handover"
	ActionHandoverAck = "record.handover.ack"
	// actionLegacySign is the reconciliation signature written by the
	// controller before signatures sealed the figures (line.Controller).
	actionLegacySign = journal.AuditActionSign
)

// Errors.
var (
	// ErrInvalid: a record is incomplete or malformed (the message says what to correct).
	ErrInvalid = errors.New("invalid record")
	// ErrNotFound: no such product or handover.
	ErrNotFound = errors.New("not found")
)

// Trail is the audit trail the records live in (*journal.Journal).
type Trail interface {
	AppendAudit(ctx context.Context, e journal.AuditEntry) error
	Audit(ctx context.Context, f journal.AuditFilter, fn func(journal.AuditEntry) error) error
}

// Signer is who signed, as recorded with every signature (21 CFR 11.50:
// printed name, date and time, meaning).
type Signer struct {
	User     string    `json:"user"`
	FullName string    `json:"full_name,omitempty"`
	Role     string    `json:"role"`
	Meaning  string    `json:"meaning"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// Name is "Full Name (user)" or the user (Part 11 §11.50: the printed
// name with every signature).
func (g Signer) Name() string {
	if g.FullName != "" && g.FullName != g.User {
		return g.FullName + " (" + g.User + ")"
	}
	return g.User
}

// Review steps of a batch record.
const (
	StepProduction = "production" // production sign-off (supervisor)
	StepQA         = "qa"         // QA release (role qa), after a valid production sign-off
)

// Figures are the reconciliation figures a signature seals, kept with it so
// that a later change shows signed and current figures side by side.
type Figures struct {
	Drawn        int            `json:"drawn"`
	Commissioned int            `json:"commissioned"`
	Rejected     int            `json:"rejected"`
	Sampled      int            `json:"sampled"`
	Returned     int            `json:"returned"`
	Uncertain    int            `json:"uncertain"`
	InFlight     int            `json:"in_flight"`
	Balanced     bool           `json:"balanced"`
	Deviations   int            `json:"deviations"`
	RejectedBy   map[string]int `json:"rejected_by,omitempty"`
	// Units are the units whose outcome or close-out the record lists
	// (differences, deviations, close-outs) as "serial state reason".
	Units []string `json:"units,omitempty"`
}

// Digest is the SHA-256 (hex) of the figures' canonical JSON: what a
// signature seals. Any unit moved, sampled, rejected or closed out changes it.
func (f Figures) Digest() string {
	f.Units = slices.Clone(f.Units)
	sort.Strings(f.Units)
	b, _ := json.Marshal(f) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Signature is an electronic signature of a batch record.
type Signature struct {
	Batch string `json:"batch"`
	Step  string `json:"step"` // StepProduction or StepQA
	Signer
	Digest  string  `json:"digest"`
	Figures Figures `json:"figures"`
	// Legacy: recorded before signatures sealed the figures (no Figures;
	// its digest is of the older report format).
	Legacy bool   `json:"legacy,omitempty"`
	Seq    uint64 `json:"seq,omitempty"` // audit entry
}

// Closeout outcomes.
const (
	CloseoutFound    = "found-destroyed" // the pack was found (in the reject bin or the line) and destroyed
	CloseoutNotFound = "not-found"       // the pack was not found: a deviation
)

// Closeout is a supervisor's close-out of a unit whose reject the gate did
// not confirm (or whose fate at the gate is unknown).
type Closeout struct {
	Serial  string `json:"serial"`
	Batch   string `json:"batch"`
	Outcome string `json:"outcome"` // CloseoutFound or CloseoutNotFound
	Note    string `json:"note,omitempty"`
	Signer  Signer `json:"signature"`
	Seq     uint64 `json:"seq,omitempty"`
}

// Deviation reports whether the close-out leaves a deviation (pack not found).
func (c Closeout) Deviation() bool { return c.Outcome == CloseoutNotFound }

// CheckItem is one confirmed line clearance check.
type CheckItem struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// Clearance is a confirmed line clearance before a batch's start.
type Clearance struct {
	Batch  string      `json:"batch"`
	Items  []CheckItem `json:"items"`
	Note   string      `json:"note,omitempty"`
	Signer Signer      `json:"signature"`
	Seq    uint64      `json:"seq,omitempty"`
}

// ShiftCounts are one shift's unit counts (all batches).
type ShiftCounts struct {
	Drawn        int `json:"drawn"`
	Commissioned int `json:"commissioned"`
	Rejected     int `json:"rejected"`
	Sampled      int `json:"sampled"`
	Returned     int `json:"returned"`
	Uncertain    int `json:"uncertain"`
}

// Handover is the outgoing shift's handover note, signed, with what the
// shift leaves open.
type Handover struct {
	ID          string      `json:"id"`
	ShiftStart  time.Time   `json:"shift_start"`
	ShiftEnd    time.Time   `json:"shift_end"`
	Note        string      `json:"note"`
	Counts      ShiftCounts `json:"counts"`
	OpenAlarms  []string    `json:"open_alarms,omitempty"` // "code: text"
	Deviations  []string    `json:"deviations,omitempty"`  // open deviations
	Unsigned    []string    `json:"unsigned,omitempty"`    // batch records awaiting a signature
	Outgoing    Signer      `json:"outgoing"`
	Incoming    *Signer     `json:"incoming,omitempty"`
	Seq         uint64      `json:"seq,omitempty"`
	Acknowledge uint64      `json:"ack_seq,omitempty"`
}

// HandoverAck is the incoming shift's acknowledgement of a handover.
type HandoverAck struct {
	ID     string `json:"id"`
	Signer Signer `json:"signature"`
}

// Store is the index of the records; its methods are safe for concurrent use.
type Store struct {
	t   Trail
	now func() time.Time

	mu         sync.Mutex
	products   map[string][]Product // by GTIN, oldest version first
	sigs       map[string][]Signature
	closeouts  map[string]Closeout // by serial (the last one)
	clearances map[string][]Clearance
	handovers  []Handover
}

// Open builds the index from the trail. now is the clock (nil = time.Now).
func Open(ctx context.Context, t Trail, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{t: t, now: now, products: map[string][]Product{}, sigs: map[string][]Signature{},
		closeouts: map[string]Closeout{}, clearances: map[string][]Clearance{}}
	for _, prefix := range []string{"product.*", "record.*", actionLegacySign} {
		if err := t.Audit(ctx, journal.AuditFilter{Action: prefix}, func(e journal.AuditEntry) error {
			s.index(e)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("records: read the audit trail: %w", err)
		}
	}
	return s, nil
}

// index adds one audit entry to the index (entries that do not decode are
// skipped: journal verify checks the chain, not the payloads).
func (s *Store) index(e journal.AuditEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Action {
	case ActionProduct:
		var p Product
		if json.Unmarshal([]byte(e.After), &p) == nil && p.GTIN != "" {
			p.Seq = e.Seq
			s.products[p.GTIN] = append(s.products[p.GTIN], p)
		}
	case ActionSignature:
		var sg Signature
		if json.Unmarshal([]byte(e.After), &sg) == nil && sg.Batch != "" {
			sg.Seq = e.Seq
			s.sigs[sg.Batch] = append(s.sigs[sg.Batch], sg)
		}
	case actionLegacySign:
		var old struct {
			User, Role, Meaning, Reason, Digest string
			At                                  time.Time
		}
		if json.Unmarshal([]byte(e.After), &old) == nil && e.Before != "" {
			s.sigs[e.Before] = append(s.sigs[e.Before], Signature{Batch: e.Before, Step: StepProduction, Legacy: true, Seq: e.Seq,
				Digest: old.Digest, Signer: Signer{User: old.User, Role: old.Role, Meaning: old.Meaning, Reason: old.Reason, At: old.At}})
		}
	case ActionCloseout:
		var c Closeout
		if json.Unmarshal([]byte(e.After), &c) == nil && c.Serial != "" {
			c.Seq = e.Seq
			s.closeouts[c.Serial] = c
		}
	case ActionClearance:
		var c Clearance
		if json.Unmarshal([]byte(e.After), &c) == nil && c.Batch != "" {
			c.Seq = e.Seq
			s.clearances[c.Batch] = append(s.clearances[c.Batch], c)
		}
	case ActionHandover:
		var h Handover
		if json.Unmarshal([]byte(e.After), &h) == nil && h.ID != "" {
			h.Seq = e.Seq
			s.handovers = append(s.handovers, h)
		}
	case ActionHandoverAck:
		var a HandoverAck
		if json.Unmarshal([]byte(e.After), &a) == nil {
			for i := range s.handovers {
				if s.handovers[i].ID == a.ID && s.handovers[i].Incoming == nil {
					sg := a.Signer
					s.handovers[i].Incoming, s.handovers[i].Acknowledge = &sg, e.Seq
				}
			}
		}
	}
}

// append writes one record to the trail and indexes it.
func (s *Store) append(ctx context.Context, who, role, action, reason, before string, rec any) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	e := journal.AuditEntry{Who: who, Role: role, Action: action, Reason: reason, Before: before, After: string(b), At: s.now()}
	if err := s.t.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("records: %s: %w", action, err)
	}
	s.index(e) // Seq is filled when the index is rebuilt from the trail
	return nil
}

func checkSigner(g Signer) error {
	var miss []string
	if g.User == "" {
		miss = append(miss, "user")
	}
	if g.Meaning == "" {
		miss = append(miss, "meaning")
	}
	if g.At.IsZero() {
		miss = append(miss, "time")
	}
	if len(miss) > 0 {
		return fmt.Errorf("%w: signature without %s", ErrInvalid, strings.Join(miss, ", "))
	}
	return nil
}

// Sign records a batch record signature.
func (s *Store) Sign(ctx context.Context, sg Signature) error {
	if err := checkSigner(sg.Signer); err != nil {
		return err
	}
	if sg.Batch == "" || (sg.Step != StepProduction && sg.Step != StepQA) || sg.Digest == "" {
		return fmt.Errorf("%w: a batch record signature needs the batch, the step (production or qa) and the digest", ErrInvalid)
	}
	return s.append(ctx, sg.User, sg.Role, ActionSignature, sg.Meaning+": "+sg.Reason, sg.Batch, sg)
}

// Signatures returns the signatures of batch, oldest first.
func (s *Store) Signatures(batch string) []Signature {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sigs[batch])
}

// CloseOut records a close-out.
func (s *Store) CloseOut(ctx context.Context, c Closeout) error {
	if err := checkSigner(c.Signer); err != nil {
		return err
	}
	if c.Outcome != CloseoutFound && c.Outcome != CloseoutNotFound {
		return fmt.Errorf("%w: close-out outcome %q: want %s or %s", ErrInvalid, c.Outcome, CloseoutFound, CloseoutNotFound)
	}
	return s.append(ctx, c.Signer.User, c.Signer.Role, ActionCloseout, c.Outcome+": "+c.Note, c.Serial, c)
}

// Closeout returns the close-out of serial, if any.
func (s *Store) Closeout(serial string) (Closeout, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.closeouts[serial]
	return c, ok
}

// ConfirmClearance records a line clearance.
func (s *Store) ConfirmClearance(ctx context.Context, c Clearance) error {
	if err := checkSigner(c.Signer); err != nil {
		return err
	}
	return s.append(ctx, c.Signer.User, c.Signer.Role, ActionClearance, c.Signer.Reason, c.Batch, c)
}

// Clearance returns the latest line clearance of batch.
func (s *Store) Clearance(batch string) (Clearance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clearances[batch]
	if len(cs) == 0 {
		return Clearance{}, false
	}
	return cs[len(cs)-1], true
}

// HandOver records a shift handover; its ID is assigned here.
func (s *Store) HandOver(ctx context.Context, h Handover) (Handover, error) {
	if err := checkSigner(h.Outgoing); err != nil {
		return Handover{}, err
	}
	if strings.TrimSpace(h.Note) == "" {
		return Handover{}, fmt.Errorf("%w: note: write what the next shift must know", ErrInvalid)
	}
	s.mu.Lock()
	h.ID = "H" + strconv.Itoa(len(s.handovers)+1)
	s.mu.Unlock()
	h.Incoming = nil
	if err := s.append(ctx, h.Outgoing.User, h.Outgoing.Role, ActionHandover, h.Outgoing.Reason, h.ShiftStart.Format(time.RFC3339), h); err != nil {
		return Handover{}, err
	}
	return s.Handover(h.ID)
}

// Acknowledge records the incoming shift's acknowledgement of handover id.
func (s *Store) Acknowledge(ctx context.Context, id string, g Signer) (Handover, error) {
	if err := checkSigner(g); err != nil {
		return Handover{}, err
	}
	h, err := s.Handover(id)
	if err != nil {
		return Handover{}, err
	}
	if h.Incoming != nil {
		return Handover{}, fmt.Errorf("%w: handover %s already acknowledged by %s", ErrInvalid, id, h.Incoming.User)
	}
	if h.Outgoing.User == g.User {
		return Handover{}, fmt.Errorf("%w: handover %s: the incoming shift acknowledges, not %s who wrote it", ErrInvalid, id, g.User)
	}
	if err := s.append(ctx, g.User, g.Role, ActionHandoverAck, g.Reason, id, HandoverAck{ID: id, Signer: g}); err != nil {
		return Handover{}, err
	}
	return s.Handover(id)
}

// Handover returns handover id.
func (s *Store) Handover(id string) (Handover, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.handovers {
		if h.ID == id {
			return h, nil
		}
	}
	return Handover{}, fmt.Errorf("handover %q: %w", id, ErrNotFound)
}

// Handovers returns the handovers, newest first, at most limit (0 = all).
func (s *Store) Handovers(limit int) []Handover {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Handover, 0, len(s.handovers))
	for _, h := range slices.Backward(s.handovers) {
		out = append(out, h)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// ---- product master ----

// Level is one packaging level of a product (for aggregation): its name,
// how many of the level below it holds and how it is identified. The
// levels are listed innermost first; an optional first level "unit" of
// quantity 1 stands for the pack itself (line/aggregate reads the levels
// above it). Records written before ID and GTIN existed read as SSCC
// levels.
type Level struct {
	Name     string `json:"name"`     // "unit", "bundle", "case", "pallet"
	Quantity int    `json:"quantity"` // of the level below (1 for the unit)
	// ID is how a parent of this level is identified: "sscc" (AI 00, the
	// default when empty) or "sgtin" (GTIN + serial).
	ID string `json:"id,omitempty"`
	// GTIN of this packaging level (indicator digit), with ID sgtin.
	GTIN string `json:"gtin,omitempty"`
}

// UnitLevel is the name of the pack's own level in a product's Levels.
const UnitLevel = "unit"

// Above returns the levels above the unit, innermost first, as the
// aggregation config writes them (a leading "unit" level left out).
func (p Product) Above() []config.Level {
	var out []config.Level
	for i, l := range p.Levels {
		if i == 0 && l.Name == UnitLevel {
			continue
		}
		id := l.ID
		if id == "" {
			id = config.IDSSCC
		}
		out = append(out, config.Level{Name: l.Name, Quantity: l.Quantity, ID: id, GTIN: l.GTIN})
	}
	return out
}

// LevelsText writes levels as ParseLevels reads them:
// "unit:1, case:12, pallet:80" (":sgtin:GTIN" after a level identified
// by its own GTIN).
func LevelsText(levels []Level) string {
	var parts []string
	for _, l := range levels {
		s := l.Name + ":" + strconv.Itoa(l.Quantity)
		if l.ID == config.IDSGTIN {
			s += ":" + config.IDSGTIN + ":" + l.GTIN
		} else if l.ID != "" && l.ID != config.IDSSCC {
			s += ":" + l.ID
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// ParseLevels reads packaging levels written as
// "unit:1, case:12, pallet:80", a level as name:quantity[:sscc] or
// name:quantity:sgtin:GTIN (the CLI's --levels and the HMI's field).
// Product.Check judges the levels read.
func ParseLevels(s string) ([]Level, error) {
	var out []Level
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		f := strings.Split(part, ":")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) < 2 || len(f) > 4 {
			return nil, fmt.Errorf("%w: level %q: want name:quantity, name:quantity:sscc or name:quantity:sgtin:GTIN", ErrInvalid, part)
		}
		q, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("%w: level %q: quantity %q is not a number", ErrInvalid, part, f[1])
		}
		l := Level{Name: f[0], Quantity: q}
		if len(f) > 2 {
			l.ID = f[2]
		}
		if len(f) > 3 {
			l.GTIN = f[3]
		}
		out = append(out, l)
	}
	return out, nil
}

// Product is one version of a product in the product master.
type Product struct {
	GTIN     string  `json:"gtin"`
	Name     string  `json:"name"`
	Profile  string  `json:"profile"`  // market profile (printer/gs1): eu-fmd, us-dscsa …
	Template string  `json:"template"` // printer template / job
	Levels   []Level `json:"levels,omitempty"`
	// GCPLength is the GS1 company prefix length of the GTIN (6-12), for
	// EPCs and Digital Links.
	GCPLength int `json:"gcp_length"`
	// MinShelfLifeDays: a batch's expiry must be later than its creation
	// day plus this many days.
	MinShelfLifeDays int `json:"min_shelf_life_days"`
	// MaxBatch bounds a batch's target quantity.
	MaxBatch int `json:"max_batch"`
	// Active: batches may be created for it.
	Active bool `json:"active"`

	Version   int       `json:"version"`
	ChangedBy string    `json:"changed_by"`
	ChangedAt time.Time `json:"changed_at"`
	Reason    string    `json:"reason,omitempty"` // why this version
	Seq       uint64    `json:"seq,omitempty"`
}

// DefaultMaxBatch is a product's batch size bound when none is set.
const DefaultMaxBatch = 1_000_000

// Check lists every problem of a product definition, each naming the field
// and what to correct.
func (p Product) Check() []string {
	var out []string
	if err := gs1.CheckValue("01", p.GTIN); err != nil || len(p.GTIN) != 14 {
		out = append(out, fmt.Sprintf("gtin %q: want 14 digits with a valid check digit", p.GTIN))
	}
	if n := strings.TrimSpace(p.Name); n == "" || len(n) > 120 {
		out = append(out, "name: required, at most 120 characters")
	}
	if prof, err := gs1.LookupProfile(p.Profile); err != nil {
		var names []string
		for _, x := range gs1.Profiles() {
			names = append(names, x.Name)
		}
		out = append(out, fmt.Sprintf("profile %q: want one of %s", p.Profile, strings.Join(names, ", ")))
	} else {
		_ = prof
	}
	if strings.ContainsFunc(p.Template, func(r rune) bool { return r < ' ' || r == 0x7f || r == '|' || r == '^' || r == '~' }) || len(p.Template) > 64 {
		out = append(out, "template: at most 64 characters, no control characters or printer delimiters (| ^ ~)")
	}
	if p.GCPLength < 6 || p.GCPLength > 12 {
		out = append(out, fmt.Sprintf("gcp_length %d: want 6..12 (the GS1 company prefix length of the GTIN)", p.GCPLength))
	}
	if p.MinShelfLifeDays < 0 || p.MinShelfLifeDays > 3650 {
		out = append(out, fmt.Sprintf("min_shelf_life_days %d: want 0..3650", p.MinShelfLifeDays))
	}
	if p.MaxBatch < 0 || p.MaxBatch > 10_000_000 {
		out = append(out, fmt.Sprintf("max_batch %d: want 1..10000000 (0 = %d)", p.MaxBatch, DefaultMaxBatch))
	}
	for i, l := range p.Levels {
		if l.Name == UnitLevel && (i != 0 || l.Quantity != 1 || l.ID != "" || l.GTIN != "") {
			out = append(out, fmt.Sprintf("levels[%d]: %q is the pack itself: only as the first level, quantity 1, no id or gtin", i, UnitLevel))
		}
	}
	off := len(p.Levels) - len(p.Above()) // a leading unit level
	for _, pr := range config.CheckLevels(p.Above(), p.GTIN, off) {
		out = append(out, pr.String())
	}
	return out
}

// SaveProduct records a new version of p (version = previous + 1).
func (s *Store) SaveProduct(ctx context.Context, p Product, by, role string) (Product, error) {
	if p.MaxBatch == 0 {
		p.MaxBatch = DefaultMaxBatch
	}
	if probs := p.Check(); len(probs) > 0 {
		return Product{}, fmt.Errorf("%w: product: %s", ErrInvalid, strings.Join(probs, "; "))
	}
	s.mu.Lock()
	prev := s.products[p.GTIN]
	s.mu.Unlock()
	p.Version = len(prev) + 1
	p.ChangedBy, p.ChangedAt, p.Seq = by, s.now().UTC(), 0
	before := ""
	if len(prev) > 0 {
		b, _ := json.Marshal(prev[len(prev)-1])
		before = string(b)
	}
	b, _ := json.Marshal(p)
	e := journal.AuditEntry{Who: by, Role: role, Action: ActionProduct, Reason: p.Reason, Before: before, After: string(b), At: p.ChangedAt}
	if err := s.t.AppendAudit(ctx, e); err != nil {
		return Product{}, fmt.Errorf("records: product %s: %w", p.GTIN, err)
	}
	s.index(e)
	return p, nil
}

// Product returns the current version of gtin's product.
func (s *Store) Product(gtin string) (Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.products[gtin]
	if len(vs) == 0 {
		return Product{}, fmt.Errorf("GTIN %s is not in the product master: %w", gtin, ErrNotFound)
	}
	return vs[len(vs)-1], nil
}

// ProductAt returns the version of gtin's product in force at t: the
// last one saved at or before t, to the millisecond (the journal keeps
// times, such as a batch's creation, in milliseconds: a version saved in
// the same millisecond before the batch counts). A batch keeps the master
// data it was defined with; a later version applies to later batches. A
// zero t gives the current version.
func (s *Store) ProductAt(gtin string, t time.Time) (Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.products[gtin]
	if len(vs) == 0 {
		return Product{}, fmt.Errorf("GTIN %s is not in the product master: %w", gtin, ErrNotFound)
	}
	if t.IsZero() {
		return vs[len(vs)-1], nil
	}
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].ChangedAt.Truncate(time.Millisecond).After(t) {
			return vs[i], nil
		}
	}
	return Product{}, fmt.Errorf("GTIN %s: no product master version saved by %s (the first is version %d of %s): %w",
		gtin, t.UTC().Format(time.RFC3339), vs[0].Version, vs[0].ChangedAt.UTC().Format(time.RFC3339), ErrNotFound)
}

// ProductVersions returns every version of gtin's product, oldest first.
func (s *Store) ProductVersions(gtin string) []Product {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.products[gtin])
}

// Products returns the current version of every product, by GTIN.
func (s *Store) Products() []Product {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Product, 0, len(s.products))
	for _, vs := range s.products {
		out = append(out, vs[len(vs)-1])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GTIN < out[j].GTIN })
	return out
}

// PrefixLength implements gcp.Lookup with the product master: the
// gcp_length of the current version of the product whose GTIN, or one of
// whose packaging levels' GTIN, is gtin. A GTIN not in the master is
// gcp.ErrUnknown (the next lookup of a gcp.Chain is asked).
func (s *Store) PrefixLength(gtin string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if vs := s.products[gtin]; len(vs) > 0 {
		return vs[len(vs)-1].GCPLength, nil
	}
	for _, vs := range s.products {
		p := vs[len(vs)-1]
		for _, l := range p.Levels {
			if l.GTIN == gtin {
				return p.GCPLength, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: GTIN %s is not in the product master", gcp.ErrUnknown, gtin)
}
