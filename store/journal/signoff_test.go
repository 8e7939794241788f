package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
)

// recordSign appends a two-step review signature (line/records' form) of
// batch B1 sealing f.
func recordSign(t *testing.T, j *Journal, step string, f sealedFigures) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"batch": "B1", "step": step, "user": sam.User, "meaning": "approved", "digest": "d", "figures": f})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.AppendAudit(context.Background(), AuditEntry{Who: sam.User, Role: sam.Role, Action: AuditActionRecordSignature,
		Reason: "approved: test", Before: "B1", After: string(b)}); err != nil {
		t.Fatal(err)
	}
}

// TestArchiveNeedsSignOff: a batch whose record was signed through the
// two-step review (record.signature) is archived only after its production
// sign-off and QA release, both sealing the figures it has now, and is
// signed again after a close-out changed its record; the archive carries
// every signature and verifies.
func TestArchiveNeedsSignOff(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, &Options{ArchiveDir: dir})
	ctx := context.Background()
	ser := closedUnsignedBatch(t, j, 20)
	arch := func() error { _, err := j.ArchiveBatch(ctx, "B1", ArchiveOptions{Dir: dir}); return err }
	b, err := j.Batch("B1")
	if err != nil {
		t.Fatal(err)
	}
	now := figuresOf(b.Counters)

	wantErrText(t, arch(), ErrInvalid, "not signed (production sign-off and QA release)")
	stale := now
	stale.Commissioned, stale.Sampled = now.Commissioned+1, now.Sampled-1 // signed before the QA sample
	recordSign(t, j, signStepProduction, stale)
	wantErrText(t, arch(), ErrInvalid, "changed after signing (signed: "+stale.String()+"; now: "+now.String()+")")
	recordSign(t, j, signStepProduction, now)
	wantErrText(t, arch(), ErrInvalid, "not yet released by QA")
	recordSign(t, j, signStepQA, stale)
	wantErrText(t, arch(), ErrInvalid, "changed after the QA release")
	recordSign(t, j, signStepQA, now)
	if ids, err := j.Archivable(); err != nil || len(ids) != 1 || ids[0] != "B1" {
		t.Fatalf("archivable after the QA release: %v (%v)", ids, err)
	}

	// a close-out after the release reopens the record
	co := fmt.Sprintf(`{"serial":%q,"batch":"B1","outcome":"found-destroyed","signature":{"user":"sam"}}`, ser[3])
	if err := j.AppendAudit(ctx, AuditEntry{Who: sam.User, Role: sam.Role, Action: AuditActionRecordCloseout, Before: ser[3], After: co}); err != nil {
		t.Fatal(err)
	}
	wantErrText(t, arch(), ErrInvalid, "close-out was recorded after its batch record was signed")
	recordSign(t, j, signStepQA, now)
	wantErrText(t, arch(), ErrInvalid, "close-out was recorded after") // production signs first
	recordSign(t, j, signStepProduction, now)
	recordSign(t, j, signStepQA, now)
	if err := arch(); err != nil {
		t.Fatal(err)
	}
	as, err := j.Archives()
	if err != nil || len(as) != 1 {
		t.Fatalf("archives %+v (%v)", as, err)
	}
	rep, err := j.VerifyArchive(ctx, filepath.Join(dir, as[0].File))
	if err != nil || !rep.OK() {
		t.Fatalf("verify archive: %v %v", err, rep.Problems)
	}
	if n := len(rep.Header.Signatures); n != 7 {
		t.Fatalf("archive header carries %d signatures, want all 7", n)
	}
}
