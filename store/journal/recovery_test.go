package journal

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestRecoveryRules(t *testing.T) {
	j := openTest(t, nil)
	ctx := context.Background()
	setup(t, j, 10)
	us, err := j.Draw(ctx, "B1", 7)
	if err != nil {
		t.Fatal(err)
	}
	s := func(i int) string { return us[i].Serial }
	// 0 stays drawn; 1 queued; 2 printed; 3 verified; 4 commissioned; 5 rejected; 6 returned.
	mustApply(t, j, Change{Serial: s(1), To: Queued}, Change{Serial: s(2), To: Queued}, Change{Serial: s(3), To: Queued},
		Change{Serial: s(4), To: Queued}, Change{Serial: s(5), To: Queued})
	mustApply(t, j, Change{Serial: s(2), To: Printed}, Change{Serial: s(3), To: Printed}, Change{Serial: s(4), To: Printed}, Change{Serial: s(5), To: Printed})
	mustApply(t, j, Change{Serial: s(3), To: Verified}, Change{Serial: s(4), To: Verified})
	mustApply(t, j, Change{Serial: s(4), To: Commissioned}, Change{Serial: s(5), To: Rejected, Reason: ReasonMismatch, Detail: "AI 21", ReadData: "x"},
		Change{Serial: s(6), To: Returned, Reason: ReasonBatchEnd})
	path := j.Path()
	j.Close()

	j2, err := Open(path, &Options{Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndVerify(t, j2) })
	rep := j2.Recovery()
	if !slices.Equal(rep.Returned, []string{s(0)}) || !slices.Equal(rep.Uncertain, []string{s(1), s(2), s(3)}) || len(rep.CounterFixes) != 0 {
		t.Fatalf("recovery report %+v", rep)
	}
	want := map[int]State{0: Returned, 1: Uncertain, 2: Uncertain, 3: Uncertain, 4: Commissioned, 5: Rejected, 6: Returned}
	for i, st := range want {
		u, err := j2.Unit(s(i))
		if err != nil || u.State != st {
			t.Fatalf("unit %d: %s, %v; want %s", i, u.State, err, st)
		}
		if i <= 3 && u.Reason != ReasonRecovery {
			t.Fatalf("unit %d reason %s", i, u.Reason)
		}
	}
	c, _ := j2.Counters("B1")
	if c != (Counters{Commissioned: 1, Rejected: 1, Returned: 2, Uncertain: 3}) {
		t.Fatalf("counters %+v", c)
	}
	// Returned serials are not re-issued: the next draw takes new ones.
	next, err := j2.Draw(ctx, "B1", 1)
	if err != nil || next[0].Serial != "S000007" {
		t.Fatalf("draw after recovery = %v, %v", next, err)
	}
	var entries []AuditEntry
	j2.Audit(ctx, AuditFilter{Action: "recovery"}, func(e AuditEntry) error { entries = append(entries, e); return nil })
	if len(entries) != 1 || !strings.Contains(entries[0].After, "returned 1, uncertain 3") {
		t.Fatalf("recovery audit entries %+v", entries)
	}
	// A second open has nothing to do.
	path2 := j2.Path()
	mustApply(t, j2, Change{Serial: next[0].Serial, To: Returned, Reason: ReasonBatchEnd})
	j2.Close()
	j3, err := Open(path2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j3.Close()
	if !j3.Recovery().Clean() {
		t.Fatalf("second recovery not clean: %+v", j3.Recovery())
	}
}

func TestRecoveryFixesCounters(t *testing.T) {
	j := openTest(t, nil)
	setup(t, j, 3)
	j.Draw(context.Background(), "B1", 2)
	path := j.Path()
	j.Close()
	tamper(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bktBatches).Bucket([]byte("B1")).Put(keyCtr, encodeCounters(Counters{Drawn: 5}))
	})
	j2, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if rep := j2.Recovery(); !slices.Equal(rep.CounterFixes, []string{"B1"}) || len(rep.Returned) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if c, _ := j2.Counters("B1"); c != (Counters{Returned: 2}) {
		t.Fatalf("counters %+v", c)
	}
}

