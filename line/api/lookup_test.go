package api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

// TestLookupComparesEveryElement: a code whose serial is ours but whose
// lot or expiry differs from what was printed is not "ours" and names the
// mismatching elements; a rejected unit is ours but not saleable, with a
// warning; a commissioned unit scanned as printed is ours and saleable.
func TestLookupComparesEveryElement(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op := e.Tokens["otto"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "LK", "gtin": apitest.GTIN, "lot": "LOT2611", "expiry": "281231", "target": 10}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/LK/start", nil, 200, nil)
	serials, err := e.Fake.Produce(3, 3) // the third is rejected
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(code string) api.LookupResult {
		t.Helper()
		var r api.LookupResult
		e.MustDo(t, op, "GET", "/api/v1/lookup?code="+url.QueryEscape(code), nil, 200, &r)
		return r
	}
	good := lookup("(01)" + apitest.GTIN + "(17)281231(10)LOT2611(21)" + serials[0])
	if !good.Ours || !good.Saleable || good.Warning != "" || len(good.Mismatches) != 0 || good.Problem != "" {
		t.Errorf("commissioned unit as printed: %+v", good)
	}
	fake := lookup("(01)" + apitest.GTIN + "(17)291231(10)FAKELOT(21)" + serials[0])
	if fake.Ours || fake.Saleable || len(fake.Mismatches) != 2 || !strings.Contains(fake.Problem, "(10) scanned FAKELOT, printed LOT2611") ||
		!strings.Contains(fake.Problem, "(17) scanned 291231, printed 281231") || fake.Unit == nil {
		t.Errorf("wrong lot and expiry: %+v", fake)
	}
	rej := lookup("(01)" + apitest.GTIN + "(21)" + serials[2])
	if !rej.Ours || rej.Saleable || !strings.Contains(rej.Warning, "NOT SALEABLE: rejected") || rej.Unit == nil || rej.Unit.Saleable {
		t.Errorf("rejected unit: %+v", rej)
	}
	var u api.Unit
	e.MustDo(t, op, "GET", "/api/v1/units/"+serials[2], nil, 200, &u)
	if u.Saleable || !strings.HasPrefix(u.Warning, "NOT SALEABLE") {
		t.Errorf("unit endpoint for a rejected unit: %+v", u)
	}
}

// TestUnitAssess: the warning per state; reject-not-confirmed says the
// pack may still be on the line.
func TestUnitAssess(t *testing.T) {
	for _, tc := range []struct{ state, reason, want string }{
		{"commissioned", "", ""},
		{"rejected", "reject-not-confirmed", "may have gone on down the line"},
		{"rejected", "no-read", "rejected at the line (no read: the camera could not decode the code (no-read))"},
		{"uncertain", "recovery", "outcome uncertain"},
		{"sampled", "", "QA sample"},
		{"returned", "", "returned unused"},
		{"printed", "", "not commissioned yet"},
	} {
		u := api.Unit{State: tc.state, Reason: tc.reason}
		u.Assess()
		if u.Saleable != (tc.state == "commissioned") || !strings.Contains(u.Warning, tc.want) || (tc.want == "") != (u.Warning == "") {
			t.Errorf("%s/%s: saleable %v warning %q", tc.state, tc.reason, u.Saleable, u.Warning)
		}
	}
}
