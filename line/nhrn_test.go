package line_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision/camerasim"
)

// A German PZN (AI 710) with a valid PZN check digit, and a wrong one.
const (
	testPZN  = "04150127"
	wrongPZN = "04150135"
)

// TestGermanBatchNHRN runs an eu-fmd-de batch over the simulated line: the
// batch carries its PZN (AI 710), every printed element string ends with it,
// the camera (decoding the printed symbols for real) passes units whose 710
// field matches and rejects the one unit whose read carries another PZN
// (reason mismatch, naming only the 710 field), and the batch balances.
func TestGermanBatchNHRN(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	c := l.Controller
	ctx := context.Background()
	const id, lot, exp = "DE1", "LDE1", "281231"

	// The profile needs the national number.
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "X", GTIN: testGTIN, Lot: lot, Expiry: exp, Profile: "eu-fmd-de", Target: 5}, operator); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), "710") {
		t.Fatalf("eu-fmd-de batch without PZN: %v, want ErrBadRequest naming AI 710", err)
	}
	if _, err := c.CreateBatch(ctx, api.BatchDef{ID: "X", GTIN: testGTIN, Lot: lot, Expiry: exp, Profile: "eu-fmd", Target: 5, NHRN: testPZN}, operator); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("eu-fmd batch with an NHRN: %v, want ErrBadRequest", err)
	}
	b, err := c.CreateBatch(ctx, api.BatchDef{ID: id, GTIN: testGTIN, Lot: lot, Expiry: exp, Profile: "eu-fmd-de", Target: 30, NHRN: testPZN}, operator)
	if err != nil {
		t.Fatal(err)
	}
	if b.NHRN != testPZN {
		t.Fatalf("batch NHRN %q", b.NHRN)
	}

	// On the 5th print, make the camera report the next unit with the right
	// GTIN, expiry, lot and serial but another PZN. The printer prints in
	// journal draw order, and linesim feeds the camera from its own
	// OnPrint (registered first), so an injected fault hits the next shot.
	var mu sync.Mutex
	var printed []printersim.Printed
	var tampered string
	var cbErr error
	l.Printer.OnPrint(func(p printersim.Printed) {
		mu.Lock()
		defer mu.Unlock()
		printed = append(printed, p)
		if len(printed) != 5 {
			return
		}
		u, err := l.Journal.Unit(p.RecordID)
		if err != nil {
			cbErr = err
			return
		}
		var next string
		_ = l.Journal.Units(id, func(n journal.Unit) error {
			if n.Index == u.Index+1 {
				next = n.Serial
			}
			return nil
		})
		if next == "" {
			cbErr = errors.New("no unit after the 5th print")
			return
		}
		m, err := gs1.New(gs1.Element{AI: "01", Value: testGTIN}, gs1.Element{AI: "17", Value: exp},
			gs1.Element{AI: "10", Value: lot}, gs1.Element{AI: "21", Value: next}, gs1.Element{AI: "710", Value: wrongPZN})
		if err != nil {
			cbErr = err
			return
		}
		tampered = next
		l.Camera.Inject(camerasim.Fault{Kind: camerasim.FaultMismatch, Data: m.ElementString()})
	})
	confirmClearance(ctx, t, c, id)
	if err := c.Command(ctx, id, api.Command{Name: api.CmdStart}, operator); err != nil {
		t.Fatal(err)
	}
	runToComplete(t, l, id)
	rec, err := c.Reconciliation(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Balanced || rec.Commissioned < 30 {
		t.Fatalf("reconciliation: %+v", rec)
	}

	if rep, err := c.ReconcileReport(ctx, id); err != nil || rep.Batch.NHRN != testPZN {
		t.Fatalf("report batch %+v (%v): want NHRN %s", rep.Batch, err, testPZN)
	}

	mu.Lock()
	defer mu.Unlock()
	if cbErr != nil {
		t.Fatal(cbErr)
	}
	for _, p := range printed {
		if !strings.HasSuffix(p.Data, "\x1d21"+p.RecordID+"\x1d710"+testPZN) {
			t.Fatalf("printed %q for %s: want (21) serial then (710) %s", p.Data, p.RecordID, testPZN)
		}
		m, err := gs1.ParseRaw(p.Data)
		if err != nil {
			t.Fatal(err)
		}
		if err := mustProfile(t, "eu-fmd-de").Check(m); err != nil {
			t.Fatalf("printed %q fails eu-fmd-de: %v", p.Data, err)
		}
	}
	u, err := l.Journal.Unit(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != journal.Rejected || u.Reason != journal.ReasonMismatch || !strings.Contains(u.Detail, "(710)") || strings.Contains(u.Detail, "(21)") {
		t.Fatalf("unit read with another PZN: %+v, want rejected mismatch on (710) only", u)
	}
	au, err := c.Unit(ctx, tampered)
	if err != nil || !strings.HasSuffix(au.ElementString, "\x1d710"+testPZN) {
		t.Fatalf("unit lookup: element string %q (%v)", au.ElementString, err)
	}
	commissioned := 0
	err = l.Journal.Units(id, func(u journal.Unit) error {
		if u.State == journal.Commissioned {
			commissioned++
		}
		return nil
	})
	if err != nil || commissioned != rec.Commissioned {
		t.Fatalf("journal has %d commissioned (%v), reconciliation %d", commissioned, err, rec.Commissioned)
	}
}

func mustProfile(t *testing.T, name string) gs1.Profile {
	t.Helper()
	p, err := gs1.LookupProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
