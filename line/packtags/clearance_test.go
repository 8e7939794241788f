package packtags_test

import (
	"context"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/packtags"
	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/store/journal"
)

// TestMethodStartNeedsClearance: the controller refuses Start without a
// confirmed line clearance for the OPC UA PackML method as for the API:
// BadRequestNotAllowed, audited; after the (e-signed) clearance the same
// call starts the batch.
func TestMethodStartNeedsClearance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	e := apitest.NewEnv(t, apitest.EnvOptions{Shift: &config.Shift{}}) // the default checklist
	op := api.Actor{User: "otto", Role: "operator"}
	if _, err := e.Fake.CreateBatch(ctx, api.BatchDef{ID: "B1", GTIN: apitest.GTIN, Lot: "L", Expiry: "281231", Target: 100}, op); err != nil {
		t.Fatal(err)
	}
	cert, key := serverCert(t)
	srv := startServer(ctx, t, packtags.Options{Source: e.Fake,
		Commands: e.Fake, Auth: e.Auth, Audit: api.JournalAudit{J: e.Journal}, Certificate: cert, Key: key})
	otto, err := login(ctx, t, srv, "otto", apitest.OperatorPassword)
	if err != nil {
		t.Fatal(err)
	}
	if r := callMethod(ctx, t, otto, srv, execState+".Start"); r.StatusCode != ua.StatusBadRequestNotAllowed {
		t.Fatalf("Start without line clearance: %v", r.StatusCode)
	}
	cl := records.Clearance{Batch: "B1", Signer: records.Signer{User: "otto", Role: "operator", Meaning: api.MeaningPerformed, At: time.Now()}}
	for _, it := range e.Fake.ClearanceChecklist() {
		cl.Items = append(cl.Items, records.CheckItem{ID: it.ID, Text: it.Text})
	}
	if err := e.Fake.ConfirmClearance(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if r := callMethod(ctx, t, otto, srv, execState+".Start"); r.StatusCode != ua.StatusOK {
		t.Fatalf("Start after line clearance: %v", r.StatusCode)
	}
	var got []string
	_ = e.Journal.Audit(ctx, journal.AuditFilter{Action: "opcua.*"}, func(a journal.AuditEntry) error {
		got = append(got, a.Action)
		return nil
	})
	if len(got) != 2 || got[0] != "opcua.batch.start.refused" || got[1] != "opcua.batch.start" {
		t.Fatalf("audit %v", got)
	}
}
