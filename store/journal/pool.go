package journal

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ImportPool stores a pool of serials received from upstream. Every serial
// is checked (Options.CheckSerial: length and GS1 character set 82 for AI
// 21), must be unique inside the pool and must never have been seen on this
// line before (in any pool, drawn or not; serials are unique across GTINs
// here, which is stricter than GS1). A pool with any bad entry is refused
// whole with a *PoolError listing every bad entry, and nothing changes.
// Serials are drawn in import order: pool after pool, in each pool's order.
func (j *Journal) ImportPool(ctx context.Context, p Pool) error {
	if pe := checkPool(p.ID, checkGTIN(p.GTIN), p.Serials, j.opt.CheckSerial, "no serials", "duplicate of serial #%d in this pool"); pe != nil {
		return pe
	}
	at := j.now()
	return j.update(ctx, func(tx *bolt.Tx) error {
		pools := tx.Bucket(bktPools)
		pe := &PoolError{Pool: p.ID}
		if pools.Get([]byte(p.ID)) != nil {
			pe.Bad = append(pe.Bad, BadSerial{Index: -1, Problem: "pool id already imported"})
		}
		ser := tx.Bucket(bktSerials)
		arch := tx.Bucket(bktArchived)
		for i, s := range p.Serials {
			if v := ser.Get([]byte(s)); v != nil {
				what := "already seen on this line"
				if r, err := decodeSerial(s, v); err == nil {
					what += " (" + r.describe() + ")"
				}
				pe.Bad = append(pe.Bad, BadSerial{Index: i, Serial: s, Problem: what})
			} else if v := arch.Get([]byte(s)); v != nil {
				what := "already seen on this line (archived unit"
				if t, err := decodeTombstone(s, v); err == nil {
					if r, err := getArchive(tx, t.archive); err == nil {
						what += " of batch " + r.batch
					}
				}
				pe.Bad = append(pe.Bad, BadSerial{Index: i, Serial: s, Problem: what + ")"})
			}
		}
		if len(pe.Bad) > 0 {
			return pe
		}
		pidx, err := nextIndex(tx.Bucket(bktPoolIdx))
		if err != nil {
			return err
		}
		avail, err := tx.Bucket(bktAvail).CreateBucketIfNotExists([]byte(p.GTIN))
		if err != nil {
			return err
		}
		avail.FillPercent = 1
		for _, s := range p.Serials {
			order, err := avail.NextSequence()
			if err != nil {
				return err
			}
			if err := avail.Put(u64key(order), []byte(s)); err != nil {
				return err
			}
			if err := ser.Put([]byte(s), encodeSerial(&serialRec{entry: entry{kind: kindAvailable, pool: pidx, order: order}})); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bktPoolIdx).Put(u32key(pidx), []byte(p.ID)); err != nil {
			return err
		}
		if p.RequestID != "" {
			if err := clearPoolReqTx(tx, p.GTIN, p.RequestID); err != nil {
				return err
			}
		}
		if err := pools.Put([]byte(p.ID), encodePool(poolRec{idx: pidx, gtin: p.GTIN, count: len(p.Serials), importedAt: at})); err != nil {
			return err
		}
		return appendAudit(tx, at, AuditEntry{Who: ActorUpstream.User, Role: ActorUpstream.Role, Action: "pool.import",
			After: fmt.Sprintf("pool %s gtin %s serials %d", p.ID, p.GTIN, len(p.Serials))})
	})
}

// checkPool lists what is wrong with a pool before any of it is stored:
// an empty id, a bad key (keyErr), no entries (problem none), and every
// entry that check refuses or that repeats an earlier one (problem dupOf,
// formatted with the earlier one's index). It returns nil for a good pool.
func checkPool(id string, keyErr error, entries []string, check func(string) error, none, dupOf string) *PoolError {
	pe := &PoolError{Pool: id}
	bad := func(i int, s, problem string) {
		pe.Bad = append(pe.Bad, BadSerial{Index: i, Serial: s, Problem: problem})
	}
	if id == "" {
		bad(-1, "", "empty pool id")
	}
	if keyErr != nil {
		bad(-1, "", keyErr.Error())
	}
	if len(entries) == 0 {
		bad(-1, "", none)
	}
	first := make(map[string]int, len(entries))
	for i, s := range entries {
		if err := check(s); err != nil {
			bad(i, s, err.Error())
			continue
		}
		if k, dup := first[s]; dup {
			bad(i, s, fmt.Sprintf(dupOf, k))
			continue
		}
		first[s] = i
	}
	if len(pe.Bad) == 0 {
		return nil
	}
	return pe
}

