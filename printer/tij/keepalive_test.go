package tij_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/tij"
)

// A printer that stops answering while the line is idle (no command, no
// event) is found by the keep-alive: GST after KeepAlive of silence, no
// reply within ReplyTimeout, the connection ends with ErrTimeout — Next,
// which the queue manager is blocked in, reports it.
func TestKeepAliveFindsHungPrinter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, f, connected := pipeClient(t, tij.Options{KeepAlive: 500 * time.Millisecond, ReplyTimeout: time.Second})
		if err := connected(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		next := make(chan error, 1)
		go func() {
			_, err := c.Next(context.Background())
			next <- err
		}()
		f.expect(t, "GST|\r") // after 500ms of silence
		if d := time.Since(start); d != 500*time.Millisecond {
			t.Errorf("keep-alive sent after %s of silence, want 500ms", d)
		}
		f.send(t, "GST|RUNNING||\r") // alive: the next probe waits another 500ms
		f.expect(t, "GST|\r")
		if d := time.Since(start); d != time.Second {
			t.Errorf("second keep-alive after %s, want 1s", d)
		}
		// Now the printer hangs: the connection stays open, nothing answers.
		err := <-next
		if !errors.Is(err, printer.ErrTimeout) {
			t.Fatalf("Next: %v, want ErrTimeout from the unanswered keep-alive", err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("hang reported after %s, want 1s (probe) + 1s (ReplyTimeout)", d)
		}
		f.conn.Close()
		c.Close(context.Background())
	})
}

// No probe while the printer talks: events reset the silence clock, and a
// command under way is watched by its own reply timeout.
func TestKeepAliveQuietWhileTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, f, connected := pipeClient(t, tij.Options{KeepAlive: 500 * time.Millisecond, ReplyTimeout: time.Second})
		if err := connected(); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			time.Sleep(400 * time.Millisecond)
			f.send(t, "STS|RUNNING|tick|\r")
			ev, err := c.Next(context.Background())
			if err != nil || ev.Kind != printer.Status {
				t.Fatalf("event %d: %v %v", i, ev, err)
			}
		}
		// Silence now: the first line the printer reads is the probe, 500ms
		// after the last event (no GST was sent during the traffic).
		last := time.Now()
		f.expect(t, "GST|\r")
		if d := time.Since(last); d != 500*time.Millisecond {
			t.Errorf("probe %s after the last event, want 500ms", d)
		}
		f.send(t, "GST|RUNNING||\r")
		c.Close(context.Background())
		f.conn.Close()
	})
}
