package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/store/journal"
)

func (s *Server) unit(c *call) error {
	serial := c.r.PathValue("serial")
	u, err := s.o.Controller.Unit(c.r.Context(), serial)
	// A serial the journal never had: say so in one sentence. Other
	// not-found answers (archived, archive deleted after its retention,
	// archive folder not set) keep their own words.
	if _, ok := errors.AsType[*journal.UnknownSerialError](err); ok {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("serial %q was never seen on this line (not in the journal or its archives)", serial)}
	}
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, s.describeUnit(u))
	return nil
}

// describeUnit fills what the line printed (lot, expiry, HRI), the
// close-out, and whether the unit is saleable.
func (s *Server) describeUnit(u Unit) Unit {
	u.Assess()
	if u.ElementString != "" {
		if m, err := gs1.ParseRaw(u.ElementString); err == nil {
			u.Lot, _ = m.Value("10")
			u.Expiry, _ = m.Value("17")
			u.HRI = m.HRI()
		}
	}
	if s.o.Records != nil {
		if co, ok := s.o.Records.Closeout(u.Serial); ok {
			v := closeoutView(co)
			u.Closeout = &v
			if co.Outcome == "found-destroyed" {
				u.Warning = "NOT SALEABLE: the reject was not confirmed by the gate; the pack was found and destroyed (closed out by " + nameOf(v.Signed) + ")"
			} else {
				u.Warning = "NOT SALEABLE: the reject was not confirmed by the gate and the pack was NOT found (deviation, closed out by " + nameOf(v.Signed) + "): a pack with this code in the market must be withdrawn"
			}
		}
	}
	return u
}

// LookupResult answers "is this code ours, and what happened to it?".
type LookupResult struct {
	Code     string            `json:"code"`
	Elements map[string]string `json:"elements"` // AI -> value, as parsed
	Ours     bool              `json:"ours"`     // the serial was drawn on this line for this GTIN and the code matches what was printed
	Unit     *Unit             `json:"unit,omitempty"`
	Problem  string            `json:"problem,omitempty"` // why it is not ours (foreign GTIN, never drawn, mismatch …)
	// Mismatches: elements of the code that differ from what was printed
	// for its serial (also in Unit.Mismatches).
	Mismatches []FieldMismatch `json:"mismatches,omitempty"`
	// Saleable: ours, commissioned and matching what was printed; false
	// otherwise (Warning says why). One verdict: never "saleable" beside a
	// mismatch.
	Saleable bool   `json:"saleable"`
	Warning  string `json:"warning,omitempty"`
	// Note explains how the code was read (a scan without GS separators …).
	Note string `json:"note,omitempty"`
}

// noGS matches a scan of a GS1 element string whose GS separators (FNC1)
// the scanner dropped: GTIN first, then more data run together.
var noGS = regexp.MustCompile(`^(\]d2|\]C1|\]Q3)?01[0-9]{14}[0-9A-Za-z]`)

func (s *Server) lookup(c *call) error {
	code := c.r.URL.Query().Get("code")
	if code == "" {
		return badRequest("query parameter code is required (element string, bracketed HRI or GS1 Digital Link)")
	}
	res := LookupResult{Code: code, Elements: map[string]string{}}
	msg, err := gs1.Parse(code)
	if err != nil {
		if noGS.MatchString(code) && !strings.Contains(code, "\x1d") {
			return badRequest("code %q: the scan has no GS separators (FNC1) between its fields, so lot and serial run together and cannot be told apart: "+
				"set the scanner to send GS (ASCII 29), or type the code in brackets: (01)…(17)…(10)…(21)…", code)
		}
		return badRequest("code %q: not a valid GS1 code: %v", code, err)
	}
	for _, e := range msg.Elements() {
		res.Elements[e.AI] = e.Value
	}
	if noGS.MatchString(code) && !strings.Contains(code, "\x1d") && !strings.HasPrefix(code, "(") && len(msg.Elements()) > 2 {
		res.Note = "the scan had no GS separators; it was read as shown in the elements — check them against the pack"
	}
	gtin, _ := msg.Value("01")
	serial, ok := msg.Value("21")
	if !ok {
		return badRequest("code %q has no serial number (AI 21)", code)
	}
	if gtin != "" && s.o.Records != nil {
		if _, err := s.o.Records.Product(gtin); err != nil {
			res.Problem = fmt.Sprintf("GTIN %s is not a product of this line (not in its product master): not ours", gtin)
		}
	}
	u, err := s.o.Controller.Unit(c.r.Context(), serial)
	switch {
	case errors.Is(err, ErrNotFound):
		if res.Problem == "" {
			res.Problem = "serial " + serial + " was never drawn on this line: not ours"
		}
		res.Warning = "NOT OURS: treat a pack with this code as suspect"
	case err != nil:
		return err
	default:
		u = s.describeUnit(u)
		u.CompareCode(msg)
		switch {
		case res.Problem != "": // a GTIN this line does not make
		case gtin != "" && u.GTIN != "" && gtin != u.GTIN:
			res.Problem = fmt.Sprintf("serial %s belongs to GTIN %s here, the code says GTIN %s (foreign GTIN): not ours", serial, u.GTIN, gtin)
		case len(u.Mismatches) > 0:
			res.Problem = u.MismatchText()
		default:
			res.Ours = true
		}
		if !res.Ours {
			// one verdict: a code that is not what this line printed is not saleable, whatever the unit's state
			u.Saleable = false
			u.Warning = "NOT SALEABLE: " + res.Problem
		}
		res.Unit = &u
		res.Mismatches = u.Mismatches
		res.Saleable = res.Ours && u.Saleable
		res.Warning = u.Warning
	}
	writeJSON(c.w, http.StatusOK, res)
	return nil
}

