package main

import (
	"log/slog"
	"os"
)

// exitHung is env.hung: the controller's self-watchdog fired (it has not
// been alive for the whole --self-watchdog period), so the process ends
// with status 3 and the service manager restarts it; journal recovery runs
// on that start. Goroutines that hang are not waited for.
func exitHung(log *slog.Logger) func(error) {
	return func(err error) {
		log.Error("controller hung: exiting so the service manager restarts it", "err", err)
		os.Exit(3)
	}
}
