package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/serialine/serialine/line/auth"
)

// Aggregation is what the API needs from the aggregation controller
// (line/aggregate.Aggregator satisfies it): stations, rework, lookups and
// the reconciliation per level. Errors wrap the sentinels of errors.go as
// for Controller.
type Aggregation interface {
	// AggStatus is the live aggregation picture of the current batch.
	AggStatus(ctx context.Context) (AggStatus, error)
	// AggLookup answers "where is this code?": a unit's parent chain, a
	// case's or pallet's contents down to the units.
	AggLookup(ctx context.Context, code string) (AggLookup, error)
	// Station returns a station's state (case, pallet, manual).
	Station(ctx context.Context, station string) (StationState, error)
	// Scan is one scan at a station (handheld or the HMI's scan field):
	// checked and answered at once; nothing is aggregated from a refused scan.
	Scan(ctx context.Context, station, code string, by Actor) (ScanResult, error)
	// StationCommand changes a station's mode or closes its open parent
	// partially (sig: the supervisor's verified e-signature, required for
	// a partial close).
	StationCommand(ctx context.Context, station string, cmd StationCommand, by Actor, sig *Signature) (StationState, error)
	// Rework unpacks a parent, removes children, or relabels it (new code,
	// old one decommissioned), under a supervisor's e-signature.
	Rework(ctx context.Context, req ReworkRequest, by Actor, sig Signature) (AggParent, error)
	// AggReconciliation is the batch's reconciliation per level.
	AggReconciliation(ctx context.Context, batch string) (AggReconciliation, error)
	// FinishAggregation ends the batch's aggregation (supervisor, e-signed):
	// orphans handled by the batch policy, no parent left open.
	FinishAggregation(ctx context.Context, batch string, by Actor, sig Signature) (AggReconciliation, error)
}

// AggOpener is the Aggregation's check that a batch's aggregation is not
// left open (line/aggregate.Aggregator has it): the batch record is not
// signed while parents of the batch are open. AggOpen returns nil when
// none is, an error naming them and saying what to do (wrapping
// ErrRefused) when some are.
type AggOpener interface {
	AggOpen(ctx context.Context, batch string) error
}

// aggOpen is the Aggregation's AggOpen for batch id (nil without
// aggregation, or when the Aggregation cannot tell).
func (s *Server) aggOpen(ctx context.Context, id string) error {
	if o, ok := s.o.Aggregation.(AggOpener); ok {
		return o.AggOpen(ctx, id)
	}
	return nil
}

// AggParent is a case, bundle or pallet.
type AggParent struct {
	Code     string    `json:"code"`  // journal code: 00+SSCC or 01+GTIN+21+serial
	HRI      string    `json:"hri"`   // (00) 3 0614141… as printed
	Level    string    `json:"level"` // case, pallet, …
	State    string    `json:"state"` // open, closed, unpacked, void
	Partial  bool      `json:"partial,omitempty"`
	Count    int       `json:"count"` // children now
	Capacity int       `json:"capacity"`
	Batch    string    `json:"batch"`
	In       string    `json:"in,omitempty"` // the parent holding it
	Station  string    `json:"station,omitempty"`
	Children []string  `json:"children,omitempty"`
	Updated  time.Time `json:"updated"`
	// Archive is the archive file the parent was read from (its batch is
	// archived); "" for a parent of the live journal.
	Archive string `json:"archive,omitempty"`
}

// CaseRead is one case the inline station saw.
type CaseRead struct {
	Seq      uint64    `json:"seq"`   // case line product id
	Codes    int       `json:"codes"` // codes read
	Capacity int       `json:"capacity"`
	Result   string    `json:"result"` // "packed", "rework", "waiting"
	Reason   string    `json:"reason,omitempty"`
	Code     string    `json:"code,omitempty"` // its parent code when packed
	At       time.Time `json:"at"`
}

// AggStatus is the aggregation picture of the current batch.
type AggStatus struct {
	Enabled   bool           `json:"enabled"`
	Batch     string         `json:"batch,omitempty"`
	Levels    []AggLevel     `json:"levels,omitempty"`
	LastCases []CaseRead     `json:"last_cases,omitempty"`
	Pallet    *AggParent     `json:"pallet,omitempty"` // pallet being built
	Rework    int            `json:"rework"`           // cases sent to the rework lane this batch
	Orphans   int            `json:"orphans"`          // commissioned units in no parent now
	SSCCLeft  int            `json:"sscc_left"`        // SSCCs left to draw
	Stations  []StationState `json:"stations,omitempty"`
	At        time.Time      `json:"at"`
}

