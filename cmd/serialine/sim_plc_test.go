package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/modbus"
)

// plcOut is a goroutine-safe stdout that signals each line.
type plcOut struct {
	mu    sync.Mutex
	b     bytes.Buffer
	lines chan string
}

func (o *plcOut) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Write(p)
	for {
		s := o.b.String()
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		o.lines <- s[:i]
		o.b.Next(i + 1)
	}
	return len(p), nil
}

// startSim runs a standalone sim command in the background, stdout
// signalling each line, and returns its first stdout line and the channel
// its exit code arrives on. The test fails when the command exits first.
func startSim(ctx context.Context, t *testing.T, cmd func(context.Context, env, []string) int, stdin io.Reader, stderr interface {
	io.Writer
	String() string
}, args ...string) (first string, code <-chan int) {
	t.Helper()
	out := &plcOut{lines: make(chan string, 16)}
	e := env{stdin: stdin, stdout: out, stderr: stderr, logger: slog.New(slog.DiscardHandler)}
	c := make(chan int, 1)
	go func() { c <- cmd(ctx, e, args) }()
	select {
	case l := <-out.lines:
		return l, c
	case n := <-c:
		t.Fatalf("exited %d: %s", n, stderr.String())
	}
	return "", c
}

func TestSimPLCStandalone(t *testing.T) {
	var errb camErrBuf
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first, code := startSim(ctx, t, cmdSimPLC, strings.NewReader(""), &errb, "--modbus", "127.0.0.1:0", "--opcua", "", "--rate", "500")
	addr := strings.TrimPrefix(first, "modbus tcp: ")
	cfg := modbus.DefaultConfig(addr)
	cfg.HeartbeatTimeout = time.Minute
	cl, err := modbus.New(cfg, modbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithCancel(ctx)
	defer tcancel()
	if err := cl.Connect(tctx); err != nil {
		t.Fatal(err)
	}
	// it powers up with the line stopped: the controller releases it
	if err := cl.SetOutputs(tctx, devices.Outputs{Light: devices.LightGreen}); err != nil {
		t.Fatal(err)
	}
	var last devices.Trigger
	for i := 0; i < 5; i++ {
		tr, err := cl.NextTrigger(tctx)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && tr.Seq != last.Seq+1 {
			t.Fatalf("trigger %d seq %d after %d", i, tr.Seq, last.Seq)
		}
		last = tr
	}
	cl.Close(tctx)
	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("exit %d: %s", c, errb.String())
	}
}

func TestSimPLCUsage(t *testing.T) {
	for _, args := range [][]string{{"--rate", "-1"}, {"--modbus", "", "--opcua", ""}, {"extra"}, {"--nope"}} {
		e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, logger: slog.New(slog.DiscardHandler)}
		if c := cmdSimPLC(context.Background(), e, args); c != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, c, exitUsage)
		}
	}
}
