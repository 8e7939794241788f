// Package api is the controller's HTTP API: JSON over HTTP on the standard
// library's router, for the web HMI (line/hmi), the CLI client and plant
// systems. It is documented in openapi.yaml (served at /api/v1/openapi.yaml).
//
// Authentication: POST /api/v1/login returns a bearer token and sets it as
// an HttpOnly, SameSite=Strict cookie; every other /api/v1 endpoint needs
// one of the two. Requests with a body must be application/json (so a
// cross-site form cannot post with the cookie). Roles are ranked
// operator < supervisor < admin; supervisor actions (reconciliation
// sign-off, manual unit actions, command overrides) also need an
// electronic signature (password re-entered, meaning, reason) in the
// request body. Every action — accepted or refused — is appended to the
// audit trail.
//
// Errors are JSON: {"error": {"code": "invalid_state", "message": "…"}}
// with the codes listed in errors.go and openapi.yaml.
package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/printer/gs1"
)

//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the API's OpenAPI 3 document.
func OpenAPI() []byte { return append([]byte(nil), openapiYAML...) }

// SessionCookie is the name of the session cookie set by login.
const SessionCookie = "serialine_session"

// BackgroundHeader marks a request made by a page on its own (list
// refreshes): it does not refresh the session's idle timer, so an
// unattended panel logs out after the idle timeout.
const BackgroundHeader = "X-Serialine-Background"

