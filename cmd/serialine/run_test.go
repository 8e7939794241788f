package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/epcis/epcistest"
)

func lineTestEnv(out, errw io.Writer) env {
	return env{stdin: strings.NewReader(""), stdout: out, stderr: errw, logger: slog.New(slog.DiscardHandler)}
}

// serialine run validates the config up front: every problem with its
// dotted path, exit 2; --check accepts the shipped example.
func TestRunConfigValidation(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("line: {name: x, company_prefix_len: 2}\njournal: {path: ''}\ndevices: {plc: {protocol: can}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := cmdRun(context.Background(), lineTestEnv(&out, &errb), []string{"--config", bad}); code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, errb.String())
	}
	for _, want := range []string{"line.company_prefix_len", "journal.path: must be set", "devices.plc.protocol", "devices.printer.job"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	ex := filepath.Join(dir, "example.yaml")
	data, _ := configs.Files.ReadFile("example.yaml")
	data = exampleFilesIn(t, data, dir) // --check checks the files it names
	if err := os.WriteFile(ex, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := cmdRun(context.Background(), lineTestEnv(&out, &errb), []string{"--config", ex, "--check"}); code != exitOK {
		t.Fatalf("example --check: exit %d: %s", code, errb.String())
	}
	if code := cmdRun(context.Background(), lineTestEnv(&out, &errb), nil); code != exitUsage {
		t.Fatalf("no --config: exit %d", code)
	}
}

// serialine demo --headless runs a small batch over loopback and exits 0
// only when it balances.
func TestDemoHeadless(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var out, errb bytes.Buffer
	db := filepath.Join(t.TempDir(), "demo.db")
	code := cmdDemo(context.Background(), lineTestEnv(&out, &errb), []string{"--units", "60", "--rate", "1800", "--headless", "--faults=false", "--db", db})
	if code != exitOK || !strings.Contains(out.String(), "BALANCED") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
}

// TestDemoEPCISOut: the demo against the Open-SCS site-server sim with
// EPCIS going to the capture interface writes every document the site
// server received, one file each; each validates against GS1's schema and
// the commissioning events cover exactly the commissioned units.
func TestDemoEPCISOut(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	sch := epcistest.Schema(t)
	var out, errb bytes.Buffer
	dir := t.TempDir()
	code := cmdDemo(context.Background(), lineTestEnv(&out, &errb), []string{"--units", "40", "--rate", "1800", "--headless",
		"--faults=false", "--db", filepath.Join(dir, "demo.db"), "--upstream", "open-scs", "--events", "capture", "--epcis-out", filepath.Join(dir, "epcis")})
	if code != exitOK || !strings.Contains(out.String(), "BALANCED") || !strings.Contains(out.String(), "site server open-scs opc.tcp://") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	files, err := filepath.Glob(filepath.Join(dir, "epcis", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no EPCIS documents written: %v\n%s", err, out.String())
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		epcistest.Validate(t, sch, data)
		var d epcis.Document
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		for _, e := range d.Body.EventList {
			if e.BizStep == "commissioning" {
				n += len(e.EPCList)
			}
		}
	}
	if n != 40 {
		t.Fatalf("commissioning events cover %d units, want the 40 commissioned", n)
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
