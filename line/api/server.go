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
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/i18n"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/line/records"
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
	// Aggregation, when set, serves /api/v1/aggregation/… (aggregation.go).
	Aggregation Aggregation
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
	// Records are the shift's GMP records (product master, signatures,
	// close-outs, clearances, handovers); nil = batches are set up without
	// a product master, signed once, and the shift endpoints answer 404.
	Records *records.Store
	// Location is the line's time zone: times in reports and on screen are
	// shown in it, named; nil = UTC.
	Location *time.Location
	// Shift are the line clearance checklist, the command reason codes
	// and the unit action policy (defaults filled by Effective).
	Shift config.Shift
	// Shifts are the shift start times ("06:00", …) of the shift report;
	// none = one shift per day.
	Shifts []string
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
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.Shift = o.Shift.Effective()
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

// route registers one API route.
func (s *Server) route(pattern string, acc access, action string, fn handler) {
	s.mux.Handle(pattern, s.wrap(acc, action, fn))
	s.patterns = append(s.patterns, pattern)
}

func (s *Server) routes() {
	m := s.mux
	h := s.route
	h("POST /api/v1/login", anyone, "", (*Server).login)
	h("POST /api/v1/logout", changePW, "", (*Server).logout)
	h("GET /api/v1/session", changePW, "", (*Server).session)
	h("PATCH /api/v1/session", changePW, "", (*Server).updateSession)
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
	h("POST /api/v1/units/{serial}/action", operator, "api.unit.action", (*Server).unitAction)
	h("GET /api/v1/lookup", operator, "", (*Server).lookup)
	h("GET /api/v1/devices", operator, "", (*Server).devices)
	h("GET /api/v1/pools", operator, "", (*Server).pools)
	h("GET /api/v1/alarms", operator, "", (*Server).alarms)
	h("POST /api/v1/alarms", operator, "api.alarm.raise", (*Server).raiseAlarm)
	h("POST /api/v1/alarms/{id}/ack", operator, "api.alarm.ack", (*Server).ackAlarm)
	h("POST /api/v1/alarms/ack-all", operator, "api.alarm.ack-all", (*Server).ackAllAlarms)
	h("GET /api/v1/audit", supervisor, "", (*Server).audit)
	s.shiftRoutes()
	s.aggregationRoutes(h)
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
	// One JSON value and nothing after it: a body such as {"a":1}{"b":2}
	// or {"a":1} trailing-garbage is refused, not half-read.
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest,
			Message: "request body: unexpected data after the JSON value (send exactly one JSON object)"}
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
	if auth.IsRefusal(err) {
		// One answer for every refused login — unknown user, wrong
		// password, lockout, disabled account — at every attempt, so the
		// answer never tells whether a user exists (auth audited the cause).
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: auth.RefusalText}
	}
	if err != nil {
		return err
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

type sessionUpdate struct {
	Lang *string `json:"lang"`
}

// updateSession changes the session user's own settings (the language).
func (s *Server) updateSession(c *call) error {
	var req sessionUpdate
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Lang == nil {
		return badRequest("nothing to change: send {\"lang\": \"en\"|\"de\"}")
	}
	if err := s.o.Auth.SetLanguage(c.r.Context(), Token(c.r), *req.Lang); err != nil {
		return err
	}
	sess, err := s.o.Auth.Peek(Token(c.r))
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, sess)
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
	FullName string `json:"full_name"` // required: printed with every signature
	Role     string `json:"role"`
	Password string `json:"password"` // temporary; changed at first login
	Lang     string `json:"lang,omitempty"`
}

func (s *Server) createUser(c *call) error {
	var req createUserRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	c.target = req.Name
	if strings.TrimSpace(req.FullName) == "" {
		req.FullName = req.Name // older clients; the admin can set it later
	}
	if err := s.o.Auth.Create(c.r.Context(), c.sess, auth.NewUser{Name: req.Name, FullName: req.FullName, Role: auth.Role(req.Role),
		Password: req.Password, Lang: req.Lang}); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, map[string]string{"name": req.Name, "full_name": strings.TrimSpace(req.FullName), "role": req.Role}) // auth audited it
	return nil
}

type updateUserRequest struct {
	Role        *string `json:"role,omitempty"`
	FullName    *string `json:"full_name,omitempty"`
	Lang        *string `json:"lang,omitempty"`
	Disabled    *bool   `json:"disabled,omitempty"`
	Unlock      bool    `json:"unlock,omitempty"`
	NewPassword *string `json:"password,omitempty"`
}

