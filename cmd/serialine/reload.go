package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// warnOnReload answers SIGHUP (what `kill -HUP` and many tools send to ask
// a daemon to reload) with a warning: the controller reads its config at
// start only, and says so instead of ignoring the signal or dying of it.
// The systemd unit has no ExecReload, so `systemctl reload` is refused.
func warnOnReload(ctx context.Context, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Warn("SIGHUP received: nothing is reloaded; the configuration is read at start only: restart the service to apply a change (systemctl restart serialine)")
		}
	}
}
