package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The format fixtures in testdata/format-v<N>/ are journals written by the
// release whose on-disk format is N, kept so that every later release proves
// it opens (migrates) them. Each folder holds journal.db and expect.json
// (what the journal held when it was written).
//
// To write the fixture of the current format (once per format version, on
// the release that introduces it):
//
//	SERIALINE_WRITE_FORMAT_FIXTURE=1 go test -run TestWriteFormatFixture ./store/journal
//
// writeFormatFixture uses only the exported API, so the same code wrote the
// fixture of every format version.

// fixtureExpect is expect.json: what the fixture journal holds.
type fixtureExpect struct {
	Format  int                 `json:"format"`
	Batches map[string]Counters `json:"batches"`
	// Units: every unit's state and reason, by serial.
	Units map[string]string `json:"units"`
	// InFlight: units recovery will resolve on the first read-write open.
	InFlight         []string `json:"in_flight"`
	Available        int      `json:"available"`
	ReturnedUpstream int      `json:"returned_upstream"`
	AuditEntries     int      `json:"audit_entries"`
	OutboxItems      int      `json:"outbox_items"`
	PendingRequest   string   `json:"pending_request"`
	NHRN             string   `json:"nhrn"`
}

const (
	fixtureGTIN2 = "04150999999994"
)

func TestWriteFormatFixture(t *testing.T) {
	if os.Getenv("SERIALINE_WRITE_FORMAT_FIXTURE") == "" {
		t.Skip("writes testdata/format-v<N>/ only with SERIALINE_WRITE_FORMAT_FIXTURE=1")
	}
	dir := filepath.Join("testdata", fmt.Sprintf("format-v%d", formatVersion))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "journal.db")
	os.Remove(path)
	exp, err := writeFormatFixture(path)
	if err != nil {
		t.Fatal(err)
	}
	exp.Format = formatVersion
	data, _ := json.MarshalIndent(exp, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "expect.json"), append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeFormatFixture builds a journal with something of every record kind:
