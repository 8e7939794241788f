package line_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/epcis/epcistest"
	"github.com/serialine/serialine/line/linesim"
	scs "github.com/serialine/serialine/line/upstream/openscs"
	"github.com/serialine/serialine/store/journal"
)

// A batch whose serials come from the simulated Open-SCS site server (OPC
// UA method calls) and whose EPCIS documents go to an EPCIS 2.0 capture
// interface: it balances, every captured document validates, the
// commissioning events cover exactly the commissioned units, never-
// commissioned serials are reported as scrapped labels (never a DELETE),
// and the Open-SCS server's state of every serial agrees with the journal.
func TestOpenSCSAndCaptureBatch(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60, UpstreamDriver: "open-scs", Events: "capture",
		Faults: linesim.PrinterFaults{DefectRate: 0.15, MaxDefectSeverity: 1}})
	rec := runBatch(t, l, "OS1", 60)
	if !rec.Balanced {
		t.Fatalf("reconciliation: %+v", rec)
	}
	waitFor(t, "outbox drained", func() bool {
		items, err := l.Journal.OutboxPending(context.Background(), 1)
		return err == nil && len(items) == 0
	})
	units := map[string]journal.Unit{}
	if err := l.Journal.Units("OS1", func(u journal.Unit) error { units[u.Serial] = u; return nil }); err != nil {
		t.Fatal(err)
	}
	sch := epcistest.Schema(t)
	commissioned := map[string]bool{}
	upstreamEvents(t, l, func(_ []byte, e epcis.ObjectEvent) {
		for _, epc := range e.EPCList {
			_, sn, err := epcis.ParseEPC(epc)
			if err != nil {
				t.Fatal(err)
			}
			u := units[sn]
			switch {
			case e.BizStep == "commissioning":
				commissioned[sn] = true
			case e.Action == "DELETE" && u.State != journal.Rejected:
				t.Errorf("DELETE %s of a %s unit", e.BizStep, u.State)
			case e.Action == "OBSERVE" && e.BizStep == "destroying" && u.State == journal.Commissioned:
				t.Errorf("commissioned unit %s reported as a scrapped label", sn)
			}
		}
	}, func(doc []byte) { epcistest.Validate(t, sch, doc) })
	var nComm int
	for sn, u := range units {
		if u.State == journal.Commissioned {
			nComm++
			if !commissioned[sn] {
				t.Errorf("commissioned %s has no commissioning event", sn)
			}
		}
		st, ok := l.OpenSCS.State(sn)
		if !ok {
			t.Errorf("serial %s unknown to the Open-SCS server", sn)
			continue
		}
		want := map[journal.State]scs.SerialState{journal.Commissioned: scs.Commissioned, journal.Rejected: scs.LabelScrapped,
			journal.Uncertain: scs.LabelScrapped}[u.State]
		if u.State == journal.Returned {
			want = scs.Unallocated
			for _, h := range u.History {
				if h.State == journal.Queued {
					want = scs.LabelScrapped
				}
			}
		}
		if st != want {
			t.Errorf("serial %s: journal %s, Open-SCS %s, want %s", sn, u.State, st, want)
		}
	}
	if nComm != len(commissioned) || nComm != rec.Commissioned {
		t.Errorf("commissioned: journal %d, events %d, reconciliation %d", nComm, len(commissioned), rec.Commissioned)
	}
	if rec.Rejected == 0 {
		t.Log("no rejects in this run (print defects are random)")
	}
}

// A return the site server partly refuses: the others are taken, the
// refused serial is journaled with its batch, one alarm lists it and the
// reconciliation shows it as a deviation.
func TestReturnPartlyRefusedRecorded(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	rec := runBatch(t, l, "RR", 20)
	if !rec.Balanced {
		t.Fatalf("reconciliation: %+v", rec)
	}
	ctx := context.Background()
	var taken []string
	_, err := l.Journal.TakeUnusedWithOutbox(ctx, testGTIN, 2, "return", func(serials []string) ([]byte, error) {
		taken = serials
		return json.Marshal(map[string]any{"gtin": testGTIN, "serials": append(serials, "NEVERISSUED"), "batch": "RR"})
	})
	if err != nil || len(taken) != 2 {
		t.Fatal(taken, err)
	}
	waitFor(t, "return delivered", func() bool {
		rs, err := l.Journal.ReturnRefusals()
		return err == nil && len(rs) == 1
	})
	got := strings.Join(l.Upstream.Returned(testGTIN), ",")
	for _, s := range taken {
		if !strings.Contains(got, s) {
			t.Errorf("serial %s not taken back (site server has %s)", s, got)
		}
	}
	rs, _ := l.Journal.ReturnRefusals()
	if rs[0].Serial != "NEVERISSUED" || rs[0].Batch != "RR" || rs[0].Code != "unknown_serial" {
		t.Fatalf("refusal %+v", rs[0])
	}
	alarms, _ := l.Controller.Alarms(ctx, true)
	found := false
	for _, a := range alarms {
		found = found || (a.Source == "upstream-return" && strings.Contains(a.Text, "NEVERISSUED") && strings.Contains(a.Text, "1 of 3"))
	}
	if !found {
		t.Errorf("no alarm listing the refused serial: %+v", alarms)
	}
	rep, err := l.Controller.ReconcileReport(ctx, "RR")
	if err != nil || len(rep.ReturnRefused) != 1 || len(rep.Deviations()) == 0 {
		t.Fatalf("reconciliation: %v, refused %v, deviations %v", err, rep.ReturnRefused, rep.Deviations())
	}
}

// The site server's link state comes from the periodic health check: down
// while the site server is down although nothing asked it for serials, up
// again after.
func TestUpstreamHealthCheck(t *testing.T) {
	l := startLine(t, linesim.Options{Rate: 60})
	link := func() string {
		ds, _ := l.Controller.Devices(context.Background())
		for _, d := range ds {
			if d.Name == "upstream" {
				return d.Link
			}
		}
		return ""
	}
	waitFor(t, "upstream up", func() bool { return link() == api.LinkUp })
	l.Upstream.SetDown(true)
	waitFor(t, "upstream down by the health check", func() bool { return link() == api.LinkDown })
	l.Upstream.SetDown(false)
	waitFor(t, "upstream up again", func() bool { return link() == api.LinkUp })
}
