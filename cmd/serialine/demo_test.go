package main

import (
	"net"
	"strings"
	"testing"
)

// TestDemoBusyListen: a busy --listen address ends the demo with exit 1
// before any one-time password is printed; the default address falls back
// to a free port and says so.
func TestDemoBusyListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, out, errs := runClient(t, "demo", "--listen", busy.Addr().String(), "--units", "5")
	if code != exitFailure || strings.Contains(out+errs, "one-time password") || !strings.Contains(errs, "--listen 127.0.0.1:0") {
		t.Fatalf("demo on a busy port: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	ln, note, err := listenHMI(busy.Addr().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() == busy.Addr().String() || !strings.Contains(note, "is busy") || !strings.Contains(note, ln.Addr().String()) {
		t.Fatalf("fallback: %v %q", ln.Addr(), note)
	}
	if _, _, err := listenHMI(busy.Addr().String(), true); err == nil {
		t.Fatal("explicit busy address accepted")
	}
}
