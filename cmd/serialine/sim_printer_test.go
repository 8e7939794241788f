package main

import (
	"bytes"
	"context"
	"log/slog"
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
