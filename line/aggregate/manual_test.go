package aggregate_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/devices/devicetest"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/line/aggregate"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/line/upstreamsim"
	"github.com/serialine/serialine/store/journal"
)

type fixedLine struct{ batch string }

func (f fixedLine) State() (string, packml.State) { return f.batch, packml.Execute }

// journalWithUnits: batch B1 of testGTIN with n commissioned units and
// one rejected one (returned last).
func journalWithUnits(t *testing.T, n int) (*journal.Journal, []string) {
	t.Helper()
	ctx := context.Background()
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if rep, err := j.Verify(ctx); err != nil {
			t.Errorf("journal verify: %v %v", err, rep.Problems)
		}
		j.Close()
	})
	var serials []string
	for i := range n + 1 {
		serials = append(serials, fmt.Sprintf("M%05d", i))
	}
	if err := j.ImportPool(ctx, journal.Pool{ID: "P1", GTIN: testGTIN, Serials: serials}); err != nil {
		t.Fatal(err)
	}
	if err := j.CreateBatch(ctx, journal.BatchDef{ID: "B1", GTIN: testGTIN, Lot: "L1", Expiry: "281231", Profile: "eu-fmd", Target: n}, journal.Actor{}); err != nil {
		t.Fatal(err)
	}
	us, err := j.Draw(ctx, "B1", n+1)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range us {
		ch := []journal.Change{{Serial: u.Serial, To: journal.Queued}, {Serial: u.Serial, To: journal.Printed, Seq: uint64(i + 1)}}
		if i == n {
			ch = append(ch, journal.Change{Serial: u.Serial, To: journal.Rejected, Reason: journal.ReasonNoRead})
		} else {
			ch = append(ch, journal.Change{Serial: u.Serial, To: journal.Verified}, journal.Change{Serial: u.Serial, To: journal.Commissioned})
		}
		if err := j.Apply(ctx, ch...); err != nil {
			t.Fatal(err)
		}
	}
	return j, serials
}

func manualConfig(dev string) config.Aggregation {
	sc := serialport.DefaultConfig()
	sc.Device, sc.ReadTimeout = dev, 50*time.Millisecond
	return config.Aggregation{Enabled: true,
		Products:      []config.Product{{GTIN: testGTIN, Levels: []config.Level{{Name: "case", Quantity: 3}, {Name: "pallet", Quantity: 2}}}},
		SSCC:          config.SSCCSource{Source: "range", RangeID: "R1", Extension: 1, CompanyPrefix: "9501101", First: 1, Last: 999},
		ManualStation: &config.ManualStation{Scanner: &sc, Ack: "\x06", Nak: "\x15"}}
}

