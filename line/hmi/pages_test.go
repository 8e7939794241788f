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
	e := hmiEnv(t)
	op, sup := e.Tokens["otto"], e.Tokens["sam"]
	for _, p := range []string{"/", "/batch/new", "/reconciliation", "/audit", "/unit", "/password"} {
		code, loc, _ := get(t, e, "", p)
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
			t.Errorf("%s anonymous: %d %q", p, code, loc)
		}
	}
	if code, _, body := get(t, e, "", "/login?next="+url.QueryEscape("//evil.example/")); code != 200 || strings.Contains(body, "evil.example") {
		t.Errorf("open redirect through next: %d", code)
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
	if code, _, body := get(t, e, op, "/unit?code="+url.QueryEscape("(01)"+apitest.GTIN+"(21)"+serials[2])); code != 200 || !strings.Contains(body, "rejected low-grade") {
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
