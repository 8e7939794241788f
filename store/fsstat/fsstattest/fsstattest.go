// Package fsstattest gives tests a small file system of their own, to fill
// up: a tmpfs mounted in the test's temp folder (Linux, root).
package fsstattest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Mount mounts a tmpfs of size bytes in a fresh folder and returns it; it
// is unmounted in t.Cleanup. Without root (or off Linux) the test is
// skipped with the reason, or fails when CI=true (CI runs as root).
func Mount(t testing.TB, size int64) string {
	t.Helper()
	why := ""
	switch {
	case runtime.GOOS != "linux":
		why = "a tmpfs mount needs Linux"
	case os.Geteuid() != 0:
		why = "mounting a small tmpfs needs root"
	}
	if why == "" {
		if _, err := exec.LookPath("mount"); err != nil {
			why = "no mount command"
		}
	}
	if why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("disk-full test cannot run under CI=true: %s", why)
		}
		t.Skipf("disk-full test skipped: %s", why)
	}
	dir := filepath.Join(t.TempDir(), "smallfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("disk-full test skipped: mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file in dir until the file system is full, leaving keep
// bytes free, and returns the file's name (remove it to free the room).
func Fill(t testing.TB, dir string, keep int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		var st struct{ free int64 }
		st.free = free(t, dir)
		if st.free <= keep {
			return path
		}
		n := min(int64(len(buf)), st.free-keep)
		if _, err := f.Write(buf[:n]); err != nil {
			return path // full
		}
	}
}
