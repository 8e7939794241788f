package api_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/config"
)

func shiftEnv(t *testing.T) *apitest.Env {
	return apitest.NewEnv(t, apitest.EnvOptions{Shift: &config.Shift{}})
}

func sigOf(pw, meaning, reason string) map[string]string {
	return map[string]string{"password": pw, "meaning": meaning, "reason": reason}
}

// clearAndStart confirms the line clearance of batch id with every item
// checked and starts it.
func clearAndStart(t *testing.T, e *apitest.Env, id string) {
	t.Helper()
	var rules api.Rules
	e.MustDo(t, e.Tokens["otto"], "GET", "/api/v1/shift/rules", nil, 200, &rules)
	var ids []string
	for _, it := range rules.Clearance {
		ids = append(ids, it.ID)
	}
	e.MustDo(t, e.Tokens["otto"], "POST", "/api/v1/batches/"+id+"/clearance", map[string]any{"checked": ids,
		"signature": sigOf(apitest.OperatorPassword, "performed", "line clearance")}, 200, nil)
	e.MustDo(t, e.Tokens["otto"], "POST", "/api/v1/batches/"+id+"/start", nil, 200, nil)
}

func errMsg(t *testing.T, b []byte) string {
	t.Helper()
	var eb api.ErrorBody
	json.Unmarshal(b, &eb)
	return eb.Error.Message
}

