package journal

import (
	"context"
	"errors"
	"testing"
)

// TestUnitModeRecord: the mode and its audit entry are written together
// and survive a reopen; a journal that never had one reads "".
func TestUnitModeRecord(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, nil)
	if m, err := j.UnitMode(); err != nil || m != "" {
		t.Fatalf("fresh journal: %q %v", m, err)
	}
	if err := j.SetUnitMode(ctx, "Maintenance", AuditEntry{Who: "sam", Role: "supervisor", Action: "line.mode",
		Reason: "print head cleaning", Before: "Production", After: "Maintenance"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		mode string
		e    AuditEntry
	}{{"", AuditEntry{Who: "sam", Action: "line.mode"}}, {"Manual", AuditEntry{Action: "line.mode"}}, {"Manual", AuditEntry{Who: "sam"}}} {
		if err := j.SetUnitMode(ctx, bad.mode, bad.e); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetUnitMode(%q, %+v) = %v, want ErrInvalid", bad.mode, bad.e, err)
		}
	}
	j = reopen(t, j)
	if m, err := j.UnitMode(); err != nil || m != "Maintenance" {
		t.Fatalf("after reopen: %q %v", m, err)
	}
	var got []AuditEntry
	if err := j.Audit(ctx, AuditFilter{Action: "line.mode"}, func(e AuditEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Who != "sam" || got[0].After != "Maintenance" {
		t.Fatalf("audit: %+v", got)
	}
}
