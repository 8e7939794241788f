package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/vision/dmcc"
)

func TestSimCameraUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--protocol", "cognex"}, `--protocol "cognex": want dmcc or keyence`},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--format", "{nope}"}, "--format"},
		{[]string{"--every", "1s", "--gtin", "123"}, "--gtin/--expiry/--lot: gs1: AI (01)"},
		{[]string{"--every", "-1s"}, "--every must be >= 0"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		var errb bytes.Buffer
		e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb, logger: slog.New(slog.DiscardHandler)}
		if c := cmdSimCamera(t.Context(), e, append([]string{"--tcp", "127.0.0.1:0"}, tc.args...)); c != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %d and %q", tc.args, c, errb.String(), exitUsage, tc.want)
		}
	}
}

// The standalone camera: a symbol given on stdin is encoded, rendered,
// decoded for real and reported over DMCC to a real client; a bad stdin
// line is named by its number and does not stop the simulator.
func TestSimCameraStandalone(t *testing.T) {
	var errb camErrBuf
	stdinR, stdinW := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first, code := startSim(ctx, t, cmdSimCamera, stdinR, &errb, "--tcp", "127.0.0.1:0", "--stdin")
	addr, ok := strings.CutPrefix(first, "camera (dmcc) on ")
	if !ok {
		t.Fatalf("first line %q", first)
	}
	// Extended mode: Connect waits for the camera's answer, so the
	// connection is registered before the first shot.
	cl := dmcc.New(dmcc.Options{Addr: addr, Extended: true})
	if err := cl.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer cl.Close(context.Background())
	want, err := gs1.Parse("(01)09501101530003(17)291231(10)LOT7(21)CAM1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdinW, "(01)09501101530004(21)BAD\n"+want.Bracketed()+"\n"); err != nil {
		t.Fatal(err)
	}
	r, err := cl.Read(ctx)
	if err != nil || r.NoRead || r.Data != want.ElementString() || r.SymbologyID != "]d2" {
		t.Fatalf("read %+v, %v", r, err)
	}
	if s := errb.String(); !strings.Contains(s, `stdin line 1 "(01)09501101530004(21)BAD"`) || !strings.Contains(s, "AI (01)") {
		t.Errorf("stderr %q does not name the bad line", s)
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("exit %d: %s", c, errb.String())
	}
	stdinW.Close()
}

// camErrBuf is a goroutine-safe stderr.
type camErrBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *camErrBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *camErrBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
