package zpl_test

import (
	"context"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/printer/zpl"
)

// A port that answers ~HS with frames that are no host status is
// reconnected at the pace of a growing backoff; only a valid ~HS answer
// resets it.
func TestBackoffResetsOnlyAfterValidReply(t *testing.T) {
	port := devicetest.NewPort(t, devicetest.Garbage([]byte("\x02not\x03\x02a host\x03\x02status\x03")))
	clk := devicetest.NewClock()
	b := devices.Backoff{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}
	c, err := zpl.New(zpl.Options{Addr: port.Addr(), Format: "^FN1^FS", Now: clk.Now, Backoff: &b})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx := context.Background()
	connect := devicetest.Attempts(t, ctx, c.Connect, printer.ErrDisconnected, printer.ErrProtocol)
	devicetest.WantBackoff(t, port, clk, connect, time.Second, 2*time.Second, 4*time.Second, 4*time.Second)

	// A printer on the port: its ~HS answer resets the backoff.
	sim, err := printersim.Start(printersim.Options{Addr: "127.0.0.1:0", ZPLAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	port.Become(devicetest.Proxy(sim.ZPLAddr()))
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect through to the simulator: %v", err)
	}
	port.Become(devicetest.Garbage([]byte("\x02\x03\x02\x03\x02\x03")))
	devicetest.WantBackoff(t, port, clk, connect, time.Second, 2*time.Second)
}
