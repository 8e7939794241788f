package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/records"
)

// The batch record review (21 CFR Part 11, EU GMP Annex 11): a signature
// seals the reconciliation figures it signed (records.Figures.Digest). Any
// later change — a QA sample, a manual reject, a decommission, a close-out
// — changes the figures; the signature then no longer seals the record,
// the record shows "changed after signing" with the signed and the current
// figures side by side, and it needs a new signature. Two steps: the
// production sign-off (supervisor), then the QA release (role qa, another
// person); the batch is released only while both seal the record as it is.
// Neither step is given while aggregation parents (cases, pallets) of the
// batch are still open (AggOpener); the reconciliation names them.

func (s *Server) reconciliation(c *call) error {
	rec, err := s.reviewed(c.r.Context(), c.r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, rec)
	return nil
}

// reviewed is the controller's reconciliation with the close-outs applied
// and the review attached.
func (s *Server) reviewed(ctx context.Context, id string) (Reconciliation, error) {
	rec, err := s.o.Controller.Reconciliation(ctx, id)
	if err != nil {
		return rec, err
	}
	rec.TimeZone = s.o.Location.String()
	if err := s.aggOpen(ctx, id); errors.Is(err, ErrRefused) {
		rec.AggregationOpen = plain(err.Error())
	} else if err != nil {
		return rec, fmt.Errorf("batch %s: aggregation: %w", id, err)
	}
	if s.o.Records == nil {
		return rec, nil
	}
	// close-outs: a pack found and destroyed resolves its deviation; one
	// not found stays a deviation, now on record
	open := 0
	for _, serial := range rec.DeviationSerials {
		co, ok := s.o.Records.Closeout(serial)
		if !ok || co.Deviation() {
			open++
		}
	}
	for _, d := range rec.Differences {
		if co, ok := s.o.Records.Closeout(d.Serial); ok {
			rec.Closeouts = append(rec.Closeouts, closeoutView(co))
		}
	}
	if len(rec.DeviationSerials) > 0 || len(rec.Closeouts) > 0 {
		rec.Deviations = open
		for _, co := range rec.Closeouts {
			if co.Deviation && !slices.Contains(rec.DeviationSerials, co.Serial) {
				rec.Deviations++
			}
		}
	}
	rv := &Review{Current: figuresOf(rec)}
	rv.Digest = rv.Current.Digest()
	for _, sg := range s.o.Records.Signatures(id) {
		sr := SignatureRecord{Signature: Signature{User: sg.User, FullName: sg.FullName, Role: sg.Role, Meaning: sg.Meaning,
			Reason: sg.Reason, At: sg.At}, Step: sg.Step, Legacy: sg.Legacy, Digest: sg.Digest, Figures: sg.Figures}
		// a legacy signature sealed a report digest of another format:
		// it counts as signed until the first change of the new kind
		sr.Valid = sg.Digest == rv.Digest || sg.Legacy
		rv.History = append(rv.History, sr)
		cp := sr
		switch sg.Step {
		case records.StepProduction:
			rv.Production = &cp
			rv.QA = nil // a new production sign-off needs a new QA release
		case records.StepQA:
			rv.QA = &cp
		}
	}
	for _, h := range rv.History {
		if !h.Valid {
			rv.ChangedAfterSigning = true
		}
	}
	rv.Released = rv.Production != nil && rv.Production.Valid && rv.QA != nil && rv.QA.Valid
	switch {
	case !rec.Final || rv.Released:
	case rv.Production == nil || !rv.Production.Valid:
		rv.Next = records.StepProduction
	default:
		rv.Next = records.StepQA
	}
	rec.Review = rv
	rec.Signed = nil
	if p := rv.Production; p != nil && p.Valid {
		sig := p.Signature
		rec.Signed = &sig
	}
	return rec, nil
}

func closeoutView(co records.Closeout) Closeout {
	return Closeout{Serial: co.Serial, Batch: co.Batch, Outcome: co.Outcome, Note: co.Note, Deviation: co.Deviation(),
		Signed: Signature{User: co.Signer.User, FullName: co.Signer.FullName, Role: co.Signer.Role, Meaning: co.Signer.Meaning,
			Reason: co.Signer.Reason, At: co.Signer.At}}
}

