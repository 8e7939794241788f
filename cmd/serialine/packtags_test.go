package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/packtags"
)

// watchLines feeds what a command writes to lines, one line at a time, and
// keeps draining until the writer is closed.
func watchLines(t *testing.T) (io.WriteCloser, <-chan string) {
	t.Helper()
	pr, pw := io.Pipe()
	ch := make(chan string, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case ch <- sc.Text():
			default: // nobody listening any more: drop
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw, ch
}

// waitLine returns the first line containing want (and every line before).
func waitLine(ctx context.Context, t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before a line with %q", want)
			}
			t.Log(l)
			if strings.Contains(l, want) {
				return l
			}
		case <-ctx.Done():
			t.Fatalf("no line with %q: %v", want, ctx.Err())
		}
	}
}

// readPackTags reads every PackTag over a real OPC UA session (gopcua's
// client), resolving the namespace index from its URI as a SCADA would.
func readPackTags(ctx context.Context, t *testing.T, endpoint string) map[string]any {
	t.Helper()
	c, err := opcua.NewClient(endpoint, opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect %s: %v", endpoint, err)
	}
	defer c.Close(context.Background())
	ns, err := c.FindNamespace(ctx, packtags.Namespace)
	if err != nil {
		t.Fatalf("namespace %s: %v", packtags.Namespace, err)
	}
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth}
	for _, tag := range packtags.Tags() {
		req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: ua.NewStringNodeID(ns, packtags.Root+"."+tag), AttributeID: ua.AttributeIDValue})
	}
	resp, err := c.Read(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for i, r := range resp.Results {
		if r.Status != ua.StatusOK {
			t.Fatalf("%s: %v", packtags.Tags()[i], r.Status)
		}
		v := r.Value.Value()
		if lt, ok := v.(*ua.LocalizedText); ok {
			v = lt.Text
		}
		out[packtags.Tags()[i]] = v
	}
	return out
}

func endpointOf(t *testing.T, line string) string {
	t.Helper()
	i := strings.Index(line, "opc.tcp://")
	if i < 0 {
		t.Fatalf("no endpoint in %q", line)
	}
	return strings.Fields(line[i:])[0]
}

// TestDemoPackTags: `serialine demo` serves the PackTags on a free port
// and prints the endpoint with the other addresses; a SCADA client reads
// the completed batch's PackML state and counters.
func TestDemoPackTags(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	out, lines := watchLines(t)
	errw, _ := watchLines(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	done := make(chan int, 1)
	go func() {
		done <- cmdDemo(dctx, lineTestEnv(out, errw), []string{"--units", "40", "--rate", "1800", "--faults=false",
			"--db", db, "--listen", "127.0.0.1:0"})
		out.Close()
		errw.Close()
	}()
	ep := endpointOf(t, waitLine(ctx, t, lines, "PackTags (OPC UA, read-only) opc.tcp://"))
	waitLine(ctx, t, lines, "BALANCED")
	// The tags follow the controller every 500 ms: wait for the completed state.
	var v map[string]any
	for {
		v = readPackTags(ctx, t, ep)
		if v["BaseStateMachine.MachineState.ExecuteState.CurrentState"] == "Complete" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("tags never showed Complete: %v", v)
		case <-time.After(100 * time.Millisecond):
		}
	}
	good, _ := v["Serialine.ProdGoodCount"].(int32)
	if v["Serialine.StateCurrent"] != int32(17) || good < 40 || v["Serialine.BatchTarget"] != int32(40) || v["Serialine.BatchID"] == "" ||
		v["Status.UnitModeCurrent"] != int32(1) {
		t.Fatalf("tags after the batch: %v", v)
	}
	stop()
	if code := <-done; code != exitOK {
		t.Fatalf("demo exit %d", code)
	}
}

