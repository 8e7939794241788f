// Package hmi is the operator web HMI, served from the binary (embed):
// server-rendered HTML pages (html/template) and one hand-written
// JavaScript file, no build toolchain. It is laid out for touch panels from
// 1024×768 up: 56 px touch targets everywhere, large type for the line
// state and why it is held, no hover-only controls, no sideways scrolling.
//
// Pages: /login, /password (forced change at first login), / (line:
// batch commands, live counters, why the line is held, devices, alarms
// needing attention, last units), /alarms (attention, active,
// unacknowledged, history; ack, ack all), /batch/new (batch setup from the
// product master), /clearance?batch=ID (line clearance checklist,
// e-signed), /reconciliation?batch=ID (batch record: review, signatures,
// changed after signing, close-outs, PDF), /unit?code=… (unit lookup and
// actions), /products (product master), /shift (shift report and
// handover), /audit (audit trail, supervisor), /users (admin).
//
// Conventions every page follows (see line/README.md, "HMI conventions"):
// texts come from the message catalogues of line/i18n ({{t "key"}} in
// templates, T("key") in hmi.js), in the user's language; times are shown
// in the line's time zone with its name; the status message area (#msg)
// has a fixed height so messages never move the page; a command that ends
// or stops something asks for confirmation and a reason code in the one
// dialog (#confirm); buttons are enabled exactly when the server would
// accept them (the status's commands).
//
// The pages are rendered from the same Controller the API uses; every
// change goes through the JSON API (line/api), so the HMI adds no second
// path for actions and every action lands in the audit trail the same way.
// Live values arrive over the API's server-sent events.
package hmi

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/i18n"
	"github.com/serialine/serialine/line/records"
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
	// Profiles are the market profiles offered in batch setup without a
	// product master; default eu-fmd, us-dscsa, then every other
	// printer/gs1 profile.
	Profiles []string
	// Now is the clock (lockout display); nil means time.Now.
	Now func() time.Time
	// Records are the shift's records (product master for batch setup);
	// nil = batch setup without a product master.
	Records *records.Store
	// Location is the line's time zone: every time on screen is shown in
	// it, with its name; nil = UTC.
	Location *time.Location
	// Shift are the line's shift rules (reason codes, checklist, language).
	Shift config.Shift
	// Aggregation, when set, adds the aggregation pages (aggregation.go).
	Aggregation api.Aggregation
}

// HMI is the web HMI handler. Mount it at "/" (api.Options.UI).
type HMI struct {
	o     Options
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]map[string]*template.Template // language -> page -> template
	api   http.Handler                             // the JSON API, for data it decorates (AttachAPI)
}

// AttachAPI gives the HMI the API handler it reads decorated data from
// (the batch record review, the shift report, lookups) in process, as the
// session's user. NewStack does it.
func (h *HMI) AttachAPI(a http.Handler) { h.api = a }

// bufWriter is an in-memory http.ResponseWriter.
type bufWriter struct {
	h    http.Header
	b    bytes.Buffer
	code int
}

func (w *bufWriter) Header() http.Header { return w.h }
func (w *bufWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.b.Write(p)
}
func (w *bufWriter) WriteHeader(code int) { w.code = code }

// pageNames are the pages, each web/templates/<name>.html in layout.html.
var pageNames = []string{"login", "password", "line", "alarms", "batch", "clearance", "reconciliation", "audit", "unit", "users",
	"products", "shift"}

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
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.Shift = o.Shift.Effective()
	if len(o.Profiles) == 0 {
		o.Profiles = []string{"eu-fmd", "us-dscsa"}
		for _, p := range gs1.Profiles() {
			if p.Name != "eu-fmd" && p.Name != "us-dscsa" {
				o.Profiles = append(o.Profiles, p.Name)
			}
		}
	}
	h := &HMI{o: o, log: o.Logger, mux: http.NewServeMux(), pages: map[string]map[string]*template.Template{}}
	for _, lang := range i18n.Languages() {
		h.pages[lang] = map[string]*template.Template{}
		for _, p := range pageNames {
			t, err := template.New("layout.html").Funcs(h.funcs(lang)).ParseFS(webFS, "web/templates/layout.html", "web/templates/"+p+".html")
			if err != nil {
				return nil, fmt.Errorf("hmi: template %s: %w", p, err)
			}
			h.pages[lang][p] = t
		}
	}
	static, err := fs.Sub(webFS, "web/static")
	if err != nil {
		return nil, err
	}
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /i18n.json", h.catalogue)
	h.mux.HandleFunc("GET /login", h.login)
	h.mux.HandleFunc("GET /password", h.password)
	h.mux.HandleFunc("GET /{$}", h.line)
	h.mux.HandleFunc("GET /alarms", h.alarms)
	h.mux.HandleFunc("GET /batch/new", h.batchNew)
	h.mux.HandleFunc("GET /clearance", h.clearance)
	h.mux.HandleFunc("GET /reconciliation", h.reconciliation)
	h.mux.HandleFunc("GET /audit", h.audit)
	h.mux.HandleFunc("GET /unit", h.unit)
	h.mux.HandleFunc("GET /users", h.users)
	h.mux.HandleFunc("GET /products", h.products)
	h.mux.HandleFunc("GET /shift", h.shift)
	if err := h.aggregationPages(); err != nil {
		return nil, fmt.Errorf("hmi: aggregation pages: %w", err)
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	return h, nil
}

