package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/config"
)

// as runs the CLI as user with password.
func as(t *testing.T, user, pw string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("SERIALINE_USER", user)
	t.Setenv("SERIALINE_PASSWORD", pw)
	return runClient(t, args...)
}

// TestClientShift: the shift through the CLI — products, batch setup,
// line clearance, commands with reason codes, alarms (list, ack --all),
// an operator's sample, sign (production, then QA), report downloads
// (PDF, CSV, JSON), audit, users — with errors in plain words.
func TestClientShift(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{Shift: &config.Shift{}, Wrap: func(f *apitest.Fake) api.Controller { return apitest.ReportingFake{Fake: f} }})
	t.Setenv("SERIALINE_API", e.URL)
	adm, op, sup, qa := apitest.AdminPassword, apitest.OperatorPassword, apitest.SupervisorPassword, apitest.QAPassword
	plain := func(what, errs string) {
		t.Helper()
		if m := regexp.MustCompile(`(^|[ (])(auth|journal|records|line|api): `).FindString(errs); m != "" {
			t.Errorf("%s: package prefix %q in %q", what, m, errs)
		}
	}

	code, out, errs := as(t, "admin", adm, "products", "set", "09501101530010", "--name", "Ibuprofen 400 mg 50", "--profile", "eu-fmd",
		"--gcp-length", "7", "--min-shelf-life", "180", "--levels", "unit:1,case:12:sgtin:19501101530000,pallet:40", "--reason", "new product CC-9")
	if code != exitOK || !strings.Contains(out, "version 1") || !strings.Contains(out, "levels unit:1, case:12:sgtin:19501101530000, pallet:40") {
		t.Fatalf("products set: %d %q %q", code, out, errs)
	}
	code, _, errs = as(t, "admin", adm, "products", "set", "09501101530010", "--name", "Ibuprofen 400 mg 50", "--profile", "eu-fmd",
		"--gcp-length", "7", "--min-shelf-life", "180", "--levels", "unit:1,case:12:sgtin", "--reason", "r")
	if code != exitUsage || !strings.Contains(errs, "levels[1].gtin: required with id sgtin") {
		t.Fatalf("a case level identified by SGTIN without its GTIN: %d %q", code, errs)
	}
	code, out, _ = as(t, "otto", op, "products", "list")
	if code != exitOK || !strings.Contains(out, "Ibuprofen 400 mg 50") || !strings.Contains(out, "Paracetamol") {
		t.Fatalf("products list: %d %q", code, out)
	}
	code, _, errs = as(t, "otto", op, "products", "set", "09501101530010", "--name", "X", "--profile", "eu-fmd", "--gcp-length", "7", "--min-shelf-life", "1", "--reason", "r")
	if code != exitFailure || !strings.Contains(errs, "forbidden") {
		t.Fatalf("operator products set: %d %q", code, errs)
	}
	code, _, errs = as(t, "otto", op, "batch", "create", "--id", "C1", "--gtin", apitest.GTIN, "--lot", "L1", "--expiry", "240101", "--target", "10")
	if code != exitUsage || !strings.Contains(errs, "expiry 240101") {
		t.Fatalf("expired batch: %d %q", code, errs)
	}
	plain("expired batch", errs)
	code, out, errs = as(t, "otto", op, "batch", "create", "--id", "C1", "--gtin", apitest.GTIN, "--lot", "L1", "--expiry", "291231", "--target", "10")
	if code != exitOK || !strings.Contains(out, "batch C1") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	code, _, errs = as(t, "otto", op, "batch", "start", "C1")
	if code != exitFailure || !strings.Contains(errs, "line clearance not confirmed") || !strings.Contains(errs, "[refused]") {
		t.Fatalf("start without clearance: %d %q", code, errs)
	}
	plain("start", errs)
	if code, _, errs = as(t, "otto", op, "batch", "clearance", "C1"); code != exitUsage {
		t.Fatalf("clearance without --all: %d %q", code, errs)
	}
	if code, out, errs = as(t, "otto", op, "batch", "clearance", "C1", "--all"); code != exitOK || !strings.Contains(out, "confirmed") {
		t.Fatalf("clearance: %d %q %q", code, out, errs)
	}
	if code, _, errs = as(t, "otto", op, "batch", "start", "C1"); code != exitOK {
		t.Fatalf("start: %d %q", code, errs)
	}
	serials, _ := e.Fake.Produce(8, 4)
	code, _, errs = as(t, "otto", op, "batch", "hold", "C1")
	if code != exitUsage || !strings.Contains(errs, "needs a reason code") {
		t.Fatalf("hold without reason code: %d %q", code, errs)
	}
	if code, out, _ = as(t, "otto", op, "batch", "reasons"); code != exitOK || !strings.Contains(out, "jam") {
		t.Fatalf("reasons: %d %q", code, out)
	}
	if code, out, errs = as(t, "otto", op, "batch", "hold", "C1", "--reason-code", "jam", "--reason", "pack fallen"); code != exitOK || !strings.Contains(out, "Held") {
		t.Fatalf("hold: %d %q %q", code, out, errs)
	}
	if code, out, _ = as(t, "otto", op, "status"); code != exitOK || !regexp.MustCompile(`held by otto \(operator\) since \d{4}-\d\d-\d\d \d\d:\d\d \S+: .*pack fallen`).MatchString(out) {
		t.Fatalf("status of a held line: %d %q", code, out)
	}
	e.Fake.Raise(api.SeverityFault, "printer", "fault alarm=hold: INKOUT ink out", "system")
	code, out, _ = as(t, "otto", op, "alarms")
	if code != exitOK || !strings.Contains(out, "PRN-INK-OUT") || !strings.Contains(out, "new cartridge") || !strings.Contains(out, "NOT ACKNOWLEDGED") {
		t.Fatalf("alarms: %d %q", code, out)
	}
	if code, out, _ = as(t, "otto", op, "alarms", "ack", "--all"); code != exitOK || !strings.Contains(out, "1 alarm(s) acknowledged") {
		t.Fatalf("ack all: %d %q", code, out)
	}
	if code, out, _ = as(t, "otto", op, "alarms", "list", "--view", "history"); code != exitOK || !strings.Contains(out, "acknowledged by otto") {
		t.Fatalf("alarm history: %d %q", code, out)
	}
	as(t, "otto", op, "batch", "unhold", "C1")
	if code, out, errs = as(t, "otto", op, "unit", "sample", serials[0], "--reason", "retain sample"); code != exitOK || !strings.Contains(out, "sampled") {
		t.Fatalf("operator sample: %d %q %q", code, out, errs)
	}
	if code, out, errs = as(t, "otto", op, "batch", "complete", "C1", "--reason-code", "order-short"); code != exitOK {
		t.Fatalf("complete: %d %q %q", code, out, errs)
	}
	code, out, errs = as(t, "sam", sup, "sign", "C1", "--meaning", "approved", "--reason", "shift end")
	if code != exitOK || !strings.Contains(out, "production signature: Samuel Brandt") || !strings.Contains(out, "next: qa") {
		t.Fatalf("sign production: %d %q %q", code, out, errs)
	}
	code, out, errs = as(t, "quinn", qa, "sign", "C1", "--step", "qa", "--meaning", "released", "--reason", "QA")
	if code != exitOK || !strings.Contains(out, "RELEASED") {
		t.Fatalf("sign qa: %d %q %q", code, out, errs)
	}
	dir := t.TempDir()
	for _, f := range []struct{ format, head string }{{"pdf", "%PDF-"}, {"csv", "section,key"}, {"json", "{"}} {
		path := filepath.Join(dir, "C1."+f.format)
		if code, out, errs = as(t, "otto", op, "report", "C1", "--format", f.format, "--out", path); code != exitOK {
			t.Fatalf("report %s: %d %q %q", f.format, code, out, errs)
		}
		b, _ := os.ReadFile(path)
		if !strings.HasPrefix(string(b), f.head) {
			t.Errorf("report %s starts %.20q", f.format, b)
		}
	}
	code, out, _ = as(t, "sam", sup, "audit", "--action", "record.*")
	if code != exitOK || !strings.Contains(out, "record.clearance") || !strings.Contains(out, "record.signature") {
		t.Fatalf("audit: %d %q", code, out)
	}
	t.Setenv("SERIALINE_NEW_PASSWORD", "temporary-pass-42")
	if code, out, errs = as(t, "admin", adm, "users", "create", "nina", "--full-name", "Nina Vogel", "--role", "operator", "--lang", "de"); code != exitOK {
		t.Fatalf("users create: %d %q %q", code, out, errs)
	}
	code, out, _ = as(t, "admin", adm, "users")
	if code != exitOK || !strings.Contains(out, "Nina Vogel") || !strings.Contains(out, "must change password") {
		t.Fatalf("users list: %d %q", code, out)
	}
}