// freePort returns a loopback address nobody listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// runConfig is configs/demo.yaml with its journal in dir, the API off,
// every device and the site server on loopback ports nobody listens on,
// and extra appended.
func runConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	data, err := configs.Files.ReadFile("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for old, repl := range map[string]string{
		"path: serialine-demo.db":    "path: " + filepath.Join(dir, "journal.db"),
		"listen: 127.0.0.1:8080":     "listen: ''",
		"url: http://127.0.0.1:8600": "url: http://" + freePort(t),
		"address: 127.0.0.1:1502":    "address: " + freePort(t),
		"address: 127.0.0.1:3003":    "address: " + freePort(t),
		"address: 127.0.0.1:2323":    "address: " + freePort(t),
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("demo.yaml lacks %q", old)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	path := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(path, []byte(s+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunPackTags: `serialine run` with `packtags: {enabled: true}` serves
// the controller's PackML state over OPC UA (the devices are unreachable,
// so the line is Idle with its devices down).
func TestRunPackTags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := runConfig(t, dir, "packtags:\n  enabled: true\n  listen: 127.0.0.1:0\n  interval: 50ms\n")
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	out, lines := watchLines(t)
	errw, _ := watchLines(t)
	done := make(chan int, 1)
	go func() {
		done <- cmdRun(rctx, lineTestEnv(out, errw), []string{"--config", cfg})
		out.Close()
		errw.Close()
	}()
	ep := endpointOf(t, waitLine(ctx, t, lines, "PackTags (OPC UA, read-only) opc.tcp://"))
	var v map[string]any
	for {
		v = readPackTags(ctx, t, ep)
		if down, _ := v["Serialine.DevicesDown"].(int32); down >= 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("tags never showed the unreachable devices: %v", v)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if v["BaseStateMachine.MachineState.ExecuteState.CurrentState"] != "Idle" || v["Serialine.StateCurrent"] != int32(4) || v["Status.UnitModeCurrent"] != int32(1) {
		t.Fatalf("tags: %v", v)
	}
	stop()
	if code := <-done; code != exitOK {
		t.Fatalf("run exit %d", code)
	}
}

// TestRunPackTagsConfig: the section is optional and off by default; its
// mistakes are reported with their dotted paths next to line/config's, and
// the rest of the file keeps its line numbers.
func TestRunPackTagsConfig(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, extra string
		enabled     bool
		want        []string // stderr; nil = --check passes
	}{
		{"absent", "", false, nil},
		{"off", "packtags:\n  enabled: false\n", false, nil},
		{"empty", "packtags:\n", false, nil},
		{"on", "packtags: {enabled: true, listen: '0.0.0.0:4841'}\n", true, nil},
		{"no listen", "packtags:\n  enabled: true\n", false, []string{"packtags.listen: must be set when enabled"}},
		{"bad listen", "packtags:\n  enabled: true\n  listen: nowhere\n", false, []string{`packtags.listen: "nowhere" is not host:port`}},
		{"unknown key", "packtags:\n  enabled: true\n  port: 4841\n", false, []string{`packtags.port: unknown key "port" (known here:`}},
		{"scalar", "packtags: yes\n", false, []string{"line @: packtags: want a mapping (indented \"key: value\" lines, or {key: value}), got \"yes\""}},
		{"with config problems", "packtags:\n  enabled: true\n  interval: -1s\n", false, []string{"packtags.interval: must be >= 0", "packtags.listen: must be set when enabled"}},
		{"speeds", "packtags: {enabled: true, listen: '0.0.0.0:4841', design_speed: -1, speed: -2}\n", false,
			[]string{"packtags.design_speed: must be >= 0", "packtags.speed: must be >= 0"}},
		{"commands without certificate", "packtags: {enabled: true, listen: '0.0.0.0:4841', commands: true}\n", false,
			[]string{"packtags.commands: needs cert_file and key_file"}},
		{"key without certificate", "packtags: {enabled: true, listen: '0.0.0.0:4841', key_file: k.pem}\n", false,
			[]string{"packtags.cert_file: cert_file and key_file go together"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := runConfig(t, dir, c.extra)
			var out, errb strings.Builder
			code := cmdRun(context.Background(), lineTestEnv(&out, &errb), []string{"--config", path, "--check"})
			if c.want == nil {
				if code != exitOK {
					t.Fatalf("exit %d: %s", code, errb.String())
				}
				cfg, err := config.Load(path)
				if err != nil || cfg.PackTags.Enabled != c.enabled {
					t.Fatalf("packtags %+v, %v; want enabled=%v", cfg.PackTags, err, c.enabled)
				}
				return
			}
			if code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, errb.String())
			}
			for _, w := range c.want {
				if strings.Contains(w, "line @:") { // the line the extra text landed on
					data, _ := os.ReadFile(path)
					n := strings.Count(string(data[:strings.Index(string(data), strings.TrimSpace(c.extra))]), "\n") + 1
					w = strings.Replace(w, "line @:", fmt.Sprintf("line %d:", n), 1)
				}
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}
