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

func TestSimPLCStandalone(t *testing.T) {
	out := &plcOut{lines: make(chan string, 16)}
	var errb bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: out, stderr: &errb, logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	code := make(chan int, 1)
	go func() { code <- cmdSimPLC(ctx, e, []string{"--modbus", "127.0.0.1:0", "--opcua", "", "--rate", "500"}) }()
	var addr string
	select {
	case l := <-out.lines:
		addr = strings.TrimPrefix(l, "modbus tcp: ")
	case c := <-code:
		t.Fatalf("exited %d: %s", c, errb.String())
	}
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
