package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/linesim/bus"
)

// cmdSimPLC runs the simulated PLC standalone: the conveyor model served
// over Modbus TCP and OPC UA until interrupted. With --bus it publishes
// its products and gate results on the line bus; with --prints and
// --gate-log it joins them with the printer's prints into the gate log,
// written when it stops.
func cmdSimPLC(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("sim plc", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	mbAddr := fs.String("modbus", "127.0.0.1:1502", `Modbus TCP listen address ("" = off)`)
	uaAddr := fs.String("opcua", "127.0.0.1:4840", `OPC UA listen address ("" = off)`)
	rate := fs.Float64("rate", 5, "products per second (0 = none)")
	gate := fs.Int("gate-distance", 8, "encoder pitches from trigger point to reject gate")
	hb := fs.Duration("heartbeat", 100*time.Millisecond, "PLC heartbeat period")
	startStopped := fs.Bool("start-stopped", true, "power up with the line stopped (line_stop = 1) until the controller releases it, as a line's PLC program does; false: the conveyor runs from the start")
	ctlTimeout := fs.Duration("controller-timeout", time.Second, "stop the line when the controller heartbeat stalls this long")
	slots := fs.Int("slots", 0, "verdict and confirmation slots of the gate tables (0 = the default maps': Modbus 41, OPC UA 64); above 41 the Modbus tables move to 1000 and 1000+3*slots (linesim.GateTables)")
	busListen := fs.String("bus", "", `line bus listen address: products reaching the print head and products leaving the gate, for the printer's --photo-eye ("" = off; port 0 = any)`)
	prints := fs.String("prints", "", "the printer's line bus (host:port) whose prints the gate log records (with --gate-log)")
	gateLog := fs.String("gate-log", "", "write what happened to every product at the gate (JSON lines: seq, serial, verdict_at_gate, outcome; as serialine demo --gate-log) to this file when stopped (with --prints)")
	setUsage(fs, e.stderr, "[flags]")
	if code, ok := parseFlagsOnly(fs, args, e.stderr, "sim plc: unexpected arguments %v\n"); !ok {
		return code
	}
	if *mbAddr == "" && *uaAddr == "" {
		fmt.Fprintln(e.stderr, "sim plc: nothing to serve (both --modbus and --opcua empty)")
		return exitUsage
	}
	if *rate < 0 || *gate < 1 || *hb <= 0 || *ctlTimeout <= 0 || *slots < 0 || *slots > 2000 {
		fmt.Fprintln(e.stderr, "sim plc: --rate must be >= 0, --gate-distance >= 1, --heartbeat and --controller-timeout > 0, --slots 0..2000")
		return exitUsage
	}
	if (*prints == "") != (*gateLog == "") {
		fmt.Fprintln(e.stderr, "sim plc: --prints and --gate-log go together (the gate log joins the printer's prints with the gate's results)")
		return exitUsage
	}
	if *prints != "" {
		if err := busAddr("prints", *prints); err != nil {
			fmt.Fprintln(e.stderr, "sim plc:", err)
			return exitUsage
		}
	}
	o := plcsim.Options{Logger: e.logger, Rate: *rate, GateDistance: *gate, HeartbeatPeriod: *hb, ControllerTimeout: *ctlTimeout, StartStopped: *startStopped}
	if *slots > 0 {
		m := modbus.DefaultRegisterMap()
		if *slots > m.Slots {
			m = linesim.GateTables(m, *slots)
		} else {
			m.Slots = *slots
		}
		n := opcua.DefaultNodeMap()
		n.Slots = *slots
		o.Registers, o.Nodes = &m, &n
	}
	sim, err := plcsim.New(o)
	if err != nil {
		fmt.Fprintf(e.stderr, "sim plc: %v\n", err)
		return exitFailure
	}
	defer sim.Close()
	var logFile *os.File
	if *gateLog != "" { // created now: an unwritable path fails before the line runs
		if logFile, err = os.Create(*gateLog); err != nil {
			fmt.Fprintf(e.stderr, "sim plc: --gate-log: %v\n", err)
			return exitFailure
		}
		defer logFile.Close()
	}
	if *mbAddr != "" {
		a, err := sim.StartModbus(*mbAddr)
		if err != nil {
			fmt.Fprintf(e.stderr, "sim plc: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(e.stdout, "modbus tcp: %s\n", a)
	}
	if *uaAddr != "" {
		ep, err := sim.StartOPCUA(*uaAddr)
		if err != nil {
			fmt.Fprintf(e.stderr, "sim plc: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(e.stdout, "opc ua: %s\n", ep)
	}
	if *busListen != "" {
		pub, err := publishBus(e, bus.BusPLC, *busListen)
		if err != nil {
			fmt.Fprintf(e.stderr, "sim plc: --bus: %v\n", err)
			return exitFailure
		}
		defer pub.Close() // after Run: what is buffered still goes out
		sim.OnProductAt(func(seq uint64, at time.Time) { publish(e.logger, pub, bus.Product{Seq: seq, At: at}) })
		sim.OnGate(func(r plcsim.GateResult) { publish(e.logger, pub, bus.GateOf(r)) })
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var gates *linesim.GateLog
	failed := make(<-chan error)
	if *prints != "" {
		gates = linesim.NewGateLog()
		sim.OnGate(gates.OnGate)
		failed, err = subscribeBus(rctx, &wg, e, bus.BusPrinter, *prints, "gate log: prints from the printer bus at "+*prints,
			func(m bus.Message) {
				if p, ok := m.(bus.Printed); ok && p.Seq != 0 {
					gates.Printed(p.Seq, p.Data, p.Record)
				}
			})
		if err != nil {
			fmt.Fprintf(e.stderr, "sim plc: --prints: %v\n", err)
			return exitUsage
		}
	}
	var busErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case busErr = <-failed:
			stop()
		case <-rctx.Done():
		}
	}()
	runErr := sim.Run(rctx)
	stop()
	wg.Wait()
	code := exitOK
	if runErr != nil {
		fmt.Fprintf(e.stderr, "sim plc: %v\n", runErr)
		code = exitFailure
	}
	if busErr != nil {
		fmt.Fprintf(e.stderr, "sim plc: --prints: %v\n", busErr)
		code = exitFailure
	}
	st := sim.Status()
	fmt.Fprintf(e.stdout, "produced %d, passed %d, rejected %d, no verdict %d, confirm missed %d\n",
		st.Produced, st.Passed, st.Rejected, st.NoVerdict, st.ConfirmMissed)
	if gates != nil {
		recs := gates.Records()
		err := linesim.WriteGateLog(logFile, recs)
		if cerr := logFile.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "sim plc: --gate-log: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(e.stdout, "gate log (%d products) written to %s\n", len(recs), *gateLog)
	}
	return code
}
