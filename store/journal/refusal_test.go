package journal

import (
	"context"
	"errors"
	"testing"
)

func TestReturnRefusals(t *testing.T) {
	j := openTest(t, nil)
	ctx := context.Background()
	if rs, err := j.ReturnRefusals(); err != nil || len(rs) != 0 {
		t.Fatalf("fresh journal: %v, %v", rs, err)
	}
	in := []ReturnRefusal{
		{Serial: "S2", GTIN: "09501101530003", Batch: "B1", Code: "unknown_serial", Message: "not issued"},
		{Serial: "S1", GTIN: "09501101530003", Code: "refused", Message: "returned already"},
	}
	if err := j.RecordReturnRefusals(ctx, in); err != nil {
		t.Fatal(err)
	}
	// Recorded again with another reason: replaced, not doubled.
	if err := j.RecordReturnRefusals(ctx, []ReturnRefusal{{Serial: "S1", GTIN: "09501101530003", Code: "unknown_serial", Message: "x"}}); err != nil {
		t.Fatal(err)
	}
	rs, err := j.ReturnRefusals()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Serial != "S1" || rs[0].Code != "unknown_serial" || rs[1].Batch != "B1" || rs[1].At.IsZero() {
		t.Fatalf("refusals %+v", rs)
	}
	if err := j.RecordReturnRefusals(ctx, []ReturnRefusal{{Serial: ""}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty serial: %v", err)
	}
}
