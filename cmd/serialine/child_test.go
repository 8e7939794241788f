package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// childArgsEnv carries the serialine arguments of a child process that is
// this test binary re-executed (no go build, no go run).
const childArgsEnv = "SERIALINE_TEST_CHILD_ARGS"

// TestSerialineChild is not a test: it is serialine's main, run in a child
// process started by startChild.
func TestSerialineChild(t *testing.T) {
	args := os.Getenv(childArgsEnv)
	if args == "" {
		t.Skip("helper process: runs serialine when re-executed by startChild")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	code := run(ctx, env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, logger: logger}, strings.Split(args, "\x1f"))
	stop()
	os.Exit(code)
}

// child is a serialine child process.
type child struct {
	cmd *exec.Cmd
	out *bufio.Scanner
}

// startChild runs `serialine args...` as a child process (this test binary
// re-executed) and returns once it has printed a stdout line starting with
// ready; that line is returned. The child is stopped (SIGCONT first, in
// case a test left it SIGSTOPped, then SIGKILL) and waited for when the
// test ends.
func startChild(t *testing.T, ready string, args ...string) (*child, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSerialineChild$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, "\x1f"))
	stderr, err := os.Create(t.TempDir() + "/stderr")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	pr, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: bufio.NewScanner(pr)}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		stderr.Close()
	})
	for c.out.Scan() {
		if line := c.out.Text(); strings.HasPrefix(line, ready) {
			go func() { _, _ = io.Copy(io.Discard, pr) }() // keep the child's stdout flowing
			return c, line
		}
	}
	b, _ := os.ReadFile(stderr.Name())
	t.Fatalf("serialine %s: no %q line on stdout (%v); stderr:\n%s", strings.Join(args, " "), ready, errors.Join(c.out.Err(), io.EOF), b)
	return nil, ""
}

// signal sends sig to the child.
func (c *child) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}
