//go:build windows

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// The Windows service. `serialine service install --config FILE` registers
// a service (default name Serialine, automatic start, restart on failure)
// whose command line is `serialine.exe service run --config FILE`; the
// service manager starts that, and runAsService (called first thing by
// main) runs the controller under svc.Run: Stop and Shutdown cancel its
// context, logs go to the Windows Event Log (source = the service name).
// Windows has no service watchdog like systemd's, so the service runs with
// `--self-watchdog 60s`: a controller that is not alive for that long ends
// the process and the service's recovery action restarts it.

const defaultServiceName = "Serialine"

// runAsService runs the service when the service manager started the
// process (args "service run --config FILE [--name N]").
func runAsService(logger *slog.Logger) (int, bool) {
	isSvc, err := svc.IsWindowsService()
	if err != nil || !isSvc || len(os.Args) < 3 || os.Args[1] != "service" || os.Args[2] != "run" {
		return 0, false
	}
	fs := flag.NewFlagSet("service run", flag.ContinueOnError)
	cfg := fs.String("config", "", "")
	name := fs.String("name", defaultServiceName, "")
	if err := fs.Parse(os.Args[3:]); err != nil {
		return exitUsage, true
	}
	elog, err := eventlog.Open(*name)
	if err != nil {
		return exitFailure, true
	}
	defer elog.Close()
	w := &eventWriter{log: elog}
	lg := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := &serviceHandler{args: []string{"run", "--config", *cfg, "--self-watchdog", "60s"},
		e: env{stdin: strings.NewReader(""), stdout: w, stderr: w, logger: lg, hung: exitHung(lg)}}
	if err := svc.Run(*name, h); err != nil {
		_ = elog.Error(1, "service: "+err.Error())
		return exitFailure, true
	}
	return h.code, true
}

type serviceHandler struct {
	args []string
	e    env
	code int
}

// Execute implements svc.Handler.
func (h *serviceHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, h.e, h.args) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case h.code = <-done:
			// The controller ended by itself (bad config, journal refused):
			// a non-zero exit code makes the recovery actions apply.
			return h.code != exitOK, uint32(h.code)
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: 30000}
				cancel()
				h.code = <-done
				return false, 0
			}
		}
	}
}

// eventWriter sends each line written to it to the event log (level by the
// slog text handler's level=… field).
type eventWriter struct {
	mu  sync.Mutex
	log *eventlog.Log
	buf bytes.Buffer
}

func (w *eventWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err == io.EOF {
			w.buf.WriteString(line)
			return len(p), nil
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.Contains(line, "level=ERROR"):
			_ = w.log.Error(3, line)
		case strings.Contains(line, "level=WARN"):
			_ = w.log.Warning(2, line)
		default:
			_ = w.log.Info(1, line)
		}
	}
}

// cmdService: serialine service install|remove [--name N] [--config FILE]
func cmdService(_ context.Context, e env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: serialine service install --config FILE [--name NAME] | remove [--name NAME]")
		return exitUsage
	}
	fs := flag.NewFlagSet("service "+args[0], flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	name := fs.String("name", defaultServiceName, "service name")
	cfg := fs.String("config", "", "controller config (install)")
	if code, ok := parseFlagsOnly(fs, args[1:], e.stderr, "serialine service: unexpected arguments %v\n"); !ok {
		return code
	}
	m, err := mgr.Connect()
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine service: service manager (run as Administrator):", err)
		return exitFailure
	}
	defer m.Disconnect()
	switch args[0] {
	case "install":
		if *cfg == "" {
			fmt.Fprintln(e.stderr, "serialine service install: --config FILE is required")
			return exitUsage
		}
		abs, err := filepath.Abs(*cfg)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine service install: config:", err)
			return exitUsage
		}
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine service install:", err)
			return exitFailure
		}
		s, err := m.CreateService(*name, exe, mgr.Config{DisplayName: "Serialine serialization controller",
			Description: "Serialine edge controller: serial numbers, printer, camera, PLC reject gate, unit journal",
			StartType:   mgr.StartAutomatic, DelayedAutoStart: true},
			"service", "run", "--config", abs, "--name", *name)
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine service install:", err)
			return exitFailure
		}
		defer s.Close()
		if err := s.SetRecoveryActions([]mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
			{Type: mgr.ServiceRestart, Delay: 5 * time.Second}, {Type: mgr.ServiceRestart, Delay: 30 * time.Second}}, 86400); err != nil {
			fmt.Fprintln(e.stderr, "serialine service install: recovery actions:", err)
		}
		if err := eventlog.InstallAsEventCreate(*name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
			fmt.Fprintln(e.stderr, "serialine service install: event log source:", err)
		}
		fmt.Fprintf(e.stdout, "service %s installed (automatic start, restart on failure); start it with: sc start %s\n", *name, *name)
		return exitOK
	case "remove":
		s, err := m.OpenService(*name)
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine service remove:", err)
			return exitFailure
		}
		defer s.Close()
		if err := s.Delete(); err != nil {
			fmt.Fprintln(e.stderr, "serialine service remove:", err)
			return exitFailure
		}
		_ = eventlog.Remove(*name)
		fmt.Fprintf(e.stdout, "service %s removed\n", *name)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "serialine service: unknown subcommand %q (install, remove)\n", args[0])
	return exitUsage
}
