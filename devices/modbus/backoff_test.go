package modbus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/plcsim"
)

// modbusGarbage is a reply with a plausible MBAP header whose transaction
// id and length are wrong: not Modbus.
var modbusGarbage = []byte("HTTP/1.1 400 Bad Request\r\n\r\n")

// A port that answers Modbus requests with garbage is reconnected at the
// pace of a growing backoff, by Connect and by the trigger poller alike;
// only a valid reply resets it. (Without this the poller reconnected at
// the rate of its polls, hundreds of times a second, each failure an
// alarm.)
func TestBackoffResetsOnlyAfterValidReply(t *testing.T) {
	port := devicetest.NewPort(t, devicetest.Garbage(modbusGarbage))
	clk := devicetest.NewClock()
	cfg := testConfig(port.Addr())
	cfg.Backoff = devices.Backoff{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}
	cl, err := modbus.New(cfg, modbus.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(context.Background())
	ctx := ctxT(t)
	connect := devicetest.Attempts(t, ctx, cl.Connect, devices.ErrDisconnected)
	devicetest.WantBackoff(t, port, clk, connect, time.Second, 2*time.Second, 4*time.Second)
	port.Become(devicetest.Silent()) // answers nothing: each request times out
	devicetest.WantBackoff(t, port, clk, connect, 4*time.Second)

	// A PLC answers on the port: Connect primes the counter, the valid
	// reply resets the backoff and the poller starts.
	sim, simAddr := newSim(t, plcsim.Options{})
	port.Become(devicetest.Proxy(simAddr))
	if err := cl.Connect(ctx); err != nil {
		t.Fatalf("Connect through to the simulator: %v", err)
	}
	sim.Produce(1)
	next(t, ctx, cl)

	// The port turns to garbage and the connection drops. The poller's
	// one immediate reconnect (the connection had worked) meets garbage:
	// from then on it waits for the backoff, which a Decide reports.
	port.Become(devicetest.Garbage(modbusGarbage))
	before := port.Accepted()
	port.DropAll()
	refusedFor := func(want time.Duration) bool {
		err := cl.Decide(ctx, 1, false)
		w, ok := devices.RetryWait(err)
		return ok && w == want
	}
	waitFor(t, "the poller's reconnect to meet garbage", func() bool { return refusedFor(time.Second) })
	if n := port.Accepted() - before; n != 1 {
		t.Fatalf("%d reconnects after the drop, want 1 before the backoff", n)
	}
	clk.Advance(time.Second)
	waitFor(t, "the second reconnect to meet garbage", func() bool { return refusedFor(2 * time.Second) })
	if n := port.Accepted() - before; n != 2 {
		t.Fatalf("%d reconnects, want 2", n)
	}
	// NextTrigger saw the failures as errors, one per attempt, not one per
	// poll interval.
	errs := 0
	for {
		tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := cl.NextTrigger(tctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if !errors.Is(err, devices.ErrDisconnected) {
			t.Fatalf("NextTrigger: %v", err)
		}
		errs++
	}
	if errs > 3 { // the drop, and two garbage connections
		t.Fatalf("%d errors for 2 reconnects", errs)
	}
}
