package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/store/journal"
)

func errCode(t *testing.T, b []byte) string {
	t.Helper()
	var eb api.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("not a JSON error body: %s", b)
	}
	return eb.Error.Code
}

// route is one endpoint with the least role allowed to call it.
type route struct {
	method, path string
	body         any
	min          string // "operator", "supervisor", "admin"
}

var routes = []route{
	{"GET", "/api/v1/status", nil, "operator"},
	{"GET", "/api/v1/batches", nil, "operator"},
	{"POST", "/api/v1/batches", map[string]any{"id": "B-role", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 10}, "operator"},
	{"GET", "/api/v1/batches/B-role", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/start", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/hold", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/unhold", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/suspend", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/unsuspend", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/complete", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/reset", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/stop", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/abort", nil, "supervisor"},
	{"POST", "/api/v1/batches/B-role/clear", nil, "operator"},
	{"GET", "/api/v1/batches/B-role/units", nil, "operator"},
	{"GET", "/api/v1/batches/B-role/rejects", nil, "operator"},
	{"GET", "/api/v1/batches/B-role/reconciliation", nil, "operator"},
	{"GET", "/api/v1/batches/B-role/report", nil, "operator"},
	{"POST", "/api/v1/batches/B-role/reconciliation/sign", map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "role test"}, "supervisor"},
	{"GET", "/api/v1/units", nil, "operator"},
	{"GET", "/api/v1/units/SN0000001", nil, "operator"},
	{"POST", "/api/v1/units/SN0000001/action", map[string]any{"action": "decommission", "reason": "QA", "signature": map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "QA pull"}}, "supervisor"},
	{"POST", "/api/v1/units/SN0000001/closeout", map[string]any{"outcome": "found-destroyed", "note": "bin", "signature": map[string]string{"password": apitest.SupervisorPassword, "meaning": "performed", "reason": "close-out"}}, "supervisor"},
	{"GET", "/api/v1/products", nil, "operator"},
	{"GET", "/api/v1/products/" + apitest.GTIN, nil, "operator"},
	{"PUT", "/api/v1/products/" + apitest.GTIN, map[string]any{"name": "P", "profile": "eu-fmd", "template": "t", "gcp_length": 7, "min_shelf_life_days": 90, "reason": "role test"}, "admin"},
	{"GET", "/api/v1/shift/rules", nil, "operator"},
	{"GET", "/api/v1/batches/B-role/clearance", nil, "operator"},
	{"GET", "/api/v1/shift/report", nil, "operator"},
	{"GET", "/api/v1/shift/handovers", nil, "operator"},
	{"GET", "/api/v1/lookup?code=" + url.QueryEscape("(01)09501101530003(21)SN0000001"), nil, "operator"},
	{"GET", "/api/v1/devices", nil, "operator"},
	{"GET", "/api/v1/pools", nil, "operator"},
	{"GET", "/api/v1/alarms", nil, "operator"},
	{"POST", "/api/v1/alarms", map[string]string{"severity": "warning", "text": "role test"}, "operator"},
	{"POST", "/api/v1/alarms/A1/ack", nil, "operator"},
	{"GET", "/api/v1/audit", nil, "supervisor"},
	{"GET", "/api/v1/users", nil, "admin"},
	{"POST", "/api/v1/users", map[string]string{"name": "newbie", "role": "operator", "password": "temp-pass-00002"}, "admin"},
	{"PATCH", "/api/v1/users/newbie", map[string]any{"unlock": true}, "admin"},
}

var rank = map[string]int{"": 0, "operator": 1, "supervisor": 2, "admin": 3}
var userOf = map[string]string{"operator": "otto", "supervisor": "sam", "admin": "admin"}

