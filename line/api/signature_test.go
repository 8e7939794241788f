package api_test

import (
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
)

// TestRefusedSignIsNotAuditedAsSigned: a signing refused because the batch
// is still running, or already signed, leaves auth.sign.refused in the
// audit trail and no auth.sign; the one signing that happened leaves
// exactly one auth.sign.
func TestRefusedSignIsNotAuditedAsSigned(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	op, sup := e.Tokens["otto"], e.Tokens["sam"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "S1", "gtin": apitest.GTIN, "lot": "L1", "expiry": "281231", "target": 4}, 201, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/S1/start", nil, 200, nil)
	if _, err := e.Fake.Produce(4, 0); err != nil {
		t.Fatal(err)
	}
	sig := map[string]string{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "shift end"}
	if code, b := e.Do(t, sup, "POST", "/api/v1/batches/S1/reconciliation/sign", sig); code != 409 {
		t.Fatalf("sign while running: %d %s", code, b)
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/S1/complete", nil, 200, nil)
	e.MustDo(t, sup, "POST", "/api/v1/batches/S1/reconciliation/sign", sig, 200, nil)
	if code, b := e.Do(t, sup, "POST", "/api/v1/batches/S1/reconciliation/sign", sig); code != 409 {
		t.Fatalf("sign twice: %d %s", code, b)
	}
	var signed, refused []api.AuditRecord
	e.MustDo(t, sup, "GET", "/api/v1/audit?action=auth.sign", nil, 200, &signed)
	e.MustDo(t, sup, "GET", "/api/v1/audit?action=auth.sign.refused", nil, 200, &refused)
	if len(signed) != 1 {
		t.Errorf("auth.sign entries: %+v, want exactly the one signing that happened", signed)
	}
	if len(refused) != 2 || !strings.Contains(refused[0].Reason, "is Execute") || !strings.Contains(refused[1].Reason, "already given") {
		t.Errorf("auth.sign.refused entries: %+v", refused)
	}
}
