package linesim

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/serialine/serialine/line/packml"
)

// RunInteractive runs the simulated line for a person at the HMI: there is
// no simulated operator, so nothing creates, starts, unholds or completes a
// batch but the person. With o.Faults, the demo's faults are injected
// while a batch is in Execute; a simulated technician fixes the device
// behind a hold (ink cartridge, PLC fault) after o.OperatorDelay, as a
// maintenance person would, but the person at the HMI reads the alarm,
// acknowledges it and presses Unhold. Progress goes to o.Out. It returns
// when ctx ends.
func RunInteractive(ctx context.Context, l *Line, o DemoOptions) error {
	if o.OperatorDelay <= 0 {
		o.OperatorDelay = 2 * time.Second
	}
	if o.Progress <= 0 {
		o.Progress = 5 * time.Second
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); progress(ctx, l, o) }()
	go func() { defer wg.Done(); technician(ctx, l, o) }()
	if o.Faults {
		wg.Add(1)
		go func() { defer wg.Done(); injectFaults(ctx, l, o) }()
	}
	if o.Out != nil {
		fmt.Fprintln(o.Out, "interactive: no simulated operator — define a batch, confirm the line clearance, start it and handle every hold at the operator page; Ctrl-C ends the demo")
	}
	wg.Wait()
	return nil
}

// technician fixes the simulated devices behind a hold (refills the ink,
// clears the PLC's fault) but gives no command.
func technician(ctx context.Context, l *Line, o DemoOptions) {
	for ctx.Err() == nil {
		if _, err := l.Controller.WaitState(ctx, packml.Held); err != nil {
			return
		}
		t := time.NewTimer(o.OperatorDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		l.Printer.Refill()
		f := l.PLC.Faults()
		f.MissConfirm, f.StallHeartbeat = false, false
		l.PLC.SetFaults(f)
		if o.Out != nil {
			fmt.Fprintln(o.Out, "technician: the devices behind the hold are fixed (ink refilled, PLC fault cleared); acknowledge the alarm and press Unhold")
		}
		if _, err := l.Controller.WaitState(ctx, packml.Execute, packml.Complete, packml.Stopped, packml.Aborted, packml.Idle); err != nil {
			return
		}
	}
}
