package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/printer/gs1"
)

// HoldInfo says why the line is held and by whom or what (the line page
// shows it in large type).
type HoldInfo struct {
	By     Actor     `json:"by"`               // a person, or a system actor (system, plc, printer, camera)
	Reason string    `json:"reason,omitempty"` // as recorded with the hold
	At     time.Time `json:"at"`
	// Alarm is the newest active fault alarm, in the caller's language:
	// what the operator must fix before Unhold.
	Alarm *Alarm `json:"alarm,omitempty"`
}

// StatusView is the status with what the HMI needs beyond the controller's
// snapshot: why the line is held, the line's time zone, and which commands
// the server would accept now.
type StatusView struct {
	Status
	Held     *HoldInfo `json:"held,omitempty"`
	TimeZone string    `json:"time_zone"`
	// Commands are the PackML commands the server accepts now from this
	// user (buttons are enabled exactly for these).
	Commands []string `json:"commands"`
	// Clearance: the current batch's line clearance is confirmed (or
	// none is required); Start is refused without it.
	Clearance bool `json:"clearance"`
}

func (s *Server) status(c *call) error {
	st, err := s.o.Controller.Status(c.r.Context())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, s.statusView(c, st))
	return nil
}

// statusView decorates a status for the caller.
func (s *Server) statusView(c *call, st Status) StatusView {
	v := StatusView{Status: st, TimeZone: s.o.Location.String()}
	if st.Batch != nil && s.o.Records != nil && st.Batch.Product == "" {
		if p, err := s.o.Records.Product(st.Batch.GTIN); err == nil {
			st.Batch.Product = p.Name
			v.Status = st
		}
	}
	v.Clearance = st.Batch != nil && s.clearanceDone(st.Batch.ID)
	v.Commands = s.acceptedCommands(c.sess, st, v.Clearance)
	if st.State == "Held" || st.State == "Holding" {
		v.Held = s.holdInfo(c, st)
	}
	return v
}

// acceptedCommands are the commands sess may give now: allowed by PackML
// in the batch's state (line/packml, the controller's state machine),
// refused on a finished batch (Complete, Stopped, Aborted: its record is
// closed; Clear of an unsigned Aborted batch only), by the user's role
// (Abort: supervisor), by the unit mode (Start, Unhold and Unsuspend in
// Production only) and by the line clearance the controller requires
// before Start (ClearanceKeeper).
func (s *Server) acceptedCommands(sess auth.Session, st Status, cleared bool) []string {
	out := []string{}
	if st.Batch == nil {
		return out
	}
	final := st.Batch.State == "Complete" || st.Batch.State == "Stopped" || st.Batch.State == "Aborted"
	mode := packml.ModeProduction
	if m, err := packml.ParseUnitMode(st.UnitMode); err == nil {
		mode = m
	}
	for _, pc := range packml.Allowed(packml.State(st.Batch.State)) {
		cmd := strings.ToLower(string(pc))
		switch {
		case final && !(cmd == CmdClear && st.Batch.State == "Aborted" && st.Batch.Signed == nil):
			// a finished batch's record is closed: a new batch is defined instead
		case cmd == CmdAbort && !sess.Role.AtLeast(auth.RoleSupervisor):
		case cmd == CmdStart && !cleared:
		case mode.Permits(pc) != nil:
			// no serialised production outside the Production unit mode
		default:
			out = append(out, cmd)
		}
	}
	return out
}

// holdInfo finds the last transition into Holding and the newest active
// fault alarm.
func (s *Server) holdInfo(c *call, st Status) *HoldInfo {
	var h *HoldInfo
	for _, sc := range slices.Backward(st.Batch.History) {
		if sc.To == "Holding" || sc.To == "Held" && sc.From != "Holding" {
			h = &HoldInfo{By: sc.By, Reason: sc.Reason, At: sc.At}
			break
		}
	}
	if h == nil {
		return nil
	}
	if al, ok := s.o.Controller.(AlarmLister); ok {
		if as, err := al.AlarmView(c.r.Context(), AlarmQuery{View: ViewActive}); err == nil {
			for _, a := range as {
				if a.Severity == SeverityFault {
					a = a.Localize(c.lang())
					h.Alarm = &a
					break
				}
			}
		}
	}
	return h
}

