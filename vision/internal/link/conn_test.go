package link

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/vision"
)

// TestConnLifecycle drives Conn over net.Pipe: not connected, a result,
// a line delivered although the peer closed right after it, then
// ErrDisconnected, reconnect, and ErrClosed after Shut.
func TestConnLifecycle(t *testing.T) {
	ctx := t.Context()
	c := Conn{Source: "test"}
	parse := func(b []byte) (vision.Result, error) { return vision.Result{Data: string(b)}, nil }
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return at }
	if _, err := c.Read(ctx, "pipe", parse, now); !errors.Is(err, vision.ErrNotConnected) {
		t.Fatalf("read before connect: %v", err)
	}
	peers := make(chan net.Conn, 2)
	dial := func(context.Context) (io.ReadWriteCloser, error) {
		a, b := net.Pipe()
		peers <- b
		return a, nil
	}
	if err := c.Connect(ctx, "pipe", dial, AnyEOL, func([]byte) bool { return false }, nil); err != nil {
		t.Fatal(err)
	}
	peer := <-peers
	go func() {
		_, _ = peer.Write([]byte("A1\r\nA2\r\n"))
		_ = peer.Close()
	}()
	for _, want := range []string{"A1", "A2"} {
		r, err := c.Read(ctx, "pipe", parse, now)
		if err != nil || r.Data != want || !r.At.Equal(at) {
			t.Fatalf("read %q: %+v %v", want, r, err)
		}
	}
	if _, err := c.Read(ctx, "pipe", parse, now); !errors.Is(err, vision.ErrDisconnected) {
		t.Fatalf("read after peer close: %v", err)
	}
	if _, err := c.Current("read"); !errors.Is(err, vision.ErrNotConnected) {
		t.Fatalf("dropped link still current: %v", err)
	}
	// a failing setup leaves the driver unconnected (the device refused
	// with a valid reply, so the backoff allows the next attempt at once)
	boom := errors.New("setup refused")
	if err := c.Connect(ctx, "pipe", dial, AnyEOL, nil, func(l *Link) error { l.Valid(); return boom }); !errors.Is(err, boom) {
		t.Fatalf("setup error: %v", err)
	}
	<-peers
	if _, err := c.Current("read"); !errors.Is(err, vision.ErrNotConnected) {
		t.Fatalf("after failed setup: %v", err)
	}
	if err := c.Connect(ctx, "pipe", dial, AnyEOL, func([]byte) bool { return false }, nil); err != nil {
		t.Fatal(err)
	}
	<-peers
	l := c.Shut()
	if l == nil {
		t.Fatal("Shut returned no link")
	}
	_ = l.Close()
	if _, err := c.Read(ctx, "pipe", parse, now); !errors.Is(err, vision.ErrClosed) {
		t.Fatalf("read after shut: %v", err)
	}
	if err := c.Connect(ctx, "pipe", dial, AnyEOL, nil, nil); !errors.Is(err, vision.ErrClosed) {
		t.Fatalf("connect after shut: %v", err)
	}
	if err := c.Connect(ctx, "", nil, AnyEOL, nil, nil); !errors.Is(err, vision.ErrClosed) {
		t.Fatalf("connect after shut: %v", err)
	}
}

func TestDialWithoutAddress(t *testing.T) {
	c := Conn{Source: "test"}
	err := c.Connect(t.Context(), "", nil, AnyEOL, nil, nil)
	if !errors.Is(err, vision.ErrDisconnected) || !strings.Contains(err.Error(), "no address configured") {
		t.Fatalf("err = %v", err)
	}
}

func TestValidateEndpoint(t *testing.T) {
	sc := serialport.DefaultConfig()
	sc.Device = "/dev/ttyS0"
	for _, tc := range []struct {
		addr   string
		serial *serialport.Config
		want   string // "" = no problem
	}{
		{"10.0.0.5:23", nil, ""},
		{"", &sc, ""},
		{"", nil, "address: must be set"},
		{"10.0.0.5:23", &sc, "serial: set either address or serial"},
		{"10.0.0.5", nil, `address: "10.0.0.5" is not host:port`},
		{"10.0.0.5:0", nil, `address: bad port "0"`},
		{"10.0.0.5:70000", nil, `address: bad port "70000"`},
	} {
		var p configs.Problems
		ValidateEndpoint(&p, tc.addr, tc.serial)
		err := p.Err()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: unexpected %v", tc.addr, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want %q", tc.addr, err, tc.want)
		}
	}
	addr, dial := Endpoint("", &sc)
	if addr != "/dev/ttyS0" || dial == nil {
		t.Errorf("serial endpoint: %q %v", addr, dial != nil)
	}
	if addr, dial := Endpoint("h:1", nil); addr != "h:1" || dial != nil {
		t.Errorf("tcp endpoint: %q %v", addr, dial != nil)
	}
}
