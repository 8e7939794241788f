package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/serialine/serialine/devices/plcsim"
)

// cmdSimPLC runs the simulated PLC standalone: the conveyor model served
// over Modbus TCP and OPC UA until interrupted.
func cmdSimPLC(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("sim plc", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	mbAddr := fs.String("modbus", "127.0.0.1:1502", `Modbus TCP listen address ("" = off)`)
	uaAddr := fs.String("opcua", "127.0.0.1:4840", `OPC UA listen address ("" = off)`)
	rate := fs.Float64("rate", 5, "products per second (0 = none)")
	gate := fs.Int("gate-distance", 8, "encoder pitches from trigger point to reject gate")
	hb := fs.Duration("heartbeat", 100*time.Millisecond, "PLC heartbeat period")
	ctlTimeout := fs.Duration("controller-timeout", time.Second, "stop the line when the controller heartbeat stalls this long")
	setUsage(fs, e.stderr, "[flags]")
	if code, ok := parseFlagsOnly(fs, args, e.stderr, "sim plc: unexpected arguments %v\n"); !ok {
		return code
	}
	if *mbAddr == "" && *uaAddr == "" {
		fmt.Fprintln(e.stderr, "sim plc: nothing to serve (both --modbus and --opcua empty)")
		return exitUsage
	}
	if *rate < 0 || *gate < 1 || *hb <= 0 || *ctlTimeout <= 0 {
		fmt.Fprintln(e.stderr, "sim plc: --rate must be >= 0, --gate-distance >= 1, --heartbeat and --controller-timeout > 0")
		return exitUsage
	}
	sim, err := plcsim.New(plcsim.Options{Logger: e.logger, Rate: *rate, GateDistance: *gate, HeartbeatPeriod: *hb, ControllerTimeout: *ctlTimeout})
	if err != nil {
		fmt.Fprintf(e.stderr, "sim plc: %v\n", err)
		return exitFailure
	}
	defer sim.Close()
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
	if err := sim.Run(ctx); err != nil {
		fmt.Fprintf(e.stderr, "sim plc: %v\n", err)
		return exitFailure
	}
	st := sim.Status()
	fmt.Fprintf(e.stdout, "produced %d, passed %d, rejected %d, no verdict %d, confirm missed %d\n",
		st.Produced, st.Passed, st.Rejected, st.NoVerdict, st.ConfirmMissed)
	return exitOK
}