func (h *HMI) funcs(lang string) template.FuncMap {
	return template.FuncMap{
		"t": func(key string, args ...string) string { return i18n.T(lang, key, args...) },
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(h.o.Location).Format("2006-01-02 15:04:05 MST")
		},
		"hm": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(h.o.Location).Format("15:04 MST")
		},
		"zone": func() string { return h.o.Location.String() },
		"grade": func(g *float64) string {
			if g == nil {
				return "ungraded" // no grade from the camera: not 0.0, which is an F
			}
			return fmt.Sprintf("%.1f", *g)
		},
		"letter":  gradeLetter,
		"lower":   strings.ToLower,
		"levels":  records.LevelsText,
		"pathesc": url.PathEscape,
		"pct": func(n, of int) int {
			if of <= 0 {
				return 0
			}
			return min(100, n*100/of)
		},
		"sortedReasons": sortedReasons,
		"hasRole":       func(s auth.Session, r string) bool { return s.Role.AtLeast(auth.Role(r)) },
		"isRole":        func(s auth.Session, r string) bool { return string(s.Role) == r },
		"state":         func(s string) string { return i18n.T(lang, "state."+s) },
		// unit and parent states, packaging levels, station modes and
		// device links in the reader's language (unknown words as they are)
		"ustate":    func(s string) string { return i18n.Word(lang, "ustate.", s) },
		"pstate":    func(s string) string { return i18n.Word(lang, "pstate.", s) },
		"level":     func(s string) string { return i18n.Word(lang, "level.", s) },
		"stmode":    func(s string) string { return i18n.Word(lang, "stmode.", s) },
		"link":      func(s string) string { return i18n.Word(lang, "link.", s) },
		"alarmText": func(a api.Alarm) string { return a.Localize(lang).Text },
		"signer": func(s api.Signature) string {
			if s.FullName != "" && s.FullName != s.User {
				return s.FullName + " (" + s.User + ")"
			}
			return s.User
		},
		"json":   func(v any) string { b, _ := json.Marshal(v); return string(b) },
		"lang":   func() string { return lang },
		"reason": func(r string) string { return api.ReasonText(lang, r) },
	}
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
	Lang    string
	Zone    string
	Data    any
	// Aggregation: the line aggregates (the menu shows its pages).
	Aggregation bool
}

// langOf is the language of r's reader: the user's own, the line's
// default, else the browser's.
func (h *HMI) langOf(r *http.Request, sess auth.Session) string {
	if sess.Lang != "" && i18n.Has(sess.Lang) {
		return sess.Lang
	}
	if sess.User != "" && i18n.Has(h.o.Shift.Language) {
		return h.o.Shift.Language
	}
	return i18n.Pick("", r.Header.Get("Accept-Language"))
}

