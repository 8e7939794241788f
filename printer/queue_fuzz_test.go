package printer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/serialine/serialine/printer"
)

// scriptDriver is a printer whose every answer comes from a script of
// bytes (the fuzzer's input): acknowledgements, refusals and timeouts of
// records, print events for records in its queue or for ones it never had,
// faults, clears, missed prints, wrong queue depths, lost connections. It
// keeps its own record queue like a printer, so events refer to what it
// holds; it counts every record written to it.
type scriptDriver struct {
	t      *testing.T
	script []byte
	pos    int
	q      *printer.Queue

	held    []string       // the printer's queue
	printed []string       // records it printed, in order
	sent    map[string]int // records written to it
	down    bool           // connection lost: Next reports it, once
	counter uint64
}

func (d *scriptDriver) next() (byte, bool) {
	if d.pos >= len(d.script) {
		return 0, false
	}
	b := d.script[d.pos]
	d.pos++
	return b, true
}

func (d *scriptDriver) Connect(context.Context) error { d.down = false; return nil }
func (d *scriptDriver) Close(context.Context) error   { return nil }
func (d *scriptDriver) Clear(context.Context) error   { d.held = nil; return nil }

func (d *scriptDriver) QueueDepth(context.Context) (int, error) {
	b, _ := d.next()
	switch b % 8 {
	case 0:
		return len(d.held) + int(b/8%3), nil // more than it holds
	case 1:
		return max(len(d.held)-int(b/8%3), 0), nil // fewer
	case 2:
		return 0, fmt.Errorf("%w: QSZ", printer.ErrTimeout)
	}
	return len(d.held), nil
}

func (d *scriptDriver) Enqueue(_ context.Context, r printer.Record) error {
	b, _ := d.next()
	switch b % 10 {
	case 0:
		return printer.ErrNotConnected // nothing written
	case 1:
		d.sent[r.ID]++
		return &printer.ReplyError{Command: "JDI", Code: "QFULL", Full: true}
	case 2:
		d.sent[r.ID]++
		return &printer.ReplyError{Command: "JDI", Code: "BADFIELD"}
	case 3: // timed out: the printer may or may not hold it
		d.sent[r.ID]++
		if b/10%2 == 0 {
			d.held = append(d.held, r.ID)
		}
		d.down = true
		return fmt.Errorf("%w: JDI", printer.ErrTimeout)
	}
	d.sent[r.ID]++
	d.held = append(d.held, r.ID)
	return nil
}

func (d *scriptDriver) Next(ctx context.Context) (printer.Event, error) {
	if d.down {
		d.down = false
		return printer.Event{}, printer.ErrDisconnected
	}
	b, ok := d.next()
	if !ok { // the script is over: the connection ends
		return printer.Event{}, fmt.Errorf("%w: script over", printer.ErrDisconnected)
	}
	pick := func(ids []string) string {
		if len(ids) == 0 {
			return "NOSUCH"
		}
		return ids[int(b/16)%len(ids)]
	}
	d.counter++
	switch b % 16 {
	case 0, 1, 2, 3, 4: // the head prints
		if len(d.held) == 0 {
			return printer.Event{Kind: printer.Missed, Text: "no data"}, nil
		}
		id := d.held[0]
		d.held = d.held[1:]
		d.printed = append(d.printed, id)
		return printer.Event{Kind: printer.PrintComplete, RecordID: id, Counter: d.counter}, nil
	case 5: // a record behind the head prints
		id := pick(d.held)
		for i, h := range d.held {
			if h == id {
				d.held = append(d.held[:i:i], d.held[i+1:]...)
				d.printed = append(d.printed, id)
				break
			}
		}
		return printer.Event{Kind: printer.PrintComplete, RecordID: id, Counter: d.counter}, nil
	case 6: // a print-complete repeated, or for a record it never had
		return printer.Event{Kind: printer.PrintComplete, RecordID: pick(d.printed), Counter: d.counter - uint64(b%2)}, nil
	case 7:
		return printer.Event{Kind: printer.PrintStart, RecordID: pick(d.held), Counter: d.counter}, nil
	case 8:
		return printer.Event{Kind: printer.Fault, Code: "HEAD"}, nil
	case 9:
		if b/16%2 == 0 {
			d.held = nil // a fault that clears the queue
		}
		return printer.Event{Kind: printer.Fault, Code: "INKOUT"}, nil
	case 10:
		d.held = nil
		return printer.Event{Kind: printer.QueueCleared}, nil
	case 11:
		return printer.Event{Kind: printer.Missed, Text: "no data"}, nil
	case 12:
		return printer.Event{Kind: printer.Warning, Code: "INKLOW"}, nil
	case 13: // a record lost silently
		if len(d.held) > 0 {
			d.held = d.held[1:]
		}
		return printer.Event{Kind: printer.Status, Code: "RUNNING"}, nil
	case 14: // the operator clears the hold
		d.q.Resume()
		return printer.Event{Kind: printer.Status, Code: "RUNNING"}, nil
	}
	return printer.Event{}, fmt.Errorf("%w: connection lost", printer.ErrDisconnected)
}