// figuresOf is what a signature seals of a reconciliation.
func figuresOf(r Reconciliation) Figures {
	f := Figures{Drawn: r.Drawn, Commissioned: r.Commissioned, Rejected: r.Rejected, Sampled: r.Sampled, Returned: r.Returned,
		Uncertain: r.Uncertain, InFlight: r.InFlight, Balanced: r.Balanced, Deviations: r.Deviations}
	if len(r.RejectedBy) > 0 {
		f.RejectedBy = map[string]int{}
		for k, v := range r.RejectedBy {
			f.RejectedBy[k] = v
		}
	}
	for _, d := range r.Differences {
		f.Units = append(f.Units, d.Serial+" "+d.State+" "+d.Reason)
	}
	for _, co := range r.Closeouts {
		f.Units = append(f.Units, co.Serial+" closed-out "+co.Outcome)
	}
	sort.Strings(f.Units)
	return f
}

// SignRequest is the body of a batch record signature.
type SignRequest struct {
	// Step is "production" (default) or "qa".
	Step     string `json:"step,omitempty"`
	Password string `json:"password"`
	Meaning  string `json:"meaning"`
	Reason   string `json:"reason"`
}

func (s *Server) signReconciliation(c *call) error {
	var req SignRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	id := c.r.PathValue("id")
	if req.Step == "" {
		req.Step = records.StepProduction
	}
	subject := req.Step + " signature of the batch record of " + id
	if s.o.Records == nil {
		return s.signLegacy(c, id, req)
	}
	rec, err := s.reviewed(c.r.Context(), id)
	if err != nil {
		return err
	}
	// What would be refused is refused before the signature is made, so
	// the audit trail holds no auth.sign for a signing that did not happen
	// (21 CFR 11): the refusal is audited as auth.sign.refused.
	if err := s.signableStep(c, rec, req); err != nil {
		s.signRefused(c, "auth.sign.refused", subject, err)
		return err
	}
	min := auth.RoleSupervisor
	sig, err := s.sign(c, subject, &SignatureRequest{Password: req.Password, Meaning: req.Meaning, Reason: req.Reason}, min)
	if err != nil {
		return err
	}
	rs := records.Signature{Batch: id, Step: req.Step, Digest: rec.Review.Digest, Figures: rec.Review.Current,
		Signer: signerOf(sig)}
	if err := s.o.Records.Sign(c.r.Context(), rs); err != nil {
		s.signRefused(c, "auth.sign.voided", subject, err)
		return recordsErr(err)
	}
	out, err := s.reviewed(c.r.Context(), id)
	if err != nil {
		return err
	}
	f := rec.Review.Current
	return s.done(c, http.StatusOK, out, req.Reason, fmt.Sprintf("step=%s meaning=%s digest=%s drawn=%d commissioned=%d rejected=%d sampled=%d returned=%d uncertain=%d balanced=%t",
		req.Step, sig.Meaning, rec.Review.Digest[:16], f.Drawn, f.Commissioned, f.Rejected, f.Sampled, f.Returned, f.Uncertain, f.Balanced))
}

