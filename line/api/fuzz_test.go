package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

// fuzzRoutes are the requests that take a JSON body, each with the user
// allowed to make it.
var fuzzRoutes = []struct{ user, method, path string }{
	{"", "POST", "/api/v1/login"},
	{"otto", "POST", "/api/v1/password"},
	{"admin", "POST", "/api/v1/users"},
	{"admin", "PATCH", "/api/v1/users/otto"},
	{"otto", "POST", "/api/v1/batches"},
	{"otto", "POST", "/api/v1/batches/B1/start"},
	{"otto", "POST", "/api/v1/batches/B1/hold"},
	{"sam", "POST", "/api/v1/batches/B1/abort"},
	{"sam", "POST", "/api/v1/batches/B1/reconciliation/sign"},
	{"sam", "POST", "/api/v1/units/S000001/action"},
	{"otto", "POST", "/api/v1/alarms"},
	{"otto", "POST", "/api/v1/alarms/1/ack"},
}

// FuzzRequestBodies posts arbitrary bodies to every route that decodes
// one, over HTTP, as a logged-in user allowed to use it. Whatever the body:
// no panic, never a 500, and the answer is JSON — a success, or an error
// body with a code and a message.
func FuzzRequestBodies(f *testing.F) {
	e := apitest.NewEnv(f, apitest.EnvOptions{})
	for i := range fuzzRoutes {
		f.Add(uint8(i), []byte(`{}`))
	}
	f.Add(uint8(0), []byte(`{"user":"otto","password":"x"}`))
	f.Add(uint8(4), []byte(`{"id":"B9","gtin":"09501101530003","lot":"L","expiry":"281231","profile":"eu-fmd","target":5}`))
	f.Add(uint8(5), []byte(`{"reason":"go"} {"reason":"again"}`))
	f.Add(uint8(8), []byte(`{"signature":{"password":"x","meaning":"approved","reason":"r"}}`))
	f.Add(uint8(9), []byte(`{"action":"qa-sample","signature":{"password":"`+apitest.SupervisorPassword+`","meaning":"approved","reason":"r"}}`))
	f.Add(uint8(10), []byte(`{"severity":"fault","source":"x","text":"\u0000\u202e"}`))
	f.Add(uint8(2), []byte(`{"name":"\u0000","role":"admin","password":"`+string(bytes.Repeat([]byte("p"), 100))+`"}`))
	f.Add(uint8(3), []byte("[1,2,3]"))
	f.Add(uint8(1), []byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req, err := http.NewRequest(rt.method, e.URL+rt.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if rt.user != "" {
			req.Header.Set("Authorization", "Bearer "+e.Tokens[rt.user])
		}
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", rt.method, rt.path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", rt.method, rt.path, body, resp.StatusCode, b)
		}
		if resp.StatusCode >= 400 {
			var eb api.ErrorBody
			if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%s %s %q: status %d with no error body: %s", rt.method, rt.path, body, resp.StatusCode, b)
			}
		} else if len(b) > 0 && !json.Valid(b) {
			t.Fatalf("%s %s %q: status %d, not JSON: %s", rt.method, rt.path, body, resp.StatusCode, b)
		}
	})
}