// TestRoleMatrix calls every endpoint as anonymous, as a user who must
// still change the password, and as each role: roles below the minimum are
// refused (401/403 with a JSON code) and audited; the others get through.
func TestRoleMatrix(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	// a user stuck at first login
	e.MustDo(t, e.Tokens["admin"], "POST", "/api/v1/users", map[string]string{"name": "fresh", "role": "admin", "password": "temp-pass-00001"}, http.StatusCreated, nil)
	fresh := e.Login(t, "fresh", "temp-pass-00001")

	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			code, b := e.Do(t, "", r.method, r.path, r.body)
			if code != http.StatusUnauthorized || errCode(t, b) != api.CodeUnauthorized {
				t.Errorf("anonymous: %d %s", code, b)
			}
			code, b = e.Do(t, "not-a-token", r.method, r.path, r.body)
			if code != http.StatusUnauthorized {
				t.Errorf("bad token: %d %s", code, b)
			}
			code, b = e.Do(t, fresh, r.method, r.path, r.body)
			if code != http.StatusForbidden || errCode(t, b) != api.CodePasswordChange {
				t.Errorf("must-change session: %d %s", code, b)
			}
			for _, role := range []string{"operator", "supervisor", "admin"} {
				code, b := e.Do(t, e.Tokens[userOf[role]], r.method, r.path, r.body)
				if rank[role] < rank[r.min] {
					if code != http.StatusForbidden || errCode(t, b) != api.CodeForbidden {
						t.Errorf("%s: %d %s, want 403 forbidden", role, code, b)
					}
					continue
				}
				refused := code == http.StatusUnauthorized || code == http.StatusUnsupportedMediaType ||
					(code == http.StatusForbidden && errCode(t, b) != api.CodeSignatureInvalid)
				if refused {
					t.Errorf("%s: refused: %d %s", role, code, b)
				}
				if code >= 500 {
					t.Errorf("%s: server error %d %s", role, code, b)
				}
			}
		})
	}
	// refusals are in the audit trail
	var recs []api.AuditRecord
	e.MustDo(t, e.Tokens["sam"], "GET", "/api/v1/audit?action=api.*&limit=5000", nil, http.StatusOK, &recs)
	found := map[string]bool{}
	for _, r := range recs {
		found[r.Who+" "+r.Action] = true
	}
	for _, want := range []string{"otto api.batch.abort.refused", "otto api.access.refused", "otto api.reconciliation.sign.refused",
		"fresh api.access.refused", "fresh api.batch.start.refused"} {
		if !found[want] {
			t.Errorf("audit trail lacks %q", want)
		}
	}
	anon := false
	for k := range found {
		if strings.HasPrefix(k, "anonymous@127.0.0.1") {
			anon = true
		}
	}
	if !anon {
		t.Error("anonymous refusals not audited")
	}
}