// signableStep reports why the batch record cannot be signed now at
// req.Step with req.Meaning (nil when it can).
func (s *Server) signableStep(c *call, rec Reconciliation, req SignRequest) error {
	id, rv := rec.Batch, rec.Review
	if !rec.Final {
		return fmt.Errorf("batch %s is %s: sign its record once it is complete, stopped or aborted: %w", id, rec.State, ErrInvalidState)
	}
	if rec.AggregationOpen != "" { // reviewed asked the aggregation
		return fmt.Errorf("%s: %w", rec.AggregationOpen, ErrRefused)
	}
	deviation := !rec.Balanced || rec.Deviations > 0
	why := ""
	if !rec.Balanced {
		why = "it does not balance"
	} else if rec.Deviations > 0 {
		why = fmt.Sprintf("%d deviation(s): reject(s) not confirmed by the gate and not closed out as found, or packs not found", rec.Deviations)
	}
	switch req.Step {
	case records.StepProduction:
		if p := rv.Production; p != nil && p.Valid {
			return fmt.Errorf("batch %s: production sign-off already given by %s at %s and the record has not changed since: %w",
				id, nameOf(p.Signature), p.At.In(s.o.Location).Format("2006-01-02 15:04 MST"), ErrInvalidState)
		}
		switch req.Meaning {
		case MeaningApproved, MeaningReviewed:
			if deviation {
				return fmt.Errorf("batch %s: %s; sign with meaning %q and a reason: %w", id, why, MeaningApprovedWithDeviation, ErrRefused)
			}
		case MeaningApprovedWithDeviation:
		default:
			return badRequest("production sign-off meaning %q: want %s or %s", req.Meaning, MeaningApproved, MeaningApprovedWithDeviation)
		}
	case records.StepQA:
		if c.sess.Role != auth.RoleQA {
			return fmt.Errorf("QA release needs the role qa, not %s: %w", c.sess.Role, auth.ErrForbidden)
		}
		if p := rv.Production; p == nil || !p.Valid {
			return fmt.Errorf("batch %s: production sign-off first (the record %s): %w", id,
				map[bool]string{true: "changed after the production sign-off", false: "has none"}[p != nil], ErrRefused)
		}
		if rv.Production.User == c.sess.User {
			return fmt.Errorf("batch %s: QA release by another person than the production sign-off (%s): %w", id, nameOf(rv.Production.Signature), ErrRefused)
		}
		if q := rv.QA; q != nil && q.Valid {
			return fmt.Errorf("batch %s: already released by %s: %w", id, nameOf(q.Signature), ErrInvalidState)
		}
		switch req.Meaning {
		case MeaningReleased:
			if deviation {
				return fmt.Errorf("batch %s: %s; release with meaning %q and a reason: %w", id, why, MeaningReleasedWithDeviation, ErrRefused)
			}
		case MeaningReleasedWithDeviation:
		default:
			return badRequest("QA release meaning %q: want %s or %s", req.Meaning, MeaningReleased, MeaningReleasedWithDeviation)
		}
	default:
		return badRequest("step %q: want production or qa", req.Step)
	}
	return nil
}

// nameOf is "Full Name (user)" or the user.
func nameOf(sg Signature) string {
	if sg.FullName != "" && sg.FullName != sg.User {
		return sg.FullName + " (" + sg.User + ")"
	}
	return sg.User
}

// signLegacy signs through the controller when the API keeps no records.
func (s *Server) signLegacy(c *call, id string, req SignRequest) error {
	subject := "reconciliation of batch " + id
	rec, err := s.o.Controller.Reconciliation(c.r.Context(), id)
	if err != nil {
		return err
	}
	var perr error
	switch {
	case req.Step != records.StepProduction:
		perr = badRequest("step %q: this controller keeps no QA release", req.Step)
	case !rec.Final:
		perr = fmt.Errorf("batch %s is %s: sign its reconciliation once it is complete, stopped or aborted: %w", id, rec.State, ErrInvalidState)
	case rec.Signed != nil:
		perr = fmt.Errorf("reconciliation of batch %s already signed by %s: %w", id, rec.Signed.User, ErrInvalidState)
	case req.Meaning != MeaningApprovedWithDeviation && (!rec.Balanced || rec.Deviations > 0):
		perr = fmt.Errorf("batch %s does not balance or has deviations; sign with meaning %q and a reason: %w", id, MeaningApprovedWithDeviation, ErrRefused)
	}
	if perr == nil {
		perr = s.aggOpen(c.r.Context(), id)
	}
	if perr != nil {
		s.signRefused(c, "auth.sign.refused", subject, perr)
		return perr
	}
	sig, err := s.sign(c, subject, &SignatureRequest{Password: req.Password, Meaning: req.Meaning, Reason: req.Reason}, auth.RoleSupervisor)
	if err != nil {
		return err
	}
	out, err := s.o.Controller.SignReconciliation(c.r.Context(), id, sig)
	if err != nil {
		s.signRefused(c, "auth.sign.voided", subject, err)
		return err
	}
	return s.done(c, http.StatusOK, out, req.Reason, fmt.Sprintf("meaning=%s drawn=%d commissioned=%d rejected=%d sampled=%d returned=%d uncertain=%d balanced=%t",
		sig.Meaning, out.Drawn, out.Commissioned, out.Rejected, out.Sampled, out.Returned, out.Uncertain, out.Balanced))
}