func (s *Server) batch(c *call) error {
	b, err := s.o.Controller.Batch(c.r.Context(), c.r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, s.decorateBatch(b))
	return nil
}

// decorateBatch adds the product name and the production signature from
// the records.
func (s *Server) decorateBatch(b Batch) Batch {
	if s.o.Records == nil {
		return b
	}
	if p, err := s.o.Records.Product(b.GTIN); err == nil && b.Product == "" {
		b.Product = p.Name
	}
	for _, sg := range slices.Backward(s.o.Records.Signatures(b.ID)) {
		if sg.Step == records.StepProduction {
			b.Signed = &Signature{User: sg.User, FullName: sg.FullName, Role: sg.Role, Meaning: sg.Meaning, Reason: sg.Reason, At: sg.At}
			break
		}
	}
	return b
}

// batchIDRE is the batch id charset: letters, digits, '.', '_' and '-',
// starting with a letter or digit, at most 32 characters (safe in file
// names, URLs, EPCIS and on the printed report).
var batchIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// BatchIDRule says what a batch id may be (in refusals and the HMI).
const BatchIDRule = "1-32 characters: letters A-Z a-z, digits, '.', '_' or '-', starting with a letter or digit"

func (s *Server) createBatch(c *call) error {
	var def BatchDef
	if err := decode(c, &def); err != nil {
		return err
	}
	def.ID = strings.TrimSpace(def.ID)
	c.target = def.ID
	var p []string
	if s.o.Records != nil {
		p = s.checkAgainstMaster(&def)
	} else {
		p = checkBatchDef(def)
	}
	if len(p) > 0 {
		return badRequest("batch not created; correct: %s", strings.Join(p, "; "))
	}
	b, err := s.o.Controller.CreateBatch(c.r.Context(), def, c.actor())
	if err != nil {
		return err
	}
	b.Product = def.Product
	return s.done(c, http.StatusCreated, s.decorateBatch(b), "", batchAuditText(def))
}

// batchAuditText is the audit "after" text of a batch definition.
func batchAuditText(def BatchDef) string {
	t := fmt.Sprintf("gtin=%s lot=%s expiry=%s target=%d profile=%s", def.GTIN, def.Lot, def.Expiry, def.Target, def.Profile)
	if def.Template != "" {
		t += " template=" + def.Template
	}
	if def.NHRN != "" {
		t += " nhrn=" + def.NHRN
	}
	if def.Product != "" {
		t += fmt.Sprintf(" product=%q", def.Product)
	}
	return t
}

