package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/auth"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/hmi"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/line/packtags"
	"github.com/serialine/serialine/store/journal"
)

// cmdRun runs the controller on a real line: the config is decoded
// strictly and validated up front (every problem listed, exit 2), then the
// journal is opened (running its recovery), the devices are connected and
// the operator API/HMI is served until interrupted.
func cmdRun(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := fs.String("config", "", "controller config file (YAML)")
	check := fs.Bool("check", false, "only validate the config and exit")
	selfWatchdog := fs.Duration("self-watchdog", 0, "without systemd's watchdog: exit (status 3) when the controller has not been alive for this long, so the service manager restarts it (the Windows service uses it)")
	setUsage(fs, e.stderr, "--config FILE [--check] [--self-watchdog DURATION]")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if *cfgPath == "" {
		fmt.Fprintln(e.stderr, "serialine run: --config FILE is required")
		return exitUsage
	}
	data, err := os.ReadFile(*cfgPath)
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine run: config:", err)
		return exitUsage
	}
	cfg, cerr := config.Parse(*cfgPath, data)
	if cerr != nil {
		fmt.Fprintln(e.stderr, "serialine run:", cerr)
		return exitUsage
	}
	if err := fileProblems(&cfg); err != nil { // every missing file at once, --check too
		fmt.Fprintln(e.stderr, "serialine run:", err)
		return exitUsage
	}
	pt := cfg.PackTags
	if *check {
		fmt.Fprintf(e.stdout, "%s: config OK\n", *cfgPath)
		return exitOK
	}
	j, err := journal.Open(cfg.Journal.Path, &journal.Options{Logger: e.logger.With("part", "journal"), ArchiveDir: cfg.Journal.Archive.Dir})
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine run:", err)
		return exitFailure
	}
	defer j.Close()
	if from, backup := j.Migrated(); from != 0 {
		fmt.Fprintf(e.stderr, "journal migrated from format %d to %d; the file as it was is kept as %s\n", from, journal.FormatVersion(), backup)
	}
	if rep := j.Recovery(); !rep.Clean() {
		fmt.Fprintf(e.stderr, "journal recovered: %d drawn serials returned, %d in-flight units uncertain\n", len(rep.Returned), len(rep.Uncertain))
	}
	drv, err := line.NewDrivers(cfg, e.logger, nil)
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine run:", err)
		return exitUsage
	}
	up, err := line.NewUpstream(cfg, e.logger.With("part", "upstream"))
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine run:", err)
		return exitUsage
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{ConstLabels: prometheus.Labels{"line": cfg.Line.Name}})
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine run:", err)
		return exitFailure
	}
	start := time.Now()
	o := line.Options{Config: cfg, Journal: j, PLC: drv.PLC, Printer: drv.Printer, Camera: drv.Camera, Metrics: m,
		Logger:   e.logger.With("part", "line"),
		DiskFree: line.DiskUsage, ClockSync: line.SystemClockSync, Mono: func() time.Duration { return time.Since(start) }}
	if up != nil {
		o.Upstream = up
	}
	ctrl, err := line.New(o)
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine run:", err)
		return exitFailure
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// systemd: READY=1 and the watchdog, from the controller's liveness.
	wg.Add(1)
	go func() {
		defer wg.Done()
		sv := supervision{notify: newSDNotifier(), period: watchdogPeriod()}
		if sv.notify == nil && *selfWatchdog > 0 {
			sv.period, sv.hung = *selfWatchdog, e.hung
		}
		superviseService(ctx, sv, ctrl.Alive, func() string {
			id, st := ctrl.State()
			if id == "" {
				return "running, no batch"
			}
			return fmt.Sprintf("batch %s %s", id, st)
		}, e.logger)
	}()
	wg.Add(1)
	go func() { defer wg.Done(); warnOnReload(ctx, e.logger) }()
	var users *auth.Service // the operator API's users, for PackTags logins
	agg, err := runAggregator(ctx, &wg, cfg, j, ctrl, up, e.logger)
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine run: aggregation:", err)
		return exitUsage
	}
	if cfg.API.Listen != "" {
		usersPath := cfg.API.UsersFile
		if usersPath == "" {
			usersPath = filepath.Join(filepath.Dir(cfg.Journal.Path), "users.db")
		}
		so := hmi.StackOptions{Controller: ctrl, Journal: j, UsersPath: usersPath, Logger: e.logger,
			Metrics: m, Gatherer: reg, SecureCookie: cfg.API.CertFile != "", Shift: cfg.Shift, Location: lineLocation(cfg), Shifts: cfg.Line.Shifts,
			Records: ctrl.Records()}
		if agg != nil {
			so.Aggregation = agg
		}
		st, err := hmi.NewStack(ctx, so)
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine run: operator API:", err)
			return exitFailure
		}
		defer st.Close()
		users = st.Auth
		if st.FirstStart != nil {
			fmt.Fprintf(e.stderr, "first start: user %s, one-time password %s (must be changed at first login)\n",
				st.FirstStart.User, st.FirstStart.Password)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := api.Serve(ctx, api.ServeOptions{Addr: cfg.API.Listen, CertFile: cfg.API.CertFile, KeyFile: cfg.API.KeyFile,
				Handler: st.Handler, Logger: e.logger,
				Ready: func(a string) { fmt.Fprintf(e.stdout, "operator page and API on %s\n", a) }})
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintln(e.stderr, "serialine run: operator API:", err)
			}
		}()
	}
	if pt.Enabled {
		po := packtags.Options{Source: ctrl, Addr: pt.Listen, Interval: pt.Interval, Name: cfg.Line.Name,
			DesignSpeed: float32(pt.DesignSpeed), Speed: float32(pt.Speed), Logger: e.logger.With("part", "packtags")}
		if pt.CertFile != "" {
			if po.Certificate, po.Key, err = packtags.LoadKeyPair(pt.CertFile, pt.KeyFile); err != nil {
				fmt.Fprintln(e.stderr, "serialine run:", err)
				return exitFailure
			}
		}
		kind := "read-only"
		if pt.Commands && users != nil {
			po.Commands, po.Auth, po.Audit = ctrl, users, api.JournalAudit{J: j}
			kind = "PackML methods for logged-in users"
		}
		srv, err := packtags.Start(ctx, po)
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine run: packtags:", err)
			return exitFailure
		}
		defer srv.Close()
		fmt.Fprintf(e.stdout, "PackTags (OPC UA, %s) %s\n", kind, srv.Endpoint())
	}
	if err := ctrl.Run(ctx); err != nil {
		fmt.Fprintln(e.stderr, "serialine run:", err)
		return exitFailure
	}
	shutdownDrain(e, ctrl, cfg.Upstream.ShutdownDrain)
	return exitOK
}

// shutdownDrain gives the outbox up to wait to reach the site server once
// the line has stopped, and says what is left (it stays in the journal and
// goes out at the next start).
func shutdownDrain(e env, ctrl *line.Controller, wait time.Duration) line.OutboxLeft {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	left := ctrl.DrainOutbox(ctx)
	fmt.Fprintln(e.stdout, left)
	if left.Items() > 0 {
		e.logger.Warn("outbox not empty at shutdown", "items", left.Items(), "err", left.Err)
	}
	return left
}

// lineLocation is the line's time zone (line.timezone; validated), UTC
// when unset.
func lineLocation(cfg config.Config) *time.Location {
	if cfg.Line.Timezone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(cfg.Line.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}
