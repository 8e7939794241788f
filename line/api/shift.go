package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/i18n"
	"github.com/serialine/serialine/line/reconcile"
	"github.com/serialine/serialine/line/records"
)

// shiftRoutes are the routes of the shift's records: product master,
// rules (checklist, reason codes), line clearance, close-outs, shift
// report and handover.
func (s *Server) shiftRoutes() {
	h := s.route
	h("GET /api/v1/products", operator, "", (*Server).products)
	h("GET /api/v1/products/{gtin}", operator, "", (*Server).product)
	h("PUT /api/v1/products/{gtin}", admin, "api.product.save", (*Server).saveProduct)
	h("GET /api/v1/shift/rules", operator, "", (*Server).rules)
	h("GET /api/v1/batches/{id}/clearance", operator, "", (*Server).clearance)
	h("POST /api/v1/batches/{id}/clearance", operator, "api.batch.clearance", (*Server).confirmClearance)
	h("POST /api/v1/units/{serial}/closeout", supervisor, "api.unit.closeout", (*Server).closeout)
	h("GET /api/v1/shift/report", operator, "", (*Server).shiftReport)
	h("GET /api/v1/shift/handovers", operator, "", (*Server).handovers)
	h("POST /api/v1/shift/handovers", operator, "api.shift.handover", (*Server).handOver)
	h("POST /api/v1/shift/handovers/{hid}/ack", operator, "api.shift.handover.ack", (*Server).ackHandover)
}

// ---- product master ----

// ProductView is a product's current version with its version history.
type ProductView struct {
	records.Product
	Versions []records.Product `json:"versions,omitempty"`
}

func (s *Server) products(c *call) error {
	if s.o.Records == nil {
		return errNoRecords
	}
	ps := s.o.Records.Products()
	if ps == nil {
		ps = []records.Product{}
	}
	writeJSON(c.w, http.StatusOK, ps)
	return nil
}

func (s *Server) product(c *call) error {
	if s.o.Records == nil {
		return errNoRecords
	}
	p, err := s.o.Records.Product(c.r.PathValue("gtin"))
	if err != nil {
		return recordsErr(err)
	}
	writeJSON(c.w, http.StatusOK, ProductView{Product: p, Versions: s.o.Records.ProductVersions(p.GTIN)})
	return nil
}

// ProductRequest is the body of PUT /products/{gtin}: the whole product
// (a new version) and why it changes.
type ProductRequest struct {
	Name             string          `json:"name"`
	Profile          string          `json:"profile"`
	Template         string          `json:"template"`
	Levels           []records.Level `json:"levels,omitempty"`
	GCPLength        int             `json:"gcp_length"`
	MinShelfLifeDays int             `json:"min_shelf_life_days"`
	MaxBatch         int             `json:"max_batch,omitempty"`
	Active           *bool           `json:"active,omitempty"` // default true
	Reason           string          `json:"reason"`
}

func (s *Server) saveProduct(c *call) error {
	if s.o.Records == nil {
		return errNoRecords
	}
	var req ProductRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	gtin := c.r.PathValue("gtin")
	if strings.TrimSpace(req.Reason) == "" {
		return badRequest("reason: required (why the product is added or changed: e.g. new artwork, change control CC-1234)")
	}
	active := req.Active == nil || *req.Active
	p := records.Product{GTIN: gtin, Name: strings.TrimSpace(req.Name), Profile: req.Profile, Template: req.Template, Levels: req.Levels,
		GCPLength: req.GCPLength, MinShelfLifeDays: req.MinShelfLifeDays, MaxBatch: req.MaxBatch, Active: active, Reason: req.Reason}
	if probs := p.Check(); len(probs) > 0 {
		return badRequest("product not saved; correct: %s", strings.Join(probs, "; "))
	}
	saved, err := s.o.Records.SaveProduct(c.r.Context(), p, c.sess.User, string(c.sess.Role))
	if err != nil {
		return recordsErr(err)
	}
	return s.done(c, http.StatusOK, ProductView{Product: saved, Versions: s.o.Records.ProductVersions(gtin)}, req.Reason,
		fmt.Sprintf("version=%d name=%q profile=%s template=%s gcp_length=%d min_shelf_life_days=%d max_batch=%d active=%t levels=%q",
			saved.Version, saved.Name, saved.Profile, saved.Template, saved.GCPLength, saved.MinShelfLifeDays, saved.MaxBatch, saved.Active,
			records.LevelsText(saved.Levels)))
}

// ---- rules ----

