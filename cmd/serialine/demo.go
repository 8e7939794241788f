package main

import (
	"context"
	"fmt"
)

// cmdDemo is not built yet.
func cmdDemo(ctx context.Context, e env, args []string) int {
	fmt.Fprintln(e.stderr, "serialine: demo: not implemented yet")
	return exitFailure
}
