package line

import (
	"context"
	"fmt"
)

// Alive reports whether the controller's own loops are making progress:
// the cycle loop takes an event and answers, the verdict pipeline (the
// committer and the decider behind it) carries a probe group through to the
// end, and the journal's committer takes a request. Each step waits for ctx
// only: a loop that is stuck (a deadlock, a commit hung on a dead disk, a
// PLC write that never returns) makes Alive fail when ctx ends. An idle
// line (no batch, held, devices down) is alive. `serialine run` pings the
// systemd watchdog only after Alive returned nil, so a hung controller is
// killed and restarted by systemd, and journal recovery runs on the restart.
//
// Alive may be called while Run runs; before Run (or after it) it fails.
func (c *Controller) Alive(ctx context.Context) error {
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if !running {
		return fmt.Errorf("line: controller not running")
	}
	if err := c.j.Ping(ctx); err != nil {
		return fmt.Errorf("journal committer: %w", err)
	}
	n := make(chan int, 1)
	select {
	case c.ev <- evDrain{n}:
	case <-ctx.Done():
		return fmt.Errorf("cycle loop: event queue full: %w", ctx.Err())
	}
	select {
	case <-n:
	case <-ctx.Done():
		return fmt.Errorf("cycle loop not answering: %w", ctx.Err())
	}
	// A group with nothing but a flush goes through the committer (which
	// commits the pending Commissioned steps first, as it does anyway) and
	// the decider (no verdict to write), which closes it.
	done := make(chan struct{})
	select {
	case c.commitCh <- &group{flushes: []chan struct{}{done}}:
	case <-ctx.Done():
		return fmt.Errorf("verdict committer not taking groups: %w", ctx.Err())
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("verdict pipeline (committer, decider) stuck: %w", ctx.Err())
	}
	return nil
}
