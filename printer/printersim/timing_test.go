package printersim_test

import (
	"testing"
	"time"

	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/printersim"
)

// TestProductDuringPrintIsMissed: the head prints a code for PrintTime; a
// product reaching it meanwhile passes unprinted (ERS|W|OVERLAP, a missed
// print) and its record stays queued for the next product — never printed
// late on a later product.
func TestProductDuringPrintIsMissed(t *testing.T) {
	s, c := start(t, printersim.Options{PrintTime: time.Hour})
	ctx := ctxT(t)
	printed := make(chan printersim.Printed, 4)
	s.OnPrint(func(p printersim.Printed) { printed <- p })
	for _, id := range []string{"SN1", "SN2"} {
		if err := c.Enqueue(ctx, printer.Record{ID: id, Fields: map[string]string{"GS1": gs1Data}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Print(1)
	s.Print(2) // the head is still printing SN1
	var kinds []printer.EventKind
	for len(kinds) < 2 {
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, ev.Kind)
		if ev.Kind == printer.Missed && ev.Code != "OVERLAP" {
			t.Fatalf("missed print reported as %v", ev)
		}
	}
	if kinds[0] != printer.PrintStart || kinds[1] != printer.Missed {
		t.Fatalf("events %v, want print-start then missed", kinds)
	}
	if p := <-printed; p.Seq != 1 || p.RecordID != "SN1" {
		t.Fatalf("printed %+v", p)
	}
	st := s.Stats()
	if st.Printed != 1 || st.Missed != 1 || st.Overlaps != 1 {
		t.Fatalf("stats %+v", st)
	}
	if ids := s.QueueIDs(); len(ids) != 1 || ids[0] != "SN2" {
		t.Fatalf("queue %v, want SN2 still queued", ids)
	}
}

// TestStoppedPrinterReportsMissedPrints: a product passing a printer in
// fault is reported as a missed print (ERS|W|NOPRINT), not silently.
func TestStoppedPrinterReportsMissedPrints(t *testing.T) {
	s, c := start(t, printersim.Options{})
	ctx := ctxT(t)
	s.InjectFault(printersim.FaultHead)
	s.Print(1)
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == printer.Missed {
			if ev.Code != "NOPRINT" {
				t.Fatalf("missed print reported as %v", ev)
			}
			break
		}
	}
}

// TestRepliesArePipelined: replies come after the printer's latency, in
// command order, while the commands are executed on arrival — a batch of
// records costs one latency, not one per record.
func TestRepliesArePipelined(t *testing.T) {
	s, c := start(t, printersim.Options{AckDelay: 20 * time.Millisecond, AckJitter: 20 * time.Millisecond, QueueCap: 64})
	recs := make([]printer.Record, 32)
	for i := range recs {
		recs[i] = printer.Record{ID: "SN" + string(rune('A'+i)), Fields: map[string]string{"GS1": gs1Data}}
	}
	for i, err := range c.EnqueueBatch(ctxT(t), recs) {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if ids := s.QueueIDs(); len(ids) != len(recs) || ids[0] != recs[0].ID || ids[31] != recs[31].ID {
		t.Fatalf("queue %v", ids)
	}
}