// Options configures New.
type Options struct {
	// Controller is the line controller; required.
	Controller Controller
	// Auth is the user and session service; required.
	Auth *auth.Service
	// Audit is the audit trail; required (the journal via JournalAudit).
	Audit AuditTrail
	// Logger logs requests that fail with 5xx; nil discards.
	Logger *slog.Logger
	// Metrics counts requests per route; nil skips counting.
	Metrics *metrics.Metrics
	// Gatherer, when set, is served unauthenticated at GET /metrics.
	Gatherer prometheus.Gatherer
	// UI, when set, is served at "/" (the web HMI from line/hmi).
	UI http.Handler
	// StatusInterval is how often the event stream checks the status for
	// changes; default 500ms.
	StatusInterval time.Duration
	// Heartbeat is how often the event stream sends a keep-alive comment
	// when nothing changed; default 15s.
	Heartbeat time.Duration
	// SecureCookie marks the session cookie Secure. It is Secure anyway on
	// a request that came over TLS; set this when TLS ends in front of the
	// controller (a reverse proxy).
	SecureCookie bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the API handler. Create it with New.
type Server struct {
	o       Options
	mux     *http.ServeMux
	log     *slog.Logger
	xorigin *http.CrossOriginProtection
	// patterns are the mux patterns of the API's own routes, for the test
	// that holds them against openapi.yaml.
	patterns []string
}

// New builds the API handler.
func New(o Options) (*Server, error) {
	if o.Controller == nil || o.Auth == nil || o.Audit == nil {
		return nil, fmt.Errorf("api: Options.Controller, Auth and Audit are required: %w", ErrOptions)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = 500 * time.Millisecond
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, mux: http.NewServeMux(), log: o.Logger, xorigin: http.NewCrossOriginProtection()}
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		// nothing the API serves may run script (the HMI sets its own policy)
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	}
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	s.mux.ServeHTTP(rec, r)
	if s.o.Metrics != nil && strings.HasPrefix(r.URL.Path, "/api/") {
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.o.Metrics.APIRequest(route, rec.code)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// access levels of a route
type access int

const (
	anyone     access = iota // no session needed
	changePW                 // a session, even one that must change its password
	operator                 // role >= operator, password changed
	supervisor               // role >= supervisor
	admin                    // role admin
)

func (a access) role() auth.Role {
	switch a {
	case supervisor:
		return auth.RoleSupervisor
	case admin:
		return auth.RoleAdmin
	}
	return auth.RoleOperator
}

// call is one request in progress.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	sess   auth.Session
	action string // audit action for mutating routes ("" for reads)
	target string // what the action is on (batch id, serial…), for the audit trail
	// accessRefused: the session or role check refused the call (audited
	// as api.access.refused on read routes too).
	accessRefused bool
}

func (c *call) actor() Actor { return Actor{User: c.sess.User, Role: string(c.sess.Role)} }

type handler func(s *Server, c *call) error

func (s *Server) routes() {
	m := s.mux
	h := func(pattern string, acc access, action string, fn handler) {
		m.Handle(pattern, s.wrap(acc, action, fn))
		s.patterns = append(s.patterns, pattern)
	}
	h("POST /api/v1/login", anyone, "", (*Server).login)
	h("POST /api/v1/logout", changePW, "", (*Server).logout)
	h("GET /api/v1/session", changePW, "", (*Server).session)
	h("POST /api/v1/password", changePW, "", (*Server).password)
	h("GET /api/v1/users", admin, "", (*Server).users)
	h("POST /api/v1/users", admin, "", (*Server).createUser) // line/auth audits user changes
	h("PATCH /api/v1/users/{name}", admin, "", (*Server).updateUser)

	h("GET /api/v1/status", operator, "", (*Server).status)
	h("POST /api/v1/mode", supervisor, "api.mode", (*Server).setMode)
	h("GET /api/v1/events", operator, "", (*Server).events)
	h("GET /api/v1/batches", operator, "", (*Server).batches)
	h("POST /api/v1/batches", operator, "api.batch.create", (*Server).createBatch)
	h("GET /api/v1/batches/{id}", operator, "", (*Server).batch)
	for _, cmd := range Commands() {
		acc := operator
		if cmd == CmdAbort {
			acc = supervisor
		}
		h("POST /api/v1/batches/{id}/"+cmd, acc, "api.batch."+cmd, commandHandler(cmd))
	}
	h("GET /api/v1/batches/{id}/units", operator, "", (*Server).batchUnits)
	h("GET /api/v1/batches/{id}/rejects", operator, "", (*Server).rejects)
	h("GET /api/v1/batches/{id}/reconciliation", operator, "", (*Server).reconciliation)
	h("GET /api/v1/batches/{id}/report", operator, "", (*Server).report)
	h("POST /api/v1/batches/{id}/reconciliation/sign", supervisor, "api.reconciliation.sign", (*Server).signReconciliation)
	h("GET /api/v1/units", operator, "", (*Server).units)
	h("GET /api/v1/units/{serial}", operator, "", (*Server).unit)
	h("POST /api/v1/units/{serial}/action", supervisor, "api.unit.action", (*Server).unitAction)
	h("GET /api/v1/lookup", operator, "", (*Server).lookup)
	h("GET /api/v1/devices", operator, "", (*Server).devices)
	h("GET /api/v1/pools", operator, "", (*Server).pools)
	h("GET /api/v1/alarms", operator, "", (*Server).alarms)
	h("POST /api/v1/alarms", operator, "api.alarm.raise", (*Server).raiseAlarm)
	h("POST /api/v1/alarms/{id}/ack", operator, "api.alarm.ack", (*Server).ackAlarm)
	h("GET /api/v1/audit", supervisor, "", (*Server).audit)
	m.HandleFunc("GET /api/v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openapiYAML)
	})
	s.patterns = append(s.patterns, "GET /api/v1/openapi.yaml")
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	if s.o.Gatherer != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(s.o.Gatherer, promhttp.HandlerOpts{}))
		s.patterns = append(s.patterns, "GET /metrics")
	}
	if s.o.UI != nil {
		m.Handle("/", s.o.UI)
	}
}

// Token returns the session token of r: the bearer token, else the cookie.
func Token(r *http.Request) string {
	if tok, ok := bearer(r); ok {
		return tok
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return "", false
	}
	return strings.TrimSpace(strings.TrimPrefix(h, "Bearer ")), true
}