// Rules are the line's shift rules as the HMI and CLI show them, texts in
// the caller's language.
type Rules struct {
	TimeZone  string                         `json:"time_zone"`
	Language  string                         `json:"language"`  // the line's default
	Languages []string                       `json:"languages"` // the catalogues
	Clearance []config.ChecklistItem         `json:"clearance"`
	Reasons   map[string][]config.ReasonCode `json:"reasons"`
	// OperatorUnitActionsNeedSupervisor: an operator's sample or
	// damaged-pack reject needs a supervisor's co-signature.
	OperatorUnitActionsNeedSupervisor bool     `json:"operator_unit_actions_need_supervisor"`
	BatchIDRule                       string   `json:"batch_id_rule"`
	Meanings                          []string `json:"meanings"`
}

func (s *Server) rules(c *call) error {
	writeJSON(c.w, http.StatusOK, s.rulesFor(c.lang()))
	return nil
}

func (s *Server) rulesFor(lang string) Rules {
	r := Rules{TimeZone: s.o.Location.String(), Language: s.o.Shift.Language, Languages: i18n.Languages(),
		OperatorUnitActionsNeedSupervisor: s.o.Shift.OperatorUnitActionsNeedSupervisor, BatchIDRule: BatchIDRule, Meanings: Meanings(),
		Reasons: map[string][]config.ReasonCode{}}
	for _, it := range s.checklist() {
		if t, ok := i18n.Lookup(lang, "clearance."+it.ID); ok {
			it.Text = t
		}
		r.Clearance = append(r.Clearance, it)
	}
	for cmd, list := range s.o.Shift.Reasons {
		for _, rc := range list {
			if t, ok := i18n.Lookup(lang, "reason."+rc.Code); ok {
				rc.Text = t
			}
			r.Reasons[cmd] = append(r.Reasons[cmd], rc)
		}
	}
	if r.Clearance == nil {
		r.Clearance = []config.ChecklistItem{}
	}
	return r
}

// ---- line clearance ----

// ClearanceView is a batch's line clearance: the checklist and, once
// confirmed, the record.
type ClearanceView struct {
	Batch     string                 `json:"batch"`
	Required  bool                   `json:"required"`
	Checklist []config.ChecklistItem `json:"checklist"`
	Confirmed *records.Clearance     `json:"confirmed,omitempty"`
}

// checklist is the line clearance checklist the controller requires
// (ClearanceKeeper); none when it keeps no line clearance.
func (s *Server) checklist() []config.ChecklistItem {
	if ck, ok := s.o.Controller.(ClearanceKeeper); ok {
		return ck.ClearanceChecklist()
	}
	return nil
}

func (s *Server) clearance(c *call) error {
	id := c.r.PathValue("id")
	if _, err := s.o.Controller.Batch(c.r.Context(), id); err != nil {
		return err
	}
	v := ClearanceView{Batch: id, Required: len(s.checklist()) > 0, Checklist: s.rulesFor(c.lang()).Clearance}
	if ck, ok := s.o.Controller.(ClearanceKeeper); ok {
		if cl, ok := ck.Clearance(id); ok {
			v.Confirmed = &cl
		}
	}
	writeJSON(c.w, http.StatusOK, v)
	return nil
}

// ClearanceRequest confirms a line clearance: the ids of every checked
// item, an optional note, and the e-signature (meaning "performed").
type ClearanceRequest struct {
	Checked   []string          `json:"checked"`
	Note      string            `json:"note,omitempty"`
	Signature *SignatureRequest `json:"signature"`
}

func (s *Server) confirmClearance(c *call) error {
	ck, ok := s.o.Controller.(ClearanceKeeper)
	if !ok {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this controller keeps no line clearance"}
	}
	var req ClearanceRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	id := c.r.PathValue("id")
	b, err := s.o.Controller.Batch(c.r.Context(), id)
	if err != nil {
		return err
	}
	if b.State != "Idle" {
		return fmt.Errorf("batch %s is %s: line clearance is confirmed before its start: %w", id, b.State, ErrInvalidState)
	}
	var items []records.CheckItem
	for _, it := range s.rulesFor(c.lang()).Clearance {
		if slices.Contains(req.Checked, it.ID) {
			items = append(items, records.CheckItem{ID: it.ID, Text: it.Text})
		}
	}
	cl := records.Clearance{Batch: id, Items: items, Note: strings.TrimSpace(req.Note)}
	cl.Signer.User, cl.Signer.Meaning, cl.Signer.At = c.sess.User, MeaningPerformed, s.o.Now()
	if err := CheckClearance(s.rulesFor(c.lang()).Clearance, cl); err != nil { // before the password is asked
		return err
	}
	sig, err := s.sign(c, "line clearance before batch "+id, req.Signature, auth.RoleOperator)
	if err != nil {
		return err
	}
	cl.Signer = signerOf(sig)
	if err := ck.ConfirmClearance(c.r.Context(), cl); err != nil {
		return err
	}
	return s.done(c, http.StatusOK, ClearanceView{Batch: id, Required: true, Checklist: s.rulesFor(c.lang()).Clearance, Confirmed: &cl},
		req.Note, fmt.Sprintf("%d item(s) checked signed meaning=%s", len(items), sig.Meaning))
}

