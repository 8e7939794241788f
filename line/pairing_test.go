package line_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/plcsim"
	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/store/journal"
)

// linkLossPLC is the real PLC client whose trigger stream goes away (as on a
// lost Modbus connection) at the at-th trigger, holding that trigger and
// every later one back until release is closed.
type linkLossPLC struct {
	line.PLC
	at      int
	n       int
	lost    chan struct{} // closed when the link "drops"
	release chan struct{}
	dropped bool
}

func (p *linkLossPLC) NextTrigger(ctx context.Context) (devices.Trigger, error) {
	if p.n+1 == p.at && !p.dropped {
		p.dropped = true
		close(p.lost)
		return devices.Trigger{}, fmt.Errorf("modbus: read counter: %w (simulated)", devices.ErrDisconnected)
	}
	if p.n+1 >= p.at {
		select {
		case <-p.release:
		case <-ctx.Done():
			return devices.Trigger{}, ctx.Err()
		}
	}
	t, err := p.PLC.NextTrigger(ctx)
	if err == nil {
		p.n++
	}
	return t, err
}

// TestPairingAfterLinkLossHold: the PLC link drops mid-batch (system hold);
// the operator unholds before the triggers of the products that passed
// just before the drop have come through, then they do. Every journal unit's
// PLC product (Seq) must be the product its record was printed on — else
// verdicts go to the neighbouring products.
func TestPairingAfterLinkLossHold(t *testing.T) {
	wrap := &linkLossPLC{at: 30, lost: make(chan struct{}), release: make(chan struct{})}
	l := startLine(t, linesim.Options{Rate: 60, WrapPLC: func(p line.PLC) line.PLC { wrap.PLC = p; return wrap }})
	var mu sync.Mutex
	printedOn := map[uint64]string{} // product seq -> record printed on it
	l.Printer.OnPrint(func(p printersim.Printed) {
		mu.Lock()
		printedOn[p.Seq] = p.RecordID
		mu.Unlock()
	})
	ctx := t.Context()
	c := l.Controller
	const id = "LINK1"
	startBatch(ctx, t, l, id, "L1", 90)
	<-wrap.lost
	waitState(t, l, time.Minute, packml.Held)
	if err := c.Command(ctx, id, api.Command{Name: api.CmdUnhold}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, time.Minute, packml.Execute)
	close(wrap.release) // the link is back: the held-back triggers arrive now
	runToComplete(t, l, id)

	mu.Lock()
	defer mu.Unlock()
	seqOf := map[string]uint64{}
	for seq, rec := range printedOn {
		seqOf[rec] = seq
	}
	gate := map[uint64]plcsim.GateResult{}
	for _, r := range l.PLC.Results() {
		gate[r.Seq] = r
	}
	wrong := 0
	err := l.Journal.Units(id, func(u journal.Unit) error {
		if u.Seq == 0 {
			return nil
		}
		if got, ok := printedOn[u.Seq]; ok && got != u.Serial {
			if wrong < 5 {
				fate := "unknown"
				if r, ok := gate[seqOf[u.Serial]]; ok {
					fate = fmt.Sprintf("pushed off %v", r.PushedOff)
				}
				t.Errorf("unit %s (%s) is journaled on product %d, but product %d carries %s; its own product %d: %s",
					u.Serial, u.State, u.Seq, u.Seq, got, seqOf[u.Serial], fate)
			}
			wrong++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if wrong > 0 {
		t.Errorf("%d units journaled on the wrong product", wrong)
	}
}