// checkCSRF refuses state-changing requests a cross-site page could forge
// with the browser's session cookie: cross-origin ones (Sec-Fetch-Site, or
// Origin against Host: http.CrossOriginProtection), and, for requests
// without a bearer token, any without Content-Type application/json — a
// cross-origin page cannot send that without a CORS preflight, which this
// server never grants. Requests with a body must be JSON in any case.
func (s *Server) checkCSRF(r *http.Request) *Error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if err := s.xorigin.Check(r); err != nil {
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden,
			Message: fmt.Sprintf("cross-origin request refused (Origin %q, Sec-Fetch-Site %q)", r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site"))}
	}
	if _, isBearer := bearer(r); r.ContentLength == 0 && isBearer {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeBadRequest,
			Message: "request must be application/json (with a session cookie, even when the body is empty)"}
	}
	return nil
}

func (s *Server) wrap(acc access, action string, fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, action: action, target: r.PathValue("id") + r.PathValue("serial") + r.PathValue("name")}
		if acc != anyone {
			sessionOf := s.o.Auth.Session
			if r.Header.Get(BackgroundHeader) != "" || r.URL.Path == "/api/v1/events" {
				sessionOf = s.o.Auth.Peek // background traffic does not keep a session alive
			}
			sess, err := sessionOf(Token(r))
			c.accessRefused = true
			if err != nil {
				s.fail(c, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "log in first: " + err.Error()})
				return
			}
			c.sess = sess
			if acc != changePW && sess.MustChange {
				s.fail(c, &Error{Status: http.StatusForbidden, Code: CodePasswordChange, Message: "change your password first (POST /api/v1/password)"})
				return
			}
			if acc > changePW && !sess.Role.AtLeast(acc.role()) {
				s.fail(c, &Error{Status: http.StatusForbidden, Code: CodeForbidden,
					Message: fmt.Sprintf("%s may not do this: needs role %s", sess.Role, acc.role())})
				return
			}
		}
		c.accessRefused = false
		if e := s.checkCSRF(r); e != nil {
			c.accessRefused = true // audited on every route
			s.fail(c, e)
			return
		}
		if err := fn(s, c); err != nil {
			s.fail(c, err)
		}
	})
}

// done audits a successful mutating call (when the route has an action) and
// writes v as JSON.
func (s *Server) done(c *call, status int, v any, reason, after string) error {
	if c.action != "" {
		if err := s.o.Audit.AppendAudit(c.r.Context(), auth.AuditEntry{Who: c.sess.User, Role: string(c.sess.Role),
			Action: c.action, Reason: reason, After: joinNonEmpty(c.target, after)}); err != nil {
			// The action happened but its record did not: say so loudly.
			s.log.Error("audit append failed after action", "action", c.action, "err", err)
			return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
				Message: "action done but audit trail write failed: " + err.Error()}
		}
	}
	writeJSON(c.w, status, v)
	return nil
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

// fail writes err as a JSON error and audits the refusal of a mutating
// call (or of any call refused for lack of a session or role).
func (s *Server) fail(c *call, err error) {
	e := toError(err)
	if e.Status >= 500 {
		s.log.Error("api request failed", "method", c.r.Method, "path", c.r.URL.Path, "user", c.sess.User, "err", err)
	}
	action := c.action
	if action == "" && c.accessRefused {
		action = "api.access"
	}
	if action != "" {
		who := c.sess.User
		if who == "" {
			who = "anonymous@" + c.r.RemoteAddr
		}
		if aerr := s.o.Audit.AppendAudit(c.r.Context(), auth.AuditEntry{Who: who, Role: string(c.sess.Role),
			Action: action + ".refused", Reason: e.Code + ": " + e.Message,
			After: joinNonEmpty(c.r.Method+" "+c.r.URL.Path, "")}); aerr != nil {
			s.log.Error("audit append failed for refusal", "action", action, "err", aerr)
		}
	}
	writeError(c.w, e.Status, e.Code, e.Message)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
}

// decode reads a JSON body strictly (unknown fields are errors).
func decode(c *call, v any) error {
	c.r.Body = http.MaxBytesReader(c.w, c.r.Body, 1<<20)
	dec := json.NewDecoder(c.r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "request body: " + err.Error()}
	}
	return nil
}

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func queryInt(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badRequest("query parameter %s=%q: want a non-negative integer", name, v)
	}
	if max > 0 && n > max {
		n = max
	}
	return n, nil
}