// AggLevel counts one level's parents.
type AggLevel struct {
	Name     string `json:"name"`
	Capacity int    `json:"capacity"`
	Full     int    `json:"full"`
	Partial  int    `json:"partial"`
	Open     int    `json:"open"`
}

// AggLookup is where a code stands in the hierarchy.
type AggLookup struct {
	Code   string      `json:"code"`
	Kind   string      `json:"kind"`           // "unit" or "parent"
	Unit   *Unit       `json:"unit,omitempty"` // a unit: its record
	Parent *AggParent  `json:"parent,omitempty"`
	Chain  []AggParent `json:"chain,omitempty"` // parents holding it, innermost first
	// Contents: a parent's children down to the units.
	Contents *AggTree `json:"contents,omitempty"`
	Units    int      `json:"units"` // units inside (parent)
}

// AggTree is a parent with its children.
type AggTree struct {
	AggParent
	Parents []AggTree `json:"parents,omitempty"`
	Units   []Unit    `json:"units,omitempty"`
}

// StationState is a station's state.
type StationState struct {
	Name string     `json:"name"` // case, pallet, manual
	Mode string     `json:"mode"` // manual: case, pallet, rework-remove, rework-add
	Link string     `json:"link"` // devices up?
	Open *AggParent `json:"open,omitempty"`
	// AwaitLabel: the open parent's label is printed; scan it to close.
	AwaitLabel bool        `json:"await_label,omitempty"`
	Partial    string      `json:"partial,omitempty"` // armed partial close: who
	Last       *ScanResult `json:"last,omitempty"`
}

// ScanResult is the answer to one scan.
type ScanResult struct {
	Code    string     `json:"code"`
	OK      bool       `json:"ok"`
	Message string     `json:"message"`
	Parent  *AggParent `json:"parent,omitempty"`
	At      time.Time  `json:"at"`
}

// StationCommand changes a station.
type StationCommand struct {
	// Command: "mode" (Mode), "close-partial" (supervisor e-signature),
	// "cancel" (void the open parent, its children freed).
	Command string `json:"command"`
	Mode    string `json:"mode,omitempty"`
	Parent  string `json:"parent,omitempty"` // rework modes: the parent worked on
	Reason  string `json:"reason,omitempty"`
	// Signature: with close-partial.
	Signature *SignatureRequest `json:"signature,omitempty"`
}

// ReworkRequest is a rework action.
type ReworkRequest struct {
	Action    string            `json:"action"` // unpack, remove, relabel
	Parent    string            `json:"parent"`
	Children  []string          `json:"children,omitempty"` // remove
	Reason    string            `json:"reason"`
	Signature *SignatureRequest `json:"signature"`
}

// AggReconciliation is a batch's reconciliation per level.
type AggReconciliation struct {
	Batch  string     `json:"batch"`
	Levels []AggLevel `json:"levels"`
	// Units: commissioned = aggregated + orphans.
	Commissioned int      `json:"commissioned"`
	Aggregated   int      `json:"aggregated"`
	Orphans      []string `json:"orphans,omitempty"`
	OrphanPolicy string   `json:"orphan_policy"`
	// SSCCs (codes) drawn for the batch = used + scrapped (+ open).
	CodesDrawn    int `json:"codes_drawn"`
	CodesUsed     int `json:"codes_used"`     // on a closed parent now
	CodesRetired  int `json:"codes_retired"`  // decommissioned (unpacked, relabelled)
	CodesScrapped int `json:"codes_scrapped"` // void: label failed, case to rework
	CodesOpen     int `json:"codes_open"`     // parents still open
	ReworkCases   int `json:"rework_cases"`
	// Balanced: every commissioned unit in exactly one parent or listed
	// as an orphan, no parent open, codes drawn = used + retired + scrapped.
	Balanced bool       `json:"balanced"`
	Problems []string   `json:"problems,omitempty"`
	Finished *Signature `json:"finished,omitempty"`
	// Pending EPCIS aggregation events not yet reported upstream.
	PendingEvents int       `json:"pending_events"`
	Generated     time.Time `json:"generated"`
}

// ---- routes ----

