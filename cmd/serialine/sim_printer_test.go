package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestCmdSimPrinter(t *testing.T) {
	var out, errb bytes.Buffer
	e := env{stdout: &out, stderr: &errb, logger: slog.New(slog.DiscardHandler)}
	if code := cmdSimPrinter(context.Background(), e, []string{"--no-data", "explode"}); code != exitUsage {
		t.Errorf("bad --no-data: exit %d, want %d (%s)", code, exitUsage, errb.String())
	}
	if code := cmdSimPrinter(context.Background(), e, []string{"extra"}); code != exitUsage {
		t.Errorf("extra argument: exit %d", code)
	}
	for _, bad := range [][]string{{"--queue", "-1"}, {"--ack-delay", "-5ms"}, {"--photo-eye", "-1s"}, {"--dup-rate", "2"}} {
		errb.Reset()
		if code := cmdSimPrinter(context.Background(), e, bad); code != exitUsage || !strings.Contains(errb.String(), "bad options") {
			t.Errorf("%v: exit %d (%s), want %d naming the bad option", bad, code, errb.String(), exitUsage)
		}
	}
	// An address in use is not bad usage: the command fails.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if code := cmdSimPrinter(context.Background(), e, []string{"--tcp", busy.Addr().String()}); code != exitFailure {
		t.Errorf("address in use: exit %d, want %d", code, exitFailure)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve, then stop at once
	out.Reset()
	if code := cmdSimPrinter(ctx, e, []string{"--tcp", "127.0.0.1:0", "--zpl", "127.0.0.1:0"}); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if s := out.String(); !strings.Contains(s, "printer text protocol on 127.0.0.1:") || !strings.Contains(s, "printer ZPL on 127.0.0.1:") {
		t.Errorf("stdout %q", s)
	}
}