// ---- auth ----

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoginResponse is the body of a successful login.
type LoginResponse struct {
	Token      string    `json:"token"`
	User       string    `json:"user"`
	Role       string    `json:"role"`
	MustChange bool      `json:"must_change"`
	Expires    time.Time `json:"expires"`
}

func (s *Server) login(c *call) error {
	var req loginRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	sess, err := s.o.Auth.Login(c.r.Context(), req.User, req.Password, c.r.RemoteAddr)
	if err != nil {
		return err // auth audited the refusal
	}
	http.SetCookie(c.w, &http.Cookie{Name: SessionCookie, Value: sess.Token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.o.SecureCookie || c.r.TLS != nil})
	writeJSON(c.w, http.StatusOK, LoginResponse{Token: sess.Token, User: sess.User, Role: string(sess.Role),
		MustChange: sess.MustChange, Expires: sess.Expires})
	return nil
}

func (s *Server) logout(c *call) error {
	if err := s.o.Auth.Logout(c.r.Context(), Token(c.r)); err != nil {
		return err
	}
	http.SetCookie(c.w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.o.SecureCookie || c.r.TLS != nil})
	writeJSON(c.w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

func (s *Server) session(c *call) error {
	writeJSON(c.w, http.StatusOK, c.sess)
	return nil
}

type passwordRequest struct {
	Old string `json:"old"`
	New string `json:"new"`
}

func (s *Server) password(c *call) error {
	var req passwordRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := s.o.Auth.ChangePassword(c.r.Context(), Token(c.r), c.sess.User, req.Old, req.New); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

func (s *Server) users(c *call) error {
	u, err := s.o.Auth.Users()
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, u)
	return nil
}

type createUserRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"` // temporary; changed at first login
}

func (s *Server) createUser(c *call) error {
	var req createUserRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	c.target = req.Name
	if err := s.o.Auth.CreateUser(c.r.Context(), c.sess, req.Name, auth.Role(req.Role), req.Password); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, map[string]string{"name": req.Name, "role": req.Role}) // auth audited it
	return nil
}

type updateUserRequest struct {
	Role        *string `json:"role,omitempty"`
	Disabled    *bool   `json:"disabled,omitempty"`
	Unlock      bool    `json:"unlock,omitempty"`
	NewPassword *string `json:"password,omitempty"`
}

func (s *Server) updateUser(c *call) error {
	var req updateUserRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ch := auth.UserChange{Disabled: req.Disabled, Unlock: req.Unlock, NewPassword: req.NewPassword}
	if req.Role != nil {
		r := auth.Role(*req.Role)
		ch.Role = &r
	}
	u, err := s.o.Auth.UpdateUser(c.r.Context(), c.sess, c.r.PathValue("name"), ch)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, u) // auth audited it
	return nil
}

// ---- line ----

func (s *Server) status(c *call) error {
	st, err := s.o.Controller.Status(c.r.Context())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, st)
	return nil
}

func (s *Server) batches(c *call) error {
	limit, err := queryInt(c.r, "limit", 50, 1000)
	if err != nil {
		return err
	}
	b, err := s.o.Controller.Batches(c.r.Context(), limit)
	if err != nil {
		return err
	}
	if b == nil {
		b = []Batch{}
	}
	writeJSON(c.w, http.StatusOK, b)
	return nil
}

func (s *Server) createBatch(c *call) error {
	var def BatchDef
	if err := decode(c, &def); err != nil {
		return err
	}
	c.target = def.ID
	if p := checkBatchDef(def); len(p) > 0 {
		return badRequest("batch definition: %s", strings.Join(p, "; "))
	}
	b, err := s.o.Controller.CreateBatch(c.r.Context(), def, c.actor())
	if err != nil {
		return err
	}
	return s.done(c, http.StatusCreated, b, "", batchAuditText(def))
}

// batchAuditText is the audit "after" text of a batch definition.
func batchAuditText(def BatchDef) string {
	t := fmt.Sprintf("gtin=%s lot=%s expiry=%s target=%d profile=%s", def.GTIN, def.Lot, def.Expiry, def.Target, def.Profile)
	if def.NHRN != "" {
		t += " nhrn=" + def.NHRN
	}
	return t
}

