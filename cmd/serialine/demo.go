package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/hmi"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/metrics"
	"github.com/serialine/serialine/line/packtags"
)

// cmdDemo runs a whole simulated line in one process on loopback: the
// reference site server, a simulated PLC (Modbus TCP), printer (TIJ text
// protocol) and camera (DMCC), the controller and its operator page. It
// runs one batch with realistic faults and prints live progress and the
// reconciliation.
func cmdDemo(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	units := fs.Int("units", 1000, "batch size (target quantity)")
	rate := fs.Float64("rate", 300, "line speed, units per minute")
	headless := fs.Bool("headless", false, "no operator page: run the batch to completion, print the reconciliation, exit 0 only if it balances")
	db := fs.String("db", "", "journal file to keep (default: a fresh temporary one); restart on it after a crash to recover and complete the batch")
	listen := fs.String("listen", "127.0.0.1:8080", "operator page (HMI) address; port 0 picks a free one")
	faults := fs.Bool("faults", true, "inject realistic faults (camera, printer, PLC, site server)")
	plc := fs.String("plc", "modbus", "protocol to the simulated PLC: modbus (Modbus TCP) or opcua (OPC UA)")
	ptAddr := fs.String("packtags", "127.0.0.1:0", "OPC UA PackTags server (read-only PackML state and counters) address; port 0 picks a free one; \"\" = off")
	upDriver := fs.String("upstream", "http", "site server the line talks to: http (JSON API) or open-scs (OPC 30260 Open-SCS over OPC UA)")
	events := fs.String("events", "site", "where EPCIS documents go: site (the site server) or capture (the EPCIS 2.0 capture interface, POST /capture)")
	epcisOut := fs.String("epcis-out", "", "directory to write every EPCIS document the simulated site server received, one file each (at the end)")
	gate := fs.Int("gate-distance", 0, "products between print head and reject gate (default: half a second of travel, at least 8)")
	gateLog := fs.String("gate-log", "", "write what happened to every product at the gate, from the simulators' record only, to this file (JSON lines: seq, serial, verdict_at_gate, outcome); the journal is checked against it")
	interactive := fs.Bool("interactive", false, "no simulated operator: a person defines, clears, starts, holds, unholds and completes batches at the operator page; faults still happen (--faults)")
	aggregateFlag := fs.String("aggregate", "on", "aggregation at the end of the line (case packer, aggregation camera, case labeller, scanners, palletiser, manual station): on or off")
	caseSize := fs.Int("case-size", 20, "packs per case (with --aggregate on)")
	palletSize := fs.Int("pallet-size", 5, "cases per pallet (with --aggregate on)")
	setUsage(fs, e.stderr, "[flags]")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if *interactive && *headless {
		fmt.Fprintln(e.stderr, "serialine demo: --interactive needs the operator page (leave out --headless)")
		return exitUsage
	}
	if *units <= 0 || *rate <= 0 {
		fmt.Fprintln(e.stderr, "serialine demo: --units and --rate must be > 0")
		return exitUsage
	}
	// Bind the operator page first: a busy port is reported (or, for the
	// default address, replaced by a free one) before anything starts or a
	// one-time password is printed for a page this demo would not serve.
	var hmiLn net.Listener
	if !*headless && *listen != "" {
		explicit := false
		fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "listen" })
		ln, note, err := listenHMI(*listen, explicit)
		if err != nil {
			fmt.Fprintf(e.stderr, "serialine demo: operator page: %v (try --listen 127.0.0.1:0 for a free port, or --headless)\n", err)
			return exitFailure
		}
		if note != "" {
			fmt.Fprintln(e.stderr, "serialine demo:", note)
		}
		hmiLn = ln
		defer ln.Close()
	}
	dbPath := *db
	dir := ""
	if dbPath == "" {
		d, err := os.MkdirTemp("", "serialine-demo-")
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine demo:", err)
			return exitFailure
		}
		defer os.RemoveAll(d)
		dir, dbPath = d, filepath.Join(d, "journal.db")
	} else {
		dir = filepath.Dir(dbPath)
	}
	perSec := *rate / 60
	gd := *gate
	if gd == 0 {
		gd = linesim.DefaultGateDistance(perSec)
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{ConstLabels: prometheus.Labels{"line": "demo-line"}})
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine demo:", err)
		return exitFailure
	}
	if *aggregateFlag != "on" && *aggregateFlag != "off" {
		fmt.Fprintln(e.stderr, "serialine demo: --aggregate must be on or off")
		return exitUsage
	}
	if *plc != "modbus" && *plc != "opcua" {
		fmt.Fprintln(e.stderr, "serialine demo: --plc must be modbus or opcua")
		return exitUsage
	}
	if *upDriver != "http" && *upDriver != "open-scs" {
		fmt.Fprintln(e.stderr, "serialine demo: --upstream must be http or open-scs")
		return exitUsage
	}
	if *events != "site" && *events != "capture" {
		fmt.Fprintln(e.stderr, "serialine demo: --events must be site or capture")
		return exitUsage
	}
	o := linesim.Options{DBPath: dbPath, Rate: perSec, GateDistance: gd, Realistic: true, Metrics: m, Logger: e.logger, PLCProtocol: *plc,
		UpstreamDriver: *upDriver, Events: *events}
	if *faults {
		o.Faults = linesim.PrinterFaults{DefectRate: 0.02, MaxDefectSeverity: 0.9, DuplicateAckRate: 0.005}
	}
	if *aggregateFlag == "on" {
		// the packaging levels come from the product master (seedDemoProduct)
		o.Aggregate = &linesim.AggregateOptions{CaseSize: *caseSize, PalletSize: *palletSize, FromMaster: true}
	}
	l, err := linesim.Start(ctx, o)
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine demo:", err)
		return exitFailure
	}
	defer func() {
		// What the site server has not taken yet goes out now, in a
		// bounded wait; what is left stays in the journal.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.Config.Upstream.ShutdownDrain)
		fmt.Fprintln(e.stdout, l.Controller.DrainOutbox(dctx))
		cancel()
		if err := l.Close(); err != nil {
			e.logger.Warn("demo shutdown", "err", err)
		}
	}()
	if err := seedDemoProduct(ctx, l, *caseSize, *palletSize); err != nil {
		fmt.Fprintln(e.stderr, "serialine demo: product master:", err)
		return exitFailure
	}
	plcAddr := ""
	if m := l.Config.Devices.PLC.Modbus; m != nil {
		plcAddr = "modbus " + m.Address
	} else if u := l.Config.Devices.PLC.OPCUA; u != nil {
		plcAddr = "opc ua " + u.Endpoint
	}
	site := l.Upstream.URL()
	if l.OpenSCS != nil {
		site = "open-scs " + l.OpenSCS.Endpoint()
	}
	fmt.Fprintf(e.stdout, "journal %s\nsite server %s · PLC %s · printer %s · camera %s\n", dbPath, site,
		plcAddr, l.Printer.Addr(), l.Camera.Addr())
	if *epcisOut != "" {
		defer func() {
			// The batch-end documents are in the outbox: let it drain
			// (bounded) so the site server has them all.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			if left := l.Controller.DrainOutbox(dctx); left.Items() > 0 {
				fmt.Fprintf(e.stderr, "serialine demo: --epcis-out: %s\n", left)
			}
			n, err := writeEPCIS(*epcisOut, l.Upstream)
			if err != nil {
				fmt.Fprintln(e.stderr, "serialine demo: --epcis-out:", err)
				return
			}
			fmt.Fprintf(e.stdout, "%d EPCIS documents written to %s\n", n, *epcisOut)
		}()
	}
	if c := l.Config.Aggregation.CaseStation; c != nil {
		fmt.Fprintf(e.stdout, "case line: PLC modbus %s · aggregation camera %s · case labeller %s · label scanner %s · palletiser scanner %s · pallet labeller %s · manual labeller %s\n",
			c.PLC.Address, c.Camera.DMCC.Address, c.Labeller.Address, c.Scanner.DMCC.Address, l.Config.Aggregation.PalletStation.Scanner.Keyence.Address,
			l.Config.Aggregation.PalletStation.Labeller.Address, l.Config.Aggregation.ManualStation.Labeller.Address)
	}
	if *ptAddr != "" {
		pt, err := packtags.Start(ctx, packtags.Options{Source: l.Controller, Addr: *ptAddr, Interval: 500 * time.Millisecond,
			Name: l.Config.Line.Name, DesignSpeed: float32(*rate), Speed: float32(*rate), Logger: e.logger.With("part", "packtags")})
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine demo: packtags:", err)
			return exitFailure
		}
		defer pt.Close()
		fmt.Fprintf(e.stdout, "PackTags (OPC UA, read-only) %s\n", pt.Endpoint())
	}
	if rep := l.Journal.Recovery(); !rep.Clean() {
		fmt.Fprintf(e.stdout, "journal recovered: %d drawn serials returned, %d in-flight units uncertain\n", len(rep.Returned), len(rep.Uncertain))
	}

	var wg sync.WaitGroup
	hctx, hcancel := context.WithCancel(ctx)
	defer func() { hcancel(); wg.Wait() }()
	if !*headless && *listen != "" {
		so := hmi.StackOptions{Controller: l.Controller, Journal: l.Journal,
			UsersPath: filepath.Join(dir, "users.db"), Logger: e.logger, Metrics: m, Gatherer: reg,
			Shift: l.Config.Shift, Location: lineLocation(l.Config), Shifts: l.Config.Line.Shifts, Records: l.Controller.Records()}
		if l.Aggregator != nil {
			so.Aggregation = l.Aggregator
		}
		st, err := hmi.NewStack(ctx, so)
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine demo: operator page:", err)
			return exitFailure
		}
		defer st.Close()
		if st.FirstStart != nil {
			fmt.Fprintf(e.stderr, "first start: user %s, one-time password %s (must be changed at first login)\n",
				st.FirstStart.User, st.FirstStart.Password)
		} else {
			fmt.Fprintf(e.stderr, "users from %s (admin exists; its password was shown when that file was created)\n", so.UsersPath)
		}
		ready := make(chan string, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := api.Serve(hctx, api.ServeOptions{Addr: *listen, Listener: hmiLn, Handler: st.Handler, Logger: e.logger,
				Ready: func(a string) { ready <- a }}); err != nil {
				fmt.Fprintln(e.stderr, "serialine demo: operator page:", err)
				close(ready)
			}
		}()
		select {
		case a, ok := <-ready:
			if ok {
				fmt.Fprintf(e.stdout, "operator page: http://%s/\n", a)
			}
		case <-ctx.Done():
		}
	}

	delay := time.Second
	if *headless {
		delay = 200 * time.Millisecond
	}
	if *interactive {
		err := linesim.RunInteractive(ctx, l, linesim.DemoOptions{Faults: *faults, Out: e.stdout})
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(e.stderr, "serialine demo:", err)
			return exitFailure
		}
		return exitOK
	}
	if *faults && l.Cases != nil {
		fctx, fcancel := context.WithCancel(ctx)
		defer fcancel()
		wg.Add(1)
		go func() { defer wg.Done(); linesim.InjectCaseFaults(fctx, l, 10*time.Second) }()
	}
	rep, err := linesim.RunDemo(ctx, l, linesim.DemoOptions{Units: *units, Faults: *faults, OperatorDelay: delay, Out: e.stdout})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			if *db == "" {
				fmt.Fprintln(e.stderr, "serialine demo: interrupted; the temporary journal is deleted (run with --db FILE to keep a batch across restarts)")
			} else {
				fmt.Fprintf(e.stderr, "serialine demo: interrupted; the journal keeps the batch (restart with --db %s to continue)\n", *db)
			}
			return exitFailure
		}
		fmt.Fprintln(e.stderr, "serialine demo:", err)
		return exitFailure
	}
	c := rep.Counts
	fmt.Fprintf(e.stdout, "\nreconciliation of batch %s (%s):\n  drawn %d = commissioned %d + rejected %d + sampled %d + returned %d + uncertain %d  (in flight %d)\n",
		rep.Batch.ID, rep.State, c.Drawn, c.Commissioned, c.Rejected, c.Sampled, c.Returned, c.Uncertain, c.InFlight)
	for k, v := range rep.RejectsByReason {
		fmt.Fprintf(e.stdout, "  %-22s %d\n", k, v)
	}
	if lat := l.Controller.Latencies(); len(lat) > 0 {
		p50, p99 := percentiles(lat)
		fmt.Fprintf(e.stdout, "  controller-added latency (verdict inputs in -> journal commit -> verdict at the PLC): p50 %v  p99 %v\n", p50, p99)
	}
	balanced := rep.Err() == nil
	if err := rep.Err(); err != nil {
		fmt.Fprintln(e.stdout, "  NOT BALANCED:", err)
	} else {
		fmt.Fprintln(e.stdout, "  BALANCED")
	}
	if !gateTruth(e, l, rep.Batch.ID, *gateLog) {
		balanced = false
	}
	if l.Aggregator != nil {
		ok, err := demoAggregation(ctx, l, rep.Batch.ID, e.stdout)
		switch {
		case err != nil && ctx.Err() != nil && !*headless:
			// interrupted while the operators finished the end of line:
			// the operator page was up; the journal keeps the batch
			fmt.Fprintln(e.stderr, "serialine demo: interrupted while finishing the aggregation")
			return exitOK
		case err != nil:
			fmt.Fprintln(e.stderr, "serialine demo: aggregation:", err)
			return exitFailure
		}
		balanced = balanced && ok
	}
	if !balanced {
		return exitFailure
	}
	if !*headless && *listen != "" {
		fmt.Fprintln(e.stdout, "batch complete; the operator page stays up until Ctrl-C (sign the reconciliation there)")
		<-ctx.Done()
	}
	return exitOK
}

