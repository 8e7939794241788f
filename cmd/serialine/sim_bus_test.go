package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/linesim/bus"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/vision/dmcc"
)

// The line bus flags: what goes together, what an address must look like.
func TestSimBusFlagsUsage(t *testing.T) {
	log := filepath.Join(t.TempDir(), "gates.jsonl")
	for _, tc := range []struct {
		cmd  func(context.Context, env, []string) int
		args []string
		want string
	}{
		{cmdSimPLC, []string{"--prints", "127.0.0.1:7"}, "--prints and --gate-log go together"},
		{cmdSimPLC, []string{"--gate-log", log}, "--prints and --gate-log go together"},
		{cmdSimPLC, []string{"--prints", "printer", "--gate-log", log}, `--prints "printer": want the publisher's host:port`},
		{cmdSimPLC, []string{"--slots", "-1"}, "--slots 0..2000"},
		{cmdSimPrinter, []string{"--photo-eye", "sometimes"}, "want a duration (own timer, 0 = off) or the PLC bus's host:port"},
		{cmdSimPrinter, []string{"--photo-eye", "127.0.0.1:0"}, "want a duration"},
		{cmdSimCamera, []string{"--shots", "localhost"}, `--shots "localhost": want the publisher's host:port`},
	} {
		var errb bytes.Buffer
		e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb, logger: slog.New(slog.DiscardHandler)}
		if c := tc.cmd(t.Context(), e, tc.args); c != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, c, errb.String(), exitUsage, tc.want)
		}
	}
}

// A subscriber pointed at the wrong bus ends its simulator with a failure
// that names what it found, instead of retrying for ever.
func TestSimWrongBus(t *testing.T) {
	pub, err := bus.Listen("127.0.0.1:0", bus.PublisherOptions{Bus: bus.BusPrinter})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var errb camErrBuf
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb, logger: slog.New(slog.DiscardHandler)}
	if c := cmdSimPrinter(t.Context(), e, []string{"--tcp", "127.0.0.1:0", "--photo-eye", pub.Addr()}); c != exitFailure ||
		!strings.Contains(errb.String(), "is the printer bus (version 1), want the plc bus") {
		t.Fatalf("exit %d, stderr %q", c, errb.String())
	}
}

// sim camera --shots: each print on the printer's bus is rendered as the
// printer rendered it (defects from the same seed), decoded for real and
// reported over DMCC; a print without data is a no-read.
func TestSimCameraShots(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pub, err := bus.Listen("127.0.0.1:0", bus.PublisherOptions{Bus: bus.BusPrinter})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var errb camErrBuf
	first, code := startSim(ctx, t, cmdSimCamera, strings.NewReader(""), &errb, "--tcp", "127.0.0.1:0", "--shots", pub.Addr())
	cl := dmcc.New(dmcc.Options{Addr: strings.TrimPrefix(first, "camera (dmcc) on "), Extended: true})
	if err := cl.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer cl.Close(context.Background())
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	m, err := gs1.Parse("(01)09501101530003(17)291231(10)LOT7(21)BUS1")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	for _, p := range []bus.Printed{
		{Seq: 1, At: at, Record: "R1", Data: m.ElementString(), Defects: []bus.Defect{{Kind: printersim.DefectContrast, Severity: 0.3}}, Seed: 99},
		{Seq: 2, At: at, Record: "R2"},
	} {
		if err := pub.Publish(p); err != nil {
			t.Fatal(err)
		}
	}
	r, err := cl.Read(ctx)
	if err != nil || r.NoRead || r.Data != m.ElementString() {
		t.Fatalf("print 1: %+v, %v", r, err)
	}
	if r, err := cl.Read(ctx); err != nil || !r.NoRead {
		t.Fatalf("print 2 (no data): %+v, %v", r, err)
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("exit %d: %s", c, errb.String())
	}
}

// sim plc --bus publishes every product and gate result; --prints and
// --gate-log join the prints seen on the printer's bus with the gate's
// results and write the gate log when the simulator stops. No controller
// here: every product reaches the gate without a verdict and is pushed
// off fail-safe.
func TestSimPLCGateLog(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	prints, err := bus.Listen("127.0.0.1:0", bus.PublisherOptions{Bus: bus.BusPrinter})
	if err != nil {
		t.Fatal(err)
	}
	defer prints.Close()
	path := filepath.Join(t.TempDir(), "gates.jsonl")
	out := &plcOut{lines: make(chan string, 16)}
	var errb camErrBuf
	e := env{stdin: strings.NewReader(""), stdout: out, stderr: &errb, logger: slog.New(slog.DiscardHandler)}
	code := make(chan int, 1)
	go func() {
		code <- cmdSimPLC(ctx, e, []string{"--start-stopped=false", "--modbus", "127.0.0.1:0", "--opcua", "", "--rate", "100", "--gate-distance", "3",
			"--bus", "127.0.0.1:0", "--prints", prints.Addr(), "--gate-log", path})
	}()
	var plcBus string
	for plcBus == "" {
		select {
		case l := <-out.lines:
			if a, ok := strings.CutPrefix(l, "plc bus on "); ok {
				plcBus = a
			}
		case c := <-code:
			t.Fatalf("exit %d: %s", c, errb.String())
		}
	}
	if err := prints.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sub, err := bus.NewSubscriber(bus.SubscriberOptions{Addr: plcBus, Bus: bus.BusPLC})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// Print a serial on every product seen; stop after ten of them left
	// the gate.
	printed := map[uint64]string{}
	var gated []bus.Gate
	for len(gated) < 10 {
		m, err := sub.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case bus.Product:
			serial := fmt.Sprintf("S%05d", m.Seq)
			printed[m.Seq] = serial
			if err := prints.Publish(bus.Printed{Seq: m.Seq, At: m.At, Record: serial, Data: "0109501101530003\x1d21" + serial}); err != nil {
				t.Fatal(err)
			}
		case bus.Gate:
			if m.Verdict != bus.VerdictNone || !m.Pushed {
				t.Fatalf("gate %+v: want pushed off without a verdict", m)
			}
			if _, ok := printed[m.Seq]; ok {
				gated = append(gated, m)
			}
		}
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("exit %d: %s", c, errb.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	withSerial, seen := 0, map[uint64]bool{}
	for dec.More() {
		var r linesim.GateRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if r.Outcome == "on-conveyor" { // printed, not at the gate when the sim stopped
			if r.VerdictAtGate != "" || r.Serial != printed[r.Seq] {
				t.Errorf("record %+v: want the serial printed on it and no verdict", r)
			}
			continue
		}
		seen[r.Seq] = true
		if r.Outcome != "pushed" || r.VerdictAtGate != "none" {
			t.Errorf("record %+v: want pushed without a verdict", r)
		}
		if r.Serial != "" {
			withSerial++
			if r.Serial != printed[r.Seq] {
				t.Errorf("product %d: gate log serial %q, printed %q", r.Seq, r.Serial, printed[r.Seq])
			}
		}
	}
	for _, g := range gated {
		if !seen[g.Seq] {
			t.Errorf("product %d left the gate (bus) but is not in the gate log", g.Seq)
		}
	}
	if withSerial == 0 {
		t.Fatalf("no product of the gate log carries a serial:\n%s", b)
	}
}
