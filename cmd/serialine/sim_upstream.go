package main

import (
	"context"
	"fmt"
)

// cmdSimUpstream is not built yet.
func cmdSimUpstream(ctx context.Context, e env, args []string) int {
	fmt.Fprintln(e.stderr, "serialine: sim_upstream: not implemented yet")
	return exitFailure
}