// checkBatchDef lists every problem of a batch definition, each named by
// its field; GTIN, lot and expiry are checked as their GS1 AIs (01, 10, 17)
// so that a batch cannot be defined that the printer could not encode.
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
			p = append(p, fmt.Sprintf("%s %q: %v", f.name, f.v, err))
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
			p = append(p, fmt.Sprintf("nhrn %q (AI %s): %v", def.NHRN, nhrnAI, err))
		}
	case def.NHRN != "":
		p = append(p, fmt.Sprintf("nhrn: profile %q carries no national number", def.Profile))
	}
	if def.Target <= 0 {
		p = append(p, "target: must be > 0")
	}
	return p
}

func (s *Server) batch(c *call) error {
	b, err := s.o.Controller.Batch(c.r.Context(), c.r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, b)
	return nil
}

// CommandRequest is the body of a batch command (optional for commands
// without override).
type CommandRequest struct {
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

func commandHandler(cmd string) handler {
	return func(s *Server, c *call) error {
		var req CommandRequest
		if c.r.ContentLength != 0 {
			if err := decode(c, &req); err != nil {
				return err
			}
		}
		id := c.r.PathValue("id")
		var sig Signature
		if req.Override {
			var err error
			if sig, err = s.sign(c, "override of command "+cmd+" on batch "+id, req.Signature, auth.RoleSupervisor); err != nil {
				return err
			}
		}
		before := ""
		if b, err := s.o.Controller.Batch(c.r.Context(), id); err == nil {
			before = b.State
		}
		command := Command{Name: cmd, Reason: req.Reason, Override: req.Override}
		if req.Override {
			command.Signature = &sig
		}
		if err := s.o.Controller.Command(c.r.Context(), id, command, c.actor()); err != nil {
			return err
		}
		after := ""
		b, err := s.o.Controller.Batch(c.r.Context(), id)
		if err == nil {
			after = b.State
		}
		change := "state " + before + " -> " + after
		if req.Override {
			c.action += ".override"
			change += " signed meaning=" + sig.Meaning
		}
		return s.done(c, http.StatusOK, b, req.Reason, change)
	}
}

// sign checks an electronic signature in the request for the session's
// user over subject, the record signed.
func (s *Server) sign(c *call, subject string, sr *SignatureRequest, min auth.Role) (Signature, error) {
	if sr == nil {
		return Signature{}, &Error{Status: http.StatusBadRequest, Code: CodeSignatureRequired,
			Message: "this action needs an electronic signature: signature {password, meaning, reason}"}
	}
	switch sr.Meaning {
	case MeaningApproved, MeaningApprovedWithDeviation, MeaningReviewed:
	default:
		// the meaning is part of the signed record (21 CFR 11.50): one of
		// the defined ones, not free text
		err := badRequest("signature meaning %q: want %s, %s or %s", sr.Meaning, MeaningApproved, MeaningApprovedWithDeviation, MeaningReviewed)
		if aerr := s.o.Audit.AppendAudit(c.r.Context(), auth.AuditEntry{Who: c.sess.User, Role: string(c.sess.Role),
			Action: "auth.sign.refused", Reason: err.Error(), After: "subject=" + subject}); aerr != nil {
			s.log.Error("audit append failed for refusal", "action", "auth.sign.refused", "err", aerr)
		}
		return Signature{}, err
	}
	sig, err := s.o.Auth.Sign(c.r.Context(), c.sess, subject, sr.Password, sr.Meaning, sr.Reason, min)
	if errors.Is(err, auth.ErrBadCredentials) {
		return Signature{}, &Error{Status: http.StatusForbidden, Code: CodeSignatureInvalid, Message: "signature refused: wrong password"}
	}
	if err != nil {
		return Signature{}, err
	}
	return Signature{User: sig.User, Role: string(sig.Role), Meaning: sig.Meaning, Reason: sig.Reason, At: sig.At}, nil
}

func unitQuery(r *http.Request) (UnitQuery, error) {
	limit, err := queryInt(r, "limit", 50, 10000)
	if err != nil {
		return UnitQuery{}, err
	}
	q := UnitQuery{Limit: limit}
	for _, st := range r.URL.Query()["state"] {
		for _, v := range strings.Split(st, ",") {
			if v = strings.TrimSpace(v); v != "" {
				q.States = append(q.States, v)
			}
		}
	}
	return q, nil
}

func (s *Server) batchUnits(c *call) error {
	q, err := unitQuery(c.r)
	if err != nil {
		return err
	}
	return s.listUnits(c, c.r.PathValue("id"), q)
}

func (s *Server) rejects(c *call) error {
	q, err := unitQuery(c.r)
	if err != nil {
		return err
	}
	q.States = []string{"rejected"}
	return s.listUnits(c, c.r.PathValue("id"), q)
}

func (s *Server) units(c *call) error {
	q, err := unitQuery(c.r)
	if err != nil {
		return err
	}
	return s.listUnits(c, c.r.URL.Query().Get("batch"), q)
}

func (s *Server) listUnits(c *call, batch string, q UnitQuery) error {
	if batch != "" {
		if _, err := s.o.Controller.Batch(c.r.Context(), batch); err != nil {
			return err
		}
	}
	u, err := s.o.Controller.Units(c.r.Context(), batch, q)
	if err != nil {
		return err
	}
	if u == nil {
		u = []Unit{}
	}
	writeJSON(c.w, http.StatusOK, u)
	return nil
}

func (s *Server) unit(c *call) error {
	u, err := s.o.Controller.Unit(c.r.Context(), c.r.PathValue("serial"))
	if err != nil {
		return err
	}
	u.Assess()
	writeJSON(c.w, http.StatusOK, u)
	return nil
}

// LookupResult answers "is this code ours, and what happened to it?".
type LookupResult struct {
	Code     string            `json:"code"`
	Elements map[string]string `json:"elements"` // AI -> value, as parsed
	Ours     bool              `json:"ours"`     // the serial was drawn on this line for this GTIN
	Unit     *Unit             `json:"unit,omitempty"`
	Problem  string            `json:"problem,omitempty"` // why it is not ours (GTIN mismatch…)
	// Mismatches: elements of the code that differ from what was printed
	// for its serial (also in Unit.Mismatches).
	Mismatches []FieldMismatch `json:"mismatches,omitempty"`
	// Saleable: ours and commissioned; false for a rejected, uncertain,
	// sampled, returned or not yet commissioned unit (Warning says why).
	Saleable bool   `json:"saleable"`
	Warning  string `json:"warning,omitempty"`
}

func (s *Server) lookup(c *call) error {
	code := c.r.URL.Query().Get("code")
	if code == "" {
		return badRequest("query parameter code is required (element string, bracketed HRI or GS1 Digital Link)")
	}
	msg, err := gs1.Parse(code)
	if err != nil {
		return badRequest("code %q: %v", code, err)
	}
	res := LookupResult{Code: code, Elements: map[string]string{}}
	for _, e := range msg.Elements() {
		res.Elements[e.AI] = e.Value
	}
	serial, ok := msg.Value("21")
	if !ok {
		return badRequest("code %q has no serial number (AI 21)", code)
	}
	u, err := s.o.Controller.Unit(c.r.Context(), serial)
	switch {
	case errors.Is(err, ErrNotFound):
		res.Problem = "serial " + serial + " was never drawn on this line"
	case err != nil:
		return err
	default:
		gtin, _ := msg.Value("01")
		u.Assess()
		u.CompareCode(msg)
		if gtin != "" && u.GTIN != "" && gtin != u.GTIN {
			res.Problem = fmt.Sprintf("serial %s belongs to GTIN %s here, the code says GTIN %s", serial, u.GTIN, gtin)
		} else if len(u.Mismatches) > 0 {
			res.Problem = u.MismatchText()
		} else {
			res.Ours = true
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
	Action    UnitActionKind    `json:"action"` // reject, sample, decommission
	Reason    string            `json:"reason"`
	Signature *SignatureRequest `json:"signature"`
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
		return badRequest("reason is required")
	}
	serial := c.r.PathValue("serial")
	sig, err := s.sign(c, "manual "+string(req.Action)+" of unit "+serial, req.Signature, auth.RoleSupervisor)
	if err != nil {
		return err
	}
	u, err := s.o.Controller.UnitAction(c.r.Context(), serial, req.Action, req.Reason, c.actor())
	if err != nil {
		return err
	}
	return s.done(c, http.StatusOK, u, req.Reason, "state="+u.State+" signed meaning="+sig.Meaning)
}

func (s *Server) devices(c *call) error {
	d, err := s.o.Controller.Devices(c.r.Context())
	if err != nil {
		return err
	}
	if d == nil {
		d = []Device{}
	}
	writeJSON(c.w, http.StatusOK, d)
	return nil
}

func (s *Server) pools(c *call) error {
	p, err := s.o.Controller.PoolLevels(c.r.Context())
	if err != nil {
		return err
	}
	if p == nil {
		p = []PoolLevel{}
	}
	writeJSON(c.w, http.StatusOK, p)
	return nil
}

func (s *Server) alarms(c *call) error {
	active := c.r.URL.Query().Get("active")
	a, err := s.o.Controller.Alarms(c.r.Context(), active == "1" || active == "true")
	if err != nil {
		return err
	}
	if a == nil {
		a = []Alarm{}
	}
	writeJSON(c.w, http.StatusOK, a)
	return nil
}

type raiseAlarmRequest struct {
	Severity string `json:"severity"`
	Source   string `json:"source"`
	Text     string `json:"text"`
}

func (s *Server) raiseAlarm(c *call) error {
	var req raiseAlarmRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	a, err := s.o.Controller.RaiseAlarm(c.r.Context(), Alarm{Severity: req.Severity, Source: req.Source, Text: req.Text}, c.actor())
	if err != nil {
		return err
	}
	c.target = a.ID
	return s.done(c, http.StatusCreated, a, req.Text, "severity="+a.Severity)
}

func (s *Server) ackAlarm(c *call) error {
	a, err := s.o.Controller.AckAlarm(c.r.Context(), c.r.PathValue("id"), c.actor())
	if err != nil {
		return err
	}
	return s.done(c, http.StatusOK, a, "", a.Text)
}

func (s *Server) reconciliation(c *call) error {
	rec, err := s.o.Controller.Reconciliation(c.r.Context(), c.r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, rec)
	return nil
}

func (s *Server) signReconciliation(c *call) error {
	var req SignatureRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	subject := "reconciliation of batch " + c.r.PathValue("id")
	// Check what the controller would refuse before the signature is
	// made, so the audit trail holds no auth.sign for a signing that did
	// not happen (21 CFR 11): the refusal is audited as auth.sign.refused.
	if err := s.signable(c, c.r.PathValue("id"), req.Meaning); err != nil {
		s.signRefused(c, "auth.sign.refused", subject, err)
		return err
	}
	sig, err := s.sign(c, subject, &req, auth.RoleSupervisor)
	if err != nil {
		return err
	}
	rec, err := s.o.Controller.SignReconciliation(c.r.Context(), c.r.PathValue("id"), sig)
	if err != nil {
		// Refused after the password check (the batch changed meanwhile):
		// the audit trail says the signature was not applied.
		s.signRefused(c, "auth.sign.voided", subject, err)
		return err
	}
	return s.done(c, http.StatusOK, rec, req.Reason, fmt.Sprintf("meaning=%s drawn=%d commissioned=%d rejected=%d sampled=%d returned=%d uncertain=%d balanced=%t",
		sig.Meaning, rec.Drawn, rec.Commissioned, rec.Rejected, rec.Sampled, rec.Returned, rec.Uncertain, rec.Balanced))
}

// signable reports why the reconciliation of batch id cannot be signed
// with meaning now (nil when it can): the batch must be final, not yet
// signed, and a batch that does not balance or has deviations (rejects
// the gate did not confirm) needs approved-with-deviation.
func (s *Server) signable(c *call, id, meaning string) error {
	rec, err := s.o.Controller.Reconciliation(c.r.Context(), id)
	if err != nil {
		return err
	}
	switch {
	case !rec.Final:
		return fmt.Errorf("batch %s is %s: sign its reconciliation once it is complete, stopped or aborted: %w", id, rec.State, ErrInvalidState)
	case rec.Signed != nil:
		return fmt.Errorf("reconciliation of batch %s already signed by %s: %w", id, rec.Signed.User, ErrInvalidState)
	case meaning != MeaningApprovedWithDeviation && !rec.Balanced:
		return fmt.Errorf("batch %s does not balance; sign with meaning %q and a reason: %w", id, MeaningApprovedWithDeviation, ErrRefused)
	case meaning != MeaningApprovedWithDeviation && rec.Deviations > 0:
		return fmt.Errorf("batch %s: %d reject(s) not confirmed by the gate, the packs may be in the good stream; sign with meaning %q and a reason: %w",
			id, rec.Deviations, MeaningApprovedWithDeviation, ErrRefused)
	}
	return nil
}

// signRefused audits a signing that did not happen.
func (s *Server) signRefused(c *call, action, subject string, err error) {
	if aerr := s.o.Audit.AppendAudit(c.r.Context(), auth.AuditEntry{Who: c.sess.User, Role: string(c.sess.Role),
		Action: action, Reason: err.Error(), After: "subject=" + subject}); aerr != nil {
		s.log.Error("audit append failed for refusal", "action", action, "err", aerr)
	}
}

func (s *Server) audit(c *call) error {
	q := c.r.URL.Query()
	limit, err := queryInt(c.r, "limit", 200, 5000)
	if err != nil {
		return err
	}
	from, err := queryInt(c.r, "from_seq", 0, 0)
	if err != nil {
		return err
	}
	aq := AuditQuery{Who: q.Get("who"), Action: q.Get("action"), FromSeq: uint64(from), Limit: limit,
		Newest: q.Get("newest") == "1" || q.Get("newest") == "true"}
	for name, dst := range map[string]*time.Time{"since": &aq.Since, "until": &aq.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return badRequest("query parameter %s=%q: want RFC 3339 time", name, v)
			}
			*dst = t
		}
	}
	recs, err := s.o.Audit.QueryAudit(c.r.Context(), aq)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []AuditRecord{}
	}
	writeJSON(c.w, http.StatusOK, recs)
	return nil
}

