package journal

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"
)

// batchV1Golden is a batch definition record as written before record
// version 2 existed (no NHRN): old journals must still decode.
const batchV1Golden = "0105010242310e3039353031313031353330303033014c063238313233310665752d666d640a017480e0f2edc2680745786563757465d488cd4d"

func TestBatchDefVersions(t *testing.T) {
	old, _ := hex.DecodeString(batchV1Golden)
	r, err := decodeBatchDef("B1", old)
	if err != nil {
		t.Fatalf("version 1 record: %v", err)
	}
	want := BatchDef{ID: "B1", GTIN: testGTIN, Lot: "L", Expiry: "281231", Profile: "eu-fmd", Target: 10, Template: "t"}
	if r.def != want || r.state != "Execute" || !r.createdAt.Equal(t0) {
		t.Fatalf("version 1 decoded as %+v", r)
	}
	if re := encodeBatchDef(r); !bytes.Equal(re, old) {
		t.Fatalf("a batch without NHRN must still be written as version 1:\n%x\n%x", re, old)
	}

	r.def.Profile, r.def.NHRN = "eu-fmd-de", "12345678"
	v2 := encodeBatchDef(r)
	if v2[0] != recVersionBatchNHRN {
		t.Fatalf("batch with NHRN written as version %d", v2[0])
	}
	back, err := decodeBatchDef("B1", v2)
	if err != nil || back.def.NHRN != "12345678" || back.def.Profile != "eu-fmd-de" {
		t.Fatalf("version 2 round trip: %+v, %v", back.def, err)
	}
	// Version 2 without the NHRN field, version 2 with an empty NHRN, and
	// version 3 are corrupt.
	bad := map[string][]byte{
		"v2 without NHRN": fixCRC(append(append([]byte{recVersionBatchNHRN}, old[1:len(old)-4]...), 0, 0, 0, 0)),
		"v2 empty NHRN":   fixCRC(append(append([]byte{recVersionBatchNHRN}, old[1:len(old)-4]...), 0, 0, 0, 0, 0)),
		"v3":              fixCRC(append([]byte{3}, v2[1:]...)),
	}
	for name, b := range bad {
		if _, err := decodeBatchDef("B1", b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
}

func TestBatchNHRNStored(t *testing.T) {
	j := openTest(t, nil)
	ctx := context.Background()
	by := Actor{User: "ann", Role: "operator"}
	def := BatchDef{ID: "DE1", GTIN: testGTIN, Lot: "L1", Expiry: "281231", Profile: "eu-fmd-de", Target: 5, NHRN: "04150123"}
	if err := j.CreateBatch(ctx, def, by); err != nil {
		t.Fatal(err)
	}
	// Reopen: the NHRN survives on disk.
	path := j.Path()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndVerify(t, j2) })
	b, err := j2.Batch("DE1")
	if err != nil || b.NHRN != "04150123" {
		t.Fatalf("batch after reopen: %+v, %v", b.BatchDef, err)
	}
	for name, d := range map[string]BatchDef{
		"nhrn on a profile without one": {ID: "X1", GTIN: testGTIN, Profile: "eu-fmd", NHRN: "04150123"},
		"nhrn unknown profile":          {ID: "X2", GTIN: testGTIN, Profile: "mars", NHRN: "04150123"},
		"nhrn bad characters":           {ID: "X3", GTIN: testGTIN, Profile: "eu-fmd-de", NHRN: "04 150\x01"},
		"nhrn too long":                 {ID: "X4", GTIN: testGTIN, Profile: "eu-fmd-de", NHRN: "123456789012345678901"},
	} {
		if err := j2.CreateBatch(ctx, d, by); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
}

// TestRejectNotConfirmedAnnotation: Rejected -> Rejected is allowed exactly
// once, with reason reject-not-confirmed, by the system, after the original
// reason; counters do not move; Verify accepts the history.
func TestRejectNotConfirmedAnnotation(t *testing.T) {
	j := openTest(t, nil)
	setup(t, j, 10)
	ctx := context.Background()
	us, err := j.Draw(ctx, "B1", 3)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := us[0].Serial, us[1].Serial, us[2].Serial
	for _, s := range []string{a, b} {
		mustApply(t, j, Change{Serial: s, To: Queued})
		mustApply(t, j, Change{Serial: s, To: Printed, Seq: 7, Actor: ActorPrinter})
		mustApply(t, j, Change{Serial: s, To: Rejected, Reason: ReasonLowGrade, Detail: "modulation 1.0", Actor: ActorCamera})
	}
	mustApply(t, j, Change{Serial: c, To: Queued})
	before, _ := j.Counters("B1")

	refused := []Change{
		{Serial: a, To: Rejected, Reason: ReasonLowGrade, Detail: "again", Actor: ActorPLC},                        // other reason
		{Serial: a, To: Rejected, Reason: ReasonRejectNotConfirmed, Actor: Actor{User: "ann", Role: "supervisor"}}, // a person
		{Serial: c, To: Queued, Reason: ReasonRejectNotConfirmed, Actor: ActorPLC},                                 // not rejected
	}
	for _, ch := range refused {
		if err := j.Apply(ctx, ch); !errors.Is(err, ErrIllegalTransition) {
			t.Errorf("%+v: err %v, want ErrIllegalTransition", ch, err)
		}
	}
	mustApply(t, j, Change{Serial: a, To: Rejected, Reason: ReasonRejectNotConfirmed, Detail: "after low-grade", Actor: ActorPLC})
	// Once only.
	if err := j.Apply(ctx, Change{Serial: a, To: Rejected, Reason: ReasonRejectNotConfirmed, Actor: ActorPLC}); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("second annotation: %v", err)
	}
	u, err := j.Unit(a)
	if err != nil {
		t.Fatal(err)
	}
	n := len(u.History)
	if u.State != Rejected || u.Reason != ReasonRejectNotConfirmed || n != 5 ||
		u.History[n-2].Reason != ReasonLowGrade || u.History[n-1].Actor != ActorPLC {
		t.Fatalf("unit after annotation: %+v", u)
	}
	if after, _ := j.Counters("B1"); after != before {
		t.Fatalf("counters moved: %+v -> %+v", before, after)
	}
	if rep, err := j.Verify(ctx); err != nil {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}

func TestCheckHistoryAnnotation(t *testing.T) {
	base := []Step{{State: Drawn}, {State: Queued}, {State: Rejected, Reason: ReasonNoRead, Actor: ActorCamera}}
	ok := append(append([]Step(nil), base...), Step{State: Rejected, Reason: ReasonRejectNotConfirmed, Actor: ActorPLC})
	if err := checkHistory(ok); err != nil {
		t.Fatalf("annotated history refused: %v", err)
	}
	for name, extra := range map[string][]Step{
		"twice":        {{State: Rejected, Reason: ReasonRejectNotConfirmed, Actor: ActorPLC}, {State: Rejected, Reason: ReasonRejectNotConfirmed, Actor: ActorPLC}},
		"by a person":  {{State: Rejected, Reason: ReasonRejectNotConfirmed, Actor: Actor{User: "ann", Role: "qa"}}},
		"other reason": {{State: Rejected, Reason: ReasonNoRead, Actor: ActorPLC}},
	} {
		h := append(append([]Step(nil), base...), extra...)
		if err := checkHistory(h); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