func (h *HMI) render(w http.ResponseWriter, r *http.Request, name string, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	p.Lang = h.langOf(r, p.Session)
	p.Zone = h.o.Location.String()
	if p.Title != "" {
		p.Title = i18n.T(p.Lang, p.Title)
	}
	p.Aggregation = h.o.Aggregation != nil
	var b strings.Builder
	if err := h.pages[p.Lang][name].Execute(&b, p); err != nil {
		h.log.Error("hmi: render", "page", name, "err", err)
		http.Error(w, "page rendering failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	fmt.Fprint(w, b.String())
}

// catalogue serves the reader's message catalogue for hmi.js.
func (h *HMI) catalogue(w http.ResponseWriter, r *http.Request) {
	sess, _ := h.o.Auth.Peek(api.Token(r))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(i18n.Catalogue(h.langOf(r, sess), ""))
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
	h.render(w, r, "login", http.StatusOK, page{Title: "page.login", Data: localPath(r.URL.Query().Get("next"))})
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
	p.Error = i18n.T(h.langOf(r, p.Session), msg)
	h.render(w, r, name, http.StatusForbidden, p)
}

func (h *HMI) password(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, true)
	if !ok {
		return
	}
	h.render(w, r, "password", http.StatusOK, page{Title: "page.password", Session: sess})
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
	p := page{Title: "page.line", Nav: "line", Session: sess}
	var d lineData
	var err error
	if d.Status, err = h.o.Controller.Status(ctx); err != nil {
		p.Error = "status: " + err.Error()
	}
	p.Line = d.Status.Line
	if d.Status.Batch != nil && h.o.Records != nil {
		if prod, err := h.o.Records.Product(d.Status.Batch.GTIN); err == nil && d.Status.Batch.Product == "" {
			d.Status.Batch.Product = prod.Name
		}
	}
	if d.Units, err = h.o.Controller.Units(ctx, "", api.UnitQuery{Limit: 8, States: decidedStates()}); err != nil {
		p.Error = "units: " + err.Error()
	}
	if d.Alarms, err = h.o.Controller.Alarms(ctx, true); err != nil {
		p.Error = "alarms: " + err.Error()
	}
	if len(d.Alarms) > 5 {
		d.Alarms = d.Alarms[:5]
	}
	p.Data = d
	h.render(w, r, "line", http.StatusOK, p)
}

func (h *HMI) alarms(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	view := r.URL.Query().Get("view")
	if !slices.Contains([]string{api.ViewAttention, api.ViewActive, api.ViewUnacked, api.ViewHistory}, view) {
		view = api.ViewAttention
	}
	p := page{Title: "page.alarms", Nav: "alarms", Session: sess}
	var list []api.Alarm
	var err error
	if al, ok := h.o.Controller.(api.AlarmLister); ok {
		list, err = al.AlarmView(r.Context(), api.AlarmQuery{View: view, Limit: 500})
	} else {
		list, err = h.o.Controller.Alarms(r.Context(), view != api.ViewHistory)
	}
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = map[string]any{"View": view, "Alarms": list, "Views": []string{api.ViewAttention, api.ViewActive, api.ViewUnacked, api.ViewHistory}}
	h.render(w, r, "alarms", http.StatusOK, p)
}

// productOpt is a product offered in batch setup.
type productOpt struct {
	records.Product
	NHRN     string // the profile's national number AI ("" if none)
	Earliest string // the earliest expiry YYMMDD its shelf life allows today
}

func (h *HMI) batchNew(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	d := map[string]any{"Profiles": profileOptions(h.o.Profiles), "IDRule": api.BatchIDRule}
	if h.o.Records != nil {
		today := h.o.Now().In(h.o.Location)
		var opts []productOpt
		for _, p := range h.o.Records.Products() {
			if !p.Active {
				continue
			}
			o := productOpt{Product: p, Earliest: time.Date(today.Year(), today.Month(), today.Day()+p.MinShelfLifeDays+1, 0, 0, 0, 0, time.UTC).Format("060102")}
			if prof, err := gs1.LookupProfile(p.Profile); err == nil {
				o.NHRN = prof.NHRN
			}
			opts = append(opts, o)
		}
		d["Products"] = opts
		d["Master"] = true
	}
	h.render(w, r, "batch", http.StatusOK, page{Title: "page.batch", Nav: "batch", Session: sess, Data: d})
}

func (h *HMI) clearance(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	p := page{Title: "page.clearance", Nav: "line", Session: sess}
	id := r.URL.Query().Get("batch")
	b, err := h.o.Controller.Batch(r.Context(), id)
	if err != nil {
		p.Error = err.Error()
	}
	lang := h.langOf(r, sess)
	var items []config.ChecklistItem
	d := map[string]any{"Batch": b}
	if ck, ok := h.o.Controller.(api.ClearanceKeeper); ok { // the controller keeps the line clearance
		for _, it := range ck.ClearanceChecklist() {
			if t, ok := i18n.Lookup(lang, "clearance."+it.ID); ok {
				it.Text = t
			}
			items = append(items, it)
		}
		if cl, ok := ck.Clearance(id); ok {
			d["Done"] = cl
		}
	}
	d["Items"] = items
	p.Data = d
	h.render(w, r, "clearance", http.StatusOK, p)
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
	p := page{Title: "page.reconciliation", Nav: "reconciliation", Session: sess}
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
		rec, err := h.reviewed(r, d.Batch)
		if err != nil {
			p.Error = err.Error()
		} else {
			d.Rec = &rec
			d.Rejects, _ = h.o.Controller.Units(ctx, d.Batch, api.UnitQuery{States: []string{"rejected", "uncertain"}, Limit: 50})
		}
	}
	p.Data = d
	h.render(w, r, "reconciliation", http.StatusOK, p)
}

// reviewed asks the API for the batch record with its review (the one
// place that computes it), as the session's user.
func (h *HMI) reviewed(r *http.Request, id string) (api.Reconciliation, error) {
	var rec api.Reconciliation
	err := h.apiGet(r, "/api/v1/batches/"+url.PathEscape(id)+"/reconciliation", &rec)
	return rec, err
}