// returnNewest takes up to n (<= 0: all) entries off an available list,
// newest first, and returns them in list order; give marks each one
// returned upstream in its bucket before it leaves the list.
func returnNewest(avail *bolt.Bucket, n int, give func(code string) error) ([]string, error) {
	var keys [][]byte
	var out []string
	c := avail.Cursor()
	for k, v := c.Last(); k != nil && (n <= 0 || len(keys) < n); k, v = c.Prev() {
		keys = append(keys, bytes.Clone(k))
		out = append(out, string(v))
	}
	for i, k := range keys {
		if err := give(out[i]); err != nil {
			return nil, err
		}
		if err := avail.Delete(k); err != nil {
			return nil, err
		}
	}
	slices.Reverse(out)
	return out, nil
}

func (r serialRec) describe() string {
	switch r.kind {
	case kindAvailable:
		return "available in a pool"
	case kindReturnedUpstream:
		return "returned upstream"
	case kindUnit:
		return "unit " + r.unitData.state.String()
	}
	return "unknown"
}

// nextIndex hands out 32-bit indexes from a bucket's sequence (starting at 1).
func nextIndex(b *bolt.Bucket) (uint32, error) {
	v, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint32 {
		return 0, fmt.Errorf("%w: index space exhausted", ErrInvalid)
	}
	return uint32(v), nil
}

// PoolLevel returns how many serials are available (imported, not drawn,
// not returned upstream) for gtin.
func (j *Journal) PoolLevel(gtin string) (int, error) {
	n := 0
	err := j.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bktAvail).Bucket([]byte(gtin)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}

// Pools lists the imported pools in import order.
func (j *Journal) Pools() ([]PoolInfo, error) {
	var out []PoolInfo
	err := j.view(func(tx *bolt.Tx) error {
		pools := tx.Bucket(bktPools)
		return tx.Bucket(bktPoolIdx).ForEach(func(_, id []byte) error {
			p, err := decodePool(string(id), pools.Get(id))
			if err != nil {
				return err
			}
			out = append(out, PoolInfo{ID: string(id), GTIN: p.gtin, Count: p.count, ImportedAt: p.importedAt})
			return nil
		})
	})
	return out, err
}

// TakeUnused gives up to n available serials of gtin back to upstream
// (n <= 0: all of them), taking the most recently imported first. They are
// marked returned-upstream: never drawn, never importable again. It returns
// the serials taken, in pool order.
func (j *Journal) TakeUnused(ctx context.Context, gtin string, n int) ([]string, error) {
	var out []string
	at := j.now()
	err := j.update(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = takeUnusedTx(tx, at, gtin, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// takeUnusedTx marks up to n available serials of gtin returned-upstream
// (most recently imported first) and returns them in pool order.
func takeUnusedTx(tx *bolt.Tx, at time.Time, gtin string, n int) ([]string, error) {
	avail := tx.Bucket(bktAvail).Bucket([]byte(gtin))
	if avail == nil {
		return nil, nil
	}
	ser := tx.Bucket(bktSerials)
	out, err := returnNewest(avail, n, func(s string) error {
		r, err := decodeSerial(s, ser.Get([]byte(s)))
		if err != nil {
			return err
		}
		if r.kind != kindAvailable {
			return fmt.Errorf("%w: serial %q in the available list is %s", ErrCorrupt, s, r.describe())
		}
		return ser.Put([]byte(s), encodeSerial(&serialRec{entry: entry{kind: kindReturnedUpstream, pool: r.pool, at: at}}))
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out, appendAudit(tx, at, AuditEntry{Who: ActorUpstream.User, Role: ActorUpstream.Role, Action: "pool.return",
		After: fmt.Sprintf("gtin %s serials %d returned upstream", gtin, len(out))})
}
