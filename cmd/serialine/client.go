package main

import (
	"context"
	"fmt"
)

// cmdBatch is not built yet.
func cmdBatch(ctx context.Context, e env, args []string) int {
	fmt.Fprintln(e.stderr, "serialine: client: not implemented yet")
	return exitFailure
}

// cmdStatus is not built yet.
func cmdStatus(ctx context.Context, e env, args []string) int { return cmdBatch(ctx, e, args) }

// cmdUnit is not built yet.
func cmdUnit(ctx context.Context, e env, args []string) int { return cmdBatch(ctx, e, args) }
