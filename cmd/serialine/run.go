package main

import (
	"context"
	"fmt"
)

// cmdRun is not built yet.
func cmdRun(ctx context.Context, e env, args []string) int {
	fmt.Fprintln(e.stderr, "serialine: run: not implemented yet")
	return exitFailure
}