// apiGet calls the API in-process with r's session (for data the API
// decorates: review, shift report).
func (h *HMI) apiGet(r *http.Request, path string, out any) error {
	req, err := http.NewRequestWithContext(r.Context(), "GET", path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+api.Token(r))
	req.Header.Set(api.BackgroundHeader, "1")
	req.Header.Set("Accept-Language", r.Header.Get("Accept-Language"))
	rec := &bufWriter{h: http.Header{}}
	if h.api == nil {
		return errors.New("hmi: no API attached")
	}
	h.api.ServeHTTP(rec, req)
	if rec.code >= 300 {
		var eb api.ErrorBody
		json.Unmarshal(rec.b.Bytes(), &eb)
		return errors.New(eb.Error.Message)
	}
	return json.Unmarshal(rec.b.Bytes(), out)
}

func (h *HMI) audit(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	p := page{Title: "page.audit", Nav: "audit", Session: sess}
	if !sess.Role.AtLeast(auth.RoleSupervisor) {
		h.refuse(w, r, "audit", p, "refuse.audit")
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
	h.render(w, r, "audit", http.StatusOK, p)
}

type unitData struct {
	Code    string
	Problem string
	Note    string
	Unit    *api.Unit
	Lookup  *api.LookupResult
	// Running: the unit is of the batch running now (an operator may pull
	// a sample or reject a damaged pack).
	Running  bool
	Closable bool
	Policy   bool // operator actions need a supervisor's co-signature
}

func (h *HMI) unit(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	p := page{Title: "page.unit", Nav: "unit", Session: sess}
	d := unitData{Code: strings.TrimSpace(r.URL.Query().Get("code")), Policy: h.o.Shift.OperatorUnitActionsNeedSupervisor}
	if d.Code != "" {
		if looksLikeCode(d.Code) {
			var lr api.LookupResult
			if err := h.apiGet(r, "/api/v1/lookup?code="+url.QueryEscape(d.Code), &lr); err != nil {
				d.Problem = err.Error()
			} else {
				d.Lookup, d.Unit, d.Problem, d.Note = &lr, lr.Unit, lr.Problem, lr.Note
			}
		} else {
			var u api.Unit
			if err := h.apiGet(r, "/api/v1/units/"+url.PathEscape(d.Code), &u); err != nil {
				d.Problem = i18n.T(h.langOf(r, sess), "unit.never-drawn", "serial", d.Code)
			} else {
				d.Unit = &u
			}
		}
	}
	if d.Unit != nil {
		if st, err := h.o.Controller.Status(r.Context()); err == nil && st.Batch != nil && st.Batch.ID == d.Unit.Batch && !isFinal(st.Batch.State) && st.Batch.State != "Idle" {
			d.Running = true
		}
		d.Closable = d.Unit.Closeout == nil && (d.Unit.State == "rejected" && strings.HasPrefix(d.Unit.Reason, "reject-not-confirmed") ||
			d.Unit.State == "uncertain")
	}
	p.Data = d
	h.render(w, r, "unit", http.StatusOK, p)
}

func isFinal(state string) bool {
	return state == "Complete" || state == "Stopped" || state == "Aborted"
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
	p := page{Title: "page.users", Nav: "users", Session: sess}
	if !sess.Role.AtLeast(auth.RoleAdmin) {
		p.Data = map[string]any{}
		h.refuse(w, r, "users", p, "refuse.users")
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
	p.Data = map[string]any{"Users": rows, "Roles": auth.Roles(), "Languages": i18n.Languages()}
	h.render(w, r, "users", http.StatusOK, p)
}

func (h *HMI) products(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	p := page{Title: "page.products", Nav: "products", Session: sess}
	d := map[string]any{"Profiles": profileOptions(h.o.Profiles)}
	if h.o.Records != nil {
		d["Products"] = h.o.Records.Products()
		if g := r.URL.Query().Get("gtin"); g != "" {
			if prod, err := h.o.Records.Product(g); err == nil {
				d["Edit"] = prod
				d["Versions"] = h.o.Records.ProductVersions(g)
			}
		}
	} else {
		p.Error = "no product master"
	}
	p.Data = d
	h.render(w, r, "products", http.StatusOK, p)
}

func (h *HMI) shift(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return
	}
	p := page{Title: "page.shift", Nav: "shift", Session: sess}
	var rep api.ShiftReport
	if err := h.apiGet(r, "/api/v1/shift/report", &rep); err != nil {
		p.Error = err.Error()
	}
	p.Data = rep
	h.render(w, r, "shift", http.StatusOK, p)
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
