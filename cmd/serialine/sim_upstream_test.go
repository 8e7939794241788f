package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/upstream"
)

func TestSimUpstreamUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--mode", "odd"}, exitUsage, `mode "odd": want sequential or random`},
		{[]string{"--length", "21"}, exitUsage, "serial length 21"},
		{[]string{"--mode", "sequential", "--length", "3", "--prefix", "ABC"}, exitUsage, "leaves no room"},
		{[]string{"extra"}, exitUsage, "unexpected arguments"},
		{[]string{"--bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"-h"}, exitOK, "-listen"},
	} {
		var errb bytes.Buffer
		e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb, logger: slog.New(slog.DiscardHandler)}
		if c := cmdSimUpstream(t.Context(), e, append([]string{"--listen", "127.0.0.1:0"}, tc.args...)); c != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %d and %q", tc.args, c, errb.String(), tc.code, tc.want)
		}
	}
}

// An address already in use is a failure (exit 1), not bad usage.
func TestSimUpstreamListenFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var errb bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb, logger: slog.New(slog.DiscardHandler)}
	if c := cmdSimUpstream(t.Context(), e, []string{"--listen", ln.Addr().String()}); c != exitFailure {
		t.Errorf("listen on a busy address: exit %d (%s), want %d", c, errb.String(), exitFailure)
	}
}

// The standalone site server issues a pool to the real client (token
// checked) and exits 0 when its context ends.
func TestSimUpstreamStandalone(t *testing.T) {
	var errb camErrBuf
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first, code := startSim(ctx, t, cmdSimUpstream, strings.NewReader(""), &errb, "--listen", "127.0.0.1:0", "--token", "tok", "--mode", "sequential", "--length", "6", "--prefix", "S")
	url := strings.TrimPrefix(first, "upstream site server listening on ")
	c, err := upstream.New(upstream.Options{BaseURL: url, Token: "tok", Retry: upstream.Retry{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.RequestSerials(ctx, "09501101530003", 3)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Serials, ",") != "S00001,S00002,S00003" {
		t.Errorf("serials %v, want S00001..S00003", p.Serials)
	}
	bad, _ := upstream.New(upstream.Options{BaseURL: url, Token: "nope", Retry: upstream.Retry{Attempts: 1}})
	if _, err := bad.RequestSerials(ctx, "09501101530003", 1); err == nil {
		t.Error("wrong token accepted")
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("exit %d after cancel: %s", c, errb.String())
	}
}
