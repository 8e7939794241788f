package hmi_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/config"
)

// checkLayout fails when the page scrolls sideways or a visible control
// is smaller than 56 px in either direction (checkboxes: 36 px inside a
// 56 px label).
func checkLayout(t *testing.T, ctx context.Context, b *cdp, where string) {
	t.Helper()
	var problems []string
	err := b.eval(ctx, `(() => {
	  const out = [];
	  if (document.documentElement.scrollWidth > window.innerWidth) out.push("scrolls sideways: " + document.documentElement.scrollWidth + " > " + window.innerWidth);
	  for (const el of document.querySelectorAll("button, a.button, nav a, input:not([type=checkbox]), select, label.check")) {
	    const r = el.getBoundingClientRect();
	    if (r.width === 0 || r.height === 0 || el.closest("dialog:not([open])") || el.closest("[hidden]")) continue;
	    if (r.height < 55.5 || r.width < 55.5) out.push((el.id || el.tagName + "." + el.className + " " + el.textContent.trim().slice(0, 20)) + " " + Math.round(r.width) + "x" + Math.round(r.height));
	  }
	  return out; })()`, &problems)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("%s: %s", where, strings.Join(problems, "; "))
	}
}

// TestBrowserShift drives the HMI in headless Chromium at 1024×768 through
// an operator's and a supervisor's shift on the fake controller: batch
// setup from the product master (nothing pre-filled, an expired expiry
// refused with what to correct), line clearance e-signed before Start,
// counters over server-sent events, Hold confirmed with a reason code, the
// line page saying who held it and why with the alarm to fix, the alarm
// page (ack all, history), Complete confirmed, production sign-off by the
// supervisor and QA release by QA, a sample after signing making the record
// "changed after signing", and the same pages in German. Screens are
// compared with committed references (1024×768 and 1920×1080).
func TestBrowserShift(t *testing.T) {
	ctx := browserContext(t)
	e := hmiEnvWith(t, apitest.EnvOptions{Shift: &config.Shift{}})
	b := browserSized(t, ctx, 1024, 768)
	click := func(sel string) { t.Helper(); b.click(ctx, sel) }
	text := func(sel string) string { t.Helper(); return b.text(ctx, sel) }
	login := func(user, pw string) { t.Helper(); b.login(ctx, e.URL, user, pw) }
	logout := func() { t.Helper(); click("#logout"); b.waitFor(ctx, "logged out", `location.pathname === "/login"`) }
	eval := func(expr string) {
		t.Helper()
		if err := b.eval(ctx, expr, nil); err != nil {
			t.Fatal(err)
		}
	}

	b.navigate(ctx, e.URL+"/")
	b.waitFor(ctx, "redirect to login", `location.pathname === "/login"`)
	b.fill(ctx, "#login-form", "#login-user", "otto", "#login-password", "nope")
	b.waitFor(ctx, "login refused", `document.querySelector("#msg").textContent.includes("not accepted")`)
	login("otto", apitest.OperatorPassword)

	// batch setup: pick a product; nothing the operator must type is pre-filled
	b.navigate(ctx, e.URL+"/batch/new")
	b.waitFor(ctx, "batch form", `document.querySelector("#batch-form")`)
	var prefilled []string
	b.eval(ctx, `["#b-product", "#b-id", "#b-lot", "#b-expiry", "#b-target"].filter(s => document.querySelector(s).value !== "")`, &prefilled)
	if len(prefilled) > 0 {
		t.Fatalf("pre-filled: %v", prefilled)
	}
	eval(`(() => { const s = document.querySelector("#b-product"); s.value = ` + js(apitest.GTIN) + `; s.dispatchEvent(new Event("change")); return true })()`)
	b.waitFor(ctx, "earliest expiry shown", `document.querySelector("#b-expiry-hint").textContent.includes("today")`)
	checkLayout(t, ctx, b, "batch form")
	compareScreen(t, ctx, b, "batch-form-1024")
	b.fill(ctx, "#batch-form", "#b-id", "PCM-2612-01", "#b-lot", "PC2612A", "#b-expiry", "240101", "#b-target", "30")
	b.waitFor(ctx, "expired expiry refused", `document.querySelector("#msg").textContent.includes("expiry 240101")`)
	b.fill(ctx, "#batch-form", "#b-expiry", time.Now().AddDate(2, 0, 0).Format("060102"))
	b.waitFor(ctx, "line page", `location.pathname === "/" && document.querySelector("#line").dataset.batch === "PCM-2612-01"`)
	b.waitFor(ctx, "product name", `document.querySelector("[data-k='batch.product']").textContent.includes("Paracetamol")`)

	// Start only after the line clearance
	b.waitFor(ctx, "start disabled, clearance offered", `document.documentElement.dataset.live === "1" && document.querySelector('[data-cmd="start"]').disabled && !document.querySelector("#clearance-link").hidden`)
	click("#clearance-link")
	b.waitFor(ctx, "clearance form", `document.querySelector("#clearance-form")`)
	checkLayout(t, ctx, b, "clearance")
	eval(`document.querySelectorAll("input[name=item]").forEach(i => { i.checked = true }); true`)
	b.fill(ctx, "#clearance-form", "#cl-reason", "clearance before PCM-2612-01", "#cl-password", apitest.OperatorPassword)
	b.waitFor(ctx, "start enabled", `location.pathname === "/" && document.documentElement.dataset.live === "1" && !document.querySelector('[data-cmd="start"]').disabled && document.querySelector("#clearance-link").hidden`)
	var top0, top1 float64
	b.eval(ctx, `document.querySelector("#msg").classList.contains("show") ? -1 : document.querySelector("main").getBoundingClientRect().top`, &top0)
	click(`[data-cmd="start"]`)
	b.waitFor(ctx, "Execute", `document.querySelector("#state").dataset.state === "Execute" && document.querySelector("#msg").classList.contains("show")`)
	b.eval(ctx, `document.querySelector("main").getBoundingClientRect().top`, &top1)
	if top0 < 0 || top0 != top1 {
		t.Errorf("a status message moved the page: main at %v without, %v with the message", top0, top1)
	}
	if _, err := e.Fake.Produce(12, 4); err != nil {
		t.Fatal(err)
	}
	b.waitFor(ctx, "counters", `document.querySelector("#c-good").textContent === "9" && document.querySelector("#c-rejected").textContent === "3"`)

	// Hold asks for confirmation and a reason code
	click(`[data-cmd="hold"]`)
	b.waitFor(ctx, "confirm dialog", `document.querySelector("#confirm").open && document.querySelector("#confirm-reason").options.length > 3`)
	checkLayout(t, ctx, b, "confirm dialog")
	click("#confirm-ok") // no reason picked: stays open
	var open bool
	b.eval(ctx, `document.querySelector("#confirm").open`, &open)
	if !open {
		t.Fatal("hold confirmed without a reason code")
	}
	eval(`document.querySelector("#confirm-reason").value = "jam"; document.querySelector("#confirm-note").value = "carton jammed at the gate"; true`)
	click("#confirm-ok")
	b.waitFor(ctx, "Held by otto", `document.querySelector("#state").dataset.state === "Held" && !document.querySelector("#held").hidden && document.querySelector("#held-by").textContent.includes("otto") && document.querySelector("#held-reason").textContent.includes("carton jammed")`)
	e.Fake.Raise(api.SeverityFault, "printer", "fault alarm=hold: INKOUT ink out", "system")
	b.waitFor(ctx, "what to fix", `document.querySelector("#held-alarm").textContent.includes("new cartridge") && document.querySelector("#badge").textContent === "1"`)
	b.waitFor(ctx, "commands when held", `!document.querySelector('[data-cmd="unhold"]').disabled && document.querySelector('[data-cmd="start"]').disabled && document.querySelector('[data-cmd="complete"]').disabled`)
	checkLayout(t, ctx, b, "line page held")
	compareScreen(t, ctx, b, "line-held-1024")
	b.resize(ctx, 1920, 1080)
	b.waitFor(ctx, "wide layout", `window.innerWidth === 1920`)
	checkLayout(t, ctx, b, "line page 1920")
	compareScreen(t, ctx, b, "line-held-1920")
	b.resize(ctx, 1024, 768)

	// the alarm page: views, ack all, history
	b.navigate(ctx, e.URL+"/alarms")
	b.waitFor(ctx, "alarm page", `document.querySelector("#alarm-table") && document.querySelector("#alarm-table").textContent.includes("PRN-INK-OUT")`)
	checkLayout(t, ctx, b, "alarms")
	compareScreen(t, ctx, b, "alarms-1024")
	click("#ack-all")
	b.waitFor(ctx, "acknowledged", `document.querySelector("#alarm-table") && !document.querySelector("[data-ack]")`)
	b.navigate(ctx, e.URL+"/alarms?view=history")
	b.waitFor(ctx, "history", `document.querySelector("#alarm-table").textContent.includes("otto")`)

	b.navigate(ctx, e.URL+"/")
	b.waitFor(ctx, "line page", `document.documentElement.dataset.live === "1"`)
	click(`[data-cmd="unhold"]`)
	b.waitFor(ctx, "Execute again", `document.querySelector("#state").dataset.state === "Execute"`)
	click(`[data-cmd="complete"]`)
	b.waitFor(ctx, "confirm complete", `document.querySelector("#confirm").open`)
	eval(`document.querySelector("#confirm-reason").value = "order-short"; true`)
	click("#confirm-ok")
	b.waitFor(ctx, "Complete", `document.querySelector("#state").dataset.state === "Complete"`)

	// the operator cannot sign; the supervisor signs production, QA releases
	b.navigate(ctx, e.URL+"/reconciliation?batch=PCM-2612-01")
	b.waitFor(ctx, "record", `document.querySelector("#rec-balance") && document.querySelector("#sign-who")`)
	logout()
	login("sam", apitest.SupervisorPassword)
	b.navigate(ctx, e.URL+"/reconciliation?batch=PCM-2612-01")
	b.waitFor(ctx, "production sign form", `document.querySelector("#sign-form") && document.querySelector("#sign-form").dataset.step === "production"`)
	b.fill(ctx, "#sign-form", "#sig-meaning", "approved", "#sig-reason", "End of shift 2", "#sig-password", apitest.SupervisorPassword)
	b.waitFor(ctx, "signed", `document.querySelector("#rec-signed") && document.querySelector("#rec-signed").textContent.includes("Samuel Brandt")`)
	logout()
	login("quinn", apitest.QAPassword)
	b.navigate(ctx, e.URL+"/reconciliation?batch=PCM-2612-01")
	b.waitFor(ctx, "QA form", `document.querySelector("#sign-form") && document.querySelector("#sign-form").dataset.step === "qa"`)
	b.fill(ctx, "#sign-form", "#sig-meaning", "released", "#sig-reason", "Batch record reviewed", "#sig-password", apitest.QAPassword)
	b.waitFor(ctx, "released", `document.querySelector("#rec-status").textContent.includes("RELEASED") && document.querySelector("#rec-signatures").textContent.includes("Quinn Adler")`)
	checkLayout(t, ctx, b, "record")
	compareScreen(t, ctx, b, "record-released-1024")

	// a sample after signing: the record says so, side by side
	logout()
	login("sam", apitest.SupervisorPassword)
	b.navigate(ctx, e.URL+"/unit?code=SN0000001")
	b.waitFor(ctx, "unit action form", `document.querySelector("#unit-action-form")`)
	b.fill(ctx, "#unit-action-form", "#ua-action", "sample", "#ua-reason", "stability retain", "#ua-meaning", "approved", "#ua-password", apitest.SupervisorPassword)
	b.waitFor(ctx, "sampled", `document.querySelector("#unit") && document.querySelector("#unit").textContent.includes("sampled")`)
	b.navigate(ctx, e.URL+"/reconciliation?batch=PCM-2612-01")
	b.waitFor(ctx, "changed after signing", `document.querySelector("#rec-changed") && document.querySelector("#sign-form") && document.querySelector("#sign-form").dataset.step === "production"`)
	if got := text("#rec-changed"); !strings.Contains(got, "CHANGED AFTER SIGNING") {
		t.Fatalf("changed banner: %q", got)
	}
	compareScreen(t, ctx, b, "record-changed-1024")

	// the user's language: German
	eval(`(() => { const s = document.querySelector("#lang"); s.value = "de"; s.dispatchEvent(new Event("change")); return true })()`)
	b.waitFor(ctx, "German", `document.documentElement.lang === "de" && document.querySelector("#rec-changed").textContent.includes("GEÄNDERT") && document.querySelector("nav").textContent.includes("Chargenprotokoll")`)
	b.navigate(ctx, e.URL+"/")
	b.waitFor(ctx, "German line page", `document.documentElement.dataset.live === "1" && document.querySelector("#state").textContent === "Beendet"`)
	b.screenshot(ctx, filepath.Join(artifactDir(t), "line-de-1024.png"))
	var sess struct{ Lang string }
	e.MustDo(t, e.Tokens["sam"], "GET", "/api/v1/session", nil, 200, &sess)
	if sess.Lang != "de" {
		t.Fatalf("language not kept per user: %+v", sess)
	}
}
