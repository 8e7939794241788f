package main

import (
	"context"
	"fmt"
)

// cmdSimPLC is not built yet.
func cmdSimPLC(ctx context.Context, e env, args []string) int {
	fmt.Fprintln(e.stderr, "serialine: sim_plc: not implemented yet")
	return exitFailure
}
