// Command serialine is the Serialine edge controller for pharmaceutical
// packaging-line serialization: one binary holding the controller, its
// simulators and its tools.
//
// Usage:
//
//	serialine encode [flags] DATA           build GS1 element strings and DataMatrix symbols
//	serialine journal verify|export|archive|… check, export, archive, back up … the unit journal
//	serialine run --config FILE             run the controller on a real line
//	serialine demo [flags]                  a whole simulated line in one process
//	serialine sim plc|printer|camera|upstream [flags]
//	                                        run one simulator standalone
//	serialine batch|status|unit ...         talk to a running controller's API
//	serialine alarms|sign|report|audit|users|passwd|products|shift ...
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // shift and EPCIS time zones on a line PC without zoneinfo
)

// Exit statuses shared by every subcommand.
const (
	exitOK      = 0 // success
	exitFailure = 1 // the command ran and failed (a violation, a device fault, …)
	exitUsage   = 2 // bad usage or bad input data
)

// env is what a subcommand gets from main: its streams and logger. No
// subcommand touches os.Stdin/os.Stdout/os.Exit directly, so each can be
// tested by calling it.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
	// hung ends the process when the controller's self-watchdog fires
	// (run --self-watchdog); nil: only logged.
	hung func(error)
}

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, e env, args []string) int
}

func commands() []command {
	return []command{
		{"encode", "build GS1 element strings and DataMatrix symbols", cmdEncode},
		{"journal", "the unit journal: verify, export, truth; archive, archives, prune, backup, restore, compact, migrate, downgrade", cmdJournal},
		{"run", "run the controller on a real line (--config FILE)", cmdRun},
		{"demo", "a whole simulated line in one process", cmdDemo},
		{"sim", "run a simulator standalone: plc, printer, camera, upstream", cmdSim},
		{"batch", "batch commands on a running controller (start|hold|unhold|stop|complete|…)", cmdBatch},
		{"status", "line status of a running controller", cmdStatus},
		{"unit", "look up a unit (serial or scanned code), or sample|reject|decommission|closeout it, on a running controller", cmdUnit},
		{"alarms", "alarms of a running controller: list (attention, active, unacked, history), ack ID…, ack --all", cmdAlarms},
		{"sign", "sign a batch record: production sign-off or QA release (e-signature)", cmdSign},
		{"report", "download a batch record: pdf, csv, json or html", cmdReport},
		{"audit", "the audit trail of a running controller", cmdAudit},
		{"users", "users of a running controller: list, create, unlock, disable, enable, reset", cmdUsers},
		{"passwd", "change your password on a running controller (the first login's one-time password too)", cmdPasswd},
		{"shift", "the shift on a running controller: report, handovers, handover, ack", cmdShift},
		{"products", "the product master: list, show, set (a new version)", cmdProducts},
		{"service", "install or remove the Windows service (Linux: the systemd unit of the package)", cmdService},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// gopcua's OPC UA server writes to the standard log package; main owns
	// that process-wide logger and routes it to slog at debug level.
	log.SetFlags(0)
	log.SetOutput(stdlogWriter{logger})
	if code, ok := runAsService(logger); ok { // a Windows service started by the service manager
		stop()
		os.Exit(code)
	}
	code := run(ctx, env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, logger: logger, hung: exitHung(logger)}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "serialine: unknown command %q\n", args[0])
	usage(e.stderr)
	return exitUsage
}

// stdlogWriter turns lines of the standard log package into slog debug
// records.
type stdlogWriter struct{ l *slog.Logger }

func (w stdlogWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"), "via", "log")
	return len(p), nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: serialine COMMAND [flags] [args]")
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.usage)
	}
}
