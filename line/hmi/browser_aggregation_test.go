package hmi_test

import (
	"net/http"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/hmi"
)

// TestBrowserAggregationPages: the aggregation, manual station and rework
// pages follow the HMI's conventions in headless Chromium: no sideways
// scroll and 56 px touch targets at 1024×768 and 1920×1080 (the top
// navigation with its three aggregation links included), the screens
// match their references, and the pages speak German for a German user.
func TestBrowserAggregationPages(t *testing.T) {
	ctx := browserContext(t)
	agg := fakeAgg{}
	e := apitest.NewEnv(t, apitest.EnvOptions{Aggregation: agg, UI: func(e *apitest.Env) http.Handler {
		h, err := hmi.New(hmi.Options{Controller: e.Fake, Auth: e.Auth, Audit: api.JournalAudit{J: e.Journal}, Records: e.Records,
			Aggregation: agg, Shift: config.Shift{Clearance: []config.ChecklistItem{}, Reasons: map[string][]config.ReasonCode{}}})
		if err != nil {
			t.Fatal(err)
		}
		h.AttachAPI(e.API)
		return h
	}})
	b := browserSized(t, ctx, 1024, 768)
	b.login(ctx, e.URL, "sam", apitest.SupervisorPassword) // a supervisor sees every form
	pages := []struct{ name, path, ready string }{
		{"aggregation", "/aggregation", `document.querySelector("#agg-finish-form")`},
		{"station", "/station", `document.activeElement && document.activeElement.id === "scan-code"`},
		{"rework", "/rework?code=(00)095011010000000049", `document.querySelector("#rework-form")`},
	}
	visit := func(name, path, ready string) {
		t.Helper()
		b.navigate(ctx, e.URL+path)
		b.waitFor(ctx, name+" page", `document.documentElement.dataset.ready && `+ready)
	}
	for _, size := range []struct {
		w, h   int
		suffix string
	}{{1024, 768, "1024"}, {1920, 1080, "1920"}} {
		b.resize(ctx, size.w, size.h)
		for _, p := range pages {
			visit(p.name, p.path, p.ready)
			checkLayout(t, ctx, b, p.name+" "+size.suffix)
			compareScreen(t, ctx, b, p.name+"-"+size.suffix)
		}
	}
	// the top navigation at 1024×768 with the aggregation links: no
	// sideways scroll, every link a touch target, all of them visible
	b.resize(ctx, 1024, 768)
	visit("line", "/", `document.querySelector("#line")`)
	checkLayout(t, ctx, b, "navigation 1024")
	var hidden []string
	if err := b.eval(ctx, `[...document.querySelectorAll("nav a")].filter(a => { const r = a.getBoundingClientRect(); return r.right > window.innerWidth || r.width === 0 }).map(a => a.textContent.trim())`, &hidden); err != nil {
		t.Fatal(err)
	}
	if len(hidden) > 0 {
		t.Errorf("navigation links outside the page at 1024 px: %v", hidden)
	}
	// German
	if err := b.eval(ctx, `(() => { const s = document.querySelector("#lang"); s.value = "de"; s.dispatchEvent(new Event("change")); return true })()`, nil); err != nil {
		t.Fatal(err)
	}
	b.waitFor(ctx, "German", `document.documentElement.lang === "de"`)
	for _, c := range []struct{ path, ready, want string }{
		{"/aggregation", `document.querySelector("#agg-finish-form")`, `["Kartons", "Palette", "Abstimmung je Ebene", "Einheiten ohne Karton (decommission)", "Signieren und abschließen"]`},
		{"/station", `document.activeElement && document.activeElement.id === "scan-code"`, `["Handstation", "Karton bauen", "Herausnehmen", "ABGELEHNT", "Teilweise schließen (E-Signatur)"]`},
		{"/rework?code=(00)095011010000000049", `document.querySelector("#rework-form")`, `["Nacharbeit und Suche", "Palette (00) 095011010000000049 · offen", "20 Einheiten", "Signieren und ausführen"]`},
	} {
		visit(c.path, c.path, c.ready)
		var missing []string
		if err := b.eval(ctx, c.want+`.filter(w => !document.body.textContent.includes(w))`, &missing); err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Errorf("%s in German: %v missing", c.path, missing)
		}
		checkLayout(t, ctx, b, c.path+" German 1024")
	}
	// the station's live texts come from the catalogue too (T in agg.js)
	visit("station", "/station", `document.activeElement && document.activeElement.id === "scan-code"`)
	b.fill(ctx, "#scan-form", "#scan-code", "X1")
	b.waitFor(ctx, "German answer after a scan", `document.querySelector("#st-open").textContent.includes("20 von 20")`)
}