func TestBatchLifecycle(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op, sup := e.Tokens["otto"], e.Tokens["sam"]

	// bad definitions name every problem
	code, b := e.Do(t, op, "POST", "/api/v1/batches", map[string]any{"id": "", "target": 0})
	if code != 400 || !strings.Contains(string(b), "gtin: required") || !strings.Contains(string(b), "id: required") || !strings.Contains(string(b), "lot: required") {
		t.Fatalf("bad def: %d %s", code, b)
	}
	code, b = e.Do(t, op, "POST", "/api/v1/batches", map[string]any{"id": "B1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 10, "bogus": 1})
	if code != 400 || !strings.Contains(string(b), "bogus") {
		t.Fatalf("unknown field: %d %s", code, b)
	}
	// non-JSON bodies are refused
	req, _ := http.NewRequest("POST", e.URL+"/api/v1/batches", strings.NewReader("id=B1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form post: %d", resp.StatusCode)
	}

	var bt api.Batch
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "B1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 10, "profile": "eu-fmd"}, 201, &bt)
	if bt.State != "Idle" {
		t.Fatalf("created: %+v", bt)
	}
	// line clearance refusal: never overridden, not even e-signed
	e.Fake.SetPrinterQueue(2)
	code, b = e.Do(t, op, "POST", "/api/v1/batches/B1/start", map[string]string{"reason": "shift start"})
	if code != 409 || errCode(t, b) != api.CodeRefused || !strings.Contains(string(b), "printer queue") {
		t.Fatalf("start with queue: %d %s", code, b)
	}
	code, b = e.Do(t, sup, "POST", "/api/v1/batches/B1/start", map[string]any{"override": true, "signature": map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "queue holds test prints"}})
	if code != 409 || errCode(t, b) != api.CodeRefused || !strings.Contains(string(b), "printer queue") {
		t.Fatalf("override of line clearance: %d %s", code, b)
	}
	e.Fake.SetPrinterQueue(0)
	// pool below the start minimum: refused, overridable by a supervisor with e-signature
	e.Fake.SetPoolShort(true)
	code, b = e.Do(t, op, "POST", "/api/v1/batches/B1/start", map[string]string{"reason": "shift start"})
	if code != 409 || errCode(t, b) != api.CodeRefused || !strings.Contains(string(b), "pool") {
		t.Fatalf("start with a short pool: %d %s", code, b)
	}
	code, b = e.Do(t, op, "POST", "/api/v1/batches/B1/start", map[string]any{"override": true, "signature": map[string]string{"password": apitest.OperatorPassword, "meaning": "approved", "reason": "x"}})
	if code != 403 || errCode(t, b) != api.CodeForbidden {
		t.Fatalf("operator override: %d %s", code, b)
	}
	code, b = e.Do(t, sup, "POST", "/api/v1/batches/B1/start", map[string]any{"override": true})
	if code != 400 || errCode(t, b) != api.CodeSignatureRequired {
		t.Fatalf("override without signature: %d %s", code, b)
	}
	code, b = e.Do(t, sup, "POST", "/api/v1/batches/B1/start", map[string]any{"override": true, "signature": map[string]string{"password": "wrong", "meaning": "approved", "reason": "queue holds test prints"}})
	if code != 403 || errCode(t, b) != api.CodeSignatureInvalid {
		t.Fatalf("override wrong password: %d %s", code, b)
	}
	e.MustDo(t, sup, "POST", "/api/v1/batches/B1/start", map[string]any{"reason": "short run", "override": true, "signature": map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "short run of 10 units"}}, 200, &bt)
	if bt.State != "Execute" {
		t.Fatalf("after start: %+v", bt)
	}
	e.Fake.SetPoolShort(false)
	serials, err := e.Fake.Produce(10, 4)
	if err != nil {
		t.Fatal(err)
	}
	var st api.Status
	e.MustDo(t, op, "GET", "/api/v1/status", nil, 200, &st)
	if st.State != "Execute" || st.Batch == nil || st.Batch.Counters.Commissioned != 8 || st.Batch.Counters.Rejected != 2 || st.Batch.Counters.RejectedBy["low-grade"] != 2 {
		t.Fatalf("status: %+v", st)
	}
	// invalid transition
	code, b = e.Do(t, op, "POST", "/api/v1/batches/B1/unhold", nil)
	if code != 409 || errCode(t, b) != api.CodeInvalidState {
		t.Fatalf("unhold in Execute: %d %s", code, b)
	}
	code, b = e.Do(t, op, "POST", "/api/v1/batches/NOPE/hold", nil)
	if code != 404 || errCode(t, b) != api.CodeNotFound {
		t.Fatalf("unknown batch: %d %s", code, b)
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/B1/hold", map[string]string{"reason": "jam"}, 200, &bt)
	if bt.State != "Held" {
		t.Fatal(bt.State)
	}
	// rejects with reasons, last units, unit by serial
	var units []api.Unit
	e.MustDo(t, op, "GET", "/api/v1/batches/B1/rejects", nil, 200, &units)
	if len(units) != 2 || units[0].Reason != "low-grade" || units[0].State != "rejected" {
		t.Fatalf("rejects: %+v", units)
	}
	e.MustDo(t, op, "GET", "/api/v1/units?limit=3", nil, 200, &units)
	if len(units) != 3 || units[0].Serial != serials[9] {
		t.Fatalf("last units: %+v", units)
	}
	e.MustDo(t, op, "GET", "/api/v1/batches/B1/units?state=commissioned&limit=100", nil, 200, &units)
	if len(units) != 8 {
		t.Fatalf("commissioned: %d", len(units))
	}
	code, b = e.Do(t, op, "GET", "/api/v1/units?limit=x", nil)
	if code != 400 || !strings.Contains(string(b), "limit") {
		t.Fatalf("bad limit: %d %s", code, b)
	}
	var u api.Unit
	e.MustDo(t, op, "GET", "/api/v1/units/"+serials[0], nil, 200, &u)
	if u.Serial != serials[0] || u.Batch != "B1" {
		t.Fatalf("unit: %+v", u)
	}
	code, b = e.Do(t, op, "GET", "/api/v1/units/NOSUCH", nil)
	if code != 404 {
		t.Fatalf("unknown unit: %d %s", code, b)
	}
	// lookup by scanned element string, bracketed and Digital Link
	for _, c := range []struct {
		code string
		ours bool
	}{
		{"]d2" + "01" + apitest.GTIN + "21" + serials[0], true},
		{"(01)" + apitest.GTIN + "(21)" + serials[0], true},
		{"https://id.gs1.org/01/" + apitest.GTIN + "/21/" + serials[0], true},
		{"(01)09501101530010(21)" + serials[0], false}, // other GTIN
		{"(01)" + apitest.GTIN + "(21)NEVERDRAWN", false},
	} {
		var lr api.LookupResult
		e.MustDo(t, op, "GET", "/api/v1/lookup?code="+url.QueryEscape(c.code), nil, 200, &lr)
		if lr.Ours != c.ours || (!c.ours && lr.Problem == "") {
			t.Errorf("lookup %q: %+v", c.code, lr)
		}
	}
	code, b = e.Do(t, op, "GET", "/api/v1/lookup?code="+url.QueryEscape("(01)09501101530004(21)X"), nil)
	if code != 400 || !strings.Contains(string(b), "01") {
		t.Fatalf("bad check digit: %d %s", code, b)
	}
	code, _ = e.Do(t, op, "GET", "/api/v1/lookup?code="+url.QueryEscape("(01)"+apitest.GTIN), nil)
	if code != 400 {
		t.Fatalf("no serial: %d", code)
	}
	// manual QA pull: supervisor with e-signature
	code, b = e.Do(t, sup, "POST", "/api/v1/units/"+serials[0]+"/action", map[string]any{"action": "explode", "reason": "x"})
	if code != 400 {
		t.Fatalf("bad action: %d %s", code, b)
	}
	code, b = e.Do(t, sup, "POST", "/api/v1/units/"+serials[0]+"/action", map[string]any{"action": "sample", "reason": "QA"})
	if code != 400 || errCode(t, b) != api.CodeSignatureRequired {
		t.Fatalf("no signature: %d %s", code, b)
	}
	e.MustDo(t, sup, "POST", "/api/v1/units/"+serials[0]+"/action", map[string]any{"action": "sample", "reason": "QA retain",
		"signature": map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "QA retain sample"}}, 200, &u)
	if u.State != "sampled" {
		t.Fatal(u.State)
	}
	code, b = e.Do(t, sup, "POST", "/api/v1/units/"+serials[0]+"/action", map[string]any{"action": "reject", "reason": "again",
		"signature": map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "again"}})
	if code != 409 || errCode(t, b) != api.CodeInvalidState {
		t.Fatalf("sample twice: %d %s", code, b)
	}

	// reconciliation before the end cannot be signed
	sig := map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "shift end"}
	code, b = e.Do(t, sup, "POST", "/api/v1/batches/B1/reconciliation/sign", sig)
	if code != 409 || errCode(t, b) != api.CodeInvalidState {
		t.Fatalf("sign while held: %d %s", code, b)
	}
	code, b = e.Do(t, op, "POST", "/api/v1/batches/B1/complete", nil)
	if code != 409 || errCode(t, b) != api.CodeInvalidState {
		t.Fatalf("complete while held: %d %s", code, b)
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/B1/unhold", nil, 200, &bt)
	e.MustDo(t, op, "POST", "/api/v1/batches/B1/complete", nil, 200, &bt)
	var rec api.Reconciliation
	e.MustDo(t, op, "GET", "/api/v1/batches/B1/reconciliation", nil, 200, &rec)
	if !rec.Final || !rec.Balanced || rec.Drawn != 10 || rec.Sampled != 1 || rec.Commissioned != 7 || rec.Signed != nil {
		t.Fatalf("reconciliation: %+v", rec)
	}
	code, b = e.Do(t, op, "POST", "/api/v1/batches/B1/reconciliation/sign", map[string]string{"password": apitest.OperatorPassword, "meaning": "approved", "reason": "x"})
	if code != 403 {
		t.Fatalf("operator signs: %d %s", code, b)
	}
	code, b = e.Do(t, sup, "POST", "/api/v1/batches/B1/reconciliation/sign", map[string]string{"password": apitest.SupervisorPassword, "meaning": "", "reason": "x"})
	if code != 400 {
		t.Fatalf("no meaning: %d %s", code, b)
	}
	e.MustDo(t, sup, "POST", "/api/v1/batches/B1/reconciliation/sign", sig, 200, &rec)
	if rec.Signed == nil || rec.Signed.User != "sam" || rec.Signed.Meaning != "approved" {
		t.Fatalf("signed: %+v", rec)
	}
	code, b = e.Do(t, sup, "POST", "/api/v1/batches/B1/reconciliation/sign", sig)
	if code != 409 {
		t.Fatalf("sign twice: %d %s", code, b)
	}
	var list []api.Batch
	e.MustDo(t, op, "GET", "/api/v1/batches", nil, 200, &list)
	if len(list) != 1 || list[0].Signed == nil || list[0].State != "Complete" {
		t.Fatalf("batches: %+v", list)
	}
}