// TestClientProductsSet: products set on a product that exists changes
// only the flags given — the packaging levels and the largest batch
// survive a set without them — and says what changed; --levels "" removes
// the levels; a new product needs every field.
func TestClientProductsSet(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	t.Setenv("SERIALINE_API", e.URL)
	adm := apitest.AdminPassword
	const gtin = "09501101530010"
	code, _, errs := as(t, "admin", adm, "products", "set", gtin, "--name", "Ibuprofen", "--reason", "new")
	if code != exitUsage || !strings.Contains(errs, "needs --profile, --gcp-length, --min-shelf-life") {
		t.Fatalf("new product without every field: %d %q", code, errs)
	}
	code, out, errs := as(t, "admin", adm, "products", "set", gtin, "--name", "Ibuprofen 400 mg 50", "--profile", "eu-fmd", "--gcp-length", "7",
		"--min-shelf-life", "180", "--max-batch", "50000", "--levels", "unit:1,case:20,pallet:5", "--reason", "new product CC-9")
	if code != exitOK || !strings.Contains(out, "version 1") || !strings.Contains(out, "levels unit:1, case:20, pallet:5") {
		t.Fatalf("products set (new): %d %q %q", code, out, errs)
	}
	code, out, errs = as(t, "admin", adm, "products", "set", gtin, "--name", "Ibuprofen 400 mg 50", "--profile", "eu-fmd", "--gcp-length", "7",
		"--min-shelf-life", "200", "--reason", "CC-10 shelf life")
	if code != exitOK || !strings.Contains(out, "changed from version 1: min shelf life 180 -> 200\n") {
		t.Fatalf("products set without --levels: %d %q %q", code, out, errs)
	}
	code, out, _ = as(t, "otto", apitest.OperatorPassword, "products", "show", gtin)
	if code != exitOK || !strings.Contains(out, "version 2") || !strings.Contains(out, "levels unit:1, case:20, pallet:5") ||
		!strings.Contains(out, "max batch 50000") || !strings.Contains(out, "min shelf life 200 days") {
		t.Fatalf("version 2 lost fields not given: %d %q", code, out)
	}
	code, out, errs = as(t, "admin", adm, "products", "set", gtin, "--levels", "", "--reason", "CC-11 no aggregation")
	if code != exitOK || !strings.Contains(out, "changed from version 2: levels unit:1, case:20, pallet:5 -> none\n") || strings.Contains(out, "  levels ") {
		t.Fatalf(`products set --levels "": %d %q %q`, code, out, errs)
	}
	code, out, _ = as(t, "admin", adm, "products", "show", gtin)
	if code != exitOK || !strings.Contains(out, "version 3") || strings.Contains(out, "  levels ") || !strings.Contains(out, "max batch 50000") {
		t.Fatalf("version 3: %d %q", code, out)
	}
}

