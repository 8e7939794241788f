package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

// loginFrom posts a login as if it came from client address addr and
// returns the status and body.
func loginFrom(t *testing.T, e *apitest.Env, addr, user, pw string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"user":"`+user+`","password":"`+pw+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	e.API.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// TestLoginAnswersUniform: for an existing user and for an unknown one,
// every refused attempt — the first, the fifth that locks, the ones after
// — gets exactly the same status and body.
func TestLoginAnswersUniform(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	for i := 1; i <= 8; i++ {
		c1, b1 := loginFrom(t, e, "10.0.0.5:4000", "admin", "wrong-guess")
		c2, b2 := loginFrom(t, e, "10.0.0.5:4001", "no-such-user", "wrong-guess")
		if c1 != http.StatusUnauthorized || c1 != c2 || b1 != b2 {
			t.Fatalf("attempt %d: existing user %d %s; unknown user %d %s", i, c1, b1, c2, b2)
		}
	}
	// a disabled account answers the same too
	e.MustDo(t, e.Tokens["admin"], "PATCH", "/api/v1/users/otto", map[string]any{"disabled": true}, 200, nil)
	c3, b3 := loginFrom(t, e, "10.0.0.6:4000", "otto", apitest.OperatorPassword)
	_, b1 := loginFrom(t, e, "10.0.0.6:4000", "no-such-user", "x")
	if c3 != http.StatusUnauthorized || b3 != b1 {
		t.Fatalf("disabled: %d %s vs %s", c3, b3, b1)
	}
	// the audit trail keeps the real causes
	var recs []api.AuditRecord
	e.MustDo(t, e.Tokens["admin"], "GET", "/api/v1/audit?action=auth.*&limit=5000", nil, 200, &recs)
	var all strings.Builder
	for _, r := range recs {
		all.WriteString(r.Action + " " + r.Who + " " + r.Reason + "\n")
	}
	for _, want := range []string{"auth.lockout admin", "auth.login.refused no-such-user unknown user", "account disabled", "from 10.0.0.5"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("audit lacks %q:\n%s", want, all.String())
		}
	}
}

// TestLockoutPerClientAddress: an anonymous caller guessing the admin's
// password from one address locks only that address; the admin still logs
// in from the line's terminal, and an admin unlock clears the guesser's
// lock too.
func TestLockoutPerClientAddress(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	for i := 0; i < 12; i++ {
		loginFrom(t, e, "192.0.2.66:5000", "admin", "guess")
	}
	if code, b := loginFrom(t, e, "192.0.2.66:5001", "admin", apitest.AdminPassword); code != http.StatusUnauthorized {
		t.Fatalf("guesser's address not locked: %d %s", code, b)
	}
	if code, b := loginFrom(t, e, "10.1.1.10:6000", "admin", apitest.AdminPassword); code != http.StatusOK {
		t.Fatalf("admin locked out of the terminal: %d %s", code, b)
	}
	var users []struct {
		Name        string `json:"name"`
		LockedUntil string `json:"locked_until"`
	}
	e.MustDo(t, e.Tokens["admin"], "GET", "/api/v1/users", nil, 200, &users)
	for _, u := range users {
		if u.Name == "admin" && u.LockedUntil == "" {
			t.Errorf("users list does not show the admin's lock from the guessing address")
		}
	}
	e.MustDo(t, e.Tokens["admin"], "PATCH", "/api/v1/users/admin", map[string]any{"unlock": true}, 200, nil)
	if code, b := loginFrom(t, e, "192.0.2.66:5002", "admin", apitest.AdminPassword); code != http.StatusOK {
		t.Fatalf("after unlock: %d %s", code, b)
	}
}

// TestBodyTrailingDataRefused: a body with anything after its first JSON
// value is refused, and nothing happens.
func TestBodyTrailingDataRefused(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	for _, body := range []string{
		`{"text":"a"}{"text":"b"}`,
		`{"text":"a"} x`,
		`{"text":"a"}]`,
		`{"text":"a"} {}`,
	} {
		req, _ := http.NewRequest("POST", e.URL+"/api/v1/alarms", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.Tokens["otto"])
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: %d, want 400", body, resp.StatusCode)
		}
	}
	// whitespace after the value is fine
	req, _ := http.NewRequest("POST", e.URL+"/api/v1/alarms", strings.NewReader("{\"text\":\"a\"}\n  \n"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.Tokens["otto"])
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("trailing whitespace: %d", resp.StatusCode)
	}
	as, _ := e.Fake.Alarms(t.Context(), false)
	if len(as) != 1 {
		t.Errorf("%d alarms raised, want 1", len(as))
	}
}
