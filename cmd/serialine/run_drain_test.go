package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/upstreamsim"
	"github.com/serialine/serialine/store/journal"
)

// `serialine run` drains the outbox at shutdown, bounded by
// upstream.shutdown_drain, and says what is left: with the site server
// down both documents are left (and stay in the journal); with it up they
// go and the outbox is empty.
func TestRunDrainsOutboxAtShutdown(t *testing.T) {
	for _, up := range []bool{false, true} {
		name := map[bool]string{false: "site server down", true: "site server up"}[up]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := runConfig(t, dir, "")
			data, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(data), "shutdown_drain: 5s", "shutdown_drain: 300ms", 1)
			var sim *upstreamsim.Server
			if up {
				sim, err = upstreamsim.Start(upstreamsim.Options{Token: "demo-token"})
				if err != nil {
					t.Fatal(err)
				}
				defer sim.Close()
				s = strings.Replace(s, "shutdown_drain: 300ms", "shutdown_drain: 1m", 1)
				i := strings.Index(s, "url: http://")
				s = s[:i] + "url: " + sim.URL() + s[i+strings.IndexByte(s[i:], '\n'):]
			}
			if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
			j, err := journal.Open(filepath.Join(dir, "journal.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, doc := range []string{`{"type":"EPCISDocument","n":1}`, `{"type":"EPCISDocument","n":2}`} {
				if _, err := j.OutboxPut(context.Background(), "epcis", []byte(doc)); err != nil {
					t.Fatal(err)
				}
			}
			j.Close()

			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the line stops at once: only the drain is left to do
			var out, errb strings.Builder
			if code := cmdRun(ctx, lineTestEnv(&out, &errb), []string{"--config", cfg}); code != exitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			want := "outbox: 2 item(s) left for the site server (epcis 2); they stay in the journal and go out at the next start"
			if up {
				want = "outbox empty"
			}
			if !strings.Contains(out.String(), want) {
				t.Fatalf("stdout lacks %q:\n%s", want, out.String())
			}
			j, err = journal.Open(filepath.Join(dir, "journal.db"), &journal.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			items, err := j.OutboxPending(context.Background(), 0)
			if err != nil || (up && len(items) != 0) || (!up && len(items) != 2) {
				t.Fatalf("outbox after the run: %d items, %v", len(items), err)
			}
			if up && len(sim.Events()) != 2 {
				t.Fatalf("site server got %d documents", len(sim.Events()))
			}
		})
	}
}