func TestAlarmsDevicesPools(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op := e.Tokens["otto"]
	code, b := e.Do(t, op, "POST", "/api/v1/alarms", map[string]string{"severity": "doom", "text": "x"})
	if code != 400 {
		t.Fatalf("bad severity: %d %s", code, b)
	}
	var a api.Alarm
	e.MustDo(t, op, "POST", "/api/v1/alarms", map[string]string{"severity": "fault", "text": "guard door open"}, 201, &a)
	e.Fake.Raise(api.SeverityWarning, "printer", "ink low", "system")
	var list []api.Alarm
	e.MustDo(t, op, "GET", "/api/v1/alarms?active=1", nil, 200, &list)
	if len(list) != 2 || list[0].Source != "printer" || list[1].RaisedBy != "otto" {
		t.Fatalf("alarms: %+v", list)
	}
	e.MustDo(t, op, "POST", "/api/v1/alarms/"+a.ID+"/ack", nil, 200, &a)
	if !a.Acked || a.AckedBy != "otto" {
		t.Fatalf("ack: %+v", a)
	}
	code, b = e.Do(t, op, "POST", "/api/v1/alarms/"+a.ID+"/ack", nil)
	if code != 409 {
		t.Fatalf("ack twice: %d %s", code, b)
	}
	code, _ = e.Do(t, op, "POST", "/api/v1/alarms/A99/ack", nil)
	if code != 404 {
		t.Fatalf("ack unknown: %d", code)
	}
	e.MustDo(t, op, "GET", "/api/v1/alarms?active=1", nil, 200, &list)
	if len(list) != 1 {
		t.Fatalf("active after ack: %+v", list)
	}
	e.Fake.SetDevice("camera", api.LinkDown, "connection refused")
	var devs []api.Device
	e.MustDo(t, op, "GET", "/api/v1/devices", nil, 200, &devs)
	if len(devs) != 4 || devs[2].Name != "camera" || devs[2].Link != "down" {
		t.Fatalf("devices: %+v", devs)
	}
	var pools []api.PoolLevel
	e.MustDo(t, op, "GET", "/api/v1/pools", nil, 200, &pools)
	if len(pools) != 1 || pools[0].Available != 10000 {
		t.Fatalf("pools: %+v", pools)
	}
	code, b = e.Do(t, op, "GET", "/api/v1/nothing", nil)
	if code != 404 || errCode(t, b) != api.CodeNotFound {
		t.Fatalf("unknown endpoint: %d %s", code, b)
	}
	code, b = e.Do(t, "", "GET", "/api/v1/openapi.yaml", nil)
	if code != 200 || !strings.Contains(string(b), "openapi: 3") {
		t.Fatalf("openapi: %d", code)
	}
}

