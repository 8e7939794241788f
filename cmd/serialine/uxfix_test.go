package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/store/journal"
)

// TestPrintBatchCounts: api.Counters.Drawn is the cumulative count (as the
// controller and the reconciliation report it); printBatch must not add
// it to the other states again.
func TestPrintBatchCounts(t *testing.T) {
	for _, tc := range []struct {
		c    api.Counters
		want string
	}{
		{api.Counters{Drawn: 1038, Commissioned: 1000, Rejected: 37, Returned: 1},
			"serials drawn 1038: commissioned 1000  rejected 37  sampled 0  returned 1  uncertain 0  in flight 0  drawn ahead 0"},
		{api.Counters{Drawn: 670, Queued: 10, Printed: 3, Verified: 1, Commissioned: 600, Rejected: 6},
			"serials drawn 670: commissioned 600  rejected 6  sampled 0  returned 0  uncertain 0  in flight 14  drawn ahead 50"},
	} {
		var b bytes.Buffer
		printBatch(&b, api.Batch{BatchDef: api.BatchDef{ID: "B"}, State: "Execute", Counters: tc.c})
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("printBatch(%+v) =\n%s\nwant it to contain %q", tc.c, b.String(), tc.want)
		}
	}
}

// TestUnitCodeMismatchAndSaleable: `unit CODE` reports a code whose lot
// differs from what was printed as NOT OURS (exit 1) naming the element,
// and says a rejected unit is not saleable.
func TestUnitCodeMismatchAndSaleable(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	t.Setenv("SERIALINE_API", e.URL)
	t.Setenv("SERIALINE_USER", "otto")
	t.Setenv("SERIALINE_PASSWORD", apitest.OperatorPassword)
	if code, out, errs := runClient(t, "batch", "create", "--id", "B1", "--gtin", apitest.GTIN, "--lot", "L1", "--expiry", "281231", "--target", "10", "--profile", "eu-fmd"); code != exitOK {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	if code, out, errs := runClient(t, "batch", "start", "B1"); code != exitOK {
		t.Fatalf("start: %d %q %q", code, out, errs)
	}
	serials, err := e.Fake.Produce(3, 3)
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := runClient(t, "unit", "(01)"+apitest.GTIN+"(17)281231(10)FAKE(21)"+serials[0])
	if code != exitFailure || !strings.Contains(out, "NOT OURS") || !strings.Contains(out, "(10) scanned FAKE, printed L1") {
		t.Errorf("wrong lot: %d %q", code, out)
	}
	code, out, _ = runClient(t, "unit", serials[2])
	if code != exitOK || !strings.Contains(out, "NOT SALEABLE: rejected") {
		t.Errorf("rejected unit: %d %q", code, out)
	}
	code, out, _ = runClient(t, "unit", "(01)"+apitest.GTIN+"(17)281231(10)L1(21)"+serials[0])
	if code != exitOK || !strings.Contains(out, "saleable (commissioned)") {
		t.Errorf("good unit: %d %q", code, out)
	}
}

// TestDemoBusyListen: a busy --listen address ends the demo with exit 1
// before any one-time password is printed; the default address falls back
// to a free port and says so.
func TestDemoBusyListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, out, errs := runClient(t, "demo", "--listen", busy.Addr().String(), "--units", "5")
	if code != exitFailure || strings.Contains(out+errs, "one-time password") || !strings.Contains(errs, "--listen 127.0.0.1:0") {
		t.Fatalf("demo on a busy port: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	ln, note, err := listenHMI(busy.Addr().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() == busy.Addr().String() || !strings.Contains(note, "is busy") || !strings.Contains(note, ln.Addr().String()) {
		t.Fatalf("fallback: %v %q", ln.Addr(), note)
	}
	if _, _, err := listenHMI(busy.Addr().String(), true); err == nil {
		t.Fatal("explicit busy address accepted")
	}
}

// TestHelpExitsZero: -h and --help exit 0 with "usage: serialine …" and a
// flag list for every subcommand; sim -h lists the simulators.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"encode"}, {"run"}, {"demo"}, {"journal", "verify"}, {"journal", "export"}, {"journal"},
		{"sim", "plc"}, {"sim", "printer"}, {"sim", "camera"}, {"sim", "upstream"},
		{"batch"}, {"status"}, {"unit"},
	} {
		for _, h := range []string{"-h", "--help"} {
			code, _, errs := runClient(t, append(args, h)...)
			if code != exitOK || !strings.Contains(errs, "usage: serialine "+args[0]) || strings.Contains(errs, "Usage of") {
				t.Errorf("%q %s: exit %d\n%s", args, h, code, errs)
			}
			if args[0] != "journal" || len(args) > 1 {
				if !strings.Contains(errs, "-") {
					t.Errorf("%q %s: no flag list\n%s", args, h, errs)
				}
			}
		}
	}
	code, _, errs := runClient(t, "sim", "-h")
	if code != exitOK || !strings.Contains(errs, "plc") || !strings.Contains(errs, "upstream") || !strings.Contains(errs, "serialine sim SIMULATOR -h") {
		t.Errorf("sim -h: exit %d\n%s", code, errs)
	}
	if code, _, _ := runClient(t, "sim", "nope"); code != exitUsage {
		t.Errorf("sim nope: exit %d", code)
	}
	if code, _, _ := runClient(t, "demo", "--nope"); code != exitUsage {
		t.Errorf("demo --nope: exit %d", code)
	}
}

