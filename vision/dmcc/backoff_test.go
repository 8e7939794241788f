package dmcc_test

import (
	"context"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/dmcc"
)

// A port that answers every command with a frame that is no DMCC response
// — or with lines that are no frame at all, or nothing — is reconnected at
// the pace of a growing backoff; only a valid answer resets it.
func TestBackoffResetsOnlyAfterValidReply(t *testing.T) {
	port := devicetest.NewPort(t, devicetest.Garbage([]byte("||garbage\r\n")))
	clk := devicetest.NewClock()
	b := devices.Backoff{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}
	c := dmcc.New(dmcc.Options{Addr: port.Addr(), Extended: true, Now: clk.Now, Backoff: &b, CommandTimeout: 100 * time.Millisecond})
	defer c.Close(context.Background())
	connect := devicetest.Attempts(t, t.Context(), c.Connect, vision.ErrDisconnected, vision.ErrGarbled)
	devicetest.WantBackoff(t, port, clk, connect, time.Second, 2*time.Second)
	port.Become(devicetest.Garbage([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))) // no frame: the answer never comes
	devicetest.WantBackoff(t, port, clk, connect, 4*time.Second)
	port.Become(devicetest.Silent())
	devicetest.WantBackoff(t, port, clk, connect, 4*time.Second)

	sim, err := camerasim.New(camerasim.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	port.Become(devicetest.Proxy(sim.Addr()))
	if err := c.Connect(context.Background()); err != nil {
		t.Fatalf("Connect through to the simulator: %v", err)
	}
	port.Become(devicetest.Garbage([]byte("||garbage\r\n")))
	devicetest.WantBackoff(t, port, clk, connect, time.Second) // from the first step again
}