// events streams the status as server-sent events ("status" events) while
// the client is connected: one at once, then one whenever it changes.
func (s *Server) events(c *call) error {
	fl, ok := c.w.(http.Flusher)
	if !ok {
		return errors.New("streaming unsupported by this connection")
	}
	ctx := c.r.Context()
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.w.WriteHeader(http.StatusOK)
	fl.Flush()
	tick := time.NewTicker(s.o.StatusInterval)
	defer tick.Stop()
	var last []byte
	lastSent := s.o.Now()
	tok := Token(c.r)
	for {
		if _, err := s.o.Auth.Peek(tok); err != nil {
			b, _ := json.Marshal(ErrorDetail{Code: CodeUnauthorized, Message: err.Error()})
			fmt.Fprintf(c.w, "event: error\ndata: %s\n\n", b)
			fl.Flush()
			return nil // the session ended: so does the stream
		}
		st, err := s.o.Controller.Status(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			b, _ := json.Marshal(ErrorDetail{Code: CodeUnavailable, Message: err.Error()})
			fmt.Fprintf(c.w, "event: error\ndata: %s\n\n", b)
			last = nil // resend the status once it is back
			lastSent = s.o.Now()
		} else {
			at := st.At
			st.At = time.Time{}
			cmp, _ := json.Marshal(st)
			if string(cmp) != string(last) {
				last = cmp
				st.At = at
				b, _ := json.Marshal(st)
				fmt.Fprintf(c.w, "event: status\ndata: %s\n\n", b)
				lastSent = s.o.Now()
			} else if s.o.Now().Sub(lastSent) >= s.o.Heartbeat {
				fmt.Fprint(c.w, ": keep-alive\n\n")
				lastSent = s.o.Now()
			}
		}
		fl.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
