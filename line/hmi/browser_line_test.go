package hmi_test

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/hmi"
	"github.com/serialine/serialine/line/linesim"
)

// TestBrowserRealLine is the shift of TestBrowserShift against the real
// controller and the whole simulated line on loopback (PLC over Modbus
// TCP, TIJ printer, DMCC camera decoding the printed symbols, site server
// over HTTP), starting from a first start: the admin logs in with the
// one-time password and must change it before anything else.
func TestBrowserRealLine(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx := browserContext(t)
	dir := t.TempDir()
	ls, err := linesim.Start(ctx, linesim.Options{Dir: dir, Rate: 20,
		Faults: linesim.PrinterFaults{DefectRate: 0.05, MaxDefectSeverity: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ls.Close(); err != nil {
			t.Logf("line close: %v", err)
		}
	})
	st, err := hmi.NewStack(ctx, hmi.StackOptions{Controller: ls.Controller, Journal: ls.Journal,
		UsersPath: filepath.Join(dir, "users.db"), Auth: auth.Options{Hash: apitest.FastHash}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if st.FirstStart == nil {
		t.Fatal("no first-start password")
	}
	srv := httptest.NewServer(st.Handler)
	t.Cleanup(srv.Close) // after the browser is gone (cleanups run last-in first-out): its event stream holds a request open
	b := browser(t, ctx)
	art := artifactDir(t)
	click := func(sel string) { t.Helper(); b.click(ctx, sel) }
	fill := func(form string, fields map[string]string) {
		t.Helper()
		var kv []string
		for sel, v := range fields {
			kv = append(kv, sel, v)
		}
		b.fill(ctx, form, kv...)
	}

	// first start: one-time password, forced change
	b.navigate(ctx, srv.URL+"/")
	b.waitFor(ctx, "login", `location.pathname === "/login"`)
	fill("#login-form", map[string]string{"#login-user": st.FirstStart.User, "#login-password": st.FirstStart.Password})
	b.waitFor(ctx, "forced password change", `location.pathname === "/password" && document.querySelector("#password-form")`)
	fill("#password-form", map[string]string{"#pw-old": st.FirstStart.Password, "#pw-new": "Kestrel-Line-26", "#pw-new2": "Kestrel-Line-26"})
	b.waitFor(ctx, "line page", `location.pathname === "/" && document.querySelector("#line")`)

	// the admin adds the demo product to the product master
	b.navigate(ctx, srv.URL+"/products")
	b.waitFor(ctx, "product form", `document.querySelector("#product-form")`)
	b.fill(ctx, "#product-form", "#p-gtin", apitest.GTIN, "#p-name", "Demo tablets 20", "#p-profile", "eu-fmd", "#p-template", "",
		"#p-gcp", "7", "#p-shelf", "180", "#p-max", "100000", "#p-levels", "unit:1, case:12", "#p-reason", "demo product CC-1")
	b.waitFor(ctx, "product saved", `location.search.includes("gtin=") && document.querySelector("#product-versions")`)

	// batch setup from the product master
	b.navigate(ctx, srv.URL+"/batch/new")
	b.waitFor(ctx, "batch form", `document.querySelector("#b-product")`)
	b.eval(ctx, `(() => { const s = document.querySelector("#b-product"); s.value = `+js(apitest.GTIN)+`; s.dispatchEvent(new Event("change")); return true })()`, nil)
	fill("#batch-form", map[string]string{"#b-id": "LIVE-001", "#b-lot": "LOT7", "#b-expiry": "291130", "#b-target": "5000"})
	b.waitFor(ctx, "batch defined", `location.pathname === "/" && document.querySelector("#line").dataset.batch === "LIVE-001"`)
	// line clearance, e-signed
	b.waitFor(ctx, "clearance offered", `document.documentElement.dataset.live === "1" && !document.querySelector("#clearance-link").hidden`)
	click("#clearance-link")
	b.waitFor(ctx, "clearance form", `document.querySelector("#clearance-form")`)
	b.eval(ctx, `document.querySelectorAll("input[name=item]").forEach(i => { i.checked = true }); true`, nil)
	fill("#clearance-form", map[string]string{"#cl-reason": "line clearance", "#cl-password": "Kestrel-Line-26"})
	// the controller fetches serials from the site server; Start needs the pool's minimum
	b.waitFor(ctx, "pool filled", `location.pathname === "/" && parseInt(document.querySelector("#c-pool").textContent, 10) >= 100`)
	b.waitFor(ctx, "start enabled", `!document.querySelector('[data-cmd="start"]').disabled`)
	click(`[data-cmd="start"]`)
	b.waitFor(ctx, "Execute", `document.querySelector("#state").dataset.state === "Execute"`)
	b.waitFor(ctx, "counters moving", `parseInt(document.querySelector("#c-good").textContent, 10) >= 20`)
	// print defects make the camera reject some units; their reasons show up
	b.waitFor(ctx, "rejects with reasons", `parseInt(document.querySelector("#c-rejected").textContent, 10) >= 1 && !document.querySelector("#reasons .none")`)
	b.waitFor(ctx, "last units with grades", `document.querySelectorAll("#units tr.u-commissioned").length >= 3 && /[0-4]\.[0-9] [A-F]/.test(document.querySelector("#units").textContent)`)
	confirm := func(cmd, code string) {
		t.Helper()
		click(`[data-cmd="` + cmd + `"]`)
		b.waitFor(ctx, "confirm "+cmd, `document.querySelector("#confirm").open`)
		b.eval(ctx, `document.querySelector("#confirm-reason").value = `+js(code)+`; true`, nil)
		click("#confirm-ok")
	}
	confirm("hold", "material")
	b.waitFor(ctx, "Held", `document.querySelector("#state").dataset.state === "Held" && document.querySelector("#held-by").textContent.includes("admin")`)
	b.screenshot(ctx, filepath.Join(art, "hmi-real-line-held.png"))
	click(`[data-cmd="unhold"]`)
	b.waitFor(ctx, "Execute again", `document.querySelector("#state").dataset.state === "Execute"`)
	confirm("complete", "order-short")
	b.waitFor(ctx, "Complete", `document.querySelector("#state").dataset.state === "Complete"`)

	b.navigate(ctx, srv.URL+"/reconciliation?batch=LIVE-001")
	b.waitFor(ctx, "sign form", `document.querySelector("#sign-form")`)
	var balance string
	b.eval(ctx, `document.querySelector("#rec-balance").dataset.balanced`, &balance)
	if balance != "true" {
		var page string
		b.eval(ctx, `document.body.innerText`, &page)
		t.Fatalf("reconciliation does not balance:\n%s", page)
	}
	fill("#sign-form", map[string]string{"#sig-meaning": "approved", "#sig-reason": "Live line shift end", "#sig-password": "Kestrel-Line-26"})
	b.waitFor(ctx, "signed", `document.querySelector("#rec-signed") && document.querySelector("#rec-signed").textContent.includes("admin")`)
	b.waitFor(ctx, "PDF link", `document.querySelector("#rec-pdf")`)
	b.screenshot(ctx, filepath.Join(art, "hmi-real-line-reconciliation.png"))

	// the printable report from the controller, through the API
	click("#rec-print")
	b.waitDoc(ctx, "printable report", `location.pathname.endsWith("/report") && document.body.innerText.includes("LIVE-001")`)
	b.screenshot(ctx, filepath.Join(art, "hmi-real-line-report.png"))

	rec, err := ls.Controller.Reconciliation(ctx, "LIVE-001")
	if err != nil {
		t.Fatal(err)
	}
	sigs := st.Records.Signatures("LIVE-001")
	if !rec.Balanced || rec.Commissioned < 20 || len(sigs) != 1 || sigs[0].User != "admin" || sigs[0].Figures.Commissioned != rec.Commissioned {
		t.Fatalf("reconciliation: %+v, signatures %+v", rec, sigs)
	}
	var recs []api.AuditRecord
	recs, err = api.JournalAudit{J: ls.Journal}.QueryAudit(ctx, api.AuditQuery{Who: "admin", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, r := range recs {
		acts = append(acts, r.Action)
	}
	all := strings.Join(acts, " ")
	for _, want := range []string{"auth.login", "auth.password.change", "product.version", "api.product.save", "record.clearance", "api.batch.create",
		"api.batch.start", "api.batch.hold", "api.batch.unhold", "api.batch.complete", "auth.sign", "record.signature", "api.reconciliation.sign"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit trail lacks %s: %s", want, all)
		}
	}
	rep, err := ls.Journal.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("journal verify: %v %v", err, rep.Problems)
	}
}