// TestClientPasswd: a user with a temporary password is told to run
// serialine passwd; passwd changes it, and the new password logs in.
func TestClientPasswd(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	t.Setenv("SERIALINE_API", e.URL)
	t.Setenv("SERIALINE_NEW_PASSWORD", "temporary-pass-42")
	if code, out, errs := as(t, "admin", apitest.AdminPassword, "users", "create", "nina", "--full-name", "Nina Vogel", "--role", "operator"); code != exitOK {
		t.Fatalf("users create: %d %q %q", code, out, errs)
	}
	code, _, errs := as(t, "nina", "temporary-pass-42", "status")
	if code != exitFailure || !strings.Contains(errs, "user nina must change the password first: serialine passwd --user nina, or log in on the HMI") {
		t.Fatalf("status with a temporary password: %d %q", code, errs)
	}
	t.Setenv("SERIALINE_NEW_PASSWORD", "")
	if code, _, errs = as(t, "nina", "temporary-pass-42", "passwd"); code != exitUsage || !strings.Contains(errs, "SERIALINE_NEW_PASSWORD") {
		t.Fatalf("passwd without a new password: %d %q", code, errs)
	}
	t.Setenv("SERIALINE_NEW_PASSWORD", "short")
	if code, _, errs = as(t, "nina", "temporary-pass-42", "passwd"); code != exitUsage || !strings.Contains(errs, "weak_password") {
		t.Fatalf("passwd with a weak password: %d %q", code, errs)
	}
	t.Setenv("SERIALINE_NEW_PASSWORD", "Kestrel-Line-Seven-7")
	code, out, errs := as(t, "nina", "temporary-pass-42", "passwd")
	if code != exitOK || !strings.Contains(out, "password of nina changed") {
		t.Fatalf("passwd: %d %q %q", code, out, errs)
	}
	if code, _, errs = as(t, "nina", "temporary-pass-42", "status"); code != exitFailure || !strings.Contains(errs, "unauthorized") {
		t.Fatalf("old password after passwd: %d %q", code, errs)
	}
	if code, out, errs = as(t, "nina", "Kestrel-Line-Seven-7", "status"); code != exitOK || !strings.Contains(out, "line ") {
		t.Fatalf("status with the new password: %d %q %q", code, out, errs)
	}
}