// two pools (one partly returned upstream), a finished and signed batch with
// units in every final state (grades, read data, a reject-not-confirmed
// annotation, a QA sample and a manual reject by a person), a running batch
// with an NHRN and units drawn, queued, printed and verified (in flight),
// audit entries, pending outbox items and a pending pool request.
func writeFormatFixture(path string) (fixtureExpect, error) {
	clock := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(7 * time.Millisecond); return clock }
	j, err := Open(path, &Options{NoSync: true, Now: now, InitialMmapSize: 1 << 16})
	if err != nil {
		return fixtureExpect{}, err
	}
	defer j.Close()
	ctx := context.Background()
	ann := Actor{User: "ann", Role: "operator"}
	sam := Actor{User: "sam", Role: "supervisor"}
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(j.ImportPool(ctx, Pool{ID: "P1", GTIN: testGTIN, Serials: serials("F1A", 40)}))
	must(j.ImportPool(ctx, Pool{ID: "P2", GTIN: fixtureGTIN2, Serials: serials("F2B", 30)}))
	must(j.CreateBatch(ctx, BatchDef{ID: "B1", GTIN: testGTIN, Lot: "L2603", Expiry: "280331", Profile: "eu-fmd", Target: 12, Template: "pack"}, ann))
	for _, s := range []string{"Starting", "Execute", "Completing", "Complete"} {
		must(j.SetBatchState(ctx, "B1", s, ann, "fixture"))
	}
	us, err := j.Draw(ctx, "B1", 16)
	must(err)
	seq := uint64(1000)
	step := func(serial string, cs ...Change) {
		for _, c := range cs {
			c.Serial = serial
			must(j.Apply(ctx, c))
		}
	}
	pass := []Change{{To: Queued}, {To: Printed, Actor: ActorPrinter}, {To: Verified, Grade: &Grade{Overall: 3.4, Param: "modulation", ParamGrade: 3.0}, Actor: ActorCamera}, {To: Commissioned, Actor: ActorPLC}}
	for i := 0; i < 10; i++ {
		seq++
		cs := append([]Change(nil), pass...)
		cs[1].Seq = seq
		step(us[i].Serial, cs...)
	}
	step(us[10].Serial, Change{To: Queued}, Change{To: Printed, Seq: 1011}, Change{To: Rejected, Reason: ReasonMismatch, Detail: "(17) differs",
		ReadData: "]d2010950110153000317280330" + "\x1d21" + us[10].Serial, Actor: ActorCamera})
	step(us[11].Serial, Change{To: Queued}, Change{To: Printed, Seq: 1012}, Change{To: Rejected, Reason: ReasonLowGrade, Detail: "overall 1.2",
		Grade: &Grade{Overall: 1.2, Param: "axial non-uniformity", ParamGrade: 1.2}, Actor: ActorCamera},
		Change{To: Rejected, Reason: ReasonRejectNotConfirmed, Detail: "after low-grade: gate sensor saw nothing", Actor: ActorPLC})
	step(us[12].Serial, Change{To: Queued}, Change{To: Uncertain, Reason: ReasonPrinterFault, Detail: "ink out", Actor: ActorPrinter})
	step(us[13].Serial, Change{To: Returned, Reason: ReasonBatchEnd})
	step(us[14].Serial, Change{To: Queued}, Change{To: Returned, Reason: ReasonQueueCleared, Actor: ActorPrinter})
	step(us[15].Serial, Change{To: Queued}, Change{To: Rejected, Reason: ReasonMissedPrint, Actor: ActorPrinter})
	step(us[0].Serial, Change{To: Sampled, Reason: ReasonQASample, Detail: "stability study", Actor: sam})
	step(us[1].Serial, Change{To: Rejected, Reason: ReasonManual, Detail: "damaged carton", Actor: sam})
	must(j.AppendAudit(ctx, AuditEntry{Who: "sam", Role: "supervisor", Action: "reconciliation.sign", Reason: "approved: fixture",
		Before: "B1", After: `{"user":"sam","role":"supervisor","meaning":"approved","reason":"fixture","at":"2026-03-02T06:10:00Z","digest":"00"}`}))
	_, err = j.OutboxPut(ctx, "epcis", []byte(`{"type":"EPCISDocument","fixture":"B1 commissioning"}`))
	must(err)
	id2, err := j.OutboxPut(ctx, "epcis", []byte(`{"type":"EPCISDocument","fixture":"B1 decommissioning"}`))
	must(err)
	must(j.OutboxAck(ctx, id2))
	_, err = j.TakeUnused(ctx, testGTIN, 5)
	must(err)

	// Running batch with an NHRN, units in flight.
	must(j.CreateBatch(ctx, BatchDef{ID: "B2", GTIN: fixtureGTIN2, Lot: "L2604", Expiry: "290430", Profile: "eu-fmd-de", Target: 20, NHRN: "04150127"}, ann))
	must(j.SetBatchState(ctx, "B2", "Execute", ann, "fixture"))
	u2, err := j.Draw(ctx, "B2", 6)
	must(err)
	step(u2[0].Serial, pass[0], Change{To: Printed, Seq: 2001, Actor: ActorPrinter}, pass[2], pass[3])
	step(u2[1].Serial, Change{To: Queued})
	step(u2[2].Serial, Change{To: Queued}, Change{To: Printed, Seq: 2003})
	step(u2[3].Serial, Change{To: Queued}, Change{To: Printed, Seq: 2004}, Change{To: Verified, Grade: &Grade{Overall: 2.5}})
	// u2[4], u2[5] stay drawn.
	must(j.SetPendingRequest(ctx, fixtureGTIN2, "req-fixture-7"))

	exp := fixtureExpect{Batches: map[string]Counters{}, Units: map[string]string{}, PendingRequest: "req-fixture-7", NHRN: "04150127"}
	bs, err := j.Batches()
	must(err)
	for _, b := range bs {
		exp.Batches[b.ID] = b.Counters
		must(j.Units(b.ID, func(u Unit) error {
			exp.Units[u.Serial] = u.State.String() + " " + u.Reason.String()
			if u.State.InFlight() {
				exp.InFlight = append(exp.InFlight, u.Serial)
			}
			return nil
		}))
	}
	rep, err := j.Verify(ctx)
	if err != nil {
		return exp, fmt.Errorf("fixture does not verify: %w %v", err, rep.Problems)
	}
	exp.Available, exp.ReturnedUpstream, exp.AuditEntries, exp.OutboxItems = rep.Available, rep.ReturnedUpstream, rep.AuditEntries, rep.OutboxItems
	return exp, nil
}