// tamper edits a closed journal file directly, as corruption or an attacker would.
func tamper(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// Verify finds each kind of damage; each case starts from a good journal.
func TestVerifyDetects(t *testing.T) {
	cases := []struct {
		name, want string
		fn         func(tx *bolt.Tx) error
	}{
		{"audit edited", "hash mismatch", func(tx *bolt.Tx) error {
			b := tx.Bucket(bktAudit)
			e, _ := decodeAudit(b.Get(u64key(2)))
			e.Who = "mallory"
			return b.Put(u64key(2), encodeAudit(&e))
		}},
		{"audit deleted", "entry inserted or deleted", func(tx *bolt.Tx) error { return tx.Bucket(bktAudit).Delete(u64key(1)) }},
		{"audit last deleted", "entries deleted at the end", func(tx *bolt.Tx) error {
			b := tx.Bucket(bktAudit)
			k, _ := b.Cursor().Last()
			return b.Delete(k)
		}},
		{"counters drift", "differ from recount", func(tx *bolt.Tx) error {
			return tx.Bucket(bktBatches).Bucket([]byte("B1")).Put(keyCtr, encodeCounters(Counters{Commissioned: 3}))
		}},
		{"unit lost", "lost", func(tx *bolt.Tx) error { return tx.Bucket(bktSerials).Delete([]byte("S000000")) }},
		{"corrupt record", "checksum mismatch", func(tx *bolt.Tx) error {
			b := tx.Bucket(bktSerials)
			v := append([]byte(nil), b.Get([]byte("S000001"))...)
			v[4] ^= 1
			return b.Put([]byte("S000001"), v)
		}},
		{"serial in two units", "in two places", func(tx *bolt.Tx) error {
			// Slot 1 of the batch also points at the unit of slot 0.
			return tx.Bucket(bktBatches).Bucket([]byte("B1")).Bucket(bktUnits).Put(u32key(1), []byte("S000000"))
		}},
		{"available also drawn", "not available there", func(tx *bolt.Tx) error {
			ab := tx.Bucket(bktAvail).Bucket([]byte(testGTIN))
			return ab.Put(u64key(1), []byte("S000000")) // the drawn serial back in the list
		}},
		{"illegal history", "illegal", func(tx *bolt.Tx) error {
			b := tx.Bucket(bktSerials)
			r, _ := decodeSerial("S000000", b.Get([]byte("S000000")))
			r.unitData.steps = append(r.unitData.steps[:1], Step{State: Commissioned, At: t0})
			r.unitData.state = Commissioned
			return b.Put([]byte("S000000"), encodeSerial(&r))
		}},
		{"foreign serial", "lost or foreign", func(tx *bolt.Tx) error {
			return tx.Bucket(bktSerials).Put([]byte("X1"), encodeSerial(&serialRec{entry: entry{kind: kindReturnedUpstream, pool: 1, at: t0}}))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not openTest: this file is damaged on purpose; the test's own
			// Verify is the check.
			j, err := Open(filepath.Join(t.TempDir(), "j.db"), &Options{Now: newFakeClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			setup(t, j, 5)
			us, _ := j.Draw(context.Background(), "B1", 3)
			commission(t, j, us[0].Serial, 1)
			path := j.Path()
			j.Close()
			tamper(t, path, tc.fn)
			r, err := Open(path, &Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := r.Verify(context.Background())
			r.Close()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Fatalf("err %v, problems:\n%s\nwant %q", err, strings.Join(rep.Problems, "\n"), tc.want)
			}
		})
	}
}

// Concurrent callers: group commits; a failing request does not take the
// others of its group down.
func TestGroupCommitIsolation(t *testing.T) {
	j := openTest(t, &Options{})
	ctx := context.Background()
	setup(t, j, 200)
	us, _ := j.Draw(ctx, "B1", 200)
	var wg sync.WaitGroup
	errs := make([]error, len(us))
	for i, u := range us {
		wg.Go(func() {
			c := Change{Serial: u.Serial, To: Queued}
			if i%10 == 0 {
				c.To = Verified // illegal
			}
			errs[i] = j.Apply(ctx, c)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 0) != errors.Is(err, ErrIllegalTransition) || (i%10 != 0 && err != nil) {
			t.Fatalf("unit %d: err %v", i, err)
		}
	}
	c, _ := j.Counters("B1")
	if c.Queued != 180 || c.Drawn != 20 {
		t.Fatalf("counters %+v", c)
	}
}