// TestClientShiftHandover: the shift report, a handover signed by the
// outgoing operator, refused to its writer, acknowledged by the incoming
// supervisor; the report then shows it acknowledged.
func TestClientShiftHandover(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{Shift: &config.Shift{}})
	t.Setenv("SERIALINE_API", e.URL)
	op, sup := apitest.OperatorPassword, apitest.SupervisorPassword
	code, out, errs := as(t, "otto", op, "shift", "report")
	if code != exitOK || !strings.Contains(out, "shift ") || !strings.Contains(out, "open alarms 0") || !strings.Contains(out, "no batch drew serials") {
		t.Fatalf("shift report: %d %q %q", code, out, errs)
	}
	if code, _, errs = as(t, "otto", op, "shift", "handover"); code != exitUsage {
		t.Fatalf("handover without a note: %d %q", code, errs)
	}
	if code, _, errs = as(t, "otto", op, "shift", "report", "--at", "yesterday"); code != exitUsage || !strings.Contains(errs, "RFC 3339") {
		t.Fatalf("report --at yesterday: %d %q", code, errs)
	}
	code, out, errs = as(t, "otto", op, "shift", "handover", "--note", "printer 2 ink low")
	m := regexp.MustCompile(`handover (\S+) of the shift from .*handed over by Otto Keller \(otto\)`).FindStringSubmatch(out)
	if code != exitOK || m == nil || !strings.Contains(out, "note: printer 2 ink low") || !strings.Contains(out, "NOT ACKNOWLEDGED") {
		t.Fatalf("handover: %d %q %q", code, out, errs)
	}
	if code, _, errs = as(t, "otto", op, "shift", "ack", m[1]); code != exitFailure || !strings.Contains(errs, "incoming shift acknowledges it") {
		t.Fatalf("ack by its writer: %d %q", code, errs)
	}
	if code, out, errs = as(t, "sam", sup, "shift", "ack", m[1]); code != exitOK || !strings.Contains(out, "acknowledged by Samuel Brandt (sam)") {
		t.Fatalf("ack: %d %q %q", code, out, errs)
	}
	if code, out, _ = as(t, "sam", sup, "shift", "handovers"); code != exitOK || !strings.Contains(out, "handover "+m[1]) || !strings.Contains(out, "acknowledged by Samuel Brandt") {
		t.Fatalf("handovers: %d %q", code, out)
	}
}