func (s *Server) updateUser(c *call) error {
	var req updateUserRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ch := auth.UserChange{Disabled: req.Disabled, Unlock: req.Unlock, NewPassword: req.NewPassword, FullName: req.FullName, Lang: req.Lang}
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
	for i := range b {
		b[i] = s.decorateBatch(b[i])
	}
	writeJSON(c.w, http.StatusOK, b)
	return nil
}

// sign checks an electronic signature in the request for the session's
// user over subject, the record signed.
func (s *Server) sign(c *call, subject string, sr *SignatureRequest, min auth.Role) (Signature, error) {
	if sr == nil {
		return Signature{}, &Error{Status: http.StatusBadRequest, Code: CodeSignatureRequired,
			Message: "this action needs an electronic signature: signature {password, meaning, reason}"}
	}
	switch sr.Meaning {
	case MeaningApproved, MeaningApprovedWithDeviation, MeaningReviewed, MeaningReleased, MeaningReleasedWithDeviation,
		MeaningPerformed, MeaningHandedOver, MeaningAcknowledged:
	default:
		// the meaning is part of the signed record (21 CFR 11.50): one of
		// the defined ones, not free text
		err := badRequest("signature meaning %q: want one of %s", sr.Meaning, strings.Join(Meanings(), ", "))
		if aerr := s.o.Audit.AppendAudit(c.r.Context(), auth.AuditEntry{Who: c.sess.User, Role: string(c.sess.Role),
			Action: "auth.sign.refused", Reason: err.Error(), After: "subject=" + subject}); aerr != nil {
			s.log.Error("audit append failed for refusal", "action", "auth.sign.refused", "err", aerr)
		}
		return Signature{}, err
	}
	sig, err := s.o.Auth.Sign(c.r.Context(), c.sess, subject, sr.Password, sr.Meaning, sr.Reason, min)
	if errors.Is(err, auth.ErrLocked) {
		return Signature{}, &Error{Status: http.StatusForbidden, Code: CodeLocked,
			Message: "signature refused: too many wrong passwords from this terminal; wait 15 minutes or ask an admin to unlock you"}
	}
	if errors.Is(err, auth.ErrBadCredentials) {
		return Signature{}, &Error{Status: http.StatusForbidden, Code: CodeSignatureInvalid, Message: "signature refused: wrong password"}
	}
	if err != nil {
		return Signature{}, err
	}
	return Signature{User: sig.User, FullName: sig.FullName, Role: string(sig.Role), Meaning: sig.Meaning, Reason: sig.Reason, At: sig.At}, nil
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
	q := c.r.URL.Query()
	view := q.Get("view")
	if active := q.Get("active"); view == "" && (active == "1" || active == "true") {
		view = ViewAttention
	}
	if view == "" {
		view = ViewHistory
	}
	limit, err := queryInt(c.r, "limit", 500, 5000)
	if err != nil {
		return err
	}
	var a []Alarm
	if al, ok := s.o.Controller.(AlarmLister); ok {
		a, err = al.AlarmView(c.r.Context(), AlarmQuery{View: view, Batch: q.Get("batch"), Limit: limit})
	} else {
		a, err = s.o.Controller.Alarms(c.r.Context(), view != ViewHistory)
	}
	if err != nil {
		return err
	}
	lang := c.lang()
	out := make([]Alarm, 0, len(a))
	for _, x := range a {
		out = append(out, x.Localize(lang))
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// lang is the language of the caller: the user's own, else the browser's.
func (c *call) lang() string { return i18n.Pick(c.sess.Lang, c.r.Header.Get("Accept-Language")) }

func (s *Server) ackAllAlarms(c *call) error {
	al, ok := s.o.Controller.(AlarmLister)
	if !ok {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this controller has no alarm history"}
	}
	acked, err := al.AckAll(c.r.Context(), c.actor())
	if err != nil {
		return err
	}
	ids := make([]string, len(acked))
	for i, a := range acked {
		ids[i] = a.ID
		acked[i] = a.Localize(c.lang())
	}
	if acked == nil {
		acked = []Alarm{}
	}
	return s.done(c, http.StatusOK, acked, "", fmt.Sprintf("%d alarm(s): %s", len(ids), strings.Join(ids, " ")))
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
	return s.done(c, http.StatusCreated, a.Localize(c.lang()), req.Text, "severity="+a.Severity)
}

func (s *Server) ackAlarm(c *call) error {
	a, err := s.o.Controller.AckAlarm(c.r.Context(), c.r.PathValue("id"), c.actor())
	if err != nil {
		return err
	}
	return s.done(c, http.StatusOK, a.Localize(c.lang()), "", a.Code+": "+a.Text)
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
			view := s.statusView(c, st)
			cmp, _ := json.Marshal(view)
			if string(cmp) != string(last) {
				last = cmp
				view.At = at
				b, _ := json.Marshal(view)
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
