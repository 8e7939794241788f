package hmi_test

import (
	"net/url"
	"path/filepath"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

// TestBrowserAdminAndQA: an admin creates a user on the Users page; a
// supervisor pulls a QA sample from the unit page with an electronic
// signature.
func TestBrowserAdminAndQA(t *testing.T) {
	ctx := browserContext(t)
	e := hmiEnv(t)
	b := browser(t, ctx)
	art := artifactDir(t)
	fill := func(form string, kv ...string) { t.Helper(); b.fill(ctx, form, kv...) }
	login := func(user, pw string) { t.Helper(); b.login(ctx, e.URL, user, pw) }

	login("admin", apitest.AdminPassword)
	b.navigate(ctx, e.URL+"/users")
	b.waitFor(ctx, "users page", `document.querySelector("#user-form")`)
	fill("#user-form", "#u-name", "qa.lead", "#u-fullname", "Quentin Lead", "#u-role", "supervisor", "#u-password", "temp-pass-00077")
	b.waitFor(ctx, "user listed", `document.querySelector('#users tr[data-user="qa.lead"]') && document.querySelector("#users").textContent.includes("must change password")`)
	b.screenshot(ctx, filepath.Join(art, "hmi-users.png"))
	users, err := e.Auth.Users()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range users {
		found = found || (u.Name == "qa.lead" && u.Role == "supervisor" && u.MustChange && u.FullName == "Quentin Lead")
	}
	if !found {
		t.Fatalf("users: %+v", users)
	}

	// production to pull a sample from
	e.MustDo(t, e.Tokens["otto"], "POST", "/api/v1/batches", map[string]any{"id": "B2", "gtin": apitest.GTIN, "lot": "L2", "expiry": "281231", "target": 10}, 201, nil)
	e.MustDo(t, e.Tokens["otto"], "POST", "/api/v1/batches/B2/start", nil, 200, nil)
	serials, _ := e.Fake.Produce(3, 0)

	login("sam", apitest.SupervisorPassword)
	b.navigate(ctx, e.URL+"/unit?code="+url.QueryEscape("https://id.gs1.org/01/"+apitest.GTIN+"/21/"+serials[1]))
	b.waitFor(ctx, "unit action form", `document.querySelector("#unit-action-form")`)
	// a wrong password is refused and nothing changes
	fill("#unit-action-form", "#ua-action", "sample", "#ua-reason", "retain sample", "#ua-meaning", "approved", "#ua-password", "wrong")
	b.waitFor(ctx, "signature refused", `document.querySelector("#msg").dataset.code === "signature_invalid"`)
	fill("#unit-action-form", "#ua-action", "sample", "#ua-reason", "retain sample", "#ua-meaning", "approved", "#ua-password", apitest.SupervisorPassword)
	b.waitFor(ctx, "sampled", `document.querySelector("#unit") && document.querySelector("#unit").textContent.includes("sampled")`)
	b.screenshot(ctx, filepath.Join(art, "hmi-unit-sampled.png"))
	var u api.Unit
	e.MustDo(t, e.Tokens["sam"], "GET", "/api/v1/units/"+serials[1], nil, 200, &u)
	if u.State != "sampled" {
		t.Fatalf("unit: %+v", u)
	}
	var recs []api.AuditRecord
	e.MustDo(t, e.Tokens["sam"], "GET", "/api/v1/audit?action=api.unit.*", nil, 200, &recs)
	if len(recs) != 2 || recs[0].Action != "api.unit.sample.refused" || recs[1].Action != "api.unit.sample" || recs[1].Who != "sam" {
		t.Fatalf("audit: %+v", recs)
	}
}
