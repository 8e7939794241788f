package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/store/journal"
)

// TestSplitDeployment runs a real batch on a split deployment: every
// simulator its own process (serialine sim upstream|plc|printer|camera,
// this test binary re-executed), wired by the line bus as linesim wires
// them in one process — the PLC's products are the printer's photo-eye,
// each print goes under the camera (which renders and decodes it) and into
// the PLC's gate log — and the controller under serialine run, driven
// through its API and CLI as an operator would. Every process then stops
// on SIGTERM and exits 0; the journal agrees with the PLC simulator's gate
// log product by product, the batch balances and journal verify passes.
func TestSplitDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute) // bounds every wait below
	defer cancel()
	dir := t.TempDir()
	// 600 units/min with the gate 20 products (2 s) downstream: a line the
	// 2-core machine keeps up with while other tests run.
	const (
		rate     = 10.0
		distance = 20
		units    = 60
		batchID  = "SPLIT-1"
	)
	cfg, err := linesim.DemoConfig()
	if err != nil {
		t.Fatal(err)
	}
	linesim.FitSplit(&cfg, rate, distance)

	up := startProc(ctx, t, "upstream", "sim", "upstream", "--listen", "127.0.0.1:0", "--token", cfg.Upstream.Token)
	upURL := up.value(ctx, t, "upstream site server listening on ")

	// The PLC's gate log subscribes to the printer's bus and the
	// printer's photo-eye to the PLC's: with every port chosen by the
	// kernel one of the two addresses is not known when its subscriber
	// starts. The gate log's link goes through a port of the test's
	// (refusing until the printer's bus is up, then forwarding to it);
	// the PLC finds it by its reconnects.
	relay := devicetest.NewPort(t, func(net.Conn) {})
	gateLog := filepath.Join(dir, "gates.jsonl")
	plc := startProc(ctx, t, "plc", "sim", "plc", "--modbus", "127.0.0.1:0", "--opcua", "",
		"--rate", fmt.Sprint(rate), "--gate-distance", fmt.Sprint(distance),
		"--slots", fmt.Sprint(cfg.Devices.PLC.Modbus.Registers.Slots), "--controller-timeout", "3s",
		"--bus", "127.0.0.1:0", "--prints", relay.Addr(), "--gate-log", gateLog)
	mbAddr := plc.value(ctx, t, "modbus tcp: ")
	plcBus := plc.value(ctx, t, "plc bus on ")

	// The in-process line's realistic timing: acks 2–10 ms, a 12 mm code
	// on products every 120 mm.
	printer := startProc(ctx, t, "printer", "sim", "printer", "--tcp", "127.0.0.1:0", "--bus", "127.0.0.1:0", "--photo-eye", plcBus,
		"--ack-delay", "2ms", "--ack-jitter", "8ms", "--print-time", printersim.PrintTimeAt(12, 120*rate).String(),
		"--queue", fmt.Sprint(max(16, cfg.Cycle.PrinterDepth+4)), "--seed", strconv.FormatInt(time.Now().UnixNano(), 10))
	printerAddr := printer.value(ctx, t, "printer text protocol on ")
	printerBus := printer.value(ctx, t, "printer bus on ")
	relay.Become(devicetest.Proxy(printerBus))

	camera := startProc(ctx, t, "camera", "sim", "camera", "--tcp", "127.0.0.1:0", "--latency", "5ms", "--shots", printerBus)
	cameraAddr := camera.value(ctx, t, "camera (dmcc) on ")

	// Every link is up before the line runs (a print nobody saw would be
	// missing from the gate log).
	printer.value(ctx, t, "photo-eye: products from the plc bus at "+plcBus)
	camera.value(ctx, t, "shots: prints from the printer bus at "+printerBus)
	plc.value(ctx, t, "gate log: prints from the printer bus at "+relay.Addr())

	db := filepath.Join(dir, "line.db")
	cfg.Journal.Path = db
	cfg.Upstream.URL = upURL
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Devices.PLC.Modbus.Address = mbAddr
	cfg.Devices.Printer.Address = printerAddr
	cfg.Devices.Camera.DMCC.Address = cameraAddr
	if err := cfg.Validate().Err(); err != nil {
		t.Fatal(err)
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "line.yaml")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctrl := startProc(ctx, t, "run", "run", "--config", cfgPath)
	base := "http://" + ctrl.value(ctx, t, "operator page and API on ")
	first := ctrl.errs.wait(ctx, t, "first start: user admin, one-time password ")
	otp := regexp.MustCompile(`one-time password (\S+)`).FindStringSubmatch(first)[1]

	// The first login must change the one-time password; then the shift
	// goes through the CLI.
	cl := &apiClient{base: base, http: &http.Client{Timeout: 30 * time.Second}}
	var lr api.LoginResponse
	if err := cl.do(ctx, "POST", "/api/v1/login", map[string]string{"user": "admin", "password": otp}, &lr, nil); err != nil {
		t.Fatal(err)
	}
	cl.token = lr.Token
	const pw = "Split-Line-2041"
	if err := cl.do(ctx, "POST", "/api/v1/password", map[string]string{"old": otp, "new": pw}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.do(ctx, "POST", "/api/v1/login", map[string]string{"user": "admin", "password": pw}, &lr, nil); err != nil {
		t.Fatal(err)
	}
	cl.token = lr.Token
	t.Setenv("SERIALINE_API", base)
	t.Setenv("SERIALINE_USER", "admin")
	t.Setenv("SERIALINE_PASSWORD", pw)
	cli := func(args ...string) string {
		t.Helper()
		code, out, errs := runClient(t, args...)
		if code != exitOK {
			t.Fatalf("serialine %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	cli("products", "set", linesim.DemoGTIN, "--name", "Split tablets 500 mg 20", "--profile", "eu-fmd", "--gcp-length", "7",
		"--min-shelf-life", "180", "--levels", "unit:1,case:12", "--reason", "split deployment product")
	cli("batch", "create", "--id", batchID, "--gtin", linesim.DemoGTIN, "--lot", "S1", "--expiry", time.Now().AddDate(2, 0, 0).Format("060102"),
		"--target", fmt.Sprint(units))
	cli("batch", "clearance", batchID, "--all")
	cli("batch", "start", batchID)
	waitBatchState(ctx, t, cl, batchID, "Complete")
	rec := cli("batch", "reconciliation", batchID)
	if !strings.Contains(rec, "BALANCED") {
		t.Fatalf("reconciliation:\n%s", rec)
	}

	ctrl.stop(ctx, t)
	camera.stop(ctx, t)
	printer.stop(ctx, t)
	plc.stop(ctx, t)
	plc.value(ctx, t, "gate log (")
	up.stop(ctx, t)

	// The CLI's check for a split deployment: journal against gate log.
	var tout, terr strings.Builder
	te := env{stdin: strings.NewReader(""), stdout: &tout, stderr: &terr, logger: slog.New(slog.DiscardHandler)}
	if code := cmdJournal(ctx, te, []string{"truth", "--db", db, "--batch", batchID, "--gate-log", gateLog}); code != exitOK {
		t.Fatalf("serialine journal truth: exit %d\n%s%s", code, tout.String(), terr.String())
	}
	recs, err := loadGateLog(gateLog)
	if err != nil || len(recs) == 0 {
		t.Fatalf("gate log: %d records, %v", len(recs), err)
	}
	j, err := journal.Open(db, &journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	truth, err := linesim.CheckTruth(j, batchID, recs)
	if err != nil {
		t.Fatal(err)
	}
	commissioned := 0
	err = j.Units(batchID, func(u journal.Unit) error {
		if u.State == journal.Commissioned {
			commissioned++
		}
		return nil
	})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gate truth: %s; %d commissioned", truth, commissioned)
	if !truth.OK() {
		t.Fatalf("the journal disagrees with the PLC simulator's gate log:\n%s", strings.Join(truth.Violations, "\n"))
	}
	if commissioned < units || truth.Passed != commissioned {
		t.Fatalf("%d units commissioned, %d printed products passed the gate; want both the same and >= %d", commissioned, truth.Passed, units)
	}
	if code, out, errs := runClient(t, "journal", "verify", "--db", db); code != exitOK {
		t.Fatalf("journal verify: exit %d\n%s%s", code, out, errs)
	}
}

// waitBatchState follows the API's status stream until batch id reaches
// state; any other final state, or a hold, fails the test.
func waitBatchState(ctx context.Context, t *testing.T, cl *apiClient, id, state string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", cl.base+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cl.token)
	resp, err := http.DefaultClient.Do(req) // no timeout: ctx bounds it
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	last := ""
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var v api.StatusView
		if err := json.Unmarshal([]byte(data), &v); err != nil || v.Batch == nil || v.Batch.ID != id {
			continue
		}
		if st := v.Batch.State; st != last {
			last = st
			t.Logf("batch %s: %s (commissioned %d, rejected %d)", id, st, v.Batch.Counters.Commissioned, v.Batch.Counters.Rejected)
		}
		switch v.Batch.State {
		case state:
			return
		case "Held", "Stopped", "Aborted", "Complete":
			t.Fatalf("batch %s went %s, want %s: %s", id, v.Batch.State, state, data)
		}
	}
	t.Fatalf("status stream ended before batch %s was %s (last %q): %v %v", id, state, last, sc.Err(), ctx.Err())
}

// proc is a serialine child process (this test binary re-executed, as
// startChild does) whose stdout and stderr lines are kept for the test to
// wait on.
type proc struct {
	name      string
	cmd       *exec.Cmd
	out, errs *lineLog
	done      chan struct{} // closed once the process has exited
	exit      error         // cmd.Wait's result, set before done closes
}

// startProc starts `serialine args...`. When the test ends a process still
// running is killed (SIGCONT first, in case it was stopped) and waited
// for; a failed test logs every process's stderr.
func startProc(ctx context.Context, t *testing.T, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSerialineChild$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, "\x1f"))
	p := &proc{name: name, cmd: cmd, out: newLineLog(), errs: newLineLog(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // ends when the process does (Cleanup kills it at the latest)
		p.exit = cmd.Wait()
		p.out.close()
		p.errs.close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s (serialine %s) stderr:\n%s", name, strings.Join(args, " "), p.errs.String())
		}
	})
	return p
}