// checkAgainstMaster checks a batch definition against the product master
// and fills in what the master defines (profile, template, product name).
// Every problem says what to correct.
func (s *Server) checkAgainstMaster(def *BatchDef) []string {
	var p []string
	if def.ID == "" {
		p = append(p, "id: required ("+BatchIDRule+")")
	} else if !batchIDRE.MatchString(def.ID) {
		p = append(p, fmt.Sprintf("id %q: want %s", def.ID, BatchIDRule))
	}
	var prod records.Product
	switch {
	case def.GTIN == "":
		p = append(p, "gtin: required: pick a product from the product master")
	default:
		var err error
		prod, err = s.o.Records.Product(def.GTIN)
		switch {
		case err != nil:
			p = append(p, fmt.Sprintf("gtin %s: not in the product master; an admin adds the product first (Products page, `serialine products set`)", def.GTIN))
		case !prod.Active:
			p = append(p, fmt.Sprintf("gtin %s (%s): the product is inactive in the product master", def.GTIN, prod.Name))
		}
	}
	if prod.GTIN != "" {
		if def.Profile != "" && def.Profile != prod.Profile {
			p = append(p, fmt.Sprintf("profile %q: the product master sets %s for %s; leave it out", def.Profile, prod.Profile, prod.Name))
		}
		if def.Template != "" && def.Template != prod.Template {
			p = append(p, fmt.Sprintf("template %q: the product master sets %q for %s; leave it out", def.Template, prod.Template, prod.Name))
		}
		def.Profile, def.Template, def.Product = prod.Profile, prod.Template, prod.Name
	}
	if def.Lot == "" {
		p = append(p, "lot: required (as printed on the pack, AI 10: up to 20 characters)")
	} else if err := gs1.CheckValue("10", def.Lot); err != nil {
		p = append(p, valueProblem("lot", def.Lot, err))
	}
	if prod.GTIN != "" {
		p = append(p, s.checkExpiry(def.Expiry, prod.MinShelfLifeDays)...)
		maxT := prod.MaxBatch
		if maxT <= 0 {
			maxT = records.DefaultMaxBatch
		}
		if def.Target < 1 || def.Target > maxT {
			p = append(p, fmt.Sprintf("target %d: want 1..%d units (the product's largest batch)", def.Target, maxT))
		}
		if prof, err := gs1.LookupProfile(prod.Profile); err == nil {
			switch {
			case prof.NHRN != "" && def.NHRN == "":
				p = append(p, fmt.Sprintf("nhrn: required by profile %s (AI %s)", prod.Profile, prof.NHRN))
			case prof.NHRN != "":
				if err := gs1.CheckValue(prof.NHRN, def.NHRN); err != nil {
					p = append(p, valueProblem(fmt.Sprintf("nhrn (AI %s)", prof.NHRN), def.NHRN, err))
				}
			case def.NHRN != "":
				p = append(p, fmt.Sprintf("nhrn: profile %s carries no national number; leave it out", prod.Profile))
			}
		}
	}
	return p
}

// valueProblem says in words what is wrong with the value v of a batch
// field, from the GS1 check's error (no parser internals).
func valueProblem(field, v string, err error) string {
	var ge *gs1.Error
	if !errors.As(err, &ge) {
		return fmt.Sprintf("%s %q: %v", field, v, err)
	}
	at := ""
	if ge.Pos > 0 && ge.Pos <= len(v) {
		r, _ := utf8.DecodeRuneInString(v[ge.Pos-1:])
		at = fmt.Sprintf("character %q (position %d)", r, ge.Pos)
	}
	switch {
	case ge.Rule == gs1.RuleCSET82 && at != "":
		return fmt.Sprintf("%s %q: %s is not allowed: use A-Z, a-z, 0-9 and !\"%%&'()*+,-./:;<=>?_ (no spaces or accents)", field, v, at)
	case ge.Rule == gs1.RuleNumeric && at != "":
		return fmt.Sprintf("%s %q: %s is not a digit", field, v, at)
	case ge.Rule == gs1.RuleLength:
		return fmt.Sprintf("%s %q: %s", field, v, ge.Msg)
	case ge.Rule == gs1.RuleDate:
		return fmt.Sprintf("%s %q: not a calendar date: %s", field, v, ge.Msg)
	}
	return fmt.Sprintf("%s %q: %s", field, v, ge.Msg)
}

// checkExpiry: YYMMDD (day 00 = the month's last day), later than today
// (in the line's time zone) plus the product's minimum shelf life.
func (s *Server) checkExpiry(v string, minDays int) []string {
	if v == "" {
		return []string{"expiry: required (YYMMDD)"}
	}
	if err := gs1.CheckValue("17", v); err != nil {
		return []string{valueProblem("expiry", v, err) + " (want a date YYMMDD)"}
	}
	now := s.o.Now().In(s.o.Location)
	exp, ok := parseExpiry(v, now)
	if !ok {
		return []string{fmt.Sprintf("expiry %q: not a date (YYMMDD)", v)}
	}
	today := now
	today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	earliest := today.AddDate(0, 0, minDays+1)
	if exp.Before(earliest) {
		return []string{fmt.Sprintf("expiry %s (%s): must be %s or later (today %s + minimum shelf life %d days)",
			v, exp.Format("2006-01-02"), earliest.Format("2006-01-02"), today.Format("2006-01-02"), minDays)}
	}
	return nil
}

