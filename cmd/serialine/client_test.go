package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api/apitest"

	"net"

	"github.com/serialine/serialine/line/api"
)

func runClient(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, logger: slog.New(slog.DiscardHandler)}, args)
	return code, out.String(), errb.String()
}

// TestClientAgainstAPI drives a batch through the CLI against a real API
// server on loopback (with the in-memory test controller behind it).
func TestClientAgainstAPI(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{})
	t.Setenv("SERIALINE_API", e.URL)
	t.Setenv("SERIALINE_USER", "otto")
	t.Setenv("SERIALINE_PASSWORD", apitest.OperatorPassword)

	code, out, errs := runClient(t, "batch", "create", "--id", "B1", "--gtin", apitest.GTIN, "--lot", "L1", "--expiry", "281231", "--target", "10", "--profile", "eu-fmd")
	if code != exitOK || !strings.Contains(out, "batch B1  state Idle") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	code, out, errs = runClient(t, "batch", "start", "B1", "--reason", "shift 2")
	if code != exitOK || out != "batch B1: start accepted, state Execute\n" {
		t.Fatalf("start: %d %q %q", code, out, errs)
	}
	serials, err := e.Fake.Produce(5, 5)
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = runClient(t, "status")
	if code != exitOK || !strings.Contains(out, "state Execute") || !strings.Contains(out, "serials drawn 5: commissioned 4  rejected 1") || !strings.Contains(out, "device camera") {
		t.Fatalf("status: %d %q", code, out)
	}
	code, out, _ = runClient(t, "status", "--json")
	if code != exitOK || !strings.Contains(out, `"state": "Execute"`) {
		t.Fatalf("status --json: %d %q", code, out)
	}
	code, out, errs = runClient(t, "batch", "unhold", "B1")
	if code != exitFailure || !strings.Contains(errs, "invalid_state") {
		t.Fatalf("unhold in Execute: %d %q %q", code, out, errs)
	}
	code, _, errs = runClient(t, "batch", "abort", "B1")
	if code != exitFailure || !strings.Contains(errs, "forbidden") {
		t.Fatalf("operator abort: %d %q", code, errs)
	}
	code, out, _ = runClient(t, "batch", "hold", "B1")
	if code != exitOK || !strings.Contains(out, "state Held") {
		t.Fatalf("hold: %d %q", code, out)
	}
	code, out, _ = runClient(t, "batch", "unhold", "B1")
	if code != exitOK || !strings.Contains(out, "state Execute") {
		t.Fatalf("unhold: %d %q", code, out)
	}
	code, out, _ = runClient(t, "batch", "complete", "B1")
	if code != exitOK || !strings.Contains(out, "state Complete") {
		t.Fatalf("complete: %d %q", code, out)
	}
	code, out, _ = runClient(t, "batch", "reconciliation", "B1")
	if code != exitOK || !strings.Contains(out, "drawn 5 = commissioned 4 + rejected 1") || !strings.Contains(out, "BALANCED") {
		t.Fatalf("reconciliation: %d %q", code, out)
	}
	code, out, _ = runClient(t, "batch", "list")
	if code != exitOK || !strings.Contains(out, "B1") || !strings.Contains(out, "Complete") {
		t.Fatalf("list: %d %q", code, out)
	}
	// units by serial and by scanned code
	code, out, _ = runClient(t, "unit", serials[0])
	if code != exitOK || !strings.Contains(out, "unit "+serials[0]) || !strings.Contains(out, "state commissioned") ||
		!strings.Contains(out, "printed (01) "+apitest.GTIN) || !strings.Contains(out, "(21) "+serials[0]) {
		t.Fatalf("unit: %d %q", code, out)
	}
	code, out, _ = runClient(t, "unit", "]d201"+apitest.GTIN+"21"+serials[4])
	if code != exitOK || !strings.Contains(out, "state rejected (low-grade)") {
		t.Fatalf("unit by code: %d %q", code, out)
	}
	code, out, _ = runClient(t, "unit", "(01)09501101530010(21)"+serials[0])
	if code != exitFailure || !strings.Contains(out, "NOT OURS") {
		t.Fatalf("foreign code: %d %q", code, out)
	}
	code, _, errs = runClient(t, "unit", "NOSUCH")
	if code != exitFailure || !strings.Contains(errs, `serial "NOSUCH" was never seen on this line (not in the journal or its archives) [not_found]`) {
		t.Fatalf("unknown unit: %d %q", code, errs)
	}
	code, _, errs = runClient(t, "unit", "(01)09501101530004(21)X")
	if code != exitUsage || !strings.Contains(errs, "bad_request") {
		t.Fatalf("bad check digit: %d %q", code, errs)
	}
	// bad usage and bad credentials
	for _, args := range [][]string{{"batch"}, {"batch", "explode", "B1"}, {"batch", "hold"}, {"batch", "list", "extra"}, {"unit"}, {"status", "x"}, {"batch", "--nope"}} {
		if code, _, _ := runClient(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
	code, _, errs = runClient(t, "status", "--password", "wrong-password")
	if code != exitFailure || !strings.Contains(errs, "unauthorized") {
		t.Fatalf("wrong password: %d %q", code, errs)
	}
	t.Setenv("SERIALINE_PASSWORD", "")
	code, _, errs = runClient(t, "status")
	if code != exitUsage || !strings.Contains(errs, "credentials needed") {
		t.Fatalf("no credentials: %d %q", code, errs)
	}
	code, _, errs = runClient(t, "status", "--token", e.Tokens["sam"])
	if code != exitOK {
		t.Fatalf("token: %d %q", code, errs)
	}
	code, _, errs = runClient(t, "status", "--api", "ftp://x", "--token", "t")
	if code != exitUsage || !strings.Contains(errs, "--api") {
		t.Fatalf("bad api url: %d %q", code, errs)
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": true, "127.8.0.1": true, "::1": true, "localhost": true, "LocalHost": true,
		"10.0.0.5": false, "line-pc.plant.local": false, "": false, "0.0.0.0": false} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestClientBatchNHRN: `batch create --nhrn` carries the national number of
// a profile that needs one; without it the API's refusal names the AI.
func TestClientBatchNHRN(t *testing.T) {
	e := apitest.NewEnv(t, apitest.EnvOptions{NoRecords: true}) // profiles chosen freely, without the product master
	t.Setenv("SERIALINE_API", e.URL)
	t.Setenv("SERIALINE_USER", "otto")
	t.Setenv("SERIALINE_PASSWORD", apitest.OperatorPassword)
	base := []string{"batch", "create", "--id", "DE1", "--gtin", apitest.GTIN, "--lot", "L1", "--expiry", "281231", "--target", "10", "--profile", "eu-fmd-de"}
	code, out, errs := runClient(t, base...)
	if code == exitOK || !strings.Contains(errs, "nhrn: required by profile eu-fmd-de (AI 710)") {
		t.Fatalf("create without --nhrn: %d %q %q", code, out, errs)
	}
	code, out, errs = runClient(t, append(base, "--nhrn", "04150127")...)
	if code != exitOK || !strings.Contains(out, "profile eu-fmd-de  nhrn 04150127") {
		t.Fatalf("create --nhrn: %d %q %q", code, out, errs)
	}
	code, out, _ = runClient(t, "batch", "show", "DE1")
	if code != exitOK || !strings.Contains(out, "nhrn 04150127") {
		t.Fatalf("show: %d %q", code, out)
	}
}

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
