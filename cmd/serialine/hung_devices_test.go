package main

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/opcua"
	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/vision"
)

// A hung device is a simulator process stopped with SIGSTOP: its
// connections stay open (the kernel keeps them), nothing answers. Each
// test runs the standalone simulator (serialine sim …) as a child process,
// builds the driver from the demo config validated by run --check's rules
// (so the device's worst-case hang detection fits config.MaxHangDetection,
// 2s), stops the child and waits — with no deadline of its own — until the
// driver reports the hang through the error the controller holds the line
// on; then SIGCONT, and the driver recovers.

// hungConfig is configs/demo.yaml with the devices at the children's
// addresses, validated as `serialine run --check` does.
func hungConfig(t *testing.T, edit func(*config.Config)) config.Config {
	t.Helper()
	data, err := configs.Files.ReadFile("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Decode("demo.yaml", strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	edit(&cfg)
	if err := cfg.Validate().Err(); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func drivers(t *testing.T, cfg config.Config) line.Drivers {
	t.Helper()
	d, err := line.NewDrivers(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Printer.Close(ctx)
		d.Camera.Close(ctx)
		d.PLC.Close(ctx)
	})
	return d
}

// retryConnect connects through the one backoff wrapper, as the controller does.
func retryConnect(t *testing.T, what string, connect func(context.Context) error) {
	t.Helper()
	b := devices.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond, Multiplier: 2}
	if err := devices.Retry(t.Context(), b, connect, nil); err != nil {
		t.Fatalf("%s: connect: %v", what, err)
	}
}