// parseExpiry reads YYMMDD as of now: the century by the GS1 General
// Specifications' sliding window (epcis.Century: 99 seen in 2026 is 1999,
// an expired date, not 2099); DD 00 is the month's last day.
func parseExpiry(v string, now time.Time) (time.Time, bool) {
	if len(v) != 6 {
		return time.Time{}, false
	}
	yy, e1 := strconv.Atoi(v[:2])
	mm, e2 := strconv.Atoi(v[2:4])
	dd, e3 := strconv.Atoi(v[4:])
	if e1 != nil || e2 != nil || e3 != nil || mm < 1 || mm > 12 || dd > 31 {
		return time.Time{}, false
	}
	year := epcis.Century(yy, now.Year())
	if dd == 0 {
		return time.Date(year, time.Month(mm)+1, 0, 0, 0, 0, 0, time.UTC), true
	}
	t := time.Date(year, time.Month(mm), dd, 0, 0, 0, 0, time.UTC)
	if t.Day() != dd {
		return time.Time{}, false
	}
	return t, true
}

// checkBatchDef lists every problem of a batch definition without a
// product master, each named by its field; GTIN, lot and expiry are
// checked as their GS1 AIs (01, 10, 17) so that a batch cannot be defined
// that the printer could not encode.
func checkBatchDef(def BatchDef) []string {
	var p []string
	if strings.TrimSpace(def.ID) == "" {
		p = append(p, "id: required")
	} else if len(def.ID) > 64 || strings.ContainsFunc(def.ID, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		p = append(p, "id: at most 64 characters, no control characters")
	}
	for _, f := range []struct{ name, ai, v, missing string }{
		{"gtin", "01", def.GTIN, "gtin: required"},
		{"lot", "10", def.Lot, "lot: required"},
		{"expiry", "17", def.Expiry, "expiry: required (YYMMDD)"},
	} {
		if f.v == "" {
			p = append(p, f.missing)
		} else if err := gs1.CheckValue(f.ai, f.v); err != nil {
			p = append(p, valueProblem(f.name, f.v, err))
		}
	}
	var nhrnAI string
	if def.Profile != "" {
		prof, err := gs1.LookupProfile(def.Profile)
		if err != nil {
			p = append(p, fmt.Sprintf("profile %q: %v", def.Profile, err))
		}
		nhrnAI = prof.NHRN
	}
	switch {
	case nhrnAI != "" && def.NHRN == "":
		p = append(p, fmt.Sprintf("nhrn: required by profile %s (AI %s)", def.Profile, nhrnAI))
	case nhrnAI != "":
		if err := gs1.CheckValue(nhrnAI, def.NHRN); err != nil {
			p = append(p, valueProblem(fmt.Sprintf("nhrn (AI %s)", nhrnAI), def.NHRN, err))
		}
	case def.NHRN != "":
		p = append(p, fmt.Sprintf("nhrn: profile %q carries no national number", def.Profile))
	}
	if def.Target <= 0 {
		p = append(p, "target: must be > 0")
	}
	return p
}

// CommandRequest is the body of a batch command (optional for commands
// without a reason code or override).
type CommandRequest struct {
	// ReasonCode is one of the line's reason codes for the command
	// (GET /api/v1/shift/rules); required from a person for hold, stop,
	// complete and abort.
	ReasonCode string `json:"reason_code,omitempty"`
	// Reason is a free-text note (required with reason code "other").
	Reason   string `json:"reason,omitempty"`
	Override bool   `json:"override,omitempty"`
	// Signature is required with Override (supervisor e-signature).
	Signature *SignatureRequest `json:"signature,omitempty"`
}

// SignatureRequest is an electronic signature in a request: the signer's
// password re-entered, the meaning and the reason.
type SignatureRequest struct {
	Password string `json:"password"`
	Meaning  string `json:"meaning"`
	Reason   string `json:"reason"`
}

