//go:build !windows

package main

import (
	"context"
	"fmt"
	"log/slog"
)

// runAsService: only Windows starts the binary as a service (on Linux
// systemd runs `serialine run` directly).
func runAsService(*slog.Logger) (int, bool) { return 0, false }

func cmdService(_ context.Context, e env, _ []string) int {
	fmt.Fprintln(e.stderr, "serialine service: Windows only; on Linux install the Debian package (systemd unit serialine.service, see README \"Installing on a line PC\")")
	return exitUsage
}
