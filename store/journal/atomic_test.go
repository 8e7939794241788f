package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestApplyWithOutbox: a unit step and its outbox item are one
// transaction: both durable (seen after a reopen), or neither (an illegal
// step leaves no item behind).
func TestApplyWithOutbox(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, nil)
	setup(t, j, 3)
	us, err := j.Draw(ctx, "B1", 2)
	if err != nil {
		t.Fatal(err)
	}
	a, b := us[0].Serial, us[1].Serial
	commission(t, j, a, 1)
	sup := Actor{User: "sue", Role: "supervisor"}
	// illegal: b is Drawn, not Commissioned → nothing at all is written
	_, err = j.ApplyWithOutbox(ctx,
		[]Change{{Serial: a, To: Sampled, Reason: ReasonQASample, Actor: sup}, {Serial: b, To: Sampled, Reason: ReasonQASample, Actor: sup}},
		[]OutboxEntry{{Kind: "epcis", Payload: []byte(`{"a":1}`)}})
	var te *TransitionError
	if !errors.As(err, &te) {
		t.Fatalf("ApplyWithOutbox with an illegal step: %v, want a TransitionError", err)
	}
	if items, _ := j.OutboxPending(ctx, 0); len(items) != 0 {
		t.Fatalf("outbox after a refused transaction: %+v", items)
	}
	if u, _ := j.Unit(a); u.State != Commissioned {
		t.Fatalf("unit %s is %s after a refused transaction", a, u.State)
	}
	if _, err := j.ApplyWithOutbox(ctx, nil, []OutboxEntry{{Kind: ""}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty kind: %v", err)
	}
	ids, err := j.ApplyWithOutbox(ctx, []Change{{Serial: a, To: Sampled, Reason: ReasonQASample, Actor: sup}},
		[]OutboxEntry{{Kind: "epcis", Payload: []byte(`{"a":2}`)}, {Kind: "epcis", Payload: []byte(`{"a":3}`)}})
	if err != nil || len(ids) != 2 || ids[0] >= ids[1] {
		t.Fatalf("ApplyWithOutbox: ids %v err %v", ids, err)
	}
	j = reopen(t, j)
	if u, _ := j.Unit(a); u.State != Sampled {
		t.Fatalf("after reopen unit %s is %s, want Sampled", a, u.State)
	}
	items, err := j.OutboxPending(ctx, 0)
	if err != nil || len(items) != 2 || items[0].ID != ids[0] || string(items[1].Payload) != `{"a":3}` {
		t.Fatalf("after reopen outbox %+v err %v", items, err)
	}
}

// TestTakeUnusedWithOutbox: the serials given back upstream and the
// message that says so are one transaction.
func TestTakeUnusedWithOutbox(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, nil)
	setup(t, j, 5)
	if _, err := j.Draw(ctx, "B1", 2); err != nil {
		t.Fatal(err)
	}
	// a payload that fails: nothing is taken
	boom := errors.New("boom")
	if _, err := j.TakeUnusedWithOutbox(ctx, testGTIN, 0, "return", func([]string) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("failing payload: %v", err)
	}
	if lvl, _ := j.PoolLevel(testGTIN); lvl != 3 {
		t.Fatalf("pool level %d after a refused take, want 3", lvl)
	}
	got, err := j.TakeUnusedWithOutbox(ctx, testGTIN, 0, "return", func(s []string) ([]byte, error) { return json.Marshal(s) })
	if err != nil || len(got) != 3 {
		t.Fatalf("TakeUnusedWithOutbox: %v %v", got, err)
	}
	j = reopen(t, j)
	if lvl, _ := j.PoolLevel(testGTIN); lvl != 0 {
		t.Fatalf("pool level %d, want 0", lvl)
	}
	items, _ := j.OutboxPending(ctx, 0)
	want, _ := json.Marshal(got)
	if len(items) != 1 || items[0].Kind != "return" || string(items[0].Payload) != string(want) {
		t.Fatalf("outbox %+v, want one return of %s", items, want)
	}
	// nothing left: no item
	if got, err := j.TakeUnusedWithOutbox(ctx, testGTIN, 0, "return", func(s []string) ([]byte, error) { return json.Marshal(s) }); err != nil || len(got) != 0 {
		t.Fatalf("empty take: %v %v", got, err)
	}
	if items, _ := j.OutboxPending(ctx, 0); len(items) != 1 {
		t.Fatalf("empty take put an item: %+v", items)
	}
}