// exampleFilesIn points the example config's /etc/serialine and
// /var/lib/serialine paths into dir and creates the files it names there.
func exampleFilesIn(t *testing.T, data []byte, dir string) []byte {
	t.Helper()
	s := strings.NewReplacer("/etc/serialine/", dir+"/", "/var/lib/serialine/", dir+"/").Replace(string(data))
	for _, f := range []string{"site-token", "site-ca.pem", "hmi.crt", "hmi.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []byte(s)
}

// TestRunCheckFiles: run --check reports every file the config names that
// is missing, at once, with its dotted path (and run itself refuses the
// same config before opening anything).
func TestRunCheckFiles(t *testing.T) {
	dir := t.TempDir()
	data, _ := configs.Files.ReadFile("example.yaml")
	missing := filepath.Join(dir, "missing")
	s := strings.NewReplacer("/etc/serialine/", missing+"/", "/var/lib/serialine/", missing+"/").Replace(string(data))
	ex := filepath.Join(dir, "example.yaml")
	if err := os.WriteFile(ex, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--config", ex, "--check"}, {"--config", ex}} {
		var out, errb bytes.Buffer
		code := cmdRun(context.Background(), lineTestEnv(&out, &errb), args)
		if code != exitUsage || strings.Contains(out.String(), "config OK") {
			t.Fatalf("%q: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		for _, want := range []string{"journal.path: directory", "upstream.token_file: cannot read", "upstream.ca_file: cannot read",
			"api.cert_file: cannot read", "api.key_file: cannot read", "api.users_file: directory"} {
			if !strings.Contains(errb.String(), want) {
				t.Errorf("%q: stderr lacks %q:\n%s", args, want, errb.String())
			}
		}
		if strings.Count(errb.String(), "open "+missing) > 0 {
			t.Errorf("%q: repeats \"open FILE\":\n%s", args, errb.String())
		}
	}
}

// TestPrintReconciliationInProgress: a running batch is "in progress", not
// "DOES NOT BALANCE"; a balanced batch with deviations lists them.
func TestPrintReconciliationInProgress(t *testing.T) {
	var b bytes.Buffer
	printReconciliation(&b, api.Reconciliation{Batch: "B", State: "Execute", Drawn: 80, Commissioned: 10, InFlight: 70,
		Differences: []api.Unit{{Serial: "S1", State: "queued"}}})
	if !strings.Contains(b.String(), "IN PROGRESS") || strings.Contains(b.String(), "DOES NOT BALANCE") {
		t.Errorf("running batch:\n%s", b.String())
	}
	b.Reset()
	printReconciliation(&b, api.Reconciliation{Batch: "B", State: "Complete", Final: true, Balanced: true, Drawn: 10, Commissioned: 9, Rejected: 1,
		Deviations: 1, Differences: []api.Unit{{Serial: "S9", State: "rejected", Reason: "reject not confirmed"}}})
	if !strings.Contains(b.String(), "BALANCED") || !strings.Contains(b.String(), "DEVIATIONS: 1") || !strings.Contains(b.String(), "S9") {
		t.Errorf("balanced with a deviation:\n%s", b.String())
	}
}

// TestClientRefusedHint: a controller that is not listening gets a hint
// where the address comes from.
func TestClientRefusedHint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	code, _, errs := runClient(t, "status", "--api", "http://"+addr, "--token", "t")
	if code != exitFailure || !strings.Contains(errs, "is the controller running?") {
		t.Errorf("refused: %d %q", code, errs)
	}
	if code, _, _ := runClient(t, "status", "--api", addr, "--token", "t"); code != exitUsage {
		t.Errorf("--api without scheme: exit %d, want %d", code, exitUsage)
	}
}

// TestJournalVerifyInUse: verify on a journal a running process holds
// says so instead of "timeout".
func TestJournalVerifyInUse(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	j, err := journal.Open(db, &journal.Options{LockTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		j.Close()
		jj, err := journal.Open(db, &journal.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer jj.Close()
		if rep, err := jj.Verify(context.Background()); err != nil || !rep.OK() {
			t.Errorf("journal verify: %v %v", err, rep.Problems)
		}
	}()
	code, _, errs := runClient(t, "journal", "verify", "--db", db)
	if code != exitFailure || !strings.Contains(errs, "is in use") {
		t.Errorf("verify on a journal in use: %d %q", code, errs)
	}
}

// TestEncodeExtraArgument names the unexpected argument.
func TestEncodeExtraArgument(t *testing.T) {
	code, _, errs := runClient(t, "encode", "(01)09501101530003(21)A", "B")
	if code != exitUsage || !strings.Contains(errs, `unexpected argument "B"`) || strings.Contains(errs, "usage:") {
		t.Errorf("encode A B: %d %q", code, errs)
	}
}
