package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/serialine/serialine/line/upstreamsim"
	"github.com/serialine/serialine/store/journal"
)

// drainOutbox waits until the journal's outbox is empty or ctx ends and
// returns how many items are left.
func drainOutbox(ctx context.Context, j *journal.Journal) int {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		items, err := j.OutboxPending(ctx, 1000)
		if err == nil && len(items) == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return len(items)
		case <-t.C:
		}
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// writeEPCIS writes every EPCIS document the simulated site server received
// (POST /v1/events and the capture interface) into dir, one file each, in
// the order received: NNNN-<id>.json.
func writeEPCIS(dir string, s *upstreamsim.Server) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	evs := s.Events()
	for i, ev := range evs {
		name := fmt.Sprintf("%04d-%s.json", i+1, unsafeName.ReplaceAllString(ev.ID, "_"))
		if err := os.WriteFile(filepath.Join(dir, name), ev.Doc, 0o644); err != nil {
			return i, err
		}
	}
	return len(evs), nil
}
