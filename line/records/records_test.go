package records_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/serialine/serialine/line/records"
	"github.com/serialine/serialine/store/journal"
)

func openJournal(t *testing.T) (*journal.Journal, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "j.db")
	j, err := journal.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rep, err := j.Verify(context.Background())
		if err != nil || !rep.OK() {
			t.Errorf("journal verify: %v %v", err, rep.Problems)
		}
		j.Close()
	})
	return j, p
}

// TestRecordsSurviveReopen: every kind of record is in the audit trail
// and the index is rebuilt from it (legacy reconciliation signatures too);
// product versions count up; a bad record is refused with what to correct.
func TestRecordsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	j, _ := openJournal(t)
	s, err := records.Open(ctx, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	signer := records.Signer{User: "sam", FullName: "Samuel Brandt", Role: "supervisor", Meaning: "approved", Reason: "r", At: at}
	p := records.Product{GTIN: "09501101530003", Name: "P", Profile: "eu-fmd", GCPLength: 7, MinShelfLifeDays: 90, Active: true, Reason: "new"}
	if _, err := s.SaveProduct(ctx, p, "admin", "admin"); err != nil {
		t.Fatal(err)
	}
	p.MinShelfLifeDays = 120
	if v, err := s.SaveProduct(ctx, p, "admin", "admin"); err != nil || v.Version != 2 {
		t.Fatalf("second version: %+v %v", v, err)
	}
	if _, err := s.SaveProduct(ctx, records.Product{GTIN: "123"}, "admin", "admin"); !errors.Is(err, records.ErrInvalid) {
		t.Fatalf("bad product: %v", err)
	}
	f := records.Figures{Drawn: 10, Commissioned: 10, Balanced: true}
	if err := s.Sign(ctx, records.Signature{Batch: "B1", Step: records.StepProduction, Signer: signer, Digest: f.Digest(), Figures: f}); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseOut(ctx, records.Closeout{Serial: "S1", Batch: "B1", Outcome: records.CloseoutNotFound, Note: "searched", Signer: signer}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmClearance(ctx, records.Clearance{Batch: "B1", Items: []records.CheckItem{{ID: "a", Text: "A"}}, Signer: signer}); err != nil {
		t.Fatal(err)
	}
	h, err := s.HandOver(ctx, records.Handover{Note: "all good", Outgoing: signer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acknowledge(ctx, h.ID, signer); err == nil {
		t.Fatal("the writer acknowledged the own handover")
	}
	in := signer
	in.User = "otto"
	if _, err := s.Acknowledge(ctx, h.ID, in); err != nil {
		t.Fatal(err)
	}
	// a signature from before sealing (written by the controller)
	j.AppendAudit(ctx, journal.AuditEntry{Who: "sam", Role: "supervisor", Action: "reconciliation.sign", Before: "OLD",
		After: `{"user":"sam","role":"supervisor","meaning":"approved","reason":"old","at":"2025-01-01T00:00:00Z","digest":"abc"}`})

	s2, err := records.Open(ctx, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vs := s2.ProductVersions(p.GTIN); len(vs) != 2 || vs[1].MinShelfLifeDays != 120 {
		t.Errorf("product versions after reopen: %+v", vs)
	}
	if sg := s2.Signatures("B1"); len(sg) != 1 || sg[0].FullName != "Samuel Brandt" || sg[0].Digest != f.Digest() || sg[0].Figures.Drawn != 10 {
		t.Errorf("signatures: %+v", sg)
	}
	if co, ok := s2.Closeout("S1"); !ok || !co.Deviation() {
		t.Errorf("close-out: %+v", co)
	}
	if _, ok := s2.Clearance("B1"); !ok {
		t.Error("clearance lost")
	}
	if hs := s2.Handovers(0); len(hs) != 1 || hs[0].Incoming == nil || hs[0].Incoming.User != "otto" {
		t.Errorf("handovers: %+v", hs)
	}
	if old := s2.Signatures("OLD"); len(old) != 1 || !old[0].Legacy || old[0].Step != records.StepProduction {
		t.Errorf("legacy signature: %+v", old)
	}
}

// TestFiguresDigest: the digest changes with any figure or unit and not
// with the order of units.
func TestFiguresDigest(t *testing.T) {
	a := records.Figures{Drawn: 3, Commissioned: 2, Sampled: 1, Units: []string{"S2 x", "S1 y"}, RejectedBy: map[string]int{"a": 1, "b": 2}}
	b := a
	b.Units = []string{"S1 y", "S2 x"}
	if a.Digest() != b.Digest() {
		t.Error("unit order changes the digest")
	}
	c := a
	c.Sampled = 2
	if a.Digest() == c.Digest() {
		t.Error("a changed figure keeps the digest")
	}
}
