package linetest

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// StartLine starts a simulated line for the test (in a temporary folder
// unless o names one or a journal; logging at debug level to stderr under
// SERIALINE_TEST_LOG unless o has a logger). When the test ends the line
// is closed and its journal verified.
func StartLine(t testing.TB, o linesim.Options) *linesim.Line {
	t.Helper()
	if o.Dir == "" && o.DBPath == "" {
		o.Dir = t.TempDir()
	}
	if os.Getenv("SERIALINE_TEST_LOG") != "" && o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	l, err := linesim.Start(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		path := l.Journal.Path()
		if err := l.Close(); err != nil {
			t.Errorf("close line: %v", err)
		}
		j, err := journal.Open(path, &journal.Options{ReadOnly: true})
		if err != nil {
			t.Errorf("reopen journal: %v", err)
			return
		}
		defer j.Close()
		if rep, err := j.Verify(context.Background()); err != nil {
			t.Errorf("journal verify: %v %v", err, rep.Problems)
		}
	})
	return l
}