// TestProductMasterAndBatchSetup: admins manage the product master
// (audited, versioned); a batch is set up by picking a product, and every
// refusal says what to correct: unknown product, expired or too short an
// expiry, no lot, unbounded target, batch id charset, a profile that
// contradicts the master.
func TestProductMasterAndBatchSetup(t *testing.T) {
	e := shiftEnv(t)
	adm, op := e.Tokens["admin"], e.Tokens["otto"]
	prod := map[string]any{"name": "Ibuprofen 400 mg 50", "profile": "eu-fmd-de", "template": "ibu", "gcp_length": 7,
		"min_shelf_life_days": 365, "max_batch": 5000, "reason": "new product CC-101"}
	code, b := e.Do(t, op, "PUT", "/api/v1/products/09501101530010", prod)
	if code != 403 {
		t.Fatalf("operator edits the product master: %d %s", code, b)
	}
	code, b = e.Do(t, adm, "PUT", "/api/v1/products/09501101530011", map[string]any{"name": "", "profile": "mars", "gcp_length": 3, "reason": "x"})
	if msg := errMsg(t, b); code != 400 || !strings.Contains(msg, "check digit") || !strings.Contains(msg, "name: required") ||
		!strings.Contains(msg, `profile "mars"`) || !strings.Contains(msg, "gcp_length 3") {
		t.Fatalf("bad product: %d %s", code, msg)
	}
	e.MustDo(t, adm, "PUT", "/api/v1/products/09501101530010", prod, 200, nil)
	prod["min_shelf_life_days"] = 180
	prod["reason"] = "shelf life study SL-7"
	var pv api.ProductView
	e.MustDo(t, adm, "PUT", "/api/v1/products/09501101530010", prod, 200, &pv)
	if pv.Version != 2 || len(pv.Versions) != 2 || pv.Versions[0].MinShelfLifeDays != 365 || pv.ChangedBy != "admin" {
		t.Fatalf("versions: %+v", pv)
	}
	var recs []api.AuditRecord
	e.MustDo(t, adm, "GET", "/api/v1/audit?action=product.version", nil, 200, &recs)
	if len(recs) != 3 || recs[2].Reason != "shelf life study SL-7" || !strings.Contains(recs[2].Before, `"min_shelf_life_days":365`) {
		t.Fatalf("product audit: %+v", recs)
	}

	today := time.Now().UTC()
	yymmdd := func(t time.Time) string { return t.Format("060102") }
	for _, c := range []struct {
		def  map[string]any
		want []string
	}{
		{map[string]any{"id": "B1", "gtin": "09501101530027", "lot": "L1", "expiry": yymmdd(today.AddDate(2, 0, 0)), "target": 10},
			[]string{"not in the product master"}},
		{map[string]any{"id": "B1", "gtin": "09501101530010", "lot": "L1", "expiry": "240101", "target": 10, "nhrn": "04150127"},
			[]string{"expiry 240101", "must be", "minimum shelf life 180 days"}},
		{map[string]any{"id": "B1", "gtin": "09501101530010", "lot": "L1", "expiry": yymmdd(today.AddDate(0, 0, 100)), "target": 10, "nhrn": "04150127"},
			[]string{"minimum shelf life 180 days"}},
		{map[string]any{"id": "B<1>", "gtin": "09501101530010", "expiry": yymmdd(today.AddDate(2, 0, 0)), "target": 0, "nhrn": "04150127"},
			[]string{`id "B<1>"`, "letters A-Z", "lot: required", "target 0: want 1..5000"}},
		{map[string]any{"id": "B1", "gtin": "09501101530010", "lot": "L1", "expiry": yymmdd(today.AddDate(2, 0, 0)), "target": 5001, "nhrn": "04150127"},
			[]string{"target 5001: want 1..5000"}},
		{map[string]any{"id": "B1", "gtin": "09501101530010", "lot": "L1", "expiry": yymmdd(today.AddDate(2, 0, 0)), "target": 10, "profile": "us-dscsa", "nhrn": "04150127"},
			[]string{"the product master sets eu-fmd-de", "leave it out"}},
		{map[string]any{"id": "B1", "gtin": "09501101530010", "lot": "L1", "expiry": yymmdd(today.AddDate(2, 0, 0)), "target": 10},
			[]string{"nhrn: required by profile eu-fmd-de (AI 710)"}},
		// in words, not parser internals
		{map[string]any{"id": "B1", "gtin": "09501101530010", "lot": "L2026ä", "expiry": yymmdd(today.AddDate(2, 0, 0)), "target": 10, "nhrn": "04150127"},
			[]string{`lot "L2026ä": character 'ä' (position 6) is not allowed: use A-Z`}},
		{map[string]any{"id": "B1", "gtin": "09501101530010", "lot": "L1", "expiry": "281301", "target": 10, "nhrn": "04150127"},
			[]string{`expiry "281301": not a calendar date`, "(want a date YYMMDD)"}},
		// the GS1 sliding window: 99 is 1999 (expired), not 2099
		{map[string]any{"id": "B1", "gtin": "09501101530010", "lot": "L1", "expiry": "991231", "target": 10, "nhrn": "04150127"},
			[]string{"expiry 991231 (1999-12-31): must be"}},
	} {
		code, b := e.Do(t, op, "POST", "/api/v1/batches", c.def)
		msg := errMsg(t, b)
		if code != 400 || !strings.HasPrefix(msg, "batch not created; correct:") {
			t.Errorf("%v: %d %s", c.def, code, b)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: message lacks %q: %s", c.def, w, msg)
			}
		}
	}
	var bt api.Batch
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "IBU-26-001", "gtin": "09501101530010", "lot": "IB2612",
		"expiry": yymmdd(today.AddDate(1, 0, 0)), "target": 100, "nhrn": "04150127"}, 201, &bt)
	if bt.Profile != "eu-fmd-de" || bt.Template != "ibu" || bt.Product != "Ibuprofen 400 mg 50" {
		t.Fatalf("batch from the master: %+v", bt)
	}
}

