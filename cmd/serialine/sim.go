package main

import (
	"context"
	"fmt"
)

// cmdSim runs one simulator standalone until interrupted.
func cmdSim(ctx context.Context, e env, args []string) int {
	sims := map[string]func(context.Context, env, []string) int{
		"plc":      cmdSimPLC,
		"printer":  cmdSimPrinter,
		"camera":   cmdSimCamera,
		"upstream": cmdSimUpstream,
	}
	if len(args) == 0 || sims[args[0]] == nil {
		fmt.Fprintln(e.stderr, "usage: serialine sim SIMULATOR [flags]")
		fmt.Fprintln(e.stderr, "simulators (each speaks its real protocol; serialine sim SIMULATOR -h lists its flags):")
		fmt.Fprintln(e.stderr, "  plc       PLC conveyor with reject gate: Modbus TCP and OPC UA")
		fmt.Fprintln(e.stderr, "  printer   thermal-inkjet printer: TIJ text protocol (and ZPL)")
		fmt.Fprintln(e.stderr, "  camera    verification camera: DMCC or Keyence protocol")
		fmt.Fprintln(e.stderr, "  upstream  site server handing out serial pools and taking EPCIS events")
		fmt.Fprintln(e.stderr, "wired together across processes by the line bus: sim plc --bus ADDR, sim printer --photo-eye PLC-BUS --bus ADDR,")
		fmt.Fprintln(e.stderr, "sim camera --shots PRINTER-BUS, sim plc --prints PRINTER-BUS --gate-log FILE (devices/README.md: split deployment)")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	return sims[args[0]](ctx, e, args[1:])
}