// ReasonTargetReached is the Complete reason code that says the batch
// reached its target quantity; refused for a batch short of it.
const ReasonTargetReached = "target-reached"

// reasonText builds the recorded reason of a command from its code and
// note, refusing a missing or unknown code where the line requires one.
func (s *Server) reasonText(cmd string, req CommandRequest) (string, error) {
	codes, need := s.o.Shift.Reasons[cmd]
	note := strings.TrimSpace(req.Reason)
	if !need || len(codes) == 0 {
		if req.ReasonCode != "" {
			return req.ReasonCode + ": " + note, nil
		}
		return note, nil
	}
	var list []string
	for _, rc := range codes {
		list = append(list, rc.Code)
		if rc.Code == req.ReasonCode {
			if rc.Code == "other" && note == "" {
				return "", badRequest("%s with reason code other: write what happened in the note (reason)", cmd)
			}
			t := rc.Code + " (" + rc.Text + ")"
			if note != "" {
				t += ": " + note
			}
			return t, nil
		}
	}
	if req.ReasonCode == "" {
		return "", badRequest("%s needs a reason code: one of %s (reason_code), and an optional note (reason)", cmd, strings.Join(list, ", "))
	}
	return "", badRequest("%s: reason code %q is not one of %s", cmd, req.ReasonCode, strings.Join(list, ", "))
}

func commandHandler(cmd string) handler {
	return func(s *Server, c *call) error {
		var req CommandRequest
		if c.r.ContentLength != 0 {
			if err := decode(c, &req); err != nil {
				return err
			}
		}
		id := c.r.PathValue("id")
		reason, err := s.reasonText(cmd, req)
		if err != nil {
			return err
		}
		b, berr := s.o.Controller.Batch(c.r.Context(), id)
		if cmd == "complete" && req.ReasonCode == ReasonTargetReached && berr == nil && b.Counters.Commissioned < b.Target {
			return badRequest("complete with reason code %s: %d of %d good packs; the batch completes by itself at its target — to close it short choose another reason (order-short)",
				ReasonTargetReached, b.Counters.Commissioned, b.Target)
		}
		var sig Signature
		if req.Override {
			if sig, err = s.sign(c, "override of command "+cmd+" on batch "+id, req.Signature, auth.RoleSupervisor); err != nil {
				return err
			}
		}
		before := ""
		if berr == nil {
			before = b.State
		}
		command := Command{Name: cmd, Reason: reason, Override: req.Override}
		if req.Override {
			command.Signature = &sig
		}
		if err := s.o.Controller.Command(c.r.Context(), id, command, c.actor()); err != nil {
			return err
		}
		after := ""
		b, err = s.o.Controller.Batch(c.r.Context(), id)
		if err == nil {
			after = b.State
		}
		change := "state " + before + " -> " + after
		if req.Override {
			c.action += ".override"
			change += " signed meaning=" + sig.Meaning
		}
		return s.done(c, http.StatusOK, s.decorateBatch(b), reason, change)
	}
}

// clearanceDone reports whether batch id may start as far as line
// clearance goes: confirmed, or none required. The controller keeps the
// line clearance and refuses Start without it (ClearanceKeeper); this is
// the same answer, for the buttons.
func (s *Server) clearanceDone(id string) bool {
	ck, ok := s.o.Controller.(ClearanceKeeper)
	if !ok || len(ck.ClearanceChecklist()) == 0 {
		return true
	}
	_, ok = ck.Clearance(id)
	return ok
}

var errNoRecords = &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this controller keeps no shift records"}

// recordsErr maps a records error.
func recordsErr(err error) error {
	switch {
	case errors.Is(err, records.ErrInvalid):
		return fmt.Errorf("%w: %w", err, ErrBadRequest)
	case errors.Is(err, records.ErrNotFound):
		return fmt.Errorf("%w: %w", err, ErrNotFound)
	}
	return err
}
