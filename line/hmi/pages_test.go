package hmi_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

// get fetches a page with the session cookie of token, without following
// redirects.
func get(t *testing.T, e *apitest.Env, token, path string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.URL+path, nil)
	if token != "" {
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: token})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// TestPagesServerRendered checks the pages without a browser: redirects,
// role checks and the data rendered on the server.
func TestPagesServerRendered(t *testing.T) {
	e := hmiEnvWith(t, apitest.EnvOptions{NoRecords: true}) // batch ids without the product master's charset: escaping is checked
	op, sup := e.Tokens["otto"], e.Tokens["sam"]
	for _, p := range []string{"/", "/batch/new", "/reconciliation", "/audit", "/unit", "/password"} {
		code, loc, _ := get(t, e, "", p)
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
			t.Errorf("%s anonymous: %d %q", p, code, loc)
		}
	}
	for _, next := range []string{"//evil.example/", "/\\evil.example/", "/\\/evil.example/", "https://evil.example/", "/\t/evil.example/"} {
		if code, _, body := get(t, e, "", "/login?next="+url.QueryEscape(next)); code != 200 || strings.Contains(body, "evil.example") {
			t.Errorf("open redirect through next=%q: %d", next, code)
		}
	}
	if _, _, body := get(t, e, "", "/login?next="+url.QueryEscape("/reconciliation?batch=B1")); !strings.Contains(body, `data-next="/reconciliation?batch=B1"`) {
		t.Errorf("a local next is lost:\n%s", body)
	}
	for _, p := range []string{"/static/hmi.js", "/static/hmi.css"} {
		if code, _, _ := get(t, e, "", p); code != 200 {
			t.Errorf("%s: %d", p, code)
		}
	}
	// a user who must change the password is sent to /password
	e.MustDo(t, e.Tokens["admin"], "POST", "/api/v1/users", map[string]string{"name": "nina", "role": "operator", "password": "temp-pass-00009"}, 201, nil)
	nina := e.Login(t, "nina", "temp-pass-00009")
	if code, loc, _ := get(t, e, nina, "/"); code != http.StatusSeeOther || loc != "/password" {
		t.Errorf("must-change: %d %q", code, loc)
	}

	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "B<1>", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 10}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/B%3C1%3E/start", nil, 200, nil)
	serials, _ := e.Fake.Produce(6, 3)
	code, _, body := get(t, e, op, "/")
	if code != 200 || !strings.Contains(body, `id="c-good" data-k="good">4<`) || !strings.Contains(body, "B&lt;1&gt;") || strings.Contains(body, "B<1>") {
		t.Fatalf("line page: %d\n%s", code, body)
	}
	if strings.Contains(body, `data-cmd="abort"`) {
		t.Error("operator sees Abort")
	}
	if _, _, body := get(t, e, sup, "/"); !strings.Contains(body, `data-cmd="abort"`) {
		t.Error("supervisor lacks Abort")
	}
	if code, _, body := get(t, e, op, "/audit"); code != http.StatusForbidden || !strings.Contains(body, "supervisors") {
		t.Errorf("operator audit page: %d", code)
	}
	if code, _, body := get(t, e, sup, "/audit"); code != 200 || !strings.Contains(body, "api.batch.start") {
		t.Errorf("supervisor audit page: %d", code)
	}
	if code, _, _ := get(t, e, sup, "/users"); code != http.StatusForbidden {
		t.Errorf("supervisor users page: %d", code)
	}
	var refused []api.AuditRecord // the HMI's refusals are audited too
	e.MustDo(t, sup, "GET", "/api/v1/audit?action=hmi.access.refused", nil, 200, &refused)
	if len(refused) != 2 || refused[0].Who != "otto" || refused[0].After != "GET /audit" || refused[1].Who != "sam" || refused[1].After != "GET /users" {
		t.Errorf("HMI refusals in the audit trail: %+v", refused)
	}
	if code, _, body := get(t, e, op, "/unit?code="+url.QueryEscape("(01)"+apitest.GTIN+"(21)"+serials[2])); code != 200 || !strings.Contains(body, "rejected — print quality below the limit (low-grade)") {
		t.Errorf("unit page: %d\n%s", code, body)
	}
	if _, _, body := get(t, e, op, "/unit?code=NOPE"); !strings.Contains(body, "never drawn") {
		t.Errorf("unknown unit page")
	}
	if code, _, body := get(t, e, op, "/reconciliation?batch=B%3C1%3E"); code != 200 || !strings.Contains(body, "still running") || strings.Contains(body, "sign-form") {
		t.Errorf("reconciliation page: %d", code)
	}
	if code, _, _ := get(t, e, op, "/nothing"); code != 404 {
		t.Errorf("unknown page: %d", code)
	}
}