func TestLoginLockoutAndCookie(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	for i := 0; i < 5; i++ {
		code, b := e.Do(t, "", "POST", "/api/v1/login", map[string]string{"user": "otto", "password": "guess"})
		if code != 401 || errCode(t, b) != api.CodeUnauthorized {
			t.Fatalf("attempt %d: %d %s", i, code, b)
		}
	}
	// locked for this address: even the right password is refused, with the same answer
	code, b := e.Do(t, "", "POST", "/api/v1/login", map[string]string{"user": "otto", "password": apitest.OperatorPassword})
	if code != 401 || errCode(t, b) != api.CodeUnauthorized {
		t.Fatalf("locked, right password: %d %s", code, b)
	}
	// the lockout is per client address: otto's session stays
	code, _ = e.Do(t, e.Tokens["otto"], "GET", "/api/v1/status", nil)
	if code != 200 {
		t.Fatalf("session after lockout: %d", code)
	}
	e.MustDo(t, e.Tokens["admin"], "PATCH", "/api/v1/users/otto", map[string]any{"unlock": true}, 200, nil)
	// cookie login
	body := strings.NewReader(`{"user":"otto","password":"` + apitest.OperatorPassword + `"}`)
	resp, err := http.Post(e.URL+"/api/v1/login", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", cookie)
	}
	req, _ := http.NewRequest("GET", e.URL+"/api/v1/session", nil)
	req.AddCookie(cookie)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sess map[string]any
	json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if resp.StatusCode != 200 || sess["user"] != "otto" || sess["role"] != "operator" {
		t.Fatalf("session by cookie: %d %v", resp.StatusCode, sess)
	}
	// logout ends it (a cookie session sends changes as JSON, see TestCookieChangesNeedJSON)
	req, _ = http.NewRequest("POST", e.URL+"/api/v1/logout", nil)
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(cookie)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("GET", e.URL+"/api/v1/session", nil)
	req.AddCookie(cookie)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
	// weak password change refused
	code, b = e.Do(t, e.Tokens["sam"], "POST", "/api/v1/password", map[string]string{"old": apitest.SupervisorPassword, "new": "short"})
	if code != 400 || errCode(t, b) != api.CodeWeakPassword {
		t.Fatalf("weak: %d %s", code, b)
	}
	code, b = e.Do(t, e.Tokens["admin"], "POST", "/api/v1/users", map[string]string{"name": "sam", "role": "operator", "password": "whatever-pass-1"})
	if code != 409 || errCode(t, b) != api.CodeConflict {
		t.Fatalf("dup user: %d %s", code, b)
	}
	var users []map[string]any
	e.MustDo(t, e.Tokens["admin"], "GET", "/api/v1/users", nil, 200, &users)
	if len(users) != 4 {
		t.Fatalf("users: %v", users)
	}
	for _, u := range users {
		if _, ok := u["hash"]; ok {
			t.Fatal("password hash leaked")
		}
	}
}