// TestPendingRequest: the pending pool request id survives a reopen and is
// cleared by the import of the pool that answers it (same transaction),
// not by another pool.
func TestPendingRequest(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, nil)
	if id, err := j.PendingRequest(testGTIN); err != nil || id != "" {
		t.Fatalf("fresh journal: %q %v", id, err)
	}
	if err := j.SetPendingRequest(ctx, testGTIN, "R1"); err != nil {
		t.Fatal(err)
	}
	if err := j.SetPendingRequest(ctx, "123", "R1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad gtin: %v", err)
	}
	j = reopen(t, j)
	if id, err := j.PendingRequest(testGTIN); err != nil || id != "R1" {
		t.Fatalf("after reopen: %q %v", id, err)
	}
	// another request's pool leaves it
	if err := j.ImportPool(ctx, Pool{ID: "P0", GTIN: testGTIN, Serials: serials("X", 2), RequestID: "R0"}); err != nil {
		t.Fatal(err)
	}
	if id, _ := j.PendingRequest(testGTIN); id != "R1" {
		t.Fatalf("pending %q after another pool, want R1", id)
	}
	// a refused pool leaves it
	if err := j.ImportPool(ctx, Pool{ID: "P0", GTIN: testGTIN, Serials: serials("Y", 2), RequestID: "R1"}); err == nil {
		t.Fatal("pool imported twice")
	}
	if id, _ := j.PendingRequest(testGTIN); id != "R1" {
		t.Fatalf("pending %q after a refused pool, want R1", id)
	}
	if err := j.ImportPool(ctx, Pool{ID: "P1", GTIN: testGTIN, Serials: serials("S", 2), RequestID: "R1"}); err != nil {
		t.Fatal(err)
	}
	j = reopen(t, j)
	if id, _ := j.PendingRequest(testGTIN); id != "" {
		t.Fatalf("pending %q after its pool was imported", id)
	}
	if err := j.SetPendingRequest(ctx, testGTIN, "R2"); err != nil {
		t.Fatal(err)
	}
	if err := j.ClearPendingRequest(ctx, testGTIN, "R9"); err != nil {
		t.Fatal(err)
	}
	if id, _ := j.PendingRequest(testGTIN); id != "R2" {
		t.Fatalf("cleared by another id: %q", id)
	}
	if err := j.ClearPendingRequest(ctx, testGTIN, "R2"); err != nil {
		t.Fatal(err)
	}
	if id, _ := j.PendingRequest(testGTIN); id != "" {
		t.Fatalf("not cleared: %q", id)
	}
}

// reopen closes j, verifies it and opens it again (recovery runs); the
// reopened journal is verified again at cleanup.
func reopen(t *testing.T, j *Journal) *Journal {
	t.Helper()
	closeAndVerify(t, j)
	j2, err := Open(j.Path(), &Options{Now: newFakeClock().Now})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { closeAndVerify(t, j2) })
	return j2
}

const atomicChildEnv = "SERIALINE_JOURNAL_ATOMIC_CHILD"

// atomicChild samples commissioned units one by one, each step with its
// outbox item (payload = the serial) in one ApplyWithOutbox, from two
// goroutines, printing each serial once durable, until killed.
func atomicChild(path string) error {
	ctx := context.Background()
	j, err := Open(path, nil)
	if err != nil {
		return err
	}
	var todo []string
	if err := j.Units("B1", func(u Unit) error {
		if u.State == Commissioned {
			todo = append(todo, u.Serial)
		}
		return nil
	}); err != nil {
		return err
	}
	var mu sync.Mutex
	errc := make(chan error, 2)
	for w := range 2 {
		go func() {
			for i := w; i < len(todo); i += 2 {
				s := todo[i]
				if _, err := j.ApplyWithOutbox(ctx, []Change{{Serial: s, To: Sampled, Reason: ReasonQASample, Actor: Actor{User: "sue", Role: "supervisor"}}},
					[]OutboxEntry{{Kind: "epcis", Payload: []byte(s)}}); err != nil {
					errc <- err
					return
				}
				mu.Lock()
				fmt.Println(s)
				mu.Unlock()
			}
			errc <- nil
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			return err
		}
	}
	select {} // wait for the kill
}

// TestApplyWithOutboxKill9: the child is SIGKILLed while it journals
// sampling steps with their outbox items; after recovery every Sampled
// unit has exactly its item and every item its Sampled unit, and every
// acknowledged step survived.
func TestApplyWithOutboxKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	const n = 300
	j := openTest(t, &Options{Now: time.Now})
	setup(t, j, n)
	ctx := context.Background()
	us, err := j.Draw(ctx, "B1", n)
	if err != nil {
		t.Fatal(err)
	}
	var ch []Change
	for i, u := range us {
		ch = append(ch, Change{Serial: u.Serial, To: Queued}, Change{Serial: u.Serial, To: Printed, Seq: uint64(i + 1), Actor: ActorPrinter},
			Change{Serial: u.Serial, To: Verified, Actor: ActorCamera}, Change{Serial: u.Serial, To: Commissioned, Actor: ActorPLC})
	}
	mustApply(t, j, ch...)
	path := j.Path()
	closeAndVerify(t, j)
	acked := map[string]bool{}
	for run, after := range []int{1, 40, 120} {
		cmd, sc, stderr := startChild(t, atomicChildEnv, path)
		got := 0
		for sc.Scan() {
			acked[sc.Text()] = true
			if got++; got == after {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		err := cmd.Wait()
		if got < after {
			t.Fatalf("run %d: child ended after %d acks: %v\n%s", run, got, err, stderr.String())
		}
		j2, err := Open(path, nil)
		if err != nil {
			t.Fatalf("run %d: reopen: %v", run, err)
		}
		items, err := j2.OutboxPending(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		inBox := map[string]int{}
		for _, it := range items {
			inBox[string(it.Payload)]++
		}
		sampled := 0
		if err := j2.Units("B1", func(u Unit) error {
			if u.State == Sampled {
				sampled++
				if inBox[u.Serial] != 1 {
					t.Errorf("run %d: unit %s Sampled, %d outbox items", run, u.Serial, inBox[u.Serial])
				}
			} else if inBox[u.Serial] != 0 {
				t.Errorf("run %d: outbox item for %s, unit is %s", run, u.Serial, u.State)
			}
			if acked[u.Serial] && u.State != Sampled {
				t.Errorf("run %d: acknowledged step of %s lost (%s)", run, u.Serial, u.State)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(items) != sampled {
			t.Errorf("run %d: %d outbox items, %d sampled units", run, len(items), sampled)
		}
		t.Logf("run %d: killed after %d acks; %d sampled, %d items", run, got, sampled, len(items))
		closeAndVerify(t, j2)
		if t.Failed() {
			return
		}
	}
}
