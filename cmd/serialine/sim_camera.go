package main

import (
	"context"
	"fmt"
)

// cmdSimCamera is not built yet.
func cmdSimCamera(ctx context.Context, e env, args []string) int {
	fmt.Fprintln(e.stderr, "serialine: sim_camera: not implemented yet")
	return exitFailure
}
