package line_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/epcis/epcistest"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
)

var operator = api.Actor{User: "olga", Role: "operator"}

const testGTIN = "09501101530003"

func startLine(t *testing.T, o linesim.Options) *linesim.Line {
	t.Helper()
	if o.Dir == "" && o.DBPath == "" {
		o.Dir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l, err := linesim.Start(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		j := l.Journal
		if err := l.Close(); err != nil {
			t.Errorf("close line: %v", err)
		}
		// journal verify after every test
		jj, err := journal.Open(j.Path(), &journal.Options{ReadOnly: true})
		if err != nil {
			t.Errorf("reopen journal: %v", err)
			return
		}
		defer jj.Close()
		rep, err := jj.Verify(context.Background())
		if err != nil || !rep.OK() {
			t.Errorf("journal verify: %v %v", err, rep.Problems)
		}
	})
	return l
}

func waitState(t *testing.T, l *linesim.Line, d time.Duration, states ...packml.State) packml.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	st, err := l.Controller.WaitState(ctx, states...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return st
}

func runBatch(t *testing.T, l *linesim.Line, id string, n int) api.Reconciliation {
	t.Helper()
	ctx := context.Background()
	c := l.Controller
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: id, GTIN: testGTIN, Lot: "L" + id, Expiry: "281231", Profile: "eu-fmd", Target: n}, operator); err != nil {
		t.Fatal(err)
	}
	if err := c.Command(ctx, id, api.Command{Name: api.CmdStart}, operator); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 2*time.Minute, packml.Complete)
	rec, err := c.Reconciliation(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestBatchCleanRun: a whole batch over loopback with no fault: every
// unit commissioned, the reconciliation balances, the EPCIS events reach
// the site server and validate against GS1's schema.
func TestBatchCleanRun(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 200})
	rec := runBatch(t, l, "B1", 150)
	if !rec.Balanced || rec.InFlight != 0 {
		t.Fatalf("reconciliation does not balance: %+v", rec)
	}
	if rec.Commissioned < 150 {
		t.Fatalf("commissioned %d, want >= 150: %+v", rec.Commissioned, rec)
	}
	if rec.Drawn != rec.Commissioned+rec.Rejected+rec.Sampled+rec.Returned+rec.Uncertain {
		t.Fatalf("drawn %d != sum: %+v", rec.Drawn, rec)
	}
	// EPCIS upstream: the commissioning events cover every commissioned unit.
	sch := epcistest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		n := 0
		for _, ev := range l.Upstream.Events() {
			epcistest.Validate(t, sch, ev.Doc)
			var d epcis.Document
			if err := json.Unmarshal(ev.Doc, &d); err != nil {
				t.Fatal(err)
			}
			for _, e := range d.Body.EventList {
				if e.BizStep == "commissioning" {
					n += len(e.EPCList)
				}
			}
		}
		if n == rec.Commissioned {
			break
		}
		if n > rec.Commissioned {
			t.Fatalf("%d commissioning EPCs upstream, %d commissioned", n, rec.Commissioned)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("site server has %d commissioning EPCs, want %d", n, rec.Commissioned)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
