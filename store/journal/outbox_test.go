package journal

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// An outbox record that cannot be decoded does not hold up the others: it
// is skipped by OutboxPending (listed in an *OutboxCorruptError), never
// removed, and journal verify names it. Paging goes past it.
func TestOutboxCorruptRecordKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	ctx := context.Background()
	j, err := Open(path, &Options{Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := j.OutboxPut(ctx, "epcis", []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	tamper(t, path, func(tx *bolt.Tx) error { // bit rot in item 2
		b := tx.Bucket(bktOutbox)
		v := append([]byte(nil), b.Get(u64key(2))...)
		v[len(v)/2] ^= 0x40
		return b.Put(u64key(2), v)
	})
	j, err = Open(path, &Options{Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	items, err := j.OutboxPending(ctx, 0)
	var ce *OutboxCorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || !slices.Equal(ce.IDs, []uint64{2}) {
		t.Fatalf("OutboxPending: %v", err)
	}
	if ids := outboxIDs(items); !slices.Equal(ids, []uint64{1, 3, 4}) {
		t.Fatalf("items %v, want the decodable ones 1, 3, 4", ids)
	}
	page, err := j.OutboxPendingAfter(ctx, 2, 1)
	if err != nil || !slices.Equal(outboxIDs(page), []uint64{3}) {
		t.Fatalf("page after 2: %v %v", outboxIDs(page), err)
	}
	if err := j.OutboxAck(ctx, 1, 3, 4); err != nil {
		t.Fatal(err)
	}
	if items, err := j.OutboxPending(ctx, 0); len(items) != 0 || !errors.As(err, &ce) {
		t.Fatalf("after acking the rest: %v %v (the corrupt one must stay)", items, err)
	}
	j.Close()
	r, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := r.Verify(ctx)
	if err == nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "outbox item 2") || rep.OutboxItems != 1 {
		t.Fatalf("verify: %v %q", err, rep.Problems)
	}
}

// Verify checks outbox payloads with Options.CheckOutbox and names every
// item whose payload cannot be decoded.
func TestVerifyChecksOutboxPayloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	ctx := context.Background()
	j, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{`{"ok":1}`, `not json`, `{"ok":2}`} {
		if _, err := j.OutboxPut(ctx, "return", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	check := func(kind string, payload []byte) error {
		if !strings.HasPrefix(string(payload), "{") {
			return errors.New("not a JSON object")
		}
		return nil
	}
	r, err := Open(path, &Options{ReadOnly: true, CheckOutbox: check})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := r.Verify(ctx)
	want := "outbox item 2 (return): payload cannot be decoded (kept in the outbox: it cannot be sent): not a JSON object"
	if !errors.Is(err, ErrCorrupt) || !slices.Equal(rep.Problems, []string{want}) {
		t.Fatalf("verify: %v %q", err, rep.Problems)
	}
}

func outboxIDs(items []OutboxItem) []uint64 {
	ids := make([]uint64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}
