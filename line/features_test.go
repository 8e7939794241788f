package line_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/printer/tij"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision/camerasim"
)

// A German PZN (AI 710) with a valid PZN check digit, and a wrong one.
const (
	testPZN  = "04150127"
	wrongPZN = "04150135"
)

// TestGermanBatchNHRN runs an eu-fmd-de batch over the simulated line: the
// batch carries its PZN (AI 710), every printed element string ends with it,
// the camera (decoding the printed symbols for real) passes units whose 710
// field matches and rejects the one unit whose read carries another PZN
// (reason mismatch, naming only the 710 field), and the batch balances.
func TestGermanBatchNHRN(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	const id, lot, exp = "DE1", "LDE1", "281231"

	// The profile needs the national number.
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "X", GTIN: testGTIN, Lot: lot, Expiry: exp, Profile: "eu-fmd-de", Target: 5}, operator); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "710") {
		t.Fatalf("eu-fmd-de batch without PZN: %v, want ErrBadRequest naming AI 710", err)
	}
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "X", GTIN: testGTIN, Lot: lot, Expiry: exp, Profile: "eu-fmd", Target: 5, NHRN: testPZN}, operator); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("eu-fmd batch with an NHRN: %v, want ErrBadRequest", err)
	}
	b, err := c.CreateBatch(ctx, api.BatchDef{ID: id, GTIN: testGTIN, Lot: lot, Expiry: exp, Profile: "eu-fmd-de", Target: 30, NHRN: testPZN}, operator)
	if err != nil {
		t.Fatal(err)
	}
	if b.NHRN != testPZN {
		t.Fatalf("batch NHRN %q", b.NHRN)
	}

	// On the 5th print, make the camera report the next unit with the right
	// GTIN, expiry, lot and serial but another PZN. The printer prints in
	// journal draw order, and linesim feeds the camera from its own
	// OnPrint (registered first), so an injected fault hits the next shot.
	var mu sync.Mutex
	var printed []printersim.Printed
	var tampered string
	var cbErr error
	l.Printer.OnPrint(func(p printersim.Printed) {
		mu.Lock()
		defer mu.Unlock()
		printed = append(printed, p)
		if len(printed) != 5 {
			return
		}
		u, err := l.Journal.Unit(p.RecordID)
		if err != nil {
			cbErr = err
			return
		}
		var next string
		_ = l.Journal.Units(id, func(n journal.Unit) error {
			if n.Index == u.Index+1 {
				next = n.Serial
			}
			return nil
		})
		if next == "" {
			cbErr = errors.New("no unit after the 5th print")
			return
		}
		m, err := gs1.New(gs1.Element{AI: "01", Value: testGTIN}, gs1.Element{AI: "17", Value: exp},
			gs1.Element{AI: "10", Value: lot}, gs1.Element{AI: "21", Value: next}, gs1.Element{AI: "710", Value: wrongPZN})
		if err != nil {
			cbErr = err
			return
		}
		tampered = next
		l.Camera.Inject(camerasim.Fault{Kind: camerasim.FaultMismatch, Data: m.ElementString()})
	})
	if err := c.Command(ctx, id, api.Command{Name: api.CmdStart}, operator); err != nil {
		t.Fatal(err)
	}
	runToComplete(t, l, id)
	rec, err := c.Reconciliation(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Balanced || rec.Commissioned < 30 {
		t.Fatalf("reconciliation: %+v", rec)
	}

	if rep, err := c.ReconcileReport(ctx, id); err != nil || rep.Batch.NHRN != testPZN {
		t.Fatalf("report batch %+v (%v): want NHRN %s", rep.Batch, err, testPZN)
	}

	mu.Lock()
	defer mu.Unlock()
	if cbErr != nil {
		t.Fatal(cbErr)
	}
	for _, p := range printed {
		if !strings.HasSuffix(p.Data, "\x1d21"+p.RecordID+"\x1d710"+testPZN) {
			t.Fatalf("printed %q for %s: want (21) serial then (710) %s", p.Data, p.RecordID, testPZN)
		}
		m, err := gs1.ParseRaw(p.Data)
		if err != nil {
			t.Fatal(err)
		}
		if err := mustProfile(t, "eu-fmd-de").Check(m); err != nil {
			t.Fatalf("printed %q fails eu-fmd-de: %v", p.Data, err)
		}
	}
	u, err := l.Journal.Unit(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != journal.Rejected || u.Reason != journal.ReasonMismatch || !strings.Contains(u.Detail, "(710)") || strings.Contains(u.Detail, "(21)") {
		t.Fatalf("unit read with another PZN: %+v, want rejected mismatch on (710) only", u)
	}
	au, err := c.Unit(ctx, tampered)
	if err != nil || !strings.HasSuffix(au.ElementString, "\x1d710"+testPZN) {
		t.Fatalf("unit lookup: element string %q (%v)", au.ElementString, err)
	}
	commissioned := 0
	err = l.Journal.Units(id, func(u journal.Unit) error {
		if u.State == journal.Commissioned {
			commissioned++
		}
		return nil
	})
	if err != nil || commissioned != rec.Commissioned {
		t.Fatalf("journal has %d commissioned (%v), reconciliation %d", commissioned, err, rec.Commissioned)
	}
}

func mustProfile(t *testing.T, name string) gs1.Profile {
	t.Helper()
	p, err := gs1.LookupProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRejectNotConfirmedRecorded: the PLC's confirmation sensor misses a
// reject; the unit stays Rejected and its journal record gets the
// annotation reject-not-confirmed (by the PLC, after the original reason
// no-read); unit lookup, the reject list and the reconciliation show it;
// the line held; journal verify passes (startLine's cleanup).
func TestRejectNotConfirmedRecorded(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	// The first product's read is a no-read: the only reject of the batch.
	missConfirmFirstReject(l)
	startBatch(ctx, t, l, "RNC", "LRNC", 20)
	runToComplete(t, l, "RNC")

	rejects, err := c.Units(ctx, "RNC", api.UnitQuery{States: []string{"rejected"}})
	if err != nil {
		t.Fatal(err)
	}
	var annotated []api.Unit
	for _, u := range rejects {
		if u.Reason == "reject-not-confirmed" {
			annotated = append(annotated, u)
		}
	}
	if len(annotated) != 1 {
		t.Fatalf("reject list %+v: want exactly one unit with reason reject-not-confirmed", rejects)
	}
	u, err := c.Unit(ctx, annotated[0].Serial)
	if err != nil {
		t.Fatal(err)
	}
	n := len(u.History)
	if u.State != "rejected" || n < 3 || u.History[n-2].State != "rejected" || !strings.HasPrefix(u.History[n-2].Reason, "no-read") ||
		u.History[n-1].State != "rejected" || !strings.HasPrefix(u.History[n-1].Reason, "reject-not-confirmed: after no-read") || u.History[n-1].By != "plc(system)" {
		t.Fatalf("unit history %+v", u.History)
	}
	ju, err := l.Journal.Unit(u.Serial)
	if err != nil || ju.Reason != journal.ReasonRejectNotConfirmed {
		t.Fatalf("journal unit %+v, %v", ju, err)
	}
	rec, err := c.Reconciliation(ctx, "RNC")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Balanced || rec.RejectedBy["reject-not-confirmed"] != 1 || rec.RejectedBy["no-read"] != 0 {
		t.Fatalf("reconciliation %+v", rec)
	}
	rep, err := c.ReconcileReport(ctx, "RNC")
	if err != nil || rep.RejectsByReason["reject-not-confirmed"] != 1 {
		t.Fatalf("report rejects by reason %v (%v)", rep.RejectsByReason, err)
	}
	b, err := c.Batch(ctx, "RNC")
	if err != nil {
		t.Fatal(err)
	}
	held := false
	for _, h := range b.History {
		held = held || (h.To == "Held" || h.To == "Holding") && strings.Contains(h.Reason, "reject not confirmed")
	}
	if !held {
		t.Fatalf("the line did not hold on the unconfirmed reject: %+v", b.History)
	}
}

// TestStartOverride: Start is refused while the local pool is below
// pools.min_start (site server down); an operator cannot override it, nor
// a supervisor without an e-signature; a supervisor's e-signed override
// starts the batch and is audited with the signature. Line clearance (a
// record left in the printer queue) is refused even with the override.
func TestStartOverride(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	const gtin, id = "09506000134352", "OV1"
	l.Upstream.SetDown(true)
	// 60 serials locally: below min_start 100 of the demo config, above hold_below.
	var serials []string
	for i := range 60 {
		serials = append(serials, "OVR"+strings.Repeat("0", 4)+string(rune('A'+i/26))+string(rune('A'+i%26)))
	}
	if err := l.Journal.ImportPool(ctx, journal.Pool{ID: "local-60", GTIN: gtin, Serials: serials}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: id, GTIN: gtin, Lot: "LOV", Expiry: "281231", Profile: "us-dscsa", Target: 100}, operator); err != nil {
		t.Fatal(err)
	}
	sig := func(a api.Actor) *api.Signature {
		return &api.Signature{User: a.User, Role: a.Role, Meaning: "approved", Reason: "short run from the local pool", At: time.Now()}
	}
	refused := []struct {
		name string
		cmd  api.Command
		by   api.Actor
	}{
		{"operator", api.Command{Name: api.CmdStart}, operator},
		{"operator override", api.Command{Name: api.CmdStart, Override: true, Signature: sig(operator)}, operator},
		{"supervisor override without signature", api.Command{Name: api.CmdStart, Override: true}, supervisor},
		{"signature of another user", api.Command{Name: api.CmdStart, Override: true, Signature: sig(api.Actor{User: "eve", Role: "supervisor"})}, supervisor},
	}
	for _, r := range refused {
		if err := c.Command(ctx, id, r.cmd, r.by); !errors.Is(err, api.ErrRefused) {
			t.Fatalf("%s: err %v, want ErrRefused", r.name, err)
		}
	}

	// A record left in the printer from elsewhere: line clearance fails, and
	// the supervisor's override does not change that.
	pc := l.Config.Devices.Printer
	var names []string
	fields := map[string]string{}
	for k := range pc.Fields {
		names = append(names, k)
		fields[k] = "X"
	}
	other, err := tij.New(tij.Options{Addr: l.Printer.Addr(), Job: pc.Job, Fields: names, IDField: pc.IDField})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Enqueue(ctx, printer.Record{ID: "LEFTOVER1", Fields: fields}); err != nil {
		t.Fatal(err)
	}
	_ = other.Close(ctx)
	err = c.Command(ctx, id, api.Command{Name: api.CmdStart, Override: true, Signature: sig(supervisor)}, supervisor)
	if !errors.Is(err, api.ErrRefused) || !strings.Contains(err.Error(), "printer queue") {
		t.Fatalf("override with a record in the printer: %v, want line clearance refused", err)
	}
	if ids := l.Printer.Discard(10); len(ids) != 1 {
		t.Fatalf("printer queue held %v", ids)
	}

	if err := c.Command(ctx, id, api.Command{Name: api.CmdStart, Reason: "short run", Override: true, Signature: sig(supervisor)}, supervisor); err != nil {
		t.Fatalf("supervisor override: %v", err)
	}
	waitState(t, l, 20*time.Second, packml.Execute, packml.Held)
	b, err := c.Batch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range b.History {
		found = found || h.By.User == supervisor.User && strings.Contains(h.Reason, "override e-signed by sam (supervisor, approved): 60 serial(s) available")
	}
	if !found {
		t.Fatalf("state history lacks the override: %+v", b.History)
	}
	var audits []journal.AuditEntry
	if err := l.Journal.Audit(ctx, journal.AuditFilter{Action: "batch.start.override"}, func(a journal.AuditEntry) error {
		audits = append(audits, a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(audits) != 1 || audits[0].Who != "sam" || audits[0].Role != "supervisor" || audits[0].Reason != "short run from the local pool" ||
		!strings.Contains(audits[0].Before, "below the start minimum 100") || !strings.Contains(audits[0].After, `"meaning":"approved"`) {
		t.Fatalf("override audit %+v", audits)
	}

	// The site server comes back: the batch completes and balances.
	l.Upstream.SetDown(false)
	runToComplete(t, l, id)
	rec, err := c.Reconciliation(ctx, id)
	if err != nil || !rec.Balanced {
		t.Fatalf("reconciliation %+v (%v)", rec, err)
	}
}
