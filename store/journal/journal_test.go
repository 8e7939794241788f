package journal

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	j := openTest(t, nil)
	ctx := context.Background()
	setup(t, j, 10)
	if n, err := j.PoolLevel(testGTIN); err != nil || n != 10 {
		t.Fatalf("PoolLevel = %d, %v", n, err)
	}
	us, err := j.Draw(ctx, "B1", 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range us {
		if want := serials("S", 10)[i]; u.Serial != want || u.State != Drawn || u.Index != i || u.Batch != "B1" || u.Pool != "P1" || u.GTIN != testGTIN {
			t.Fatalf("unit %d = %+v, want serial %s drawn", i, u, want)
		}
	}
	commission(t, j, us[0].Serial, 100)
	mustApply(t, j, Change{Serial: us[1].Serial, To: Queued})
	mustApply(t, j, Change{Serial: us[1].Serial, To: Printed, Seq: 101})
	mustApply(t, j, Change{Serial: us[1].Serial, To: Rejected, Reason: ReasonLowGrade, Grade: &Grade{Overall: 1.2, Param: "modulation", ParamGrade: 1.2}})
	mustApply(t, j, Change{Serial: us[2].Serial, To: Returned, Reason: ReasonBatchEnd})
	c, err := j.Counters("B1")
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{Drawn: 1, Commissioned: 1, Rejected: 1, Returned: 1}
	if c != want {
		t.Fatalf("counters %+v, want %+v", c, want)
	}
	u, err := j.Unit(us[1].Serial)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != Rejected || u.Reason != ReasonLowGrade || u.Seq != 101 || u.Grade == nil || u.Grade.Param != "modulation" || u.Grade.Overall != 1.2 || len(u.History) != 4 {
		t.Fatalf("unit = %+v", u)
	}
	if n, _ := j.PoolLevel(testGTIN); n != 6 {
		t.Fatalf("PoolLevel after draw = %d, want 6", n)
	}
	var got []string
	if err := j.Units("B1", func(u Unit) error { got = append(got, u.Serial+":"+u.State.String()); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "S000000:commissioned,S000001:rejected,S000002:returned,S000003:drawn" {
		t.Fatalf("units = %v", got)
	}
}

func TestIllegalTransitionWritesNothing(t *testing.T) {
	j := openTest(t, nil)
	setup(t, j, 3)
	us, _ := j.Draw(context.Background(), "B1", 2)
	a, b := us[0].Serial, us[1].Serial
	cases := []struct {
		name string
		c    Change
	}{
		{"skip queue", Change{Serial: a, To: Printed}},
		{"back to drawn", Change{Serial: a, To: Drawn}},
		{"reject without reason", Change{Serial: a, To: Returned}},
		{"manual by system", Change{Serial: a, To: Returned, Reason: ReasonManual}},
		{"unknown reason", Change{Serial: a, To: Returned, Reason: 200}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The legal change for b in the same call must not be written either.
			err := j.Apply(context.Background(), Change{Serial: b, To: Queued}, tc.c)
			wantErr(t, err, ErrIllegalTransition)
			var te *TransitionError
			if !errors.As(err, &te) || te.Serial != a {
				t.Fatalf("error %v does not name serial %s", err, a)
			}
			if u, _ := j.Unit(b); u.State != Drawn {
				t.Fatalf("b is %s after a refused Apply", u.State)
			}
		})
	}
	wantErr(t, j.Apply(context.Background(), Change{Serial: "S000002", To: Queued}), ErrIllegalTransition) // available, not drawn
	wantErr(t, j.Apply(context.Background(), Change{Serial: "nope", To: Queued}), ErrNotFound)
	wantErr(t, j.Apply(context.Background(), Change{Serial: a}), ErrInvalid)
}

func TestCommissionedNeedsPerson(t *testing.T) {
	j := openTest(t, nil)
	setup(t, j, 2)
	us, _ := j.Draw(context.Background(), "B1", 1)
	s := us[0].Serial
	commission(t, j, s, 1)
	wantErr(t, j.Apply(context.Background(), Change{Serial: s, To: Sampled}), ErrIllegalTransition)
	qa := Actor{User: "quinn", Role: "qa"}
	mustApply(t, j, Change{Serial: s, To: Sampled, Reason: ReasonQASample, Actor: qa})
	var found bool
	err := j.Audit(context.Background(), AuditFilter{Action: "unit.*"}, func(e AuditEntry) error {
		found = found || (e.Who == "quinn" && e.After == s+": sampled" && e.Before == s+": commissioned")
		return nil
	})
	if err != nil || !found {
		t.Fatalf("no audit entry for the QA sample (err %v)", err)
	}
}

func TestPoolRefusedWhole(t *testing.T) {
	j := openTest(t, &Options{})
	ctx := context.Background()
	if err := j.ImportPool(ctx, Pool{ID: "P0", GTIN: testGTIN, Serials: []string{"OLD1", "OLD2"}}); err != nil {
		t.Fatal(err)
	}
	bad := Pool{ID: "P1", GTIN: testGTIN, Serials: []string{
		"GOOD1", "", "TOOLONG0123456789ABCD", "BAD SPACE", "GOOD2", "GOOD1", "OLD2", "é",
	}}
	err := j.ImportPool(ctx, bad)
	wantErr(t, err, ErrPoolRefused)
	var pe *PoolError
	if !errors.As(err, &pe) {
		t.Fatalf("%T is not *PoolError", err)
	}
	gotIdx := []int{}
	for _, b := range pe.Bad {
		gotIdx = append(gotIdx, b.Index)
	}
	// Format problems are found before the duplicate-on-line check runs.
	if want := []int{1, 2, 3, 5, 7}; !equalInts(gotIdx, want) {
		t.Fatalf("bad indexes %v, want %v (%v)", gotIdx, want, err)
	}
	if !strings.Contains(err.Error(), `serial #3 "BAD SPACE"`) {
		t.Fatalf("message does not name the entry: %v", err)
	}
	// Only the line-history problem left: still refused, still lists it.
	err = j.ImportPool(ctx, Pool{ID: "P1", GTIN: testGTIN, Serials: []string{"GOOD1", "OLD2", "GOOD2"}})
	if !errors.As(err, &pe) || len(pe.Bad) != 1 || pe.Bad[0].Index != 1 || !strings.Contains(pe.Bad[0].Problem, "already seen") {
		t.Fatalf("err = %v", err)
	}
	if n, _ := j.PoolLevel(testGTIN); n != 2 {
		t.Fatalf("PoolLevel = %d after refused pools, want 2", n)
	}
	// Same pool id twice; bad GTIN.
	wantErr(t, j.ImportPool(ctx, Pool{ID: "P0", GTIN: testGTIN, Serials: []string{"NEW"}}), ErrPoolRefused)
	wantErr(t, j.ImportPool(ctx, Pool{ID: "P9", GTIN: "09501101530004", Serials: []string{"NEW"}}), ErrPoolRefused)
	if err := j.ImportPool(ctx, Pool{ID: "P1", GTIN: testGTIN, Serials: []string{"GOOD1", "GOOD2"}}); err != nil {
		t.Fatal(err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDrawOrderAcrossPoolsAndEmpty(t *testing.T) {
	j := openTest(t, nil)
	ctx := context.Background()
	setup(t, j, 2)
	if err := j.ImportPool(ctx, Pool{ID: "P2", GTIN: testGTIN, Serials: []string{"Z1", "A1"}}); err != nil {
		t.Fatal(err)
	}
	us, err := j.Draw(ctx, "B1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if us[0].Serial != "S000000" || us[1].Serial != "S000001" || us[2].Serial != "Z1" || us[2].Pool != "P2" {
		t.Fatalf("draw order %v", us)
	}
	_, err = j.Draw(ctx, "B1", 2)
	wantErr(t, err, ErrPoolEmpty)
	if n, _ := j.PoolLevel(testGTIN); n != 1 {
		t.Fatalf("a refused draw took serials: level %d", n)
	}
	_, err = j.Draw(ctx, "nope", 1)
	wantErr(t, err, ErrNotFound)
}

func TestTakeUnused(t *testing.T) {
	j := openTest(t, nil)
	ctx := context.Background()
	setup(t, j, 5)
	got, err := j.TakeUnused(ctx, testGTIN, 2)
	if err != nil || strings.Join(got, ",") != "S000003,S000004" {
		t.Fatalf("TakeUnused = %v, %v", got, err)
	}
	// Returned upstream serials are never importable again.
	wantErr(t, j.ImportPool(ctx, Pool{ID: "P2", GTIN: testGTIN, Serials: []string{"S000004"}}), ErrPoolRefused)
	if _, err := j.Unit("S000004"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "returned upstream") {
		t.Fatalf("Unit(returned upstream) err = %v", err)
	}
	got, err = j.TakeUnused(ctx, testGTIN, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("TakeUnused all = %v, %v", got, err)
	}
}

func TestBatchState(t *testing.T) {
	j := openTest(t, nil)
	ctx := context.Background()
	setup(t, j, 1)
	wantErr(t, j.CreateBatch(ctx, BatchDef{ID: "B1", GTIN: testGTIN}, Actor{}), ErrExists)
	wantErr(t, j.CreateBatch(ctx, BatchDef{ID: "B2", GTIN: testGTIN, Expiry: "2812"}, Actor{}), ErrInvalid)
	op := Actor{User: "ann", Role: "operator"}
	for _, s := range []string{"Starting", "Execute", "Holding"} {
		if err := j.SetBatchState(ctx, "B1", s, op, "shift start"); err != nil {
			t.Fatal(err)
		}
	}
	b, err := j.Batch("B1")
	if err != nil {
		t.Fatal(err)
	}
	if b.State != "Holding" || len(b.History) != 3 || b.History[1].State != "Execute" || b.History[2].Actor != op || b.Lot != "L1" {
		t.Fatalf("batch = %+v", b)
	}
	wantErr(t, j.SetBatchState(ctx, "nope", "Execute", op, ""), ErrNotFound)
	bs, err := j.Batches()
	if err != nil || len(bs) != 1 {
		t.Fatalf("Batches = %v, %v", bs, err)
	}
}

func TestOutbox(t *testing.T) {
	j := openTest(t, nil)
	ctx := context.Background()
	a, _ := j.OutboxPut(ctx, "epcis", []byte(`{"a":1}`))
	b, _ := j.OutboxPut(ctx, "epcis", []byte(`{"b":2}`))
	items, err := j.OutboxPending(ctx, 0)
	if err != nil || len(items) != 2 || items[0].ID != a || string(items[1].Payload) != `{"b":2}` {
		t.Fatalf("pending = %+v, %v", items, err)
	}
	if err := j.OutboxAck(ctx, a); err != nil {
		t.Fatal(err)
	}
	wantErr(t, j.OutboxAck(ctx, a), ErrNotFound)
	items, _ = j.OutboxPending(ctx, 10)
	if len(items) != 1 || items[0].ID != b {
		t.Fatalf("pending after ack = %+v", items)
	}
}

func TestClosed(t *testing.T) {
	j := openTest(t, nil)
	j.Close()
	wantErr(t, j.Apply(context.Background(), Change{Serial: "x", To: Queued}), ErrClosed)
}

func TestUnitsAndAuditInChunks(t *testing.T) {
	j := openTest(t, &Options{NoSync: true})
	ctx := context.Background()
	setup(t, j, 2500)
	if _, err := j.Draw(ctx, "B1", 2500); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := j.Units("B1", func(u Unit) error {
		if u.Index != n {
			return fmt.Errorf("unit %d has index %d", n, u.Index)
		}
		n++
		if n%700 == 0 { // writing from inside the callback is allowed
			return j.Apply(ctx, Change{Serial: u.Serial, To: Queued})
		}
		return nil
	})
	if err != nil || n != 2500 {
		t.Fatalf("Units: %d, %v", n, err)
	}
	for i := range 2100 {
		if err := j.AppendAudit(ctx, AuditEntry{Who: "ann", Role: "op", Action: fmt.Sprintf("test.%d", i%3)}); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	var last uint64
	err = j.Audit(ctx, AuditFilter{Action: "test.1"}, func(e AuditEntry) error {
		if e.Seq <= last {
			return fmt.Errorf("seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		got++
		return nil
	})
	if err != nil || got != 700 {
		t.Fatalf("Audit: %d entries, %v", got, err)
	}
	wantErr(t, j.AppendAudit(ctx, AuditEntry{Action: "x"}), ErrInvalid)
}

func TestMaxBatchDelayAndCancel(t *testing.T) {
	j := openTest(t, &Options{MaxBatchDelay: time.Millisecond, MaxBatchSize: 3})
	ctx := context.Background()
	setup(t, j, 20)
	us, err := j.Draw(ctx, "B1", 20)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, u := range us {
		wg.Go(func() { mustApply(t, j, Change{Serial: u.Serial, To: Queued}) })
	}
	wg.Wait()
	if c, _ := j.Counters("B1"); c.Queued != 20 {
		t.Fatalf("counters %+v", c)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	wantErr(t, j.Apply(cctx, Change{Serial: us[0].Serial, To: Printed}), context.Canceled)
	if u, _ := j.Unit(us[0].Serial); u.State != Queued {
		t.Fatalf("a cancelled Apply wrote: %s", u.State)
	}
}

func TestReadOnly(t *testing.T) {
	j := openTest(t, nil)
	setup(t, j, 2)
	j.Draw(context.Background(), "B1", 1)
	j.Close()
	r, err := Open(j.Path(), &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Recovery().Skipped {
		t.Fatal("recovery ran on a read-only open")
	}
	if u, err := r.Unit("S000000"); err != nil || u.State != Drawn {
		t.Fatalf("read-only sees %v, %v", u.State, err)
	}
	wantErr(t, r.Apply(context.Background(), Change{Serial: "S000000", To: Queued}), ErrReadOnly)
	_, err = Open(filepath.Join(t.TempDir(), "missing.db"), &Options{ReadOnly: true})
	if err == nil {
		t.Fatal("read-only open of a missing file succeeded")
	}
}