// FuzzQueueInvariants feeds the queue manager arbitrary printer behaviour
// (scriptDriver) for up to 24 serials, reconnecting after each lost
// connection as the line does, and then ends the batch (Release, Clear).
// Whatever the printer did: no record was written to the printer twice; no
// serial got a result before it was journaled as queued, or got two; and at
// the end every serial journaled as queued has exactly one result.
func FuzzQueueInvariants(f *testing.F) {
	f.Add([]byte{4, 4, 4, 4, 0, 1, 2, 3, 4})
	f.Add([]byte{4, 4, 4, 4, 4, 4, 4, 4, 5, 6, 7, 8, 0, 9, 14, 4, 4, 10, 14})
	f.Add([]byte{3, 13, 0, 1, 2, 11, 12, 15, 14, 4, 4, 4, 4})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 2, 3, 6, 22, 38, 54, 70, 86, 14, 255, 254, 253})
	f.Fuzz(func(t *testing.T, script []byte) {
		d := &scriptDriver{t: t, script: script, sent: map[string]int{}}
		queued := map[string]bool{}
		results := map[string]int{}
		next := 0
		q, err := printer.NewQueue(d, printer.QueueOptions{
			Depth: 4,
			Feed: func(_ context.Context, n int) ([]printer.Record, error) {
				var rs []printer.Record
				for ; n > 0 && next < 24; n-- {
					next++
					rs = append(rs, printer.Record{ID: fmt.Sprintf("S%02d", next)})
				}
				return rs, nil
			},
			MarkQueued: func(_ context.Context, ids []string) error {
				for _, id := range ids {
					if queued[id] {
						t.Fatalf("%s journaled as queued twice", id)
					}
					queued[id] = true
				}
				return nil
			},
			OnOutcome: func(_ context.Context, outs []printer.Outcome) error {
				for _, o := range outs {
					if o.Serial == "" || o.Result == printer.ResultNone {
						continue
					}
					if !queued[o.Serial] {
						t.Fatalf("%s: %v before it was journaled as queued", o.Serial, o)
					}
					if results[o.Serial]++; results[o.Serial] > 1 {
						t.Fatalf("%s resolved twice, now by %v", o.Serial, o)
					}
				}
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		d.q = q
		ctx := context.Background()
		for runs := 0; d.pos < len(d.script) && runs < 2*len(script)+2; runs++ {
			_ = d.Connect(ctx)
			if err := q.Run(ctx); err == nil {
				t.Fatal("Run returned nil with its context alive")
			}
		}
		if err := q.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := q.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		for id, n := range d.sent {
			if n > 1 {
				t.Errorf("%s written to the printer %d times", id, n)
			}
		}
		for id := range queued {
			if results[id] != 1 {
				t.Errorf("%s journaled as queued, %d results at the end", id, results[id])
			}
		}
		if len(q.InFlight()) != 0 {
			t.Errorf("still in flight after Clear: %v", q.InFlight())
		}
	})
}
