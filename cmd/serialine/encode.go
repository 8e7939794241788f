package main

import (
	"context"
	"fmt"
)

// cmdEncode is not built yet.
func cmdEncode(ctx context.Context, e env, args []string) int {
	fmt.Fprintln(e.stderr, "serialine: encode: not implemented yet")
	return exitFailure
}