func (s *Server) aggregationRoutes(h func(pattern string, acc access, action string, fn handler)) {
	if s.o.Aggregation == nil {
		return
	}
	h("GET /api/v1/aggregation/status", operator, "", (*Server).aggStatus)
	h("GET /api/v1/aggregation/lookup", operator, "", (*Server).aggLookup)
	h("GET /api/v1/aggregation/stations/{station}", operator, "", (*Server).aggStation)
	h("POST /api/v1/aggregation/stations/{station}/scan", operator, "api.aggregation.scan", (*Server).aggScan)
	h("POST /api/v1/aggregation/stations/{station}/command", operator, "api.aggregation.command", (*Server).aggCommand)
	h("POST /api/v1/aggregation/rework", supervisor, "api.aggregation.rework", (*Server).aggRework)
	h("GET /api/v1/batches/{id}/aggregation", operator, "", (*Server).aggReconciliation)
	h("POST /api/v1/batches/{id}/aggregation/finish", supervisor, "api.aggregation.finish", (*Server).aggFinish)
}

func (s *Server) aggStatus(c *call) error {
	st, err := s.o.Aggregation.AggStatus(c.r.Context())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, st)
	return nil
}

func (s *Server) aggLookup(c *call) error {
	code := strings.TrimSpace(c.r.URL.Query().Get("code"))
	if code == "" {
		return badRequest("query parameter code is required (serial, element string, SSCC, Digital Link)")
	}
	l, err := s.o.Aggregation.AggLookup(c.r.Context(), code)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, l)
	return nil
}

func (s *Server) aggStation(c *call) error {
	st, err := s.o.Aggregation.Station(c.r.Context(), c.r.PathValue("station"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, st)
	return nil
}

type scanRequest struct {
	Code string `json:"code"`
}

func (s *Server) aggScan(c *call) error {
	var req scanRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	c.target = c.r.PathValue("station")
	res, err := s.o.Aggregation.Scan(c.r.Context(), c.r.PathValue("station"), req.Code, c.actor())
	if err != nil {
		return err
	}
	verdict := "accepted"
	if !res.OK {
		verdict = "refused"
	}
	return s.done(c, http.StatusOK, res, "", fmt.Sprintf("scan %q %s: %s", req.Code, verdict, res.Message))
}

func (s *Server) aggCommand(c *call) error {
	var req StationCommand
	if err := decode(c, &req); err != nil {
		return err
	}
	station := c.r.PathValue("station")
	c.target = station
	var sig *Signature
	if req.Command == "close-partial" {
		if !c.sess.Role.AtLeast(auth.RoleSupervisor) {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "a partial close needs a supervisor"}
		}
		sg, err := s.sign(c, "partial close at station "+station, req.Signature, auth.RoleSupervisor)
		if err != nil {
			return err
		}
		sig = &sg
	}
	st, err := s.o.Aggregation.StationCommand(c.r.Context(), station, req, c.actor(), sig)
	if err != nil {
		return err
	}
	return s.done(c, http.StatusOK, st, req.Reason, req.Command+" "+req.Mode)
}

func (s *Server) aggRework(c *call) error {
	var req ReworkRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	switch req.Action {
	case "unpack", "remove", "relabel":
	default:
		return badRequest("action %q: want unpack, remove or relabel", req.Action)
	}
	if strings.TrimSpace(req.Reason) == "" || req.Parent == "" {
		return badRequest("parent and reason are required")
	}
	c.action, c.target = "api.aggregation."+req.Action, req.Parent
	sig, err := s.sign(c, req.Action+" of "+req.Parent, req.Signature, auth.RoleSupervisor)
	if err != nil {
		return err
	}
	p, err := s.o.Aggregation.Rework(c.r.Context(), req, c.actor(), sig)
	if err != nil {
		return err
	}
	return s.done(c, http.StatusOK, p, req.Reason, "state="+p.State+" signed meaning="+sig.Meaning)
}

func (s *Server) aggReconciliation(c *call) error {
	r, err := s.o.Aggregation.AggReconciliation(c.r.Context(), c.r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, r)
	return nil
}

func (s *Server) aggFinish(c *call) error {
	var req SignatureRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	id := c.r.PathValue("id")
	sig, err := s.sign(c, "aggregation of batch "+id, &req, auth.RoleSupervisor)
	if err != nil {
		return err
	}
	r, err := s.o.Aggregation.FinishAggregation(c.r.Context(), id, c.actor(), sig)
	if err != nil {
		return err
	}
	return s.done(c, http.StatusOK, r, req.Reason, fmt.Sprintf("balanced=%t orphans=%d policy=%s", r.Balanced, len(r.Orphans), r.OrphanPolicy))
}