// TestLineClearanceBeforeStart: Start is refused until the checklist is
// confirmed with an e-signature; the status offers Start exactly then.
func TestLineClearanceBeforeStart(t *testing.T) {
	e := shiftEnv(t)
	op := e.Tokens["otto"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "C1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "291231", "target": 10}, 201, nil)
	code, b := e.Do(t, op, "POST", "/api/v1/batches/C1/start", nil)
	if code != 409 || errCode(t, b) != api.CodeRefused || !strings.Contains(errMsg(t, b), "line clearance not confirmed") {
		t.Fatalf("start without clearance: %d %s", code, b)
	}
	var st api.StatusView
	e.MustDo(t, op, "GET", "/api/v1/status", nil, 200, &st)
	if st.Clearance || strings.Contains(strings.Join(st.Commands, " "), "start") {
		t.Fatalf("status offers start without clearance: %+v", st.Commands)
	}
	code, b = e.Do(t, op, "POST", "/api/v1/batches/C1/clearance", map[string]any{"checked": []string{"previous-removed"},
		"signature": sigOf(apitest.OperatorPassword, "performed", "clearance")})
	if code != 400 || !strings.Contains(errMsg(t, b), "printer-purged") {
		t.Fatalf("partial checklist: %d %s", code, b)
	}
	code, b = e.Do(t, op, "POST", "/api/v1/batches/C1/clearance", map[string]any{"checked": []string{"previous-removed", "reject-bin-empty", "printer-purged", "printer-test", "camera-taught"}})
	if code != 400 || errCode(t, b) != api.CodeSignatureRequired {
		t.Fatalf("unsigned clearance: %d %s", code, b)
	}
	clearAndStart(t, e, "C1")
	e.MustDo(t, op, "GET", "/api/v1/status", nil, 200, &st)
	if !st.Clearance || st.State != "Execute" {
		t.Fatalf("after clearance: %+v", st)
	}
	var cv api.ClearanceView
	e.MustDo(t, op, "GET", "/api/v1/batches/C1/clearance", nil, 200, &cv)
	if cv.Confirmed == nil || cv.Confirmed.Signer.FullName != "Otto Keller" || len(cv.Confirmed.Items) != 5 {
		t.Fatalf("clearance record: %+v", cv)
	}
	var recs []api.AuditRecord
	e.MustDo(t, e.Tokens["sam"], "GET", "/api/v1/audit?action=record.clearance", nil, 200, &recs)
	if len(recs) != 1 || recs[0].Who != "otto" || !strings.Contains(recs[0].After, "camera-taught") {
		t.Fatalf("journaled clearance: %+v", recs)
	}
}

// TestReasonCodesAndHeldBy: hold, stop, complete and abort need a reason
// code from the configured list; the status says who held the line and why.
func TestReasonCodesAndHeldBy(t *testing.T) {
	e := shiftEnv(t)
	op := e.Tokens["otto"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "R1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "291231", "target": 10}, 201, nil)
	clearAndStart(t, e, "R1")
	for _, c := range []struct {
		body map[string]any
		want string
	}{
		{nil, "hold needs a reason code: one of jam, material"},
		{map[string]any{"reason_code": "coffee"}, `reason code "coffee" is not one of`},
		{map[string]any{"reason_code": "other"}, "write what happened"},
	} {
		code, b := e.Do(t, op, "POST", "/api/v1/batches/R1/hold", c.body)
		if code != 400 || !strings.Contains(errMsg(t, b), c.want) {
			t.Errorf("hold %v: %d %s", c.body, code, b)
		}
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/R1/hold", map[string]any{"reason_code": "jam", "reason": "carton jammed at the gate"}, 200, nil)
	var st api.StatusView
	e.MustDo(t, op, "GET", "/api/v1/status", nil, 200, &st)
	if st.Held == nil || st.Held.By.User != "otto" || !strings.Contains(st.Held.Reason, "jam (Jam or fallen pack): carton jammed") {
		t.Fatalf("held by: %+v", st.Held)
	}
	if strings.Join(st.Commands, " ") != "unhold stop" {
		t.Fatalf("operator commands when held: %v", st.Commands)
	}
	var sup api.StatusView
	e.MustDo(t, e.Tokens["sam"], "GET", "/api/v1/status", nil, 200, &sup)
	if strings.Join(sup.Commands, " ") != "unhold stop abort" {
		t.Fatalf("supervisor commands when held: %v", sup.Commands)
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/R1/unhold", nil, 200, nil)
	code, b := e.Do(t, op, "POST", "/api/v1/batches/R1/complete", nil)
	if code != 400 {
		t.Fatalf("complete without a reason code: %d %s", code, b)
	}
	// target-reached only when it is: R1 is short of its target
	code, b = e.Do(t, op, "POST", "/api/v1/batches/R1/complete", map[string]any{"reason_code": "target-reached"})
	if code != 400 || !strings.Contains(string(b), "good packs") || !strings.Contains(string(b), "order-short") {
		t.Fatalf("complete short of target with target-reached: %d %s", code, b)
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/R1/complete", map[string]any{"reason_code": "order-short"}, 200, nil)
}

// completeBatch runs batch id: n units (every rejectEvery-th rejected), completes it.
func completeBatch(t *testing.T, e *apitest.Env, id string, n, rejectEvery int) []string {
	t.Helper()
	op := e.Tokens["otto"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": id, "gtin": apitest.GTIN, "lot": "L1", "expiry": "291231", "target": n}, 201, nil)
	clearAndStart(t, e, id)
	serials, err := e.Fake.Produce(n, rejectEvery)
	if err != nil {
		t.Fatal(err)
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/"+id+"/complete", map[string]any{"reason_code": "order-short"}, 200, nil)
	return serials
}

// TestSignatureSealsRecord: production sign-off then QA release by
// another person; a QA sample after signing marks the record "changed
// after signing" with signed and current figures, voids both signatures
// and needs new ones.
func TestSignatureSealsRecord(t *testing.T) {
	e := shiftEnv(t)
	sam, quinn := e.Tokens["sam"], e.Tokens["quinn"]
	serials := completeBatch(t, e, "S1", 12, 0)
	code, b := e.Do(t, quinn, "POST", "/api/v1/batches/S1/reconciliation/sign", map[string]any{"step": "qa", "password": apitest.QAPassword, "meaning": "released", "reason": "QA"})
	if code != 409 || !strings.Contains(errMsg(t, b), "production sign-off first") {
		t.Fatalf("QA before production: %d %s", code, b)
	}
	var rec api.Reconciliation
	e.MustDo(t, sam, "POST", "/api/v1/batches/S1/reconciliation/sign", map[string]any{"step": "production", "password": apitest.SupervisorPassword, "meaning": "approved", "reason": "shift end"}, 200, &rec)
	if rec.Review == nil || rec.Review.Next != "qa" || rec.Signed == nil || rec.Signed.FullName != "Samuel Brandt" || rec.TimeZone != "UTC" {
		t.Fatalf("after production sign-off: %+v", rec.Review)
	}
	code, b = e.Do(t, sam, "POST", "/api/v1/batches/S1/reconciliation/sign", map[string]any{"step": "qa", "password": apitest.SupervisorPassword, "meaning": "released", "reason": "QA"})
	if code != 403 {
		t.Fatalf("supervisor QA release: %d %s", code, b)
	}
	e.MustDo(t, quinn, "POST", "/api/v1/batches/S1/reconciliation/sign", map[string]any{"step": "qa", "password": apitest.QAPassword, "meaning": "released", "reason": "batch record reviewed"}, 200, &rec)
	if !rec.Review.Released || rec.Review.QA == nil || rec.Review.QA.FullName != "Quinn Adler" || rec.Review.ChangedAfterSigning {
		t.Fatalf("released: %+v", rec.Review)
	}
	// a QA sample after signing changes the record
	e.MustDo(t, sam, "POST", "/api/v1/units/"+serials[3]+"/action", map[string]any{"action": "sample", "reason": "retain",
		"signature": sigOf(apitest.SupervisorPassword, "approved", "retain sample")}, 200, nil)
	rec = api.Reconciliation{}
	e.MustDo(t, sam, "GET", "/api/v1/batches/S1/reconciliation", nil, 200, &rec)
	rv := rec.Review
	if !rv.ChangedAfterSigning || rv.Released || rv.Next != "production" || rv.Production.Valid || rec.Signed != nil {
		t.Fatalf("changed after signing: %+v", rv)
	}
	if rv.Production.Figures.Sampled != 0 || rv.Current.Sampled != 1 || rv.Production.Figures.Commissioned != 12 || rv.Current.Commissioned != 11 {
		t.Fatalf("signed vs current figures: %+v vs %+v", rv.Production.Figures, rv.Current)
	}
	code, b = e.Do(t, quinn, "POST", "/api/v1/batches/S1/reconciliation/sign", map[string]any{"step": "qa", "password": apitest.QAPassword, "meaning": "released", "reason": "again"})
	if code != 409 {
		t.Fatalf("QA release of a changed record: %d %s", code, b)
	}
	// quinn may sign production (qa ranks with supervisor) but then not release it too
	e.MustDo(t, quinn, "POST", "/api/v1/batches/S1/reconciliation/sign", map[string]any{"step": "production", "password": apitest.QAPassword, "meaning": "approved", "reason": "re-sign"}, 200, &rec)
	code, b = e.Do(t, quinn, "POST", "/api/v1/batches/S1/reconciliation/sign", map[string]any{"step": "qa", "password": apitest.QAPassword, "meaning": "released", "reason": "again"})
	if code != 409 || !strings.Contains(errMsg(t, b), "another person") {
		t.Fatalf("same person both steps: %d %s", code, b)
	}
	if len(rec.Review.History) != 3 {
		t.Fatalf("signature history: %+v", rec.Review.History)
	}
}

// TestCloseoutOfUnconfirmedReject: a reject the gate did not confirm is a
// deviation with a latched alarm; the supervisor's close-out "found and
// destroyed" resolves it and clears the alarm; "not found" stays a deviation.
func TestCloseoutOfUnconfirmedReject(t *testing.T) {
	e := shiftEnv(t)
	op, sam := e.Tokens["otto"], e.Tokens["sam"]
	serials := completeBatch(t, e, "D1", 6, 0)
	if err := e.Fake.MarkNotConfirmed(serials[1]); err != nil {
		t.Fatal(err)
	}
	if err := e.Fake.MarkNotConfirmed(serials[4]); err != nil {
		t.Fatal(err)
	}
	var as []api.Alarm
	e.MustDo(t, op, "GET", "/api/v1/alarms?view=active", nil, 200, &as)
	if len(as) != 2 || as[0].Code != "GATE-NOT-CONFIRMED" || !as[0].Latched || !strings.Contains(as[0].Text, "close out") {
		t.Fatalf("gate alarms: %+v", as)
	}
	code, b := e.Do(t, op, "POST", "/api/v1/units/"+serials[1]+"/closeout", map[string]any{"outcome": "found-destroyed", "note": "in bin"})
	if code != 403 {
		t.Fatalf("operator close-out: %d %s", code, b)
	}
	code, b = e.Do(t, sam, "POST", "/api/v1/units/"+serials[2]+"/closeout", map[string]any{"outcome": "found-destroyed", "note": "x",
		"signature": sigOf(apitest.SupervisorPassword, "performed", "close-out")})
	if code != 409 {
		t.Fatalf("close-out of a commissioned unit: %d %s", code, b)
	}
	var u api.Unit
	e.MustDo(t, sam, "POST", "/api/v1/units/"+serials[1]+"/closeout", map[string]any{"outcome": "found-destroyed", "note": "found in the reject bin, destroyed",
		"signature": sigOf(apitest.SupervisorPassword, "performed", "close-out")}, 200, &u)
	if u.Closeout == nil || u.Closeout.Signed.FullName != "Samuel Brandt" || u.Saleable {
		t.Fatalf("closed out: %+v", u)
	}
	var rec api.Reconciliation
	e.MustDo(t, sam, "GET", "/api/v1/batches/D1/reconciliation", nil, 200, &rec)
	if rec.Deviations != 1 {
		t.Fatalf("deviations after one found: %d", rec.Deviations)
	}
	e.MustDo(t, sam, "POST", "/api/v1/units/"+serials[4]+"/closeout", map[string]any{"outcome": "not-found", "note": "line and bins searched",
		"signature": sigOf(apitest.SupervisorPassword, "performed", "close-out")}, 200, nil)
	e.MustDo(t, op, "GET", "/api/v1/alarms?view=active", nil, 200, &as)
	if len(as) != 0 {
		t.Fatalf("gate alarms after the close-outs: %+v", as)
	}
	e.MustDo(t, sam, "GET", "/api/v1/batches/D1/reconciliation", nil, 200, &rec)
	if rec.Deviations != 1 || len(rec.Closeouts) != 2 {
		t.Fatalf("not found stays a deviation: %d %+v", rec.Deviations, rec.Closeouts)
	}
	code, b = e.Do(t, sam, "POST", "/api/v1/batches/D1/reconciliation/sign", map[string]any{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "r"})
	if code != 409 || !strings.Contains(errMsg(t, b), "approved-with-deviation") {
		t.Fatalf("approved despite a deviation: %d %s", code, b)
	}
	e.MustDo(t, sam, "POST", "/api/v1/batches/D1/reconciliation/sign", map[string]any{"password": apitest.SupervisorPassword, "meaning": "approved-with-deviation", "reason": "deviation DV-12 opened"}, 200, nil)
	var lu api.LookupResult
	e.MustDo(t, op, "GET", "/api/v1/lookup?code="+url.QueryEscape("(01)"+apitest.GTIN+"(21)"+serials[4]), nil, 200, &lu)
	if lu.Saleable || !strings.Contains(lu.Warning, "NOT found") {
		t.Fatalf("lookup of a pack not found: %+v", lu)
	}
}

// TestShiftHandover: the outgoing shift signs a handover note with the
// shift's counts and open points; another person of the incoming shift
// acknowledges it.
func TestShiftHandover(t *testing.T) {
	e := shiftEnv(t)
	op, sam := e.Tokens["otto"], e.Tokens["sam"]
	completeBatch(t, e, "H1", 5, 5)
	e.Fake.Raise(api.SeverityWarning, "printer", "warning alarm=warning: INKLOW ink low", "system")
	var rep api.ShiftReport
	e.MustDo(t, op, "GET", "/api/v1/shift/report", nil, 200, &rep)
	if rep.Counts.Commissioned != 4 || rep.Counts.Rejected != 1 || len(rep.OpenAlarms) != 1 || len(rep.Unsigned) != 1 || rep.TimeZone != "UTC" {
		t.Fatalf("shift report: %+v", rep)
	}
	code, b := e.Do(t, op, "POST", "/api/v1/shift/handovers", map[string]any{"note": "", "signature": sigOf(apitest.OperatorPassword, "handed-over", "end of shift")})
	if code != 400 {
		t.Fatalf("empty note: %d %s", code, b)
	}
	var h struct {
		ID         string
		OpenAlarms []string `json:"open_alarms"`
		Unsigned   []string
		Incoming   *struct{ User string }
	}
	e.MustDo(t, op, "POST", "/api/v1/shift/handovers", map[string]any{"note": "ink low on printer 1; batch H1 awaits sign-off",
		"signature": sigOf(apitest.OperatorPassword, "handed-over", "end of shift")}, 201, &h)
	if h.ID == "" || len(h.OpenAlarms) != 1 || !strings.Contains(h.OpenAlarms[0], "PRN-INK-LOW") || len(h.Unsigned) != 1 {
		t.Fatalf("handover: %+v", h)
	}
	code, b = e.Do(t, op, "POST", "/api/v1/shift/handovers/"+h.ID+"/ack", map[string]any{"signature": sigOf(apitest.OperatorPassword, "acknowledged", "taken over")})
	if code != 409 {
		t.Fatalf("own acknowledgement: %d %s", code, b)
	}
	e.MustDo(t, sam, "POST", "/api/v1/shift/handovers/"+h.ID+"/ack", map[string]any{"signature": sigOf(apitest.SupervisorPassword, "acknowledged", "taken over")}, 200, &h)
	if h.Incoming == nil || h.Incoming.User != "sam" {
		t.Fatalf("acknowledged: %+v", h)
	}
	code, _ = e.Do(t, sam, "POST", "/api/v1/shift/handovers/"+h.ID+"/ack", map[string]any{"signature": sigOf(apitest.SupervisorPassword, "acknowledged", "again")})
	if code != 409 {
		t.Fatalf("second acknowledgement: %d", code)
	}
	e.MustDo(t, op, "GET", "/api/v1/shift/report", nil, 200, &rep)
	if len(rep.Handovers) != 1 {
		t.Fatalf("report handovers: %+v", rep.Handovers)
	}
}

// TestOperatorUnitActions: an operator pulls a sample or rejects a damaged
// pack of the running batch with a reason (no signature); decommission and
// actions after the batch are a supervisor's; with the policy on, a
// supervisor co-signs.
func TestOperatorUnitActions(t *testing.T) {
	for _, policy := range []bool{false, true} {
		e := apitest.NewEnv(t, apitest.EnvOptions{Shift: &config.Shift{OperatorUnitActionsNeedSupervisor: policy}})
		op := e.Tokens["otto"]
		e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "O1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "291231", "target": 10}, 201, nil)
		clearAndStart(t, e, "O1")
		serials, _ := e.Fake.Produce(4, 0)
		code, b := e.Do(t, op, "POST", "/api/v1/units/"+serials[0]+"/action", map[string]any{"action": "reject", "reason": ""})
		if code != 400 {
			t.Fatalf("no reason: %d %s", code, b)
		}
		code, _ = e.Do(t, op, "POST", "/api/v1/units/"+serials[0]+"/action", map[string]any{"action": "decommission", "reason": "x"})
		if code != 403 {
			t.Fatalf("operator decommission: %d", code)
		}
		body := map[string]any{"action": "reject", "reason": "crushed carton"}
		if policy {
			code, b = e.Do(t, op, "POST", "/api/v1/units/"+serials[0]+"/action", body)
			if code != 400 || errCode(t, b) != api.CodeSignatureRequired {
				t.Fatalf("policy, no co-signature: %d %s", code, b)
			}
			body["supervisor"] = map[string]string{"user": "sam", "password": "wrong", "meaning": "approved", "reason": "seen"}
			code, _ = e.Do(t, op, "POST", "/api/v1/units/"+serials[0]+"/action", body)
			if code != 403 {
				t.Fatalf("policy, wrong co-signature: %d", code)
			}
			body["supervisor"] = map[string]string{"user": "sam", "password": apitest.SupervisorPassword, "meaning": "approved", "reason": "seen"}
		}
		var u api.Unit
		e.MustDo(t, op, "POST", "/api/v1/units/"+serials[0]+"/action", body, 200, &u)
		if u.State != "rejected" {
			t.Fatalf("damaged pack: %+v", u)
		}
		e.MustDo(t, op, "POST", "/api/v1/batches/O1/complete", map[string]any{"reason_code": "order-short"}, 200, nil)
		code, _ = e.Do(t, op, "POST", "/api/v1/units/"+serials[1]+"/action", map[string]any{"action": "sample", "reason": "late"})
		if code != 403 {
			t.Fatalf("operator action after the batch: %d", code)
		}
	}
}

// TestLookupOneVerdict: a code that differs from what was printed is "not
// saleable" (never saleable beside a mismatch); a foreign GTIN says so; a
// scan without GS separators is explained; lot, expiry and HRI are shown.
func TestLookupOneVerdict(t *testing.T) {
	e := shiftEnv(t)
	op := e.Tokens["otto"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "L1", "gtin": apitest.GTIN, "lot": "LOT7", "expiry": "291231", "target": 10}, 201, nil)
	clearAndStart(t, e, "L1")
	serials, _ := e.Fake.Produce(2, 0)
	var lu api.LookupResult
	e.MustDo(t, op, "GET", "/api/v1/lookup?code="+url.QueryEscape("(01)"+apitest.GTIN+"(17)291231(10)FAKE(21)"+serials[0]), nil, 200, &lu)
	if lu.Saleable || lu.Ours || lu.Unit.Saleable || !strings.HasPrefix(lu.Warning, "NOT SALEABLE") || !strings.Contains(lu.Warning, "FAKE") {
		t.Fatalf("mismatch: %+v", lu)
	}
	lu = api.LookupResult{}
	e.MustDo(t, op, "GET", "/api/v1/lookup?code="+url.QueryEscape("(01)"+apitest.GTIN+"(21)"+serials[1]), nil, 200, &lu)
	if !lu.Saleable || lu.Unit.Lot != "LOT7" || lu.Unit.Expiry != "291231" || !strings.Contains(lu.Unit.HRI, "(10) LOT7") {
		t.Fatalf("good code: %+v %+v", lu, lu.Unit)
	}
	lu = api.LookupResult{}
	e.MustDo(t, op, "GET", "/api/v1/lookup?code="+url.QueryEscape("(01)04006381333931(21)"+serials[1]), nil, 200, &lu)
	if lu.Ours || !strings.Contains(lu.Problem, "not a product of this line") {
		t.Fatalf("foreign GTIN: %+v", lu)
	}
	code, b := e.Do(t, op, "GET", "/api/v1/lookup?code="+url.QueryEscape("01"+apitest.GTIN+"10LOT721"+serials[1]+"17291231"), nil)
	if code != 400 || !strings.Contains(errMsg(t, b), "no GS separators") {
		t.Fatalf("scan without GS: %d %s", code, b)
	}
}
