package main

import (
	"context"
	"fmt"
)

// cmdJournal is not built yet.
func cmdJournal(ctx context.Context, e env, args []string) int {
	fmt.Fprintln(e.stderr, "serialine: journal: not implemented yet")
	return exitFailure
}
