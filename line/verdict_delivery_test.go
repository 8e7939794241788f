package line_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/store/journal"
)

// lostReplyPLC is the real PLC client with one fault: the reply to the
// n-th accept verdict is lost after the PLC applied the write (a Modbus
// response timeout after the request arrived, a dropped OPC UA response),
// and the link is gone right after it: the controller's second attempt for
// that product fails to connect.
type lostReplyPLC struct {
	line.PLC
	mu      sync.Mutex
	passes  int
	n       int
	lostSeq uint64
}

func (p *lostReplyPLC) DecideBatch(ctx context.Context, vs []devices.Verdict) error {
	p.mu.Lock()
	lost := p.lostSeq
	p.mu.Unlock()
	for _, v := range vs {
		if lost != 0 && v.Seq == lost {
			// the link is gone: every later write for that product fails
			return &devices.VerdictError{Undelivered: []uint64{lost},
				Err: fmt.Errorf("modbus: dial 127.0.0.1:502: connection refused (simulated): %w", devices.ErrDisconnected)}
		}
	}
	if err := p.PLC.DecideBatch(ctx, vs); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range vs {
		if v.Reject || p.lostSeq != 0 {
			continue
		}
		p.passes++
		if p.passes == p.n {
			p.lostSeq = v.Seq
			return &devices.VerdictError{Undelivered: []uint64{v.Seq},
				Err: errors.New("modbus: read reply: i/o timeout (simulated: the write reached the PLC)")}
		}
	}
	return nil
}

func (p *lostReplyPLC) lost() uint64 { p.mu.Lock(); defer p.mu.Unlock(); return p.lostSeq }

// TestPassVerdictReplyLost: the PLC applied an accept verdict but its reply
// was lost. The product passes the gate and leaves with its serial, so the
// journal must not call the unit rejected (the EPCIS documents would report
// the serial destroyed while the pack is in the market). The controller
// overwrites the unknown pass with a reject and the gate's read-back
// settles it: every unit whose product the PLC accepted ends Commissioned.
func TestPassVerdictReplyLost(t *testing.T) {
	wrap := &lostReplyPLC{n: 10}
	l := startLine(t, linesim.Options{Rate: 60, WrapPLC: func(p line.PLC) line.PLC { wrap.PLC = p; return wrap }})
	rec := runBatch(t, l, "LOST1", 80)
	if !rec.Balanced {
		t.Fatalf("reconciliation does not balance: %+v", rec)
	}
	seq := wrap.lost()
	if seq == 0 {
		t.Fatal("the fault was never injected")
	}
	// The product reached the gate with the accept verdict and passed.
	passed := false
	for _, r := range l.PLC.Results() {
		if r.Seq == seq {
			if r.Verdict != devices.VerdictAccept || r.PushedOff {
				t.Fatalf("product %d at the gate: %+v, want the accept verdict the lost reply belonged to", seq, r)
			}
			passed = true
		}
	}
	if !passed {
		t.Fatalf("product %d never reached the gate", seq)
	}
	found := false
	err := l.Journal.Units("LOST1", func(u journal.Unit) error {
		if u.Seq != seq {
			return nil
		}
		found = true
		if u.State != journal.Commissioned {
			t.Errorf("unit %s (product %d) is %s (%s: %s) but the PLC holds an accept verdict for its product: "+
				"the pack leaves the line with a serial the journal (and EPCIS) calls %s",
				u.Serial, seq, u.State, u.Reason, u.Detail, u.State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no unit with product %d", seq)
	}
}
