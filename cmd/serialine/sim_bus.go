package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/serialine/serialine/line/linesim/bus"
)

// The simulators' line bus (line/linesim/bus) wires standalone simulators
// together as linesim wires them in one process: the PLC's products are
// the printer's photo-eye, the printer's prints go under the camera and
// into the PLC's gate log.

// publishBus listens for subscribers of the named bus on addr and prints
// the address it got ("<name> bus on ADDR").
func publishBus(e env, name, addr string) (*bus.Publisher, error) {
	p, err := bus.Listen(addr, bus.PublisherOptions{Bus: name, Logger: e.logger})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stdout, "%s bus on %s\n", name, p.Addr())
	return p, nil
}

// publish sends m on p; a message that cannot go is logged (the
// simulator never waits for the bus).
func publish(log *slog.Logger, p *bus.Publisher, m bus.Message) {
	if err := p.Publish(m); err != nil {
		log.Warn("line bus: message not published", "type", m.Type(), "err", err)
	}
}

// subscribeBus runs a subscriber of the named bus at addr on a goroutine
// owned by wg until ctx ends, handing it fn's messages; connected is
// printed on stdout at every (re)connect (the publisher's hello). A
// permanent failure (the address is another bus) is sent on the returned
// channel.
func subscribeBus(ctx context.Context, wg *sync.WaitGroup, e env, name, addr, connected string, fn func(bus.Message)) (<-chan error, error) {
	s, err := bus.NewSubscriber(bus.SubscriberOptions{Addr: addr, Bus: name, Logger: e.logger})
	if err != nil {
		return nil, err
	}
	failed := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := s.Run(ctx, func(m bus.Message) {
			if _, ok := m.(bus.Hello); ok {
				fmt.Fprintln(e.stdout, connected)
				return
			}
			fn(m)
		})
		if err != nil {
			failed <- err
		}
	}()
	return failed, nil
}

// busAddr checks a --flag naming a bus to subscribe to: host:port.
func busAddr(flagName, v string) error {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" || port == "0" {
		return fmt.Errorf("--%s %q: want the publisher's host:port", flagName, v)
	}
	return nil
}

// photoEyeFlag is the printer's photo-eye: its own timer (a duration) or
// the PLC's products from the PLC's line bus (host:port).
type photoEyeFlag struct {
	every time.Duration
	addr  string
}

func (f *photoEyeFlag) String() string {
	if f.addr != "" {
		return f.addr
	}
	return f.every.String()
}

func (f *photoEyeFlag) Set(s string) error {
	if d, err := time.ParseDuration(s); err == nil { // printersim checks its range
		f.every, f.addr = d, ""
		return nil
	}
	if err := busAddr("photo-eye", s); err != nil {
		return fmt.Errorf("want a duration (own timer, 0 = off) or the PLC bus's host:port")
	}
	f.every, f.addr = 0, s
	return nil
}
