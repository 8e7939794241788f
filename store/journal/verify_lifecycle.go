package journal

import (
	"bytes"
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// vLifecycle is what Verify learns from the format-2 buckets (archives,
// archived serials, sent items) for its other checks.
type vLifecycle struct {
	archives  map[uint32]archiveRec
	tombs     map[uint32]int    // tombstones per archive
	ofBatch   map[string]uint32 // archbatches
	liveSlots map[uint32]int    // slots left in a batch being archived
}

// movedOut is the number of units of batch id already moved to its archive
// (an archive in progress), remembering the slots left.
func (lc *vLifecycle) movedOut(id string, slots int) int {
	idx, ok := lc.ofBatch[id]
	if !ok {
		return 0
	}
	lc.liveSlots[idx] = slots
	return lc.tombs[idx]
}

func verifyLifecycle(ctx context.Context, tx *bolt.Tx, pools map[uint32]*vPool, rep *VerifyReport, add func(string, ...any)) *vLifecycle {
	lc := &vLifecycle{archives: map[uint32]archiveRec{}, tombs: map[uint32]int{}, ofBatch: map[string]uint32{}, liveSlots: map[uint32]int{}}
	_ = tx.Bucket(bktArchives).ForEach(func(k, v []byte) error {
		rep.Archives++
		if len(k) != 4 {
			add("archive key %x malformed", k)
			return nil
		}
		r, err := decodeArchive(binary.BigEndian.Uint32(k), v)
		if err != nil {
			add("%v", err)
			return nil
		}
		lc.archives[r.idx] = r
		return nil
	})
	_ = tx.Bucket(bktArchBatches).ForEach(func(k, v []byte) error {
		r, ok := lc.archives[u32(v)]
		if len(v) != 4 || !ok || r.batch != string(k) {
			add("archived batch %q: index %x names no archive of it", k, v)
			return nil
		}
		lc.ofBatch[string(k)] = r.idx
		return nil
	})
	for idx, r := range lc.archives {
		if got, ok := lc.ofBatch[r.batch]; !ok || got != idx {
			add("archive %d of batch %q is not in the archived batch index", idx, r.batch)
		}
	}
	i := 0
	_ = tx.Bucket(bktArchived).ForEach(func(k, v []byte) error {
		if i++; i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rep.Archived++
		t, err := decodeTombstone(string(k), v)
		if err != nil {
			add("%v", err)
			return nil
		}
		if _, ok := lc.archives[t.archive]; !ok {
			add("archived serial %q: archive %d unknown", k, t.archive)
		}
		lc.tombs[t.archive]++
		if p := pools[t.pool]; p != nil {
			p.archived++
		} else {
			add("archived serial %q: pool index %d unknown", k, t.pool)
		}
		return nil
	})
	// No serial both live and archived: both buckets are sorted by serial.
	sc, ac := tx.Bucket(bktSerials).Cursor(), tx.Bucket(bktArchived).Cursor()
	sk, _ := sc.First()
	ak, _ := ac.First()
	for sk != nil && ak != nil {
		switch c := bytes.Compare(sk, ak); {
		case c == 0:
			add("serial %q is both in the live journal and archived (in two places)", sk)
			sk, _ = sc.Next()
			ak, _ = ac.Next()
		case c < 0:
			sk, _ = sc.Next()
		default:
			ak, _ = ac.Next()
		}
	}
	_ = tx.Bucket(bktSent).ForEach(func(k, v []byte) error {
		rep.SentItems++
		s, err := decodeSent(u64(k), v)
		if err != nil {
			add("%v", err)
			return nil
		}
		if len(k) != 8 {
			add("sent item key %x malformed", k)
		}
		if r, ok := lc.archives[lc.ofBatch[s.Batch]]; ok && r.state != archArchiving {
			add("sent item %d: its batch %q is archived already", s.ID, s.Batch)
		} else if !ok && tx.Bucket(bktBatches).Bucket([]byte(s.Batch)) == nil {
			add("sent item %d: batch %q unknown", s.ID, s.Batch)
		}
		return nil
	})
	return lc
}

// checkBatches: an archive in progress still has its batch, whose slots
// left plus the units moved out make the units archived; a finished archive
// has no batch left and exactly its units as tombstones.
func (lc *vLifecycle) checkBatches(tx *bolt.Tx, add func(string, ...any)) {
	for idx, r := range lc.archives {
		live := tx.Bucket(bktBatches).Bucket([]byte(r.batch)) != nil
		switch r.state {
		case archArchiving:
			if !live {
				add("archive %d (batch %q, in progress): the batch is gone", idx, r.batch)
			} else if got := lc.liveSlots[idx] + lc.tombs[idx]; got != r.units {
				add("archive %d (batch %q, in progress): %d units left + %d archived, want %d", idx, r.batch, lc.liveSlots[idx], lc.tombs[idx], r.units)
			}
		default:
			if live {
				add("archive %d: batch %q is archived but still in the live journal", idx, r.batch)
			}
			if lc.tombs[idx] != r.units {
				add("archive %d (batch %q): %d archived serials, the archive holds %d units", idx, r.batch, lc.tombs[idx], r.units)
			}
			if r.sha == [32]byte{} {
				add("archive %d (batch %q): no file checksum recorded", idx, r.batch)
			}
		}
	}
}
