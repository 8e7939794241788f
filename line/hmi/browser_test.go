package hmi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/hmi"
)

func artifactDir(t *testing.T) string {
	if d := os.Getenv("SERIALINE_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func hmiEnv(t *testing.T) *apitest.Env {
	return hmiEnvWith(t, apitest.EnvOptions{})
}

// hmiEnvWith is an API + HMI over the fake controller with options o (o.UI is set here).
func hmiEnvWith(t *testing.T, o apitest.EnvOptions) *apitest.Env {
	o.UI = func(e *apitest.Env) http.Handler {
		ho := hmi.Options{Controller: e.Fake, Auth: e.Auth, Audit: api.JournalAudit{J: e.Journal}, Records: e.Records}
		if o.Shift != nil {
			ho.Shift = *o.Shift
		} else {
			ho.Shift = config.Shift{Clearance: []config.ChecklistItem{}, Reasons: map[string][]config.ReasonCode{}}
		}
		h, err := hmi.New(ho)
		if err != nil {
			t.Fatal(err)
		}
		h.AttachAPI(e.API)
		return h
	}
	return apitest.NewEnv(t, o)
}

// js quotes s as a JavaScript string literal.
func js(s string) string { return strconv.Quote(s) }

// TestBrowserShift drives the HMI in headless Chromium at 1280×800 through
// a short shift: log in, define and start a batch, watch the counters move
// as units are produced, hold, acknowledge an alarm, complete, log in as
// supervisor and sign the reconciliation. Screenshots are kept as
// artifacts.
func TestBrowserShift(t *testing.T) {
	ctx := browserContext(t)
	e := hmiEnv(t)
	b := browser(t, ctx)
	art := artifactDir(t)
	login := func(user, pw string) { t.Helper(); b.login(ctx, e.URL, user, pw) }
	click := func(sel string) { t.Helper(); b.click(ctx, sel) }
	text := func(sel string) string { t.Helper(); return b.text(ctx, sel) }

	// an unauthenticated visit lands on the login page
	b.navigate(ctx, e.URL+"/")
	b.waitFor(ctx, "redirect to login", `location.pathname === "/login"`)
	// a wrong password is refused with a visible message
	b.fill(ctx, "#login-form", "#login-user", "otto", "#login-password", "nope")
	b.waitFor(ctx, "login error", `document.querySelector("#msg").textContent.includes("unauthorized")`)

	login("otto", apitest.OperatorPassword)

	// batch setup
	var hidden bool
	b.navigate(ctx, e.URL+"/batch/new")
	b.waitFor(ctx, "batch form", `document.querySelector("#batch-form")`)
	// The national number field appears only for a profile that needs one
	// (eu-fmd-de: AI 710, the PZN) and is then required.
	if err := b.eval(ctx, `document.querySelector("#b-nhrn-row").hidden`, &hidden); err != nil || !hidden {
		t.Fatalf("NHRN field shown for the default profile (hidden=%v, %v)", hidden, err)
	}
	selectProfile := func(name string) {
		t.Helper()
		if err := b.eval(ctx, `(() => { const s = document.querySelector("#b-profile"); s.value = `+js(name)+`; s.dispatchEvent(new Event("change")); return true })()`, nil); err != nil {
			t.Fatal(err)
		}
	}
	selectProfile("eu-fmd-de")
	b.waitFor(ctx, "NHRN field for eu-fmd-de", `!document.querySelector("#b-nhrn-row").hidden && document.querySelector("#b-nhrn").required && document.querySelector("#b-nhrn-ai").textContent === "710"`)
	// A wrong PZN (AI 710 is CSET 82: no space) is refused by the API, shown to the operator.
	b.fill(ctx, "#batch-form", "#b-id", "B-2026-0117", "#b-lot", "LOT42A", "#b-expiry", "281130", "#b-target", "40", "#b-nhrn", "0415 0127")
	b.waitFor(ctx, "NHRN refused", `document.querySelector("#msg").textContent.includes("nhrn")`)
	b.fill(ctx, "#batch-form", "#b-nhrn", "04150127")
	b.waitFor(ctx, "line page with the batch", `location.pathname === "/" && document.querySelector("#line").dataset.batch === "B-2026-0117"`)
	b.waitFor(ctx, "batch shows its PZN", `document.querySelector("[data-k='batch.desc']").textContent.includes("NHRN 04150127")`)
	if got := text("#state"); got != "Idle" {
		t.Fatalf("state after setup: %q", got)
	}

	click(`[data-cmd="start"]`)
	b.waitFor(ctx, "Execute", `document.querySelector("#state").textContent === "Execute"`)

	// counters move as the line produces (pushed over server-sent events)
	if _, err := e.Fake.Produce(12, 4); err != nil {
		t.Fatal(err)
	}
	b.waitFor(ctx, "counters 9/3", `document.querySelector("#c-good").textContent === "9" && document.querySelector("#c-rejected").textContent === "3"`)
	if _, err := e.Fake.Produce(18, 0); err != nil {
		t.Fatal(err)
	}
	e.Fake.SetPrinterQueue(3)
	e.Fake.SetDevice("camera", api.LinkConnecting, "reconnecting after timeout")
	e.Fake.Raise(api.SeverityWarning, "printer", "Ink cartridge below 10 %", "system")
	b.waitFor(ctx, "counters 27/3", `document.querySelector("#c-good").textContent === "27" && document.querySelector("#c-queue").textContent === "3"`)
	b.waitFor(ctx, "alarm shown", `document.querySelector("#alarms").textContent.includes("Ink cartridge")`)
	b.waitFor(ctx, "last units with grades", `document.querySelectorAll("#units tr").length === 8 && document.querySelector("#units").textContent.includes("3.5 A")`)
	b.waitFor(ctx, "reject reasons", `document.querySelector("#reasons").textContent.includes("low-grade")`)

	b.eval(ctx, `document.querySelector("#cmd-reason").value = "label web splice"; true`, nil)
	click(`[data-cmd="hold"]`)
	b.waitFor(ctx, "Held", `document.querySelector("#state").textContent === "Held"`)
	b.waitFor(ctx, "camera reconnecting", `document.querySelector("#devices").textContent.includes("connecting")`)
	b.screenshot(ctx, filepath.Join(art, "hmi-line-held.png"))

	click(`[data-ack]`)
	b.waitFor(ctx, "alarm acknowledged", `document.querySelector("#alarms").textContent.includes("ack otto")`)
	e.Fake.SetPrinterQueue(0)
	click(`[data-cmd="unhold"]`)
	b.waitFor(ctx, "Execute again", `document.querySelector("#state").textContent === "Execute"`)
	click(`[data-cmd="complete"]`)
	b.waitFor(ctx, "Complete", `document.querySelector("#state").textContent === "Complete"`)

	// the operator sees the report but cannot sign it
	b.navigate(ctx, e.URL+"/reconciliation?batch=B-2026-0117")
	b.waitFor(ctx, "reconciliation", `document.querySelector("#rec-balance")`)
	if text("#rec-balance") != "balanced" || text("#rec-drawn") != "30" {
		t.Fatalf("reconciliation shows %q drawn %q", text("#rec-balance"), text("#rec-drawn"))
	}
	var hasForm bool
	b.eval(ctx, `!!document.querySelector("#sign-form")`, &hasForm)
	if hasForm {
		t.Fatal("operator is offered the signature form")
	}
	click("#logout")
	b.waitFor(ctx, "logged out", `location.pathname === "/login"`)

	login("sam", apitest.SupervisorPassword)
	b.navigate(ctx, e.URL+"/reconciliation?batch=B-2026-0117")
	b.waitFor(ctx, "sign form", `document.querySelector("#sign-form")`)
	b.fill(ctx, "#sign-form", "#sig-meaning", "approved", "#sig-reason", "End of shift 2 reconciliation", "#sig-password", apitest.SupervisorPassword)
	b.waitFor(ctx, "signed", `document.querySelector("#rec-signed") && document.querySelector("#rec-signed").textContent.includes("sam")`)
	b.screenshot(ctx, filepath.Join(art, "hmi-reconciliation-signed.png"))

	b.navigate(ctx, e.URL+"/audit")
	b.waitFor(ctx, "audit page", `document.querySelector("#audit")`)
	audit := text("#audit")
	for _, want := range []string{"api.batch.create", "api.batch.start", "api.batch.hold", "api.alarm.ack", "api.batch.complete", "api.reconciliation.sign", "auth.sign", "auth.login.refused"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit page lacks %s", want)
		}
	}
	b.screenshot(ctx, filepath.Join(art, "hmi-audit.png"))

	// and the record itself
	var rec api.Reconciliation
	e.MustDo(t, e.Tokens["sam"], "GET", "/api/v1/batches/B-2026-0117/reconciliation", nil, 200, &rec)
	if rec.Signed == nil || rec.Signed.User != "sam" || rec.Signed.Reason != "End of shift 2 reconciliation" || !rec.Balanced {
		t.Fatalf("reconciliation record: %+v", rec)
	}
}