// value waits for a stdout line starting with prefix and returns the rest.
func (p *proc) value(ctx context.Context, t *testing.T, prefix string) string {
	t.Helper()
	return strings.TrimPrefix(p.out.wait(ctx, t, prefix), prefix)
}

// stop sends SIGTERM and waits for a clean exit (status 0).
func (p *proc) stop(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatalf("%s did not stop after SIGTERM: %v", p.name, ctx.Err())
	}
	if p.exit != nil {
		t.Fatalf("%s: %v after SIGTERM; stderr:\n%s", p.name, p.exit, p.errs.String())
	}
}

// lineLog keeps every line written to it; wait finds one by prefix.
type lineLog struct {
	mu      sync.Mutex
	lines   []string
	partial []byte
	closed  bool
	changed chan struct{} // closed and replaced on every new line
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(b), nil
}

func (l *lineLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + "\n" + string(l.partial)
}

// wait returns the first line starting with prefix, written so far or
// until ctx ends or the stream closes.
func (l *lineLog) wait(ctx context.Context, t *testing.T, prefix string) string {
	t.Helper()
	for {
		l.mu.Lock()
		for _, s := range l.lines {
			if strings.HasPrefix(s, prefix) {
				l.mu.Unlock()
				return s
			}
		}
		closed, ch := l.closed, l.changed
		l.mu.Unlock()
		if closed {
			t.Fatalf("output ended without a line starting %q:\n%s", prefix, l.String())
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("no line starting %q: %v\n%s", prefix, ctx.Err(), l.String())
		}
	}
}