func TestHungPrinterFound(t *testing.T) {
	sim, line := startChild(t, "printer text protocol on ", "sim", "printer", "--tcp", "127.0.0.1:0", "--ack-delay", "0", "--ack-jitter", "0")
	addr := strings.TrimPrefix(line, "printer text protocol on ")
	cfg := hungConfig(t, func(c *config.Config) { c.Devices.Printer.Address = addr })
	if d := cfg.Devices.Printer.HangDetection(); d <= 0 || d > config.MaxHangDetection {
		t.Fatalf("validated printer settings find a hang within %s", d)
	}
	p := drivers(t, cfg).Printer
	retryConnect(t, "printer", p.Connect)
	if _, err := p.QueueDepth(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The queue manager waits in Next while the line is idle: that is
	// where the hang must show.
	next := make(chan error, 1)
	go func() {
		for {
			if _, err := p.Next(t.Context()); err != nil {
				next <- err
				return
			}
		}
	}()
	sim.signal(t, syscall.SIGSTOP)
	err := <-next
	if !errors.Is(err, printer.ErrTimeout) {
		t.Fatalf("hung printer: Next returned %v, want ErrTimeout (the keep-alive went unanswered)", err)
	}
	sim.signal(t, syscall.SIGCONT)
	retryConnect(t, "printer after SIGCONT", p.Connect)
	if n, err := p.QueueDepth(t.Context()); err != nil || n != 0 {
		t.Fatalf("printer after SIGCONT: queue depth %d, %v", n, err)
	}
}

func TestHungCameraFound(t *testing.T) {
	sim, line := startChild(t, "camera (dmcc) on ", "sim", "camera", "--tcp", "127.0.0.1:0", "--every", "100ms")
	addr := strings.TrimPrefix(line, "camera (dmcc) on ")
	cfg := hungConfig(t, func(c *config.Config) { c.Devices.Camera.DMCC.Address = addr })
	if d := cfg.Devices.Camera.HangDetection(); d <= 0 || d > config.MaxHangDetection {
		t.Fatalf("validated camera settings find a hang within %s", d)
	}
	cam := drivers(t, cfg).Camera
	retryConnect(t, "camera", cam.Connect)
	if _, err := cam.Read(t.Context()); err != nil { // results flow (a symbol every 100ms)
		t.Fatal(err)
	}
	sim.signal(t, syscall.SIGSTOP)
	var err error
	for err == nil {
		_, err = cam.Read(t.Context())
	}
	if !errors.Is(err, vision.ErrDisconnected) || !errors.Is(err, vision.ErrTimeout) {
		t.Fatalf("hung camera: Read returned %v, want ErrDisconnected wrapping ErrTimeout (the keep-alive went unanswered)", err)
	}
	sim.signal(t, syscall.SIGCONT)
	retryConnect(t, "camera after SIGCONT", cam.Connect)
	if r, err := cam.Read(t.Context()); err != nil || r.NoRead {
		t.Fatalf("camera after SIGCONT: %+v %v", r, err)
	}
}

// plcHang waits until the PLC client reports the hang: ErrDisconnected (a
// request timed out) or ErrHeartbeatStalled — the controller holds the
// line on both (plcLoop).
func plcHang(t *testing.T, plc line.PLC) error {
	t.Helper()
	for {
		_, err := plc.NextTrigger(t.Context())
		if err != nil {
			return err
		}
	}
}

// plcRecovers waits for a trigger, calling NextTrigger again after the
// errors of the reconnect.
func plcRecovers(t *testing.T, plc line.PLC) {
	t.Helper()
	for {
		_, err := plc.NextTrigger(t.Context())
		switch {
		case err == nil:
			return
		case errors.Is(err, devices.ErrDisconnected), errors.Is(err, devices.ErrHeartbeatStalled):
		default:
			t.Fatalf("PLC after SIGCONT: %v", err)
		}
	}
}

func TestHungPLCFound(t *testing.T) {
	for _, proto := range []string{"modbus", "opcua"} {
		t.Run(proto, func(t *testing.T) {
			args := []string{"sim", "plc", "--rate", "50", "--controller-timeout", "1h", "--modbus", "", "--opcua", ""}
			ready := "modbus tcp: "
			if proto == "modbus" {
				args[len(args)-3] = "127.0.0.1:0"
			} else {
				args[len(args)-1], ready = "127.0.0.1:0", "opc ua: "
			}
			sim, line := startChild(t, ready, args...)
			addr := strings.TrimPrefix(line, ready)
			cfg := hungConfig(t, func(c *config.Config) {
				if proto == "modbus" {
					c.Devices.PLC.Modbus.Address = addr
					return
				}
				u := opcua.DefaultConfig(addr)
				u.Timeout, u.HeartbeatTimeout = time.Second, time.Second
				c.Devices.PLC = config.PLC{Protocol: "opcua", OPCUA: &u}
			})
			if d, what := cfg.Devices.PLC.HangDetection(); d <= 0 || d > config.MaxHangDetection {
				t.Fatalf("validated PLC settings find a hang within %s (%s)", d, what)
			}
			plc := drivers(t, cfg).PLC
			retryConnect(t, "plc", plc.Connect)
			// the simulated PLC powers up with the line stopped: release it
			if err := plc.SetOutputs(t.Context(), devices.Outputs{Light: devices.LightGreen}); err != nil {
				t.Fatalf("release the line: %v", err)
			}
			plcRecovers(t, plc) // triggers flow
			sim.signal(t, syscall.SIGSTOP)
			err := plcHang(t, plc)
			if !errors.Is(err, devices.ErrDisconnected) && !errors.Is(err, devices.ErrHeartbeatStalled) {
				t.Fatalf("hung PLC: NextTrigger returned %v, want ErrDisconnected or ErrHeartbeatStalled", err)
			}
			t.Logf("hung %s PLC reported as: %v", proto, err)
			sim.signal(t, syscall.SIGCONT)
			plcRecovers(t, plc)
			if err := plc.DecideBatch(t.Context(), []devices.Verdict{{Seq: 1}}); err != nil {
				t.Fatalf("a verdict after SIGCONT: %v", err)
			}
		})
	}
}
