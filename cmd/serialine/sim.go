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
		fmt.Fprintln(e.stderr, "usage: serialine sim plc|printer|camera|upstream [flags]")
		return exitUsage
	}
	return sims[args[0]](ctx, e, args[1:])
}
