// Package hmi is the operator web HMI, served from the binary (embed):
// server-rendered HTML pages (html/template) and one small hand-written
// JavaScript file, no build toolchain. It is laid out for a 1280×800 touch
// panel: big buttons, no hover-only controls.
//
// Pages: /login, /password (forced change at first login), / (line:
// batch commands, live counters, devices, last units, alarms), /batch/new
// (batch setup), /reconciliation?batch=ID (report and e-signature),
// /audit (audit trail, supervisor), /unit?code=… (unit lookup).
//
// The pages are rendered from the same Controller the API uses; every
// change goes through the JSON API (line/api), so the HMI adds no second
// path for actions and every action lands in the audit trail the same way.
// Live values arrive over the API's server-sent events.
package hmi

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/printer/gs1"
)

//go:embed web
var webFS embed.FS

// Options configures New.
type Options struct {
	// Controller is the line controller (the same one the API serves).
	Controller api.Controller
	// Auth validates the session cookie.
	Auth *auth.Service
	// Audit is read by the audit page.
	Audit api.AuditTrail
	// Logger logs page rendering failures; nil discards.
	Logger *slog.Logger
	// Profiles are the market profiles offered in batch setup; default
	// eu-fmd, us-dscsa, then every other printer/gs1 profile. A profile
	// with a national number AI (eu-fmd-de: 710 …) shows the NHRN field.
	Profiles []string
	// Now is the clock (batch id suggestion, lockout display); nil means
	// time.Now.
	Now func() time.Time
}

// HMI is the web HMI handler. Mount it at "/" (api.Options.UI).
type HMI struct {
	o     Options
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New builds the HMI.
func New(o Options) (*HMI, error) {
	if o.Controller == nil || o.Auth == nil || o.Audit == nil {
		return nil, fmt.Errorf("hmi: Options.Controller, Auth and Audit are required: %w", ErrOptions)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Profiles) == 0 {
		o.Profiles = []string{"eu-fmd", "us-dscsa"}
		for _, p := range gs1.Profiles() {
			if p.Name != "eu-fmd" && p.Name != "us-dscsa" {
				o.Profiles = append(o.Profiles, p.Name)
			}
		}
	}
	h := &HMI{o: o, log: o.Logger, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Local().Format("2006-01-02 15:04:05")
		},
		"grade": func(g *float64) string {
			if g == nil {
				return "ungraded" // no grade from the camera: not 0.0, which is an F
			}
			return fmt.Sprintf("%.1f", *g)
		},
		"letter":  gradeLetter,
		"lower":   strings.ToLower,
		"pathesc": url.PathEscape,
		"pct": func(n, of int) int {
			if of <= 0 {
				return 0
			}
			return min(100, n*100/of)
		},
		"sortedReasons": sortedReasons,
		"hasRole":       func(s auth.Session, r string) bool { return s.Role.AtLeast(auth.Role(r)) },
	}
	for _, p := range []string{"login", "password", "line", "batch", "reconciliation", "audit", "unit", "users"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(webFS, "web/templates/layout.html", "web/templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("hmi: template %s: %w", p, err)
		}
		h.pages[p] = t
	}
	static, err := fs.Sub(webFS, "web/static")
	if err != nil {
		return nil, err
	}
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /login", h.login)
	h.mux.HandleFunc("GET /password", h.password)
	h.mux.HandleFunc("GET /{$}", h.line)
	h.mux.HandleFunc("GET /batch/new", h.batchNew)
	h.mux.HandleFunc("GET /reconciliation", h.reconciliation)
	h.mux.HandleFunc("GET /audit", h.audit)
	h.mux.HandleFunc("GET /unit", h.unit)
	h.mux.HandleFunc("GET /users", h.users)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *HMI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// page is the data every page template gets.
type page struct {
	Title   string
	Nav     string
	Session auth.Session
	Line    string
	Error   string
	Data    any
}

func (h *HMI) render(w http.ResponseWriter, name string, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var b strings.Builder
	if err := h.pages[name].Execute(&b, p); err != nil {
		h.log.Error("hmi: render", "page", name, "err", err)
		http.Error(w, "page rendering failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	fmt.Fprint(w, b.String())
}

// session returns the cookie's session, or redirects to login (or to the
// password page when a change is due) and returns false.
func (h *HMI) session(w http.ResponseWriter, r *http.Request, allowMustChange bool) (auth.Session, bool) {
	sess, err := h.o.Auth.Session(api.Token(r))
	if err != nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return auth.Session{}, false
	}
	if sess.MustChange && !allowMustChange {
		http.Redirect(w, r, "/password", http.StatusSeeOther)
		return auth.Session{}, false
	}
	return sess, true
}

func (h *HMI) login(w http.ResponseWriter, r *http.Request) {
	h.render(w, "login", http.StatusOK, page{Title: "Log in", Data: localPath(r.URL.Query().Get("next"))})
}

// localPath returns next when it is a path on this server, else "/": the
// page goes there after login, so it must not lead to another site
// ("//evil", "/\evil" and "https://evil" all would).
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\t\r\n") {
		return "/"
	}
	return next
}