// UnitActionRequest is the body of a manual unit action.
type UnitActionRequest struct {
	Action UnitActionKind `json:"action"` // reject, sample, decommission
	Reason string         `json:"reason"`
	// Signature is the actor's own e-signature: required for a
	// supervisor's action; an operator's sample or damaged-pack reject
	// needs none unless the line's policy asks for a supervisor's.
	Signature *SignatureRequest `json:"signature,omitempty"`
	// Supervisor co-signs an operator's action where the line's policy
	// requires it (shift.operator_unit_actions_need_supervisor).
	Supervisor *CoSignature `json:"supervisor,omitempty"`
}

// CoSignature is another person's e-signature given at the same terminal.
type CoSignature struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Meaning  string `json:"meaning"`
	Reason   string `json:"reason"`
}

func (s *Server) unitAction(c *call) error {
	var req UnitActionRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	switch req.Action {
	case UnitReject, UnitSample, UnitDecommission:
	default:
		return badRequest("action %q: want reject, sample or decommission", req.Action)
	}
	c.action = "api.unit." + string(req.Action)
	if strings.TrimSpace(req.Reason) == "" {
		return badRequest("reason is required (why the unit is pulled or rejected: e.g. crushed carton, QA retain sample)")
	}
	serial := c.r.PathValue("serial")
	subject := "manual " + string(req.Action) + " of unit " + serial
	signed := ""
	if c.sess.Role.AtLeast(auth.RoleSupervisor) {
		sig, err := s.sign(c, subject, req.Signature, auth.RoleSupervisor)
		if err != nil {
			return err
		}
		signed = " signed meaning=" + sig.Meaning
	} else {
		if req.Action == UnitDecommission {
			return fmt.Errorf("an operator may pull a sample or reject a damaged pack; decommission is for a supervisor: %w", auth.ErrForbidden)
		}
		if err := s.runningBatchUnit(c, serial); err != nil {
			return err
		}
		if s.o.Shift.OperatorUnitActionsNeedSupervisor {
			co := req.Supervisor
			if co == nil {
				return &Error{Status: http.StatusBadRequest, Code: CodeSignatureRequired,
					Message: "the line's policy needs a supervisor's e-signature for this: supervisor {user, password, meaning, reason}"}
			}
			sig, err := s.o.Auth.CoSign(c.r.Context(), co.User, co.Password, subject+" by "+c.sess.User, co.Meaning, co.Reason,
				auth.RoleSupervisor, c.r.RemoteAddr)
			if err != nil {
				if auth.IsRefusal(err) {
					return &Error{Status: http.StatusForbidden, Code: CodeSignatureInvalid, Message: "supervisor signature refused: user or password not accepted"}
				}
				return err
			}
			signed = " co-signed by " + sig.User + " meaning=" + sig.Meaning
		}
	}
	u, err := s.o.Controller.UnitAction(c.r.Context(), serial, req.Action, req.Reason, c.actor())
	if err != nil {
		return err
	}
	return s.done(c, http.StatusOK, s.describeUnit(u), req.Reason, "state="+u.State+signed)
}

// runningBatchUnit refuses an operator's action on a unit that is not of
// the batch running now.
func (s *Server) runningBatchUnit(c *call, serial string) error {
	u, err := s.o.Controller.Unit(c.r.Context(), serial)
	if err != nil {
		return err
	}
	st, err := s.o.Controller.Status(c.r.Context())
	if err != nil {
		return err
	}
	running := []string{"Execute", "Held", "Holding", "Suspended", "Suspending", "Starting", "Unholding", "Unsuspending", "Completing"}
	if st.Batch == nil || st.Batch.ID != u.Batch || !slices.Contains(running, st.Batch.State) {
		return fmt.Errorf("unit %s is of batch %s, which is not running: after the batch a supervisor does this (e-signed): %w", serial, u.Batch, auth.ErrForbidden)
	}
	return nil
}
