package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/serialine/serialine/line/linesim/bus"
	"github.com/serialine/serialine/printer/printersim"
)

// cmdSimPrinter runs the simulated TIJ printer (text protocol, and ZPL on a
// second address) until interrupted.
func cmdSimPrinter(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("sim printer", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var o printersim.Options
	fs.StringVar(&o.Addr, "tcp", "127.0.0.1:3003", "text-protocol listen address (port 0 = any)")
	fs.StringVar(&o.ZPLAddr, "zpl", "", "ZPL II listen address, e.g. 127.0.0.1:9100 (empty = off)")
	fs.IntVar(&o.QueueCap, "queue", 16, "record queue capacity")
	fs.DurationVar(&o.AckDelay, "ack-delay", 5*time.Millisecond, "reply latency (replies keep command order)")
	fs.DurationVar(&o.AckJitter, "ack-jitter", 45*time.Millisecond, "reply latency jitter (added, uniform)")
	fs.DurationVar(&o.PrintTime, "print-time", 10*time.Millisecond, "time a code takes to pass under the head (code width / conveyor speed); a product arriving sooner after the previous one is a missed print")
	var eye photoEyeFlag
	fs.Var(&eye, "photo-eye", "print on an own timer every this long (a duration; 0 = off), or on the PLC's products: the PLC's line bus host:port (serialine sim plc --bus)")
	fs.StringVar(&o.NoData, "no-data", printersim.NoDataWarn, "trigger with empty queue: warn, ignore or fail")
	fs.StringVar(&o.IDField, "id-field", "ID", "job field carrying the record ID")
	fs.StringVar(&o.DataField, "data-field", "GS1", "job field carrying the element string")
	fs.Uint64Var(&o.InkCapacity, "ink", 0, "prints per cartridge (0 = endless)")
	fs.Uint64Var(&o.InkLowAt, "ink-low-at", 0, "remaining prints at which ink low is warned")
	fs.BoolVar(&o.FaultClearsQueue, "fault-clears-queue", false, "a fault empties the queue")
	fs.Float64Var(&o.WrongRecordRate, "wrong-rate", 0, "probability of printing the wrong record")
	fs.Float64Var(&o.DuplicateAckRate, "dup-rate", 0, "probability of a duplicated print-complete")
	fs.Float64Var(&o.DefectRate, "defect-rate", 0, "probability of a print defect")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	busListen := fs.String("bus", "", `line bus listen address: every print (product, record, element string, defects), for the camera's --shots and the PLC's --prints ("" = off; port 0 = any)`)
	setUsage(fs, e.stderr, "[flags]")
	if code, ok := parseFlagsOnly(fs, args, e.stderr, "sim printer: unexpected arguments %q\n"); !ok {
		return code
	}
	o.Logger = e.logger
	o.PhotoEye = eye.every
	// Nothing in this process looks at the printed image: the camera
	// renders what it sees from the line bus (bus.Printed.Shot).
	o.Render = func(string) (image.Image, error) { return nil, nil }
	s, err := printersim.Start(o)
	if err != nil {
		fmt.Fprintf(e.stderr, "sim printer: %v\n", err)
		if errors.Is(err, printersim.ErrBadOptions) {
			return exitUsage
		}
		return exitFailure // e.g. the address is in use
	}
	defer s.Close()
	fmt.Fprintf(e.stdout, "printer text protocol on %s\n", s.Addr())
	if a := s.ZPLAddr(); a != "" {
		fmt.Fprintf(e.stdout, "printer ZPL on %s\n", a)
	}
	var pub *bus.Publisher
	if *busListen != "" {
		if pub, err = publishBus(e, bus.BusPrinter, *busListen); err != nil {
			fmt.Fprintf(e.stderr, "sim printer: --bus: %v\n", err)
			return exitFailure
		}
		defer pub.Close()
		s.OnPrint(func(p printersim.Printed) { publish(e.logger, pub, bus.PrintedOf(p)) })
	}
	e.logger.Info("printer simulator running", "tcp", s.Addr(), "zpl", s.ZPLAddr())
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	failed := make(<-chan error)
	if eye.addr != "" {
		failed, err = subscribeBus(rctx, &wg, e, bus.BusPLC, eye.addr, "photo-eye: products from the plc bus at "+eye.addr,
			func(m bus.Message) {
				if p, ok := m.(bus.Product); ok {
					s.PrintAt(p.Seq, p.At)
				}
			})
		if err != nil {
			fmt.Fprintf(e.stderr, "sim printer: --photo-eye: %v\n", err)
			return exitUsage
		}
	}
	code := exitOK
	select {
	case <-ctx.Done():
	case err := <-failed:
		fmt.Fprintf(e.stderr, "sim printer: --photo-eye: %v\n", err)
		code = exitFailure
	}
	stop()
	wg.Wait()
	s.Close() // no more prints; then what the bus still holds goes out
	if pub != nil {
		pub.Close()
	}
	st := s.Stats()
	e.logger.Info("printer simulator stopped", "printed", st.Printed, "accepted", st.Accepted, "refused", st.Refused, "missed", st.Missed)
	return code
}
