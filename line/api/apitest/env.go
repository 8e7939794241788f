package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/store/journal"
)

// FastHash are cheap argon2id parameters for tests only.
var FastHash = auth.HashParams{Time: 1, MemoryKiB: 1024, Threads: 1}

// Passwords of the users Env creates (after their forced change).
const (
	AdminPassword      = "kestrel-pass-01"
	SupervisorPassword = "super-pass-0002"
	OperatorPassword   = "oper-pass-00003"
	QAPassword         = "qual-pass-00004"
)

// Env is a running API on loopback over a fresh journal (for the audit
// trail and the shift records, with Product in the product master), a
// fresh user file and a Fake controller, with four users logged in:
// "admin", "sam" (supervisor), "otto" (operator) and "quinn" (qa). At cleanup it
// closes everything and fails the test unless journal verify is clean.
type Env struct {
	URL     string
	Server  *httptest.Server
	API     *api.Server
	Journal *journal.Journal
	Auth    *auth.Service
	Fake    *Fake
	Records *records.Store
	// Tokens by user name.
	Tokens map[string]string
}

// EnvOptions tweaks NewEnv.
type EnvOptions struct {
	// UI is passed to api.Options.UI.
	UI func(*Env) http.Handler
	// StatusInterval is passed to api.Options (default 10ms).
	StatusInterval time.Duration
	// Heartbeat is passed to api.Options (default: the API's).
	Heartbeat time.Duration
	// Wrap, when set, wraps the Fake in the controller the API serves.
	Wrap func(*Fake) api.Controller
	// Now is the clock of the user store (session expiry); nil = time.Now.
	Now func() time.Time
	// Shift are the line's shift rules; nil = relaxed test rules (no line
	// clearance, no reason codes), &config.Shift{} = the shipped defaults.
	Shift *config.Shift
	// NoRecords runs the API without the shift records (no product master).
	NoRecords bool
	// Aggregation is passed to api.Options.Aggregation.
	Aggregation api.Aggregation
	// Controller, when set, is served instead of the Fake (a real
	// line.Controller on a simulated line); Journal and Records are then
	// its journal and shift records, which the caller owns (Env neither
	// closes nor verifies them, and adds no product).
	Controller api.Controller
	// Journal is Controller's journal (required with Controller).
	Journal *journal.Journal
	// Records are Controller's shift records (required with Controller).
	Records *records.Store
}

// Product is the product master entry Env creates for GTIN.
var Product = records.Product{GTIN: GTIN, Name: "Paracetamol 500 mg 20 tablets", Profile: "eu-fmd", Template: "serial-std",
	GCPLength: 7, MinShelfLifeDays: 90, MaxBatch: 100000, Active: true, Reason: "test product"}

// GTIN is the fake line's product.
const GTIN = "09501101530003"

// NewEnv starts an Env.
func NewEnv(t testing.TB, o EnvOptions) *Env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	own := o.Controller == nil
	j := o.Journal
	var err error
	if own {
		if j, err = journal.Open(filepath.Join(dir, "journal.db"), nil); err != nil {
			t.Fatal(err)
		}
	} else if j == nil || o.Records == nil {
		t.Fatal("apitest: EnvOptions.Controller needs its Journal and Records")
	}
	audit := api.JournalAudit{J: j}
	a, first, err := auth.Open(ctx, auth.Options{Path: filepath.Join(dir, "users.db"), Audit: audit, Hash: FastHash, Now: o.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Journal: j, Auth: a, Fake: New(nil, GTIN, 10000), Tokens: map[string]string{}}
	shift := config.Shift{Clearance: []config.ChecklistItem{}, Reasons: map[string][]config.ReasonCode{}}
	if o.Shift != nil {
		shift = *o.Shift
	}
	if !own {
		e.Records = o.Records
	} else if !o.NoRecords {
		e.Records, err = records.Open(ctx, j, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Records.SaveProduct(ctx, Product, "admin", "admin"); err != nil {
			t.Fatal(err)
		}
	}
	e.Fake.SetClearance(e.Records, shift.Effective().Clearance) // the controller keeps the line clearance
	if o.StatusInterval == 0 {
		o.StatusInterval = 10 * time.Millisecond
	}
	var ctrl api.Controller = e.Fake
	switch {
	case !own:
		ctrl = o.Controller
	case o.Wrap != nil:
		ctrl = o.Wrap(e.Fake)
	}
	ao := api.Options{Controller: ctrl, Auth: a, Audit: audit, StatusInterval: o.StatusInterval, Heartbeat: o.Heartbeat,
		Records: e.Records, Shift: shift, Aggregation: o.Aggregation}
	var uiHandler http.Handler
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { uiHandler.ServeHTTP(w, r) })
	if o.UI != nil {
		ao.UI = proxy
	}
	e.API, err = api.New(ao)
	if err != nil {
		t.Fatal(err)
	}
	e.Server = httptest.NewServer(e.API)
	e.URL = e.Server.URL
	if o.UI != nil {
		uiHandler = o.UI(e)
	}
	t.Cleanup(func() {
		e.Server.Close()
		a.Close()
		if !own {
			return
		}
		rep, err := j.Verify(ctx)
		if err != nil || !rep.OK() {
			t.Errorf("journal verify: %v %v", err, rep.Problems)
		}
		j.Close()
	})
	// admin: first start, forced change
	tok := e.Login(t, first.User, first.Password)
	e.MustDo(t, tok, "POST", "/api/v1/password", map[string]string{"old": first.Password, "new": AdminPassword}, http.StatusOK, nil)
	e.Tokens["admin"] = tok
	for _, u := range []struct{ name, full, role, pw string }{{"sam", "Samuel Brandt", "supervisor", SupervisorPassword},
		{"otto", "Otto Keller", "operator", OperatorPassword}, {"quinn", "Quinn Adler", "qa", QAPassword}} {
		e.MustDo(t, tok, "POST", "/api/v1/users", map[string]string{"name": u.name, "full_name": u.full, "role": u.role, "password": "temporary-" + u.pw}, http.StatusCreated, nil)
		ut := e.Login(t, u.name, "temporary-"+u.pw)
		e.MustDo(t, ut, "POST", "/api/v1/password", map[string]string{"old": "temporary-" + u.pw, "new": u.pw}, http.StatusOK, nil)
		e.Tokens[u.name] = ut
	}
	return e
}

// Login logs in and returns the token (fails the test otherwise).
func (e *Env) Login(t testing.TB, user, pw string) string {
	t.Helper()
	var lr api.LoginResponse
	e.MustDo(t, "", "POST", "/api/v1/login", map[string]string{"user": user, "password": pw}, http.StatusOK, &lr)
	return lr.Token
}

// Do sends a request with token (may be "") and a JSON body (nil = none);
// it returns the status and the raw body.
func (e *Env) Do(t testing.TB, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// MustDo is Do that fails the test unless the status is want; the body is
// decoded into out when out is not nil.
func (e *Env) MustDo(t testing.TB, token, method, path string, body any, want int, out any) {
	t.Helper()
	code, b := e.Do(t, token, method, path, body)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode: %v: %s", method, path, err, b)
		}
	}
}