// signRefused audits a signing that did not happen.
func (s *Server) signRefused(c *call, action, subject string, err error) {
	if aerr := s.o.Audit.AppendAudit(c.r.Context(), auth.AuditEntry{Who: c.sess.User, Role: string(c.sess.Role),
		Action: action, Reason: err.Error(), After: "subject=" + subject}); aerr != nil {
		s.log.Error("audit append failed for refusal", "action", action, "err", aerr)
	}
}

// CloseoutRequest is the body of a close-out.
type CloseoutRequest struct {
	Outcome   string            `json:"outcome"` // "found-destroyed" or "not-found"
	Note      string            `json:"note"`
	Signature *SignatureRequest `json:"signature"`
}

// conditionClearer is the alarm book's ClearCondition (every controller
// embedding AlarmBook has it).
type conditionClearer interface {
	ClearCondition(condition, by string) bool
}

func (s *Server) closeout(c *call) error {
	if s.o.Records == nil {
		return errNoRecords
	}
	var req CloseoutRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	serial := c.r.PathValue("serial")
	if req.Outcome != records.CloseoutFound && req.Outcome != records.CloseoutNotFound {
		return badRequest("outcome %q: want %s (the pack was found and destroyed) or %s (not found: a deviation)",
			req.Outcome, records.CloseoutFound, records.CloseoutNotFound)
	}
	if strings.TrimSpace(req.Note) == "" {
		return badRequest("note: say where the pack was looked for (and found)")
	}
	u, err := s.o.Controller.Unit(c.r.Context(), serial)
	if err != nil {
		return err
	}
	if !closable(u) {
		return fmt.Errorf("unit %s is %s %s: only a reject the gate did not confirm (or an unknown gate result) is closed out: %w",
			serial, u.State, u.Reason, ErrInvalidState)
	}
	if co, ok := s.o.Records.Closeout(serial); ok {
		return fmt.Errorf("unit %s already closed out (%s) by %s: %w", serial, co.Outcome, co.Signer.User, ErrInvalidState)
	}
	sig, err := s.sign(c, "close-out of unit "+serial+": "+req.Outcome, req.Signature, auth.RoleSupervisor)
	if err != nil {
		return err
	}
	co := records.Closeout{Serial: serial, Batch: u.Batch, Outcome: req.Outcome, Note: strings.TrimSpace(req.Note),
		Signer: signerOf(sig)}
	if err := s.o.Records.CloseOut(c.r.Context(), co); err != nil {
		return recordsErr(err)
	}
	if cc, ok := s.o.Controller.(conditionClearer); ok {
		cc.ClearCondition("gate:"+serial, c.sess.User)
	}
	v := closeoutView(co)
	u.Closeout = &v
	return s.done(c, http.StatusOK, u, req.Note, "outcome="+req.Outcome+" signed meaning="+sig.Meaning)
}

// closable: a reject the gate did not confirm, or a unit whose gate result
// is unknown.
func closable(u Unit) bool {
	return u.State == "rejected" && strings.HasPrefix(u.Reason, "reject-not-confirmed") ||
		u.State == "uncertain" && strings.Contains(strings.Join(historyReasons(u), " "), "gate")
}

func historyReasons(u Unit) []string {
	out := []string{u.Reason}
	for _, h := range u.History {
		out = append(out, h.Reason)
	}
	return out
}

// signerOf is the record of an e-signature.
func signerOf(sig Signature) records.Signer {
	return records.Signer{User: sig.User, FullName: sig.FullName, Role: sig.Role, Meaning: sig.Meaning, Reason: sig.Reason, At: sig.At}
}
