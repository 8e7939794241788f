package opcua_test

import (
	"context"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/devices/opcua"
)

// A port that answers the OPC UA handshake with garbage (or not at all) is
// reconnected at the pace of a growing backoff. (A session the server
// answered resets it: the client dials with the server's own endpoint URL,
// so that half cannot go through this port; connectLocked shows it.)
func TestBackoffResetsOnlyAfterValidReply(t *testing.T) {
	port := devicetest.NewPort(t, devicetest.Garbage([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")))
	clk := devicetest.NewClock()
	cfg := testConfig("opc.tcp://" + port.Addr())
	cfg.Backoff = devices.Backoff{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}
	cl, err := opcua.New(cfg, opcua.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(context.Background())
	connect := devicetest.Attempts(t, t.Context(), cl.Connect, devices.ErrDisconnected)
	devicetest.WantBackoff(t, port, clk, connect, time.Second, 2*time.Second)
	port.Become(devicetest.Silent())
	devicetest.WantBackoff(t, port, clk, connect, 4*time.Second)

}
