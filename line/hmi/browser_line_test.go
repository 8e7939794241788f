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

	// batch setup for the demo product
	b.navigate(ctx, srv.URL+"/batch/new")
	b.waitFor(ctx, "batch form", `document.querySelector("#batch-form")`)
	fill("#batch-form", map[string]string{"#b-id": "LIVE-001", "#b-gtin": apitest.GTIN, "#b-lot": "LOT7",
		"#b-expiry": "281130", "#b-target": "5000", "#b-profile": "eu-fmd"})
	b.waitFor(ctx, "batch defined", `location.pathname === "/" && document.querySelector("#line").dataset.batch === "LIVE-001"`)
	// the controller fetches serials from the site server; Start needs the pool's minimum
	b.waitFor(ctx, "pool filled", `parseInt(document.querySelector("#c-pool").textContent, 10) >= 100`)
	click(`[data-cmd="start"]`)
	b.waitFor(ctx, "Execute", `document.querySelector("#state").textContent === "Execute"`)
	b.waitFor(ctx, "counters moving", `parseInt(document.querySelector("#c-good").textContent, 10) >= 20`)
	// print defects make the camera reject some units; their reasons show up
	b.waitFor(ctx, "rejects with reasons", `parseInt(document.querySelector("#c-rejected").textContent, 10) >= 1 && !document.querySelector("#reasons .none")`)
	b.waitFor(ctx, "last units with grades", `document.querySelectorAll("#units tr.u-commissioned").length >= 3 && /[0-4]\.[0-9] [A-F]/.test(document.querySelector("#units").textContent)`)
	b.eval(ctx, `document.querySelector("#cmd-reason").value = "carton magazine empty"; true`, nil)
	click(`[data-cmd="hold"]`)
	b.waitFor(ctx, "Held", `document.querySelector("#state").textContent === "Held"`)
	b.screenshot(ctx, filepath.Join(art, "hmi-real-line-held.png"))
	click(`[data-cmd="unhold"]`)
	b.waitFor(ctx, "Execute again", `document.querySelector("#state").textContent === "Execute"`)
	click(`[data-cmd="complete"]`)
	b.waitFor(ctx, "Complete", `document.querySelector("#state").textContent === "Complete"`)

	b.navigate(ctx, srv.URL+"/reconciliation?batch=LIVE-001")
	b.waitFor(ctx, "sign form", `document.querySelector("#sign-form")`)
	var balance string
	b.eval(ctx, `document.querySelector("#rec-balance").textContent`, &balance)
	if balance != "balanced" {
		var page string
		b.eval(ctx, `document.body.innerText`, &page)
		t.Fatalf("reconciliation does not balance:\n%s", page)
	}
	fill("#sign-form", map[string]string{"#sig-meaning": "approved", "#sig-reason": "Live line shift end", "#sig-password": "Kestrel-Line-26"})
	b.waitFor(ctx, "signed", `document.querySelector("#rec-signed") && document.querySelector("#rec-signed").textContent.includes("admin")`)
	b.screenshot(ctx, filepath.Join(art, "hmi-real-line-reconciliation.png"))

	// the printable report from the controller, through the API
	click("#rec-print")
	b.waitDoc(ctx, "printable report", `location.pathname.endsWith("/report") && document.body.innerText.includes("LIVE-001")`)
	b.screenshot(ctx, filepath.Join(art, "hmi-real-line-report.png"))

	rec, err := ls.Controller.Reconciliation(ctx, "LIVE-001")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Balanced || rec.Signed == nil || rec.Signed.User != "admin" || rec.Commissioned < 20 {
		t.Fatalf("reconciliation: %+v", rec)
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
	for _, want := range []string{"auth.login", "auth.password.change", "api.batch.create", "api.batch.start", "api.batch.hold", "api.batch.unhold", "api.batch.complete", "auth.sign", "api.reconciliation.sign"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit trail lacks %s: %s", want, all)
		}
	}
	rep, err := ls.Journal.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("journal verify: %v %v", err, rep.Problems)
	}
}
