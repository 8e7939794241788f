package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
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