// ---- shift report and handover ----

// ShiftReport is one shift's production and what it leaves open.
type ShiftReport struct {
	Start    time.Time           `json:"start"`
	End      time.Time           `json:"end"`
	TimeZone string              `json:"time_zone"`
	Counts   records.ShiftCounts `json:"counts"`
	// Batches are the batches that drew serials in this shift, with the
	// shift's share.
	Batches []ShiftBatch `json:"batches"`
	// OpenAlarms need attention (active or not acknowledged).
	OpenAlarms []Alarm `json:"open_alarms"`
	// Deviations are rejects not confirmed by the gate and not closed out,
	// or closed out as not found.
	Deviations []string `json:"deviations"`
	// Unsigned are finished batches whose record awaits a signature.
	Unsigned  []string           `json:"unsigned"`
	Handovers []records.Handover `json:"handovers"`
}

// ShiftBatch is one batch's share of a shift.
type ShiftBatch struct {
	ID     string              `json:"id"`
	State  string              `json:"state"`
	Counts records.ShiftCounts `json:"counts"`
}

func (s *Server) shiftReport(c *call) error {
	at := s.o.Now()
	if v := c.r.URL.Query().Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return badRequest("query parameter at=%q: want RFC 3339 time", v)
		}
		at = t
	}
	rep, err := s.buildShiftReport(c.r.Context(), at, c.lang())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, rep)
	return nil
}

func (s *Server) buildShiftReport(ctx context.Context, at time.Time, lang string) (ShiftReport, error) {
	sh, err := reconcile.ParseShifts(s.o.Shifts, s.o.Location)
	if err != nil {
		sh = reconcile.Shifts{}
	}
	start, end := sh.Of(at)
	rep := ShiftReport{Start: start, End: end, TimeZone: s.o.Location.String(), Batches: []ShiftBatch{}, OpenAlarms: []Alarm{},
		Deviations: []string{}, Unsigned: []string{}, Handovers: []records.Handover{}}
	bs, err := s.o.Controller.Batches(ctx, 50)
	if err != nil {
		return rep, err
	}
	rp, hasReports := s.o.Controller.(Reporter)
	for _, b := range bs {
		if b.Created.After(end) {
			continue
		}
		var share *ShiftBatch
		if hasReports {
			r, err := rp.ReconcileReport(ctx, b.ID)
			if err != nil {
				continue
			}
			for _, x := range r.Shifts {
				if x.Start.Equal(start) {
					k := x.Counts
					share = &ShiftBatch{ID: b.ID, State: b.State, Counts: records.ShiftCounts{Drawn: k.Drawn, Commissioned: k.Commissioned,
						Rejected: k.Rejected, Sampled: k.Sampled, Returned: k.Returned, Uncertain: k.Uncertain}}
				}
			}
		} else if !b.Created.Before(start) {
			k := b.Counters
			share = &ShiftBatch{ID: b.ID, State: b.State, Counts: records.ShiftCounts{Drawn: k.Commissioned + k.Rejected + k.Sampled + k.Returned + k.Uncertain,
				Commissioned: k.Commissioned, Rejected: k.Rejected, Sampled: k.Sampled, Returned: k.Returned, Uncertain: k.Uncertain}}
		}
		if share == nil {
			continue
		}
		rep.Batches = append(rep.Batches, *share)
		k := &rep.Counts
		k.Drawn += share.Counts.Drawn
		k.Commissioned += share.Counts.Commissioned
		k.Rejected += share.Counts.Rejected
		k.Sampled += share.Counts.Sampled
		k.Returned += share.Counts.Returned
		k.Uncertain += share.Counts.Uncertain
		rec, err := s.reviewed(ctx, b.ID)
		if err != nil {
			continue
		}
		for _, serial := range rec.DeviationSerials {
			if co, ok := s.closeoutOf(serial); !ok || co.Deviation() {
				rep.Deviations = append(rep.Deviations, b.ID+" "+serial)
			}
		}
		if rec.Final && rec.Review != nil && !rec.Review.Released {
			rep.Unsigned = append(rep.Unsigned, b.ID+" ("+rec.Review.Next+")")
		}
	}
	sort.Slice(rep.Batches, func(i, j int) bool { return rep.Batches[i].ID < rep.Batches[j].ID })
	if as, err := s.o.Controller.Alarms(ctx, true); err == nil {
		for _, a := range as {
			rep.OpenAlarms = append(rep.OpenAlarms, a.Localize(lang))
		}
	}
	if s.o.Records != nil {
		for _, h := range s.o.Records.Handovers(0) {
			if h.ShiftStart.Equal(start) {
				rep.Handovers = append(rep.Handovers, h)
			}
		}
	}
	return rep, nil
}