// refuse renders page name with a 403 and msg, and records the refusal in
// the audit trail (as the API does for its routes).
func (h *HMI) refuse(w http.ResponseWriter, r *http.Request, name string, p page, msg string) {
	if err := h.o.Audit.AppendAudit(r.Context(), auth.AuditEntry{Who: p.Session.User, Role: string(p.Session.Role),
		Action: "hmi.access.refused", Reason: msg, After: r.Method + " " + r.URL.Path}); err != nil {
		h.log.Error("hmi: audit trail write failed for a refusal", "page", name, "err", err)
	}
	p.Error = msg
	h.render(w, name, http.StatusForbidden, p)
}

func (h *HMI) password(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, true)
	if !ok {
		return
	}
	h.render(w, "password", http.StatusOK, page{Title: "Change password", Session: sess})
}

// decidedStates are the unit states shown as "last units" (not the serials
// drawn ahead of the printer); a fresh slice each time, the controller may
// keep it.
func decidedStates() []string { return []string{"commissioned", "rejected", "sampled", "uncertain"} }

type lineData struct {
	Status api.Status
	Units  []api.Unit
	Alarms []api.Alarm
}

func (h *HMI) line(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	ctx := r.Context()
	p := page{Title: "Line", Nav: "line", Session: sess}
	var d lineData
	var err error
	if d.Status, err = h.o.Controller.Status(ctx); err != nil {
		p.Error = "status: " + err.Error()
	}
	p.Line = d.Status.Line
	if d.Units, err = h.o.Controller.Units(ctx, "", api.UnitQuery{Limit: 8, States: decidedStates()}); err != nil {
		p.Error = "units: " + err.Error()
	}
	if d.Alarms, err = h.o.Controller.Alarms(ctx, true); err != nil {
		p.Error = "alarms: " + err.Error()
	}
	p.Data = d
	h.render(w, "line", http.StatusOK, p)
}

func (h *HMI) batchNew(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	var gtins []string
	if pools, err := h.o.Controller.PoolLevels(r.Context()); err == nil {
		for _, p := range pools {
			gtins = append(gtins, p.GTIN)
		}
	}
	sort.Strings(gtins)
	now := h.o.Now()
	def := api.BatchDef{ID: "B" + now.Format("060102-1504"), Expiry: now.AddDate(2, 0, 0).Format("060102"), Target: 1000}
	if len(gtins) > 0 {
		def.GTIN = gtins[0]
	}
	h.render(w, "batch", http.StatusOK, page{Title: "New batch", Nav: "batch", Session: sess,
		Data: map[string]any{"Def": def, "GTINs": gtins, "Profiles": profileOptions(h.o.Profiles)}})
}

type reconData struct {
	Batches []api.Batch
	Batch   string
	Rec     *api.Reconciliation
	Rejects []api.Unit
}

func (h *HMI) reconciliation(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	ctx := r.Context()
	p := page{Title: "Reconciliation", Nav: "reconciliation", Session: sess}
	var d reconData
	var err error
	d.Batches, err = h.o.Controller.Batches(ctx, 20)
	if err != nil {
		p.Error = err.Error()
	}
	d.Batch = r.URL.Query().Get("batch")
	if d.Batch == "" && len(d.Batches) > 0 {
		d.Batch = d.Batches[0].ID
	}
	if d.Batch != "" {
		rec, err := h.o.Controller.Reconciliation(ctx, d.Batch)
		if err != nil {
			p.Error = err.Error()
		} else {
			d.Rec = &rec
			d.Rejects, _ = h.o.Controller.Units(ctx, d.Batch, api.UnitQuery{States: []string{"rejected", "uncertain"}, Limit: 50})
		}
	}
	p.Data = d
	h.render(w, "reconciliation", http.StatusOK, p)
}