// listenHMI binds the operator page's address. When addr is busy and was
// not chosen explicitly (the default), it falls back to a free port on
// 127.0.0.1 and says so in note; an explicit address that cannot be bound
// is an error.
func listenHMI(addr string, explicit bool) (ln net.Listener, note string, err error) {
	ln, err = net.Listen("tcp", addr)
	if err == nil {
		return ln, "", nil
	}
	if explicit {
		return nil, "", fmt.Errorf("listen %s: %w", addr, err)
	}
	ln, ferr := net.Listen("tcp", "127.0.0.1:0")
	if ferr != nil {
		return nil, "", fmt.Errorf("listen %s: %w (and no free port on 127.0.0.1: %v)", addr, err, ferr)
	}
	return ln, fmt.Sprintf("%s is busy (%v); the operator page uses %s instead", addr, err, ln.Addr()), nil
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := append([]time.Duration(nil), d...)
	for i := 1; i < len(s); i++ { // insertion sort is fine for a demo's few thousand samples
		for k := i; k > 0 && s[k] < s[k-1]; k-- {
			s[k], s[k-1] = s[k-1], s[k]
		}
	}
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

// seedDemoProduct puts the demo's product into the controller's product
// master (a new version when the case or pallet size changed): batches set
// up at the operator page pick it, its company prefix length makes the
// EPCs and its packaging levels drive the aggregation.
func seedDemoProduct(ctx context.Context, l *linesim.Line, caseSize, palletSize int) error {
	return linesim.SeedProduct(ctx, l.Controller.Records(), linesim.DemoProduct(caseSize, palletSize))
}

// gateTruth checks the journal against what the simulators say happened
// to every product at the gate, prints the result, and writes the gate log
// to path when given. It reports whether the journal agrees.
func gateTruth(e env, l *linesim.Line, batch, path string) bool {
	recs := l.GateLog()
	if path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = linesim.WriteGateLog(f, recs)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(e.stderr, "serialine demo: --gate-log:", err)
			return false
		}
	}
	truth, err := linesim.CheckTruth(l.Journal, batch, recs)
	if err != nil {
		fmt.Fprintln(e.stderr, "serialine demo: gate truth:", err)
		return false
	}
	fmt.Fprintln(e.stdout, "  gate truth:", truth)
	for _, v := range truth.Violations {
		fmt.Fprintln(e.stdout, "    "+v)
	}
	if path != "" {
		fmt.Fprintf(e.stdout, "  gate log (%d products) written to %s\n", len(recs), path)
	}
	return truth.OK()
}