// TestManualStationHandheld: a handheld scanner on a serial port (a real
// pty through go.bug.st/serial) builds a case at the manual station: every
// scan is answered at once (ACK/NAK written back to the scanner); refused
// scans (a foreign code, a rejected unit, the same unit twice, garbage)
// aggregate nothing; the case closes on its last unit (no label printer at
// this station).
func TestManualStationHandheld(t *testing.T) {
	m, dev := devicetest.OpenPTY(t)
	j, serials := journalWithUnits(t, 3)
	cfg := manualConfig(dev)
	devs, err := aggregate.NewDevices(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := aggregate.New(aggregate.Options{Config: cfg, Journal: j, Line: fixedLine{"B1"}, ManualScanner: devs.ManualScanner})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	scan := func(code string, want byte) {
		t.Helper()
		if _, err := m.Write([]byte(code + "\r\n")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(m, b); err != nil {
			t.Fatal(err)
		}
		if b[0] != want {
			st, _ := a.Station(context.Background(), "manual")
			t.Fatalf("scan %q answered %#x, want %#x (%+v)", code, b[0], want, st.Last)
		}
	}
	const ack, nak = 0x06, 0x15
	scan("(01)09501101530003(21)FOREIGN9", nak)
	scan(serials[3], nak) // rejected unit
	scan("]d2010950110153000317281231"+"10L1\x1d21"+serials[0], ack)
	scan(serials[0], nak) // same unit again
	scan("(01)0950110153000X", nak)
	scan(serials[1], ack)
	st, _ := a.Station(context.Background(), "manual")
	if st.Open == nil || st.Open.Count != 2 || !st.Last.OK {
		t.Fatalf("after 2 good scans: %+v", st)
	}
	scan("https://id.gs1.org/01/09501101530003/21/"+serials[2], ack)
	st, _ = a.Station(context.Background(), "manual")
	if st.Open != nil || st.Last == nil || !st.Last.OK || st.Last.Parent == nil || st.Last.Parent.State != "closed" {
		t.Fatalf("full case not closed: %+v", st)
	}
	p, err := j.Parent(st.Last.Parent.Code)
	if err != nil || len(p.Children) != 3 || p.Station != "manual" {
		t.Fatalf("journal: %+v %v", p, err)
	}
	for _, h := range p.History {
		if h.Op == journal.OpAdd && h.Actor.User != "handheld" {
			t.Fatalf("scan actor %v", h.Actor)
		}
	}
	// A refused scan answers the reason on the station (the HMI shows it).
	if r, _ := a.Scan(context.Background(), "manual", serials[3], api.Actor{User: "olga", Role: "operator"}); r.OK || r.Message == "" {
		t.Fatalf("refusal without a message: %+v", r)
	}
}

// TestResumeAfterRestart: parents left open by a crashed controller: the
// inline case (decided by no one: the gate sent it to rework) is voided,
// its code scrapped; the manual station continues its open case.
func TestResumeAfterRestart(t *testing.T) {
	j, serials := journalWithUnits(t, 3)
	ctx := context.Background()
	if err := j.ImportSSCCRange(ctx, journal.SSCCRange{ID: "R1", Extension: 1, CompanyPrefix: "9501101", First: 1, Last: 999}); err != nil {
		t.Fatal(err)
	}
	inline, err := j.OpenParent(ctx, journal.ParentSpec{Batch: "B1", Level: "case", ChildLevel: journal.UnitLevel, Capacity: 3, Station: "case", Kind: journal.IDSSCC}, journal.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	manual, err := j.OpenParent(ctx, journal.ParentSpec{Batch: "B1", Level: "case", ChildLevel: journal.UnitLevel, Capacity: 3, Station: "manual", Kind: journal.IDSSCC}, journal.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.AddChildren(ctx, manual.Code, serials[:1], journal.Actor{}); err != nil {
		t.Fatal(err)
	}
	cfg := manualConfig("/dev/null")
	cfg.ManualStation = nil
	a, err := aggregate.New(aggregate.Options{Config: cfg, Journal: j, Line: fixedLine{"B1"}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(rctx) }()
	waitFor(t, 5*time.Second, "the manual station resumed", func() bool {
		st, _ := a.Station(ctx, "manual")
		return st.Open != nil
	})
	cancel()
	<-done
	if p, _ := j.Parent(inline.Code); p.State != journal.ParentVoid {
		t.Fatalf("inline case left open by the crash is %s, want void", p.State)
	}
	st, _ := a.Station(ctx, "manual")
	if st.Open.Code != manual.Code || st.Open.Count != 1 {
		t.Fatalf("manual station resumed %+v", st.Open)
	}
	// the next scan continues it
	if r, _ := a.Scan(ctx, "manual", serials[1], api.Actor{User: "olga", Role: "operator"}); !r.OK || r.Parent.Count != 2 {
		t.Fatalf("scan after resume: %+v", r)
	}
}

// TestCaseGTINSerialsFromSiteServer: a case level identified by its own
// GTIN + serial: the serials come from the site server (the serial
// service, kept with a durable request id), a manual case closes under
// that code and its EPCIS commissioning carries the batch's lot and expiry.
func TestCaseGTINSerialsFromSiteServer(t *testing.T) {
	j, serials := journalWithUnits(t, 2)
	ctx := context.Background()
	sim, err := upstreamsim.Start(upstreamsim.Options{Token: "T"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	up, err := upstream.New(upstream.Options{BaseURL: sim.URL(), Token: "T"})
	if err != nil {
		t.Fatal(err)
	}
	const caseGTIN = "19501101530000"
	cfg := config.Aggregation{Enabled: true,
		Products: []config.Product{{GTIN: testGTIN, Levels: []config.Level{{Name: "case", Quantity: 2, ID: "sgtin", GTIN: caseGTIN}}}},
		SSCC:     config.SSCCSource{Source: "upstream", RequestSize: 10, LowWater: 5}}
	a, err := aggregate.New(aggregate.Options{Config: cfg, Journal: j, Line: fixedLine{"B1"}, Upstream: up,
		Identity: config.Line{CompanyPrefixLen: 7}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(rctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "case serials imported", func() bool {
		n, _ := j.IDLevel(journal.IDSGTIN, caseGTIN)
		return n > 0
	})
	op := api.Actor{User: "olga", Role: "operator"}
	for _, s := range serials[:2] {
		if r, err := a.Scan(ctx, "manual", s, op); err != nil || !r.OK {
			t.Fatalf("scan %s: %+v %v", s, r, err)
		}
	}
	st, _ := a.Station(ctx, "manual")
	code := st.Last.Parent.Code
	if st.Last.Parent.State != "closed" || !strings.HasPrefix(code, "01"+caseGTIN+"21") {
		t.Fatalf("case %+v", st.Last.Parent)
	}
	// the batch ends: its events go to the outbox as EPCIS
	b, _ := j.Batch("B1")
	n, err := a.Report(ctx, b)
	if err != nil || n != 2 {
		t.Fatalf("report: %d %v", n, err)
	}
	items, _ := j.OutboxPending(ctx, 0)
	doc := string(items[len(items)-1].Payload)
	if !strings.Contains(doc, "urn:epc:id:sgtin:9501101.1"+caseGTIN[8:13]) || !strings.Contains(doc, `"cbvmda:lotNumber":"L1"`) {
		t.Fatalf("EPCIS of an SGTIN case:\n%s", doc)
	}
}
