package keyence_test

import (
	"context"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/keyence"
)

// A port that answers LON with something that is no SR reply is
// reconnected at the pace of a growing backoff; only a valid reply resets
// it.
func TestBackoffResetsOnlyAfterValidReply(t *testing.T) {
	port := devicetest.NewPort(t, devicetest.Garbage([]byte("ER,garbage\r")))
	clk := devicetest.NewClock()
	b := devices.Backoff{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}
	c := keyence.New(keyence.Options{Addr: port.Addr(), Now: clk.Now, Backoff: &b, CommandTimeout: 100 * time.Millisecond})
	defer c.Close(context.Background())
	connect := devicetest.Attempts(t, t.Context(), c.Connect, vision.ErrDisconnected, vision.ErrGarbled)
	devicetest.WantBackoff(t, port, clk, connect, time.Second, 2*time.Second, 4*time.Second, 4*time.Second)

	sim, err := camerasim.New(camerasim.Options{Protocol: camerasim.Keyence, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	port.Become(devicetest.Proxy(sim.Addr()))
	if err := c.Connect(context.Background()); err != nil {
		t.Fatalf("Connect through to the simulator: %v", err)
	}
	port.Become(devicetest.Garbage([]byte("ER,garbage\r")))
	devicetest.WantBackoff(t, port, clk, connect, time.Second)
}
