package hmi

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/i18n"
)

// Aggregation pages (when Options.Aggregation is set):
//
//	/aggregation   live case fill and the last cases, the pallet being
//	               built, the stations, the reconciliation per level and
//	               the supervisor's e-signed finish
//	/station       the manual station: mode, one scan field that keeps the
//	               focus (a handheld scanner types into it), big pass/fail
//	               answer, partial close (e-signed), cancel
//	/rework        look a case or pallet up (contents down to the units),
//	               unpack, remove children, relabel (e-signed)

func (h *HMI) aggregationPages() error {
	for _, lang := range i18n.Languages() {
		for _, p := range []string{"aggregation", "station", "rework"} {
			t, err := template.New("layout.html").Funcs(h.funcs(lang)).ParseFS(webFS, "web/templates/layout.html", "web/templates/"+p+".html")
			if err != nil {
				return fmt.Errorf("template %s: %w", p, err)
			}
			h.pages[lang][p] = t
		}
	}
	h.mux.HandleFunc("GET /aggregation", h.aggregation)
	h.mux.HandleFunc("GET /station", h.station)
	h.mux.HandleFunc("GET /rework", h.rework)
	return nil
}

// aggPage starts the aggregation page name (its template, nav entry and
// title "page."+name). It returns false when it has answered the request
// itself: no session (redirect to login) or no aggregation configured
// (the page with that error, 404).
func (h *HMI) aggPage(w http.ResponseWriter, r *http.Request, name string) (page, bool) {
	sess, ok := h.session(w, r, false)
	if !ok {
		return page{}, false
	}
	p := page{Title: "page." + name, Nav: name, Session: sess}
	if h.o.Aggregation == nil {
		p.Error = i18n.T(h.langOf(r, sess), "agg.notconfigured")
		h.render(w, r, name, http.StatusNotFound, p)
		return p, false
	}
	return p, true
}

type aggData struct {
	Status api.AggStatus
	Rec    *api.AggReconciliation
}

func (h *HMI) aggregation(w http.ResponseWriter, r *http.Request) {
	p, ok := h.aggPage(w, r, "aggregation")
	if !ok {
		return
	}
	var d aggData
	var err error
	if d.Status, err = h.o.Aggregation.AggStatus(r.Context()); err != nil {
		p.Error = err.Error()
	}
	batch := r.URL.Query().Get("batch")
	if batch == "" {
		batch = d.Status.Batch
	}
	if batch != "" {
		if rec, err := h.o.Aggregation.AggReconciliation(r.Context(), batch); err == nil {
			d.Rec = &rec
		} else {
			p.Error = err.Error()
		}
	}
	p.Data = d
	h.render(w, r, "aggregation", http.StatusOK, p)
}

func (h *HMI) station(w http.ResponseWriter, r *http.Request) {
	p, ok := h.aggPage(w, r, "station")
	if !ok {
		return
	}
	st, err := h.o.Aggregation.Station(r.Context(), "manual")
	if err != nil {
		p.Error = err.Error()
	}
	agg, _ := h.o.Aggregation.AggStatus(r.Context())
	var levels []string
	if agg.Batch != "" {
		if rec, err := h.o.Aggregation.AggReconciliation(r.Context(), agg.Batch); err == nil {
			for _, l := range rec.Levels {
				levels = append(levels, l.Name)
			}
		}
	}
	p.Data = map[string]any{"Station": st, "Levels": levels, "Batch": agg.Batch}
	h.render(w, r, "station", http.StatusOK, p)
}

type reworkData struct {
	Code   string
	Lookup *api.AggLookup
	Error  string
}

func (h *HMI) rework(w http.ResponseWriter, r *http.Request) {
	p, ok := h.aggPage(w, r, "rework")
	if !ok {
		return
	}
	d := reworkData{Code: strings.TrimSpace(r.URL.Query().Get("code"))}
	if d.Code != "" {
		l, err := h.o.Aggregation.AggLookup(r.Context(), d.Code)
		if err != nil {
			d.Error = err.Error()
		} else {
			d.Lookup = &l
		}
	}
	p.Data = d
	h.render(w, r, "rework", http.StatusOK, p)
}
