package modbus_test

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/devices/modbus"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/devices/serialport"
)

// TestRTUOverPTY runs the RTU client (goburrow/modbus over
// goburrow/serial) against the simulator's RTU slave through a real tty.
func TestRTUOverPTY(t *testing.T) {
	master, dev := devicetest.OpenPTY(t)
	// hold the slave open: when its last descriptor closes (the client
	// reconnecting) the master would see a hangup
	hold, err := os.OpenFile(dev, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty slave: %v", err)
	}
	defer hold.Close()
	sim, err := plcsim.New(plcsim.Options{GateDistance: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sim.ServeRTU(master, 7) }()
	t.Cleanup(func() {
		master.Close()
		<-done
	})
	c := testConfig("")
	c.Transport = "rtu"
	c.UnitID = 7
	c.Serial = serialport.Config{Device: dev, Baud: 115200, DataBits: 8, Parity: "even", StopBits: "1", ReadTimeout: time.Second}
	c.Registers.SeqRingLen = 8 // keep RTU frames short
	c.Registers.Slots = 8
	c.Timeout = time.Second
	cl := connect(t, c)
	ctx := ctxT(t)
	seqs := sim.Produce(3)
	got, missed := collect(t, ctx, cl, 3)
	wantSeqs(t, got, seqs)
	if missed != 0 {
		t.Fatalf("missed %d", missed)
	}
	if err := cl.Decide(ctx, got[0], true); err != nil {
		t.Fatal(err)
	}
	sim.Flush()
	if ok, err := cl.Confirm(ctx, got[0]); !ok || err != nil {
		t.Fatalf("Confirm = %v, %v", ok, err)
	}
	o := devices.Outputs{LineStop: true, Light: devices.LightAmber}
	if err := cl.SetOutputs(ctx, o); err != nil {
		t.Fatal(err)
	}
	if st := sim.Status().Outputs; st != o {
		t.Fatalf("outputs %+v", st)
	}
	sim.SetFaults(plcsim.Faults{ModbusException: 2})
	for { // the poller may meet the fault first; Decide reconnects when the backoff allows
		err := cl.Decide(ctx, 99, true)
		if !errors.Is(err, devices.ErrDisconnected) {
			t.Fatalf("exception over RTU: %v", err)
		}
		if code, ok := modbus.ExceptionCode(err); ok {
			if code != 2 {
				t.Fatalf("exception code %d (%v)", code, err)
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
	sim.SetFaults(plcsim.Faults{})
	more := sim.Produce(1)
	got, _ = collect(t, ctx, cl, 1)
	wantSeqs(t, got, more)
}
