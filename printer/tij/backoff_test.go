package tij_test

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/tij"
)

// ackAll answers every CR-terminated command with ACK: enough of a printer
// for Connect.
func ackAll(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		if _, err := r.ReadString('\r'); err != nil {
			return
		}
		if _, err := c.Write([]byte("ACK\r")); err != nil {
			return
		}
	}
}

// A port that answers garbage is reconnected at the pace of the backoff,
// which grows with every such connection and resets only after a valid
// reply: Connect inside the wait is refused without dialling, with a
// devices.RetryAfter error devices.Retry follows.
func TestBackoffResetsOnlyAfterValidReply(t *testing.T) {
	port := devicetest.NewPort(t, devicetest.Garbage([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")))
	clk := devicetest.NewClock()
	b := devices.Backoff{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}
	c, err := tij.New(tij.Options{Addr: port.Addr(), Job: "J", Now: clk.Now, Backoff: &b})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx := context.Background()
	connect := devicetest.Attempts(t, ctx, c.Connect, printer.ErrDisconnected, printer.ErrProtocol)
	devicetest.WantBackoff(t, port, clk, connect, time.Second, 2*time.Second, 4*time.Second, 4*time.Second)
	// A printer answers on the port now: Connect succeeds and the valid
	// replies reset the backoff.
	port.Become(ackAll)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect to a printer: %v", err)
	}
	port.Become(devicetest.Garbage([]byte("\x00\xff\x13garbage\r")))
	devicetest.WantBackoff(t, port, clk, connect, time.Second, 2*time.Second) // from the first step again
}
