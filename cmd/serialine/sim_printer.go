package main

import (
	"context"
	"fmt"
)

// cmdSimPrinter is not built yet.
func cmdSimPrinter(ctx context.Context, e env, args []string) int {
	fmt.Fprintln(e.stderr, "serialine: sim_printer: not implemented yet")
	return exitFailure
}