// TestEventStream reads the SSE stream: a status at once, then a new one
// when production moves the counters.
func TestEventStream(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op := e.Tokens["otto"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "B1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 10}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/B1/start", nil, 200, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() api.Status {
		t.Helper()
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok && event == "status" {
				var st api.Status
				if err := json.Unmarshal([]byte(v), &st); err != nil {
					t.Fatal(err)
				}
				return st
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return api.Status{}
	}
	st := next()
	if st.State != "Execute" || st.Batch.Counters.Commissioned != 0 {
		t.Fatalf("first event: %+v", st)
	}
	if _, err := e.Fake.Produce(5, 0); err != nil {
		t.Fatal(err)
	}
	for st.Batch.Counters.Commissioned != 5 {
		st = next()
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/B1/hold", nil, 200, nil)
	for st.State != "Held" {
		st = next()
	}
}

// TestAuditTrailChain runs a session of actions and checks each one is in
// the journal's audit trail with the right user, that the chain verifies,
// and that editing one stored entry is detected by journal verify.
func TestAuditTrailChain(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op, sup := e.Tokens["otto"], e.Tokens["sam"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "B7", "gtin": apitest.GTIN, "lot": "L7", "expiry": "281231", "target": 5}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/B7/start", map[string]string{"reason": "go"}, 200, nil)
	e.Fake.Produce(5, 0)
	e.MustDo(t, op, "POST", "/api/v1/batches/B7/hold", map[string]string{"reason": "jam at gate"}, 200, nil)
	e.Do(t, op, "POST", "/api/v1/batches/B7/abort", nil) // refused: operator
	e.MustDo(t, op, "POST", "/api/v1/batches/B7/unhold", nil, 200, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/B7/complete", nil, 200, nil)
	e.Do(t, sup, "POST", "/api/v1/batches/B7/reconciliation/sign", map[string]string{"password": "bad", "meaning": "approved", "reason": "r"})
	e.MustDo(t, sup, "POST", "/api/v1/batches/B7/reconciliation/sign", map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "end of shift"}, 200, nil)

	var recs []api.AuditRecord
	e.MustDo(t, sup, "GET", "/api/v1/audit?limit=5000", nil, 200, &recs)
	var got []string
	for _, r := range recs {
		got = append(got, r.Who+" "+r.Action)
		if r.Hash == "" || r.Seq == 0 {
			t.Fatalf("record without chain data: %+v", r)
		}
	}
	want := []string{
		"system auth.user.create", "admin product.version", "admin auth.login", "admin auth.password.change",
		"admin auth.user.create", "sam auth.login", "sam auth.password.change",
		"admin auth.user.create", "otto auth.login", "otto auth.password.change",
		"admin auth.user.create", "quinn auth.login", "quinn auth.password.change",
		"otto api.batch.create", "otto api.batch.start", "otto api.batch.hold",
		"otto api.batch.abort.refused", "otto api.batch.unhold", "otto api.batch.complete",
		"sam auth.sign.refused", "sam api.reconciliation.sign.refused",
		"sam auth.sign", "sam record.signature", "sam api.reconciliation.sign",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range recs {
		if r.Action == "api.batch.hold" && (r.Reason != "jam at gate" || !strings.Contains(r.After, "Execute -> Held")) {
			t.Errorf("hold entry: %+v", r)
		}
		if r.Action == "api.reconciliation.sign" && !strings.Contains(r.After, "meaning=approved") {
			t.Errorf("sign entry: %+v", r)
		}
	}
	// filters
	e.MustDo(t, sup, "GET", "/api/v1/audit?who=otto&action=api.batch.*", nil, 200, &recs)
	if len(recs) != 6 {
		t.Fatalf("filtered: %d", len(recs))
	}
	e.MustDo(t, sup, "GET", "/api/v1/audit?limit=2&newest=1", nil, 200, &recs)
	if len(recs) != 2 || recs[1].Action != "api.reconciliation.sign" {
		t.Fatalf("newest: %+v", recs)
	}
	code, _ := e.Do(t, sup, "GET", "/api/v1/audit?since=yesterday", nil)
	if code != 400 {
		t.Fatalf("bad since: %d", code)
	}
	rep, err := e.Journal.Verify(context.Background())
	if err != nil || !rep.OK() || rep.AuditEntries < len(want) {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

var _ = journal.AuditEntry{}

func TestCrossOriginRefused(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	req, _ := http.NewRequest("POST", e.URL+"/api/v1/alarms", strings.NewReader(`{"text":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: e.Tokens["otto"]})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin post: %d", resp.StatusCode)
	}
	// also on a route without an audit action of its own
	req, _ = http.NewRequest("POST", e.URL+"/api/v1/logout", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: e.Tokens["otto"]})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin logout: %d", resp.StatusCode)
	}
	var recs []api.AuditRecord
	e.MustDo(t, e.Tokens["sam"], "GET", "/api/v1/audit?who=otto&action=api.*", nil, 200, &recs)
	if len(recs) != 2 || recs[0].Action != "api.alarm.raise.refused" || recs[1].Action != "api.access.refused" || recs[1].After != "POST /api/v1/logout" {
		t.Fatalf("cross-origin refusals audited: %+v", recs)
	}
	req, _ = http.NewRequest("POST", e.URL+"/api/v1/alarms", strings.NewReader(`{"text":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", e.URL)
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: e.Tokens["otto"]})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("same-origin post: %d", resp.StatusCode)
	}
}

// TestCookieChangesNeedJSON: with the session cookie (what a forged
// cross-site request would carry), a change is refused unless it is sent as
// application/json — which a cross-site page cannot do without a CORS
// preflight — or when the browser marks it cross-site; nothing happens and
// the refusal is audited. A bearer token (CLI) may post without a body.
func TestCookieChangesNeedJSON(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	e.MustDo(t, e.Tokens["otto"], "POST", "/api/v1/batches", map[string]any{"id": "B1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 10}, 201, nil)
	post := func(ctype, site string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", e.URL+"/api/v1/batches/B1/start", nil)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: e.Tokens["otto"]})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct{ ctype, site string }{{"", ""}, {"text/plain", ""}, {"application/x-www-form-urlencoded", ""}, {"application/json", "cross-site"}, {"application/json", "same-site"}} {
		if code := post(c.ctype, c.site); code != http.StatusUnsupportedMediaType && code != http.StatusForbidden {
			t.Errorf("cookie POST %+v: %d, want refused", c, code)
		}
	}
	var b api.Batch
	e.MustDo(t, e.Tokens["otto"], "GET", "/api/v1/batches/B1", nil, 200, &b)
	if b.State != "Idle" {
		t.Fatalf("a refused request changed the batch: %s", b.State)
	}
	if code := post("application/json", "same-origin"); code != http.StatusOK {
		t.Fatalf("same-origin JSON cookie POST: %d", code)
	}
	e.MustDo(t, e.Tokens["otto"], "POST", "/api/v1/batches/B1/hold", nil, 200, nil) // bearer, no body
	var recs []api.AuditRecord
	e.MustDo(t, e.Tokens["sam"], "GET", "/api/v1/audit?action=api.batch.start.refused", nil, 200, &recs)
	if len(recs) != 5 {
		t.Fatalf("refusals audited: %d, want 5", len(recs))
	}
}

// TestSessionRoutesAccess covers the routes TestRoleMatrix cannot call as
// every role (the event stream does not end; logout and password change
// act on the caller's own session): anonymous callers are refused with a
// JSON 401, a must-change session reaches only /session, /password and
// /logout.
func TestSessionRoutesAccess(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	e.MustDo(t, e.Tokens["admin"], "POST", "/api/v1/users", map[string]string{"name": "fresh", "role": "operator", "password": "temp-pass-00001"}, http.StatusCreated, nil)
	fresh := e.Login(t, "fresh", "temp-pass-00001")
	for _, r := range []struct{ method, path string }{{"GET", "/api/v1/events"}, {"GET", "/api/v1/session"}, {"POST", "/api/v1/logout"}, {"POST", "/api/v1/password"}} {
		for _, tok := range []string{"", "not-a-token"} {
			code, b := e.Do(t, tok, r.method, r.path, nil)
			if code != http.StatusUnauthorized || errCode(t, b) != api.CodeUnauthorized {
				t.Errorf("%s %s with token %q: %d %s", r.method, r.path, tok, code, b)
			}
		}
	}
	code, b := e.Do(t, fresh, "GET", "/api/v1/events", nil)
	if code != http.StatusForbidden || errCode(t, b) != api.CodePasswordChange {
		t.Errorf("must-change session on the event stream: %d %s", code, b)
	}
	var sess map[string]any
	e.MustDo(t, fresh, "GET", "/api/v1/session", nil, http.StatusOK, &sess)
	if sess["must_change"] != true || sess["user"] != "fresh" {
		t.Errorf("must-change session: %v", sess)
	}
	code, b = e.Do(t, fresh, "POST", "/api/v1/password", map[string]string{"old": "wrong-password", "new": "kiwi-pass-00002"})
	if code != http.StatusUnauthorized || errCode(t, b) != api.CodeUnauthorized {
		t.Errorf("password change with a wrong old password: %d %s", code, b)
	}
	e.MustDo(t, fresh, "POST", "/api/v1/password", map[string]string{"old": "temp-pass-00001", "new": "kiwi-pass-00002"}, http.StatusOK, nil)
	e.MustDo(t, fresh, "GET", "/api/v1/status", nil, http.StatusOK, nil)
	e.MustDo(t, fresh, "POST", "/api/v1/logout", nil, http.StatusOK, nil)
	if code, _ := e.Do(t, fresh, "GET", "/api/v1/status", nil); code != http.StatusUnauthorized {
		t.Errorf("after logout: %d", code)
	}
}

// TestBatchDefinitionChecked: every problem of a batch definition is named
// at once, by field, with the GS1 rule that fails.
func TestBatchDefinitionChecked(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{NoRecords: true})
	code, b := e.Do(t, e.Tokens["otto"], "POST", "/api/v1/batches", map[string]any{"id": "B9", "gtin": "09501101530004",
		"lot": "L1", "expiry": "281340", "profile": "mars", "target": 10})
	if code != 400 || errCode(t, b) != api.CodeBadRequest {
		t.Fatalf("bad definition: %d %s", code, b)
	}
	for _, want := range []string{`gtin \"09501101530004\"`, "check digit", `expiry \"281340\"`, "month", `profile \"mars\"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("answer lacks %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), "lot") || strings.Contains(string(b), "target") {
		t.Errorf("valid fields reported: %s", b)
	}
	if code, b := e.Do(t, e.Tokens["otto"], "GET", "/api/v1/batches/B9", nil); code != 404 {
		t.Fatalf("refused batch exists: %d %s", code, b)
	}
}

// TestSignatureMeaningDefined: a signature's meaning is one of the defined
// ones; another is refused before the password is checked, and audited.
func TestSignatureMeaningDefined(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op, sup := e.Tokens["otto"], e.Tokens["sam"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "B1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 10}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/B1/start", nil, 200, nil)
	serials, _ := e.Fake.Produce(2, 0)
	code, b := e.Do(t, sup, "POST", "/api/v1/units/"+serials[0]+"/action", map[string]any{"action": "sample", "reason": "QA",
		"signature": map[string]string{"password": apitest.SupervisorPassword, "meaning": "because", "reason": "QA"}})
	if code != 400 || errCode(t, b) != api.CodeBadRequest || !strings.Contains(string(b), "approved-with-deviation") {
		t.Fatalf("undefined meaning: %d %s", code, b)
	}
	var u api.Unit
	e.MustDo(t, sup, "GET", "/api/v1/units/"+serials[0], nil, 200, &u)
	if u.State != "commissioned" {
		t.Fatalf("unit changed by a refused signature: %s", u.State)
	}
	var recs []api.AuditRecord
	e.MustDo(t, sup, "GET", "/api/v1/audit?action=auth.sign.refused", nil, 200, &recs)
	if len(recs) != 1 || recs[0].Who != "sam" || !strings.Contains(recs[0].After, "subject=manual sample of unit "+serials[0]) {
		t.Fatalf("refusal audit: %+v", recs)
	}
	e.MustDo(t, sup, "POST", "/api/v1/units/"+serials[0]+"/action", map[string]any{"action": "sample", "reason": "QA",
		"signature": map[string]string{"password": apitest.SupervisorPassword, "meaning": "reviewed", "reason": "QA"}}, 200, &u)
	e.MustDo(t, sup, "GET", "/api/v1/audit?action=auth.sign", nil, 200, &recs)
	if len(recs) != 1 || !strings.Contains(recs[0].After, "meaning=reviewed subject=manual sample of unit "+serials[0]) {
		t.Fatalf("signature record not bound to the unit: %+v", recs)
	}
}

// TestBatchNHRNChecked: a profile with a national number AI (eu-fmd-de:
// 710, eu-fmd-fr: 711 …) requires the NHRN, checked as that AI; a profile
// without one refuses it; a good one is stored and shown.
func TestBatchNHRNChecked(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{NoRecords: true})
	op := e.Tokens["otto"]
	def := func(profile, nhrn string) map[string]any {
		return map[string]any{"id": "N1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "profile": profile, "target": 10, "nhrn": nhrn}
	}
	for _, c := range []struct{ profile, nhrn, want string }{
		{"eu-fmd-de", "", "nhrn: required by profile eu-fmd-de (AI 710)"},
		{"eu-fmd-fr", "", "(AI 711)"},
		{"eu-fmd-de", "0415 0127", `nhrn (AI 710) \"0415 0127\": character ' ' (position 5) is not allowed`},
		{"eu-fmd-pt", "123456789012345678901", "(AI 714)"},
		{"eu-fmd", "04150127", `profile \"eu-fmd\" carries no national number`},
		{"us-dscsa", "04150127", "carries no national number"},
	} {
		code, b := e.Do(t, op, "POST", "/api/v1/batches", def(c.profile, c.nhrn))
		if code != 400 || errCode(t, b) != api.CodeBadRequest || !strings.Contains(string(b), c.want) {
			t.Errorf("%s nhrn %q: %d %s, want 400 with %s", c.profile, c.nhrn, code, b, c.want)
		}
	}
	var bt api.Batch
	e.MustDo(t, op, "POST", "/api/v1/batches", def("eu-fmd-de", "04150127"), 201, &bt)
	if bt.NHRN != "04150127" {
		t.Fatalf("created batch %+v", bt)
	}
	e.MustDo(t, op, "GET", "/api/v1/batches/N1", nil, 200, &bt)
	if bt.NHRN != "04150127" || bt.Profile != "eu-fmd-de" {
		t.Fatalf("stored batch %+v", bt)
	}
}
