package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/serialine/serialine/line/upstreamsim"
)

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
