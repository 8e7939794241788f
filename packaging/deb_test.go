// Package packaging holds the Debian package's files (nfpm.yaml, the
// systemd unit, maintainer scripts) and its test: build it with `make deb`,
// install it with dpkg into this (throwaway CI) machine, check the unit with
// systemd-analyze verify, run the unit's ExecStart line as its user against
// the installed config (--check, then a real start whose READY=1 and
// WATCHDOG=1 notifications are received on a NOTIFY_SOCKET as systemd would),
// and purge it again.
package packaging

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	unitPath   = "/lib/systemd/system/serialine.service"
	configPath = "/etc/serialine/serialine.yaml"
	stateDir   = "/var/lib/serialine"
)

// need skips the test (fails it under CI=true) when why is not empty.
func need(t *testing.T, why string) {
	t.Helper()
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("package test cannot run under CI=true: %s", why)
	}
	t.Skipf("package test skipped: %s", why)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDebianPackage(t *testing.T) {
	switch {
	case runtime.GOOS != "linux":
		need(t, "a Debian package test needs Linux")
	case os.Geteuid() != 0:
		need(t, "installing a package needs root (CI runs as root)")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "systemd-analyze", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, tool+" not installed (make tools installs systemd-analyze)")
		}
	}
	// One package test at a time on this machine (several checkouts).
	lock, err := os.OpenFile("/run/lock/serialine-deb-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("dpkg", "-s", "serialine").Run(); err == nil {
		need(t, "a serialine package is installed on this machine already; not touching it")
	}
	for _, p := range []string{stateDir, "/etc/serialine"} {
		if _, err := os.Stat(p); err == nil {
			need(t, p+" exists already (not from this test); not touching it")
		}
	}

	// Build.
	root, _ := filepath.Abs("..")
	run(t, "make", "-C", root, "deb")
	debs, _ := filepath.Glob(filepath.Join(root, "bin", "serialine_*_amd64.deb"))
	if len(debs) == 0 {
		t.Fatal("make deb made no package")
	}
	deb := newest(debs)
	info := run(t, "dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: serialine", "Depends: adduser", "conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("package info lacks %q:\n%s", want, info)
		}
	}
	contents := run(t, "dpkg-deb", "--contents", deb)
	for _, want := range []string{"./usr/bin/serialine", "." + unitPath, "." + configPath, "./usr/share/doc/serialine/README.md"} {
		if !strings.Contains(contents, want) {
			t.Errorf("package lacks %s:\n%s", want, contents)
		}
	}

	// Install; purge and clean up whatever happens.
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "serialine").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
		// The package keeps the legal record and the user on purge (policy):
		// this test machine removes them.
		os.RemoveAll(stateDir)
		os.RemoveAll("/etc/serialine")
		exec.Command("deluser", "--system", "serialine").Run()
		exec.Command("delgroup", "--system", "serialine").Run()
	})
	run(t, "dpkg", "-i", deb)

	u, err := user.Lookup("serialine")
	if err != nil {
		t.Fatalf("service user: %v", err)
	}
	if u.HomeDir != stateDir {
		t.Errorf("user serialine home %s, want %s", u.HomeDir, stateDir)
	}
	checkMode(t, "/usr/bin/serialine", 0o755, "root")
	checkMode(t, configPath, 0o640, "root")
	checkMode(t, stateDir, 0o750, "serialine")

	// The unit: systemd's own check, and the options this package promises.
	if out, err := exec.Command("systemd-analyze", "verify", unitPath).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
	unit := readUnit(t, unitPath)
	for k, want := range map[string]string{"Type": "notify", "User": "serialine", "StateDirectory": "serialine serialine/archive serialine/backup",
		"ConfigurationDirectory": "serialine", "WatchdogSec": "30s", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"CapabilityBoundingSet": "", "Restart": "on-failure"} {
		if got, ok := unit[k]; !ok || got != want {
			t.Errorf("unit %s=%q, want %q", k, got, want)
		}
	}
	execStart := strings.Fields(unit["ExecStart"])
	if len(execStart) == 0 || !strings.Contains(unit["ExecStart"], configPath) {
		t.Fatalf("ExecStart %q", unit["ExecStart"])
	}

	// ExecStart as its user: the installed config checks.
	asUser := func(args []string, env ...string) *exec.Cmd {
		c := exec.Command(args[0], args[1:]...)
		c.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + stateDir}, env...)
		c.Dir = "/"
		uid, gid := atoi(t, u.Uid), atoi(t, u.Gid)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{gid}}}
		return c
	}
	if unit["User"] != "serialine" {
		t.Fatalf("unit user %q", unit["User"])
	}
	out, err := asUser(append(execStart, "--check")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "config OK") {
		t.Fatalf("ExecStart --check as %s: %v\n%s", unit["User"], err, out)
	}

	// A real start, as systemd would: NOTIFY_SOCKET and WATCHDOG_USEC.
	sockDir, err := os.MkdirTemp("", "serialine-notify-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	os.Chmod(sockDir, 0o755)
	sock := filepath.Join(sockDir, "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Chmod(sock, 0o666)
	var stderr bytes.Buffer
	cmd := asUser(execStart, "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=2000000")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	got := map[string]bool{}
	buf := make([]byte, 4096)
	for !(got["READY=1"] && got["WATCHDOG=1"]) {
		l.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a bound, not a speed check
		n, err := l.Read(buf)
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("no READY=1 and WATCHDOG=1 from the service (got %v): %v\nstderr:\n%s", got, err, stderr.String())
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			got[line] = true
		}
	}
	// SIGTERM, as systemd's stop sends it.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !got["STOPPING=1"] {
		l.SetReadDeadline(time.Now().Add(2 * time.Minute))
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("no STOPPING=1: %v\nstderr:\n%s", err, stderr.String())
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			got[line] = true
		}
	}
	if err := <-exited; err != nil {
		t.Fatalf("service exit: %v\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "first start: user admin, one-time password") {
		t.Errorf("no first-start password on stderr (the journal's log):\n%s", stderr.String())
	}
	checkMode(t, filepath.Join(stateDir, "journal.db"), 0o600, "serialine")
	out, err = asUser([]string{"/usr/bin/serialine", "journal", "verify", "--db", filepath.Join(stateDir, "journal.db")}).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("journal verify of the service's journal: %v\n%s", err, out)
	}
}

func atoi(t *testing.T, s string) uint32 {
	t.Helper()
	var v uint32
	if _, err := fmt.Sscan(s, &v); err != nil {
		t.Fatalf("id %q: %v", s, err)
	}
	return v
}

func newest(paths []string) string {
	var best string
	var bt time.Time
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.ModTime().After(bt) {
			best, bt = p, st.ModTime()
		}
	}
	return best
}

func checkMode(t *testing.T, path string, mode os.FileMode, owner string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if st.Mode().Perm() != mode {
		t.Errorf("%s: mode %o, want %o", path, st.Mode().Perm(), mode)
	}
	uid := fmt.Sprint(st.Sys().(*syscall.Stat_t).Uid)
	u, err := user.Lookup(owner)
	if err != nil || u.Uid != uid {
		t.Errorf("%s: owner uid %s, want %s", path, uid, owner)
	}
}

// readUnit reads the [Service] keys of a unit file (the last value of a
// repeated key).
func readUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("unit line %q", line)
			}
			out[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(errors.Join(err))
	}
	return out
}