func (h *HMI) audit(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	p := page{Title: "Audit trail", Nav: "audit", Session: sess}
	if !sess.Role.AtLeast(auth.RoleSupervisor) {
		h.refuse(w, r, "audit", p, "The audit trail is for supervisors and admins.")
		return
	}
	q := api.AuditQuery{Who: r.URL.Query().Get("who"), Action: r.URL.Query().Get("action"), Limit: 200, Newest: true}
	recs, err := h.o.Audit.QueryAudit(r.Context(), q)
	if err != nil {
		p.Error = err.Error()
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 { // newest first
		recs[i], recs[j] = recs[j], recs[i]
	}
	p.Data = map[string]any{"Records": recs, "Who": q.Who, "Action": q.Action}
	h.render(w, "audit", http.StatusOK, p)
}

type unitData struct {
	Code    string
	Problem string
	Unit    *api.Unit
}

func (h *HMI) unit(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	p := page{Title: "Unit lookup", Nav: "unit", Session: sess}
	d := unitData{Code: strings.TrimSpace(r.URL.Query().Get("code"))}
	if d.Code != "" {
		serial := d.Code
		var scanned *gs1.Message
		msg, perr := gs1.Parse(d.Code)
		if perr == nil {
			if s, ok := msg.Value("21"); ok {
				serial = s
				scanned = &msg
			}
		}
		u, err := h.o.Controller.Unit(r.Context(), serial)
		switch {
		case perr != nil && looksLikeCode(d.Code):
			// A scanned code that does not parse: say why, not "never drawn".
			d.Problem = "Code " + d.Code + " is not a valid GS1 code: " + perr.Error()
		case errors.Is(err, api.ErrNotFound):
			d.Problem = "Serial " + serial + " was never drawn on this line."
		case err != nil:
			d.Problem = err.Error()
		default:
			u.Assess()
			if scanned != nil {
				u.CompareCode(*scanned)
				d.Problem = u.MismatchText()
			}
			d.Unit = &u
		}
	}
	p.Data = d
	h.render(w, "unit", http.StatusOK, p)
}

// looksLikeCode reports whether a unit lookup input is meant as a GS1 code
// (bracketed, scanned element string, Digital Link) rather than a serial.
func looksLikeCode(s string) bool {
	if strings.HasPrefix(s, "(") || strings.HasPrefix(s, "]") || strings.Contains(s, "://") || strings.Contains(s, "\x1d") {
		return true
	}
	if len(s) > 18 && strings.HasPrefix(s, "01") {
		for _, c := range s[:16] {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	return false
}

type userRow struct {
	auth.User
	Locked bool
}

func (h *HMI) users(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	p := page{Title: "Users", Nav: "users", Session: sess}
	if !sess.Role.AtLeast(auth.RoleAdmin) {
		p.Data = map[string]any{}
		h.refuse(w, r, "users", p, "User administration is for admins.")
		return
	}
	us, err := h.o.Auth.Users()
	if err != nil {
		p.Error = err.Error()
	}
	now := h.o.Now()
	rows := make([]userRow, len(us))
	for i, u := range us {
		rows[i] = userRow{User: u, Locked: now.Before(u.LockedUntil)}
	}
	p.Data = map[string]any{"Users": rows}
	h.render(w, "users", http.StatusOK, p)
}

// gradeLetter maps an ISO/IEC 15415 numeric grade to its letter ("" for
// an ungraded read).
func gradeLetter(g *float64) string {
	if g == nil {
		return ""
	}
	switch {
	case *g >= 3.5:
		return "A"
	case *g >= 2.5:
		return "B"
	case *g >= 1.5:
		return "C"
	case *g >= 0.5:
		return "D"
	}
	return "F"
}

type reasonCount struct {
	Reason string
	N      int
}

func sortedReasons(m map[string]int) []reasonCount {
	var out []reasonCount
	for k, v := range m {
		out = append(out, reasonCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// profileOpt is a market profile offered in batch setup with its national
// number AI ("" if none; the form asks for the NHRN when set).
type profileOpt struct {
	Name, NHRN, Market string
}

func profileOptions(names []string) []profileOpt {
	out := make([]profileOpt, 0, len(names))
	for _, n := range names {
		o := profileOpt{Name: n}
		if p, err := gs1.LookupProfile(n); err == nil {
			o.NHRN, o.Market = p.NHRN, p.Market
		}
		out = append(out, o)
	}
	return out
}
