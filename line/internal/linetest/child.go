// Package linetest holds the test helpers the line packages share: a
// simulated line whose journal is verified when the test ends
// (StartLine), and the test binary run again as a child process
// (StartChild) for the tests that kill a controller with SIGKILL and
// restart it, or watch one run for a long time: the child's TestMain sees
// the environment variable the test sets and plays the controller.
package linetest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// Child is the test binary re-executed.
type Child struct {
	Cmd *exec.Cmd
	out io.ReadCloser
}

// StartChild runs the test binary again with no tests (-test.run=^$) and env
// ("NAME=value") added to its environment, its stderr going to the test's.
// Its stdout is read with Stdout, KillWhen or Tail. A child still running
// when the test ends is killed and waited for.
func StartChild(t testing.TB, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return &Child{Cmd: cmd, out: out}
}

// Stdout is the child's standard output.
func (c *Child) Stdout() io.Reader { return c.out }

// KillWhen reads the child's stdout line by line until kill returns true
// for one, then kills the child with SIGKILL and waits for it (what it
// still prints is discarded). The test fails when the child ends first.
func (c *Child) KillWhen(t testing.TB, kill func(line string) bool) {
	t.Helper()
	sc := bufio.NewScanner(c.out)
	killed := false
	for sc.Scan() {
		if kill(sc.Text()) {
			if err := c.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	go io.Copy(io.Discard, c.out)
	err := c.Cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it could be killed: %v", err)
	}
}

// Tail reads the child's stdout to its end, keeping the last n lines that
// keep accepts (nil: every line), waits for the child and returns the
// lines kept and how the child ended (cmd.Wait's error).
func (c *Child) Tail(n int, keep func(line string) bool) ([]string, error) {
	var tail []string
	sc := bufio.NewScanner(c.out)
	for sc.Scan() {
		if keep != nil && !keep(sc.Text()) {
			continue
		}
		tail = append(tail, sc.Text())
		if len(tail) > n {
			tail = tail[1:]
		}
	}
	return tail, c.Cmd.Wait()
}