func (s *Server) closeoutOf(serial string) (records.Closeout, bool) {
	if s.o.Records == nil {
		return records.Closeout{}, false
	}
	return s.o.Records.Closeout(serial)
}

func (s *Server) handovers(c *call) error {
	if s.o.Records == nil {
		return errNoRecords
	}
	limit, err := queryInt(c.r, "limit", 20, 500)
	if err != nil {
		return err
	}
	hs := s.o.Records.Handovers(limit)
	if hs == nil {
		hs = []records.Handover{}
	}
	writeJSON(c.w, http.StatusOK, hs)
	return nil
}

// HandoverRequest is the outgoing shift's handover note with its
// e-signature (meaning "handed-over").
type HandoverRequest struct {
	Note      string            `json:"note"`
	Signature *SignatureRequest `json:"signature"`
}

func (s *Server) handOver(c *call) error {
	if s.o.Records == nil {
		return errNoRecords
	}
	var req HandoverRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Note) == "" {
		return badRequest("note: write what the next shift must know (open points, material, faults)")
	}
	if req.Signature != nil && req.Signature.Meaning != MeaningHandedOver {
		return badRequest("handover signature meaning %q: want %s", req.Signature.Meaning, MeaningHandedOver)
	}
	rep, err := s.buildShiftReport(c.r.Context(), s.o.Now(), i18n.Default)
	if err != nil {
		return err
	}
	sig, err := s.sign(c, "shift handover "+rep.Start.Format("2006-01-02 15:04"), req.Signature, auth.RoleOperator)
	if err != nil {
		return err
	}
	h := records.Handover{ShiftStart: rep.Start, ShiftEnd: rep.End, Note: strings.TrimSpace(req.Note), Counts: rep.Counts,
		Deviations: rep.Deviations, Unsigned: rep.Unsigned,
		Outgoing: signerOf(sig)}
	for _, a := range rep.OpenAlarms {
		h.OpenAlarms = append(h.OpenAlarms, a.Code+": "+a.Text)
	}
	saved, err := s.o.Records.HandOver(c.r.Context(), h)
	if err != nil {
		return recordsErr(err)
	}
	c.target = saved.ID
	return s.done(c, http.StatusCreated, saved, req.Note, fmt.Sprintf("shift %s open alarms %d deviations %d unsigned %d",
		saved.ShiftStart.Format(time.RFC3339), len(saved.OpenAlarms), len(saved.Deviations), len(saved.Unsigned)))
}

// HandoverAckRequest is the incoming shift's acknowledgement.
type HandoverAckRequest struct {
	Signature *SignatureRequest `json:"signature"`
}

func (s *Server) ackHandover(c *call) error {
	if s.o.Records == nil {
		return errNoRecords
	}
	var req HandoverAckRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	id := c.r.PathValue("hid")
	c.target = id
	h, err := s.o.Records.Handover(id)
	if err != nil {
		return recordsErr(err)
	}
	if h.Incoming != nil {
		return fmt.Errorf("handover %s already acknowledged by %s: %w", id, h.Incoming.User, ErrInvalidState)
	}
	if h.Outgoing.User == c.sess.User {
		return fmt.Errorf("handover %s: the incoming shift acknowledges it, not %s who wrote it: %w", id, c.sess.User, ErrRefused)
	}
	if req.Signature != nil && req.Signature.Meaning != MeaningAcknowledged {
		return badRequest("acknowledgement meaning %q: want %s", req.Signature.Meaning, MeaningAcknowledged)
	}
	sig, err := s.sign(c, "acknowledgement of shift handover "+id, req.Signature, auth.RoleOperator)
	if err != nil {
		return err
	}
	out, err := s.o.Records.Acknowledge(c.r.Context(), id, signerOf(sig))
	if err != nil {
		return recordsErr(err)
	}
	return s.done(c, http.StatusOK, out, "", "signed meaning="+sig.Meaning)
}
