package link

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/vision"
)

// pipeDialer hands out net.Pipe connections and their device ends.
func pipeDialer() (func(context.Context) (io.ReadWriteCloser, error), chan net.Conn) {
	peers := make(chan net.Conn, 4)
	return func(context.Context) (io.ReadWriteCloser, error) {
		a, b := net.Pipe()
		peers <- b
		return a, nil
	}, peers
}

// echoProbe is a probe command "PING" answered by any line "PONG".
func echoProbe(ctx context.Context, l *Link) error {
	return l.Command(ctx, "PING", []byte("PING\r"), time.Second, "answer", func(line []byte) (bool, error) {
		l.Valid()
		return string(line) == "PONG", nil
	})
}

// A device that hangs with its connection open is found by the keep-alive
// (probe after KeepAlive of silence, no answer within the command timeout)
// and Read, blocked waiting for a result, returns ErrDisconnected wrapping
// ErrTimeout. While results flow, no probe is sent.
func TestKeepAliveFindsHungDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dial, peers := pipeDialer()
		c := Conn{Source: "test", KeepAlive: 500 * time.Millisecond, Probe: echoProbe}
		isReply := func(b []byte) bool { return string(b) == "PONG" }
		if err := c.Connect(t.Context(), "pipe", dial, AnyEOL, isReply, nil); err != nil {
			t.Fatal(err)
		}
		peer := <-peers
		r := bufio.NewReader(peer)
		parse := func(b []byte) (vision.Result, error) { return vision.Result{Data: string(b)}, nil }
		for range 5 { // results every 300ms: never silent for 500ms
			time.Sleep(300 * time.Millisecond)
			if _, err := peer.Write([]byte("R\r")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Read(t.Context(), "pipe", parse, time.Now); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		line, err := r.ReadString('\r') // the first command the device sees
		if err != nil || line != "PING\r" {
			t.Fatalf("device read %q %v", line, err)
		}
		if d := time.Since(start); d != 500*time.Millisecond {
			t.Errorf("probe after %s of silence, want 500ms", d)
		}
		if _, err := peer.Write([]byte("PONG\r")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\r'); err != nil || line != "PING\r" {
			t.Fatalf("second probe: %q %v", line, err)
		}
		// The device hangs now.
		_, err = c.Read(t.Context(), "pipe", parse, time.Now)
		if !errors.Is(err, vision.ErrDisconnected) || !errors.Is(err, vision.ErrTimeout) {
			t.Fatalf("Read: %v, want ErrDisconnected wrapping ErrTimeout", err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("hang reported %s after the results stopped, want 500ms + 500ms + 1s", d)
		}
		peer.Close()
	})
}

// The backoff grows with connections that end before any valid reply and
// resets with one; Connect inside the wait is refused without dialling.
func TestConnBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dial, peers := pipeDialer()
		c := Conn{Source: "test", Backoff: devices.Backoff{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}}
		parse := func(b []byte) (vision.Result, error) {
			if string(b) == "garbage" {
				return vision.Result{}, &vision.LineError{Source: "test", Line: string(b)}
			}
			return vision.Result{Data: string(b)}, nil
		}
		round := func(reply string) error {
			if err := c.Connect(t.Context(), "pipe", dial, AnyEOL, noReply, nil); err != nil {
				return err
			}
			peer := <-peers
			go func() { _, _ = peer.Write([]byte(reply + "\r")); peer.Close() }()
			for {
				if _, err := c.Read(t.Context(), "pipe", parse, time.Now); errors.Is(err, vision.ErrDisconnected) {
					return nil
				}
			}
		}
		for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
			if err := round("garbage"); err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
			err := c.Connect(t.Context(), "pipe", dial, AnyEOL, noReply, nil)
			if wait, ok := devices.RetryWait(err); !ok || wait != want || !errors.Is(err, vision.ErrDisconnected) {
				t.Fatalf("round %d: Connect at once: %v, want refused for %s", i, err, want)
			}
			if len(peers) != 0 {
				t.Fatal("a refused Connect dialled")
			}
			time.Sleep(want)
		}
		if err := round("a valid result"); err != nil { // resets
			t.Fatal(err)
		}
		if err := round("garbage"); err != nil { // allowed at once
			t.Fatal(err)
		}
		if wait, _ := devices.RetryWait(c.Connect(t.Context(), "pipe", dial, AnyEOL, noReply, nil)); wait != time.Second {
			t.Fatalf("after the reset the wait is %s, want the first step", wait)
		}
	})
}

func noReply([]byte) bool { return false }
