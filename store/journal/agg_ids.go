package journal

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/printer/gs1"
	bolt "go.etcd.io/bbolt"
)

// Aggregation buckets. They are created by Open (read-write); a journal
// written before they existed opens and verifies as one without
// aggregation.
var (
	bktParents   = []byte("parents")   // code -> idRec (available | returned upstream | parent)
	bktIDPools   = []byte("idpools")   // pool id -> idPoolRec
	bktIDPoolIdx = []byte("idpoolidx") // u32 pool index -> pool id
	bktIDAvail   = []byte("idavail")   // nested per stream ("00", "01"+GTIN): u64 order -> code
	bktChildOf   = []byte("childof")   // 'U'+serial | 'P'+code -> parent code
	bktAggBatch  = []byte("aggbatch")  // nested per batch id: u32 seq -> parent code (creation order)
	bktAggEvents = []byte("aggevents") // nested per batch id: u64 seq -> AggEvent
	bktAggRep    = []byte("aggrep")    // batch id -> u64 last event seq reported upstream (present = reporting)
)

var aggBuckets = [][]byte{bktParents, bktIDPools, bktIDPoolIdx, bktIDAvail, bktChildOf, bktAggBatch, bktAggEvents, bktAggRep}

// stream is the available-list name of an ID kind: "00" for SSCCs,
// "01"+GTIN for serials of a case GTIN.
func stream(kind IDKind, gtin string) string {
	if kind == IDSGTIN {
		return "01" + gtin
	}
	return "00"
}

func checkStream(kind IDKind, gtin string) error {
	switch kind {
	case IDSSCC:
		if gtin != "" {
			return fmt.Errorf("%w: an SSCC pool has no GTIN (%q given)", ErrInvalid, gtin)
		}
		return nil
	case IDSGTIN:
		return checkGTIN(gtin)
	}
	return fmt.Errorf("%w: parent id kind %d", ErrInvalid, kind)
}

// codeOf is the journal code of an entry of an ID pool.
func codeOf(kind IDKind, gtin, v string) string {
	if kind == IDSGTIN {
		return SGTINCode(gtin, v)
	}
	return SSCCCode(v)
}

// CheckSSCC checks an SSCC: 18 digits with a valid GS1 check digit.
func CheckSSCC(s string) error {
	if err := gs1.CheckValue("00", s); err != nil {
		return fmt.Errorf("%w: SSCC %q: %w", ErrInvalid, s, err)
	}
	return nil
}

// RangeSSCC returns the SSCC of serial reference ref in a range:
// extension digit + company prefix + ref zero-padded to 16 digits with the
// prefix + check digit.
func RangeSSCC(ext int, prefix string, ref uint64) (string, error) {
	if ext < 0 || ext > 9 {
		return "", fmt.Errorf("%w: SSCC extension digit %d: want 0..9", ErrInvalid, ext)
	}
	if len(prefix) < 4 || len(prefix) > 12 || strings.Trim(prefix, "0123456789") != "" {
		return "", fmt.Errorf("%w: company prefix %q: want 4..12 digits", ErrInvalid, prefix)
	}
	w := 16 - len(prefix)
	s := strconv.FormatUint(ref, 10)
	if len(s) > w {
		return "", fmt.Errorf("%w: serial reference %d does not fit %d digits after company prefix %s", ErrInvalid, ref, w, prefix)
	}
	body := strconv.Itoa(ext) + prefix + strings.Repeat("0", w-len(s)) + s
	cd, err := gs1.CheckDigit(body)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return body + string(cd), nil
}

// ImportIDPool stores a pool of parent codes from the site server. Every
// entry is checked (an SSCC: 18 digits and check digit; a case serial: AI
// 21 rules), must be unique in the pool and never seen on this line. A pool
// with any bad entry is refused whole (*PoolError, wrapping ErrPoolRefused)
// and nothing changes.
func (j *Journal) ImportIDPool(ctx context.Context, p IDPool) error {
	check := CheckSSCC
	if p.Kind == IDSGTIN {
		check = j.opt.CheckSerial
	}
	if pe := checkPool(p.ID, checkStream(p.Kind, p.GTIN), p.Codes, check, "no codes", "duplicate of #%d in this pool"); pe != nil {
		return pe
	}
	at := j.now()
	return j.update(ctx, func(tx *bolt.Tx) error {
		pools := tx.Bucket(bktIDPools)
		pe := &PoolError{Pool: p.ID}
		if pools.Get([]byte(p.ID)) != nil {
			pe.Bad = append(pe.Bad, BadSerial{Index: -1, Problem: "pool id already imported"})
		}
		pb := tx.Bucket(bktParents)
		for i, c := range p.Codes {
			code := codeOf(p.Kind, p.GTIN, c)
			if v := pb.Get([]byte(code)); v != nil {
				what := "already seen on this line"
				if r, err := decodeID(code, v); err == nil {
					what += " (" + describeCode(tx, &r) + ")"
				}
				pe.Bad = append(pe.Bad, BadSerial{Index: i, Serial: c, Problem: what})
			}
		}
		if len(pe.Bad) > 0 {
			return pe
		}
		idx, err := nextIndex(tx.Bucket(bktIDPoolIdx))
		if err != nil {
			return err
		}
		avail, err := tx.Bucket(bktIDAvail).CreateBucketIfNotExists([]byte(stream(p.Kind, p.GTIN)))
		if err != nil {
			return err
		}
		avail.FillPercent = 1
		for _, c := range p.Codes {
			order, err := avail.NextSequence()
			if err != nil {
				return err
			}
			code := codeOf(p.Kind, p.GTIN, c)
			if err := avail.Put(u64key(order), []byte(code)); err != nil {
				return err
			}
			if err := pb.Put([]byte(code), encodeID(&idRec{entry: entry{kind: kindIDAvailable, pool: idx, order: order}})); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bktIDPoolIdx).Put(u32key(idx), []byte(p.ID)); err != nil {
			return err
		}
		if p.RequestID != "" {
			if err := clearIDReqTx(tx, p.Kind, p.GTIN, p.RequestID); err != nil {
				return err
			}
		}
		if err := pools.Put([]byte(p.ID), encodeIDPool(idPoolRec{idx: idx, kind: p.Kind, gtin: p.GTIN, count: len(p.Codes), importedAt: at})); err != nil {
			return err
		}
		return appendAudit(tx, at, AuditEntry{Who: ActorUpstream.User, Role: ActorUpstream.Role, Action: "idpool.import",
			After: fmt.Sprintf("id pool %s %s%s codes %d", p.ID, p.Kind, strings.TrimPrefix(" "+p.GTIN, " "), len(p.Codes))})
	})
}

// ImportSSCCRange stores a range of SSCCs the site server assigned to the
// line. It is refused (ErrPoolRefused) when its id was imported before or
// when it overlaps a range already imported (same extension digit and
// company prefix): an SSCC is never issued twice.
func (j *Journal) ImportSSCCRange(ctx context.Context, r SSCCRange) error {
	if r.ID == "" {
		return &PoolError{Pool: r.ID, Bad: []BadSerial{{Index: -1, Problem: "empty range id"}}}
	}
	if r.First > r.Last {
		return &PoolError{Pool: r.ID, Bad: []BadSerial{{Index: -1, Problem: fmt.Sprintf("first %d > last %d", r.First, r.Last)}}}
	}
	for _, ref := range []uint64{r.First, r.Last} {
		if _, err := RangeSSCC(r.Extension, r.CompanyPrefix, ref); err != nil {
			return &PoolError{Pool: r.ID, Bad: []BadSerial{{Index: -1, Problem: err.Error()}}}
		}
	}
	if r.Last-r.First >= 1<<31-1 {
		return &PoolError{Pool: r.ID, Bad: []BadSerial{{Index: -1, Problem: "range larger than 2^31 codes"}}}
	}
	at := j.now()
	return j.update(ctx, func(tx *bolt.Tx) error {
		pools := tx.Bucket(bktIDPools)
		if pools.Get([]byte(r.ID)) != nil {
			return &PoolError{Pool: r.ID, Bad: []BadSerial{{Index: -1, Problem: "range id already imported"}}}
		}
		var clash string
		_ = pools.ForEach(func(k, v []byte) error {
			p, err := decodeIDPool(string(k), v)
			if err != nil || !p.isRange || p.ext != r.Extension || p.prefix != r.CompanyPrefix {
				return err
			}
			if r.First <= p.last && p.first <= r.Last {
				clash = fmt.Sprintf("overlaps range %s (%d..%d)", k, p.first, p.last)
			}
			return nil
		})
		if clash != "" {
			return &PoolError{Pool: r.ID, Bad: []BadSerial{{Index: -1, Problem: clash}}}
		}
		idx, err := nextIndex(tx.Bucket(bktIDPoolIdx))
		if err != nil {
			return err
		}
		if err := tx.Bucket(bktIDPoolIdx).Put(u32key(idx), []byte(r.ID)); err != nil {
			return err
		}
		rec := idPoolRec{idx: idx, kind: IDSSCC, count: int(r.Last - r.First + 1), importedAt: at, isRange: true,
			ext: r.Extension, prefix: r.CompanyPrefix, first: r.First, last: r.Last, next: r.First}
		if err := pools.Put([]byte(r.ID), encodeIDPool(rec)); err != nil {
			return err
		}
		return appendAudit(tx, at, AuditEntry{Who: ActorUpstream.User, Role: ActorUpstream.Role, Action: "idpool.range",
			After: fmt.Sprintf("sscc range %s extension %d prefix %s %d..%d", r.ID, r.Extension, r.CompanyPrefix, r.First, r.Last)})
	})
}

// drawIDTx takes the next code of a stream: the oldest available code of
// an imported list, else the next serial reference of the oldest range
// with room. It returns the code and its pool index.
func drawIDTx(tx *bolt.Tx, kind IDKind, gtin string) (string, uint32, error) {
	pb := tx.Bucket(bktParents)
	if avail := tx.Bucket(bktIDAvail).Bucket([]byte(stream(kind, gtin))); avail != nil {
		if k, v := avail.Cursor().First(); k != nil {
			code := string(v)
			r, err := decodeID(code, pb.Get(v))
			if err != nil {
				return "", 0, err
			}
			if r.kind != kindIDAvailable {
				return "", 0, fmt.Errorf("%w: code %s in the available list is %s", ErrCorrupt, code, r.describe())
			}
			if err := avail.Delete(bytes.Clone(k)); err != nil {
				return "", 0, err
			}
			return code, r.pool, nil
		}
	}
	if kind == IDSSCC {
		pools := tx.Bucket(bktIDPools)
		var found string
		var err error
		var idx uint32
		_ = tx.Bucket(bktIDPoolIdx).ForEach(func(_, id []byte) error {
			if found != "" || err != nil {
				return nil
			}
			p, derr := decodeIDPool(string(id), pools.Get(id))
			if derr != nil {
				err = derr
				return nil
			}
			if !p.isRange || p.next > p.last {
				return nil
			}
			sscc, rerr := RangeSSCC(p.ext, p.prefix, p.next)
			if rerr != nil {
				err = rerr
				return nil
			}
			code := SSCCCode(sscc)
			if pb.Get([]byte(code)) != nil {
				err = fmt.Errorf("%w: range %s: SSCC %s already on this line", ErrCorrupt, id, sscc)
				return nil
			}
			p.next++
			if perr := pools.Put(bytes.Clone(id), encodeIDPool(p)); perr != nil {
				err = perr
				return nil
			}
			found, idx = code, p.idx
			return nil
		})
		if err != nil {
			return "", 0, err
		}
		if found != "" {
			return found, idx, nil
		}
	}
	return "", 0, fmt.Errorf("%w: stream %s (%s)", ErrIDsEmpty, stream(kind, gtin), kind)
}

// IDLevel is how many codes of a stream are left to draw (imported lists
// and SSCC ranges).
func (j *Journal) IDLevel(kind IDKind, gtin string) (int, error) {
	n := 0
	err := j.view(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bktIDAvail)
		if ab == nil {
			return nil
		}
		if b := ab.Bucket([]byte(stream(kind, gtin))); b != nil {
			n = b.Stats().KeyN
		}
		if kind != IDSSCC {
			return nil
		}
		pools := tx.Bucket(bktIDPools)
		return pools.ForEach(func(k, v []byte) error {
			p, err := decodeIDPool(string(k), v)
			if err == nil && p.isRange {
				n += int(p.last + 1 - p.next)
			}
			return err
		})
	})
	return n, err
}

// IDPools lists the imported ID pools and ranges in import order, with
// how many of their codes were drawn, returned and are left.
func (j *Journal) IDPools() ([]IDPoolInfo, error) {
	var out []IDPoolInfo
	err := j.view(func(tx *bolt.Tx) error {
		idxb := tx.Bucket(bktIDPoolIdx)
		if idxb == nil {
			return nil
		}
		drawn, returned := map[uint32]int{}, map[uint32]int{}
		if err := tx.Bucket(bktParents).ForEach(func(k, v []byte) error {
			if len(v) < 2 {
				return nil
			}
			switch v[1] {
			case kindParent, kindIDReturned, kindTombstone:
				r, err := decodeID(string(k), v)
				if err != nil {
					return err
				}
				if r.kind != kindIDReturned { // a parent, live or archived
					drawn[r.pool]++
				} else {
					returned[r.pool]++
				}
			}
			return nil
		}); err != nil {
			return err
		}
		pools := tx.Bucket(bktIDPools)
		return idxb.ForEach(func(_, id []byte) error {
			p, err := decodeIDPool(string(id), pools.Get(id))
			if err != nil {
				return err
			}
			in := IDPoolInfo{ID: string(id), Kind: p.kind.String(), GTIN: p.gtin, Range: p.isRange, Count: p.count,
				Drawn: drawn[p.idx], Returned: returned[p.idx], ImportedAt: p.importedAt}
			in.Available = in.Count - in.Drawn - in.Returned
			if p.isRange {
				in.Extension, in.Prefix, in.First, in.Last = p.ext, p.prefix, p.first, p.last
			}
			out = append(out, in)
			return nil
		})
	})
	return out, err
}

// TakeUnusedIDsWithOutbox gives up to n (<= 0: all) available codes of an
// imported list back upstream together with the outbox message that tells
// the site server, in ONE transaction (ranges are not returned: their
// unused references stay with the line). payload builds the message from
// the codes taken (entries as issued: SSCCs or serials), in pool order.
func (j *Journal) TakeUnusedIDsWithOutbox(ctx context.Context, kind IDKind, gtin string, n int, outKind string, payload func(codes []string) ([]byte, error)) ([]string, error) {
	if outKind == "" || payload == nil {
		return nil, fmt.Errorf("%w: outbox kind is empty or no payload builder", ErrInvalid)
	}
	var out []string
	at := j.now()
	err := j.update(ctx, func(tx *bolt.Tx) error {
		out = nil
		avail := tx.Bucket(bktIDAvail).Bucket([]byte(stream(kind, gtin)))
		if avail == nil {
			return nil
		}
		pb := tx.Bucket(bktParents)
		var err error
		out, err = returnNewest(avail, n, func(code string) error {
			r, err := decodeID(code, pb.Get([]byte(code)))
			if err != nil {
				return err
			}
			if r.kind != kindIDAvailable {
				return fmt.Errorf("%w: code %s in the available list is %s", ErrCorrupt, code, r.describe())
			}
			return pb.Put([]byte(code), encodeID(&idRec{entry: entry{kind: kindIDReturned, pool: r.pool, at: at}}))
		})
		if err != nil || len(out) == 0 {
			return err
		}
		issued := make([]string, len(out))
		for i, code := range out {
			_, key, serial, err := SplitCode(code)
			if err != nil {
				return err
			}
			issued[i] = key
			if kind == IDSGTIN {
				issued[i] = serial
			}
		}
		data, err := payload(issued)
		if err != nil {
			return fmt.Errorf("outbox payload: %w", err)
		}
		if _, err := outboxPutTx(tx, outKind, data, at, ""); err != nil {
			return err
		}
		return appendAudit(tx, at, AuditEntry{Who: ActorUpstream.User, Role: ActorUpstream.Role, Action: "idpool.return",
			After: fmt.Sprintf("%s codes %d returned upstream", stream(kind, gtin), len(out))})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Pending ID requests live in the meta bucket under "idreq/<stream>".
func idReqKey(kind IDKind, gtin string) []byte { return []byte("idreq/" + stream(kind, gtin)) }

// SetPendingIDRequest records id as the pending request of an ID stream
// (durable before it returns), like SetPendingRequest for serials.
func (j *Journal) SetPendingIDRequest(ctx context.Context, kind IDKind, gtin, id string) error {
	if err := checkStream(kind, gtin); err != nil {
		return err
	}
	if id == "" || strings.ContainsRune(id, 0) {
		return fmt.Errorf("%w: empty request id", ErrInvalid)
	}
	return j.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktMeta).Put(idReqKey(kind, gtin), append([]byte{poolReqVersion}, id...))
	})
}

// PendingIDRequest returns the pending request id of an ID stream ("" = none).
func (j *Journal) PendingIDRequest(kind IDKind, gtin string) (string, error) {
	var id string
	err := j.view(func(tx *bolt.Tx) error {
		var err error
		id, err = decodePoolReq(stream(kind, gtin), tx.Bucket(bktMeta).Get(idReqKey(kind, gtin)))
		return err
	})
	return id, err
}

// ClearPendingIDRequest removes the stream's pending request id if it is
// id ("" = whatever it is).
func (j *Journal) ClearPendingIDRequest(ctx context.Context, kind IDKind, gtin, id string) error {
	return j.update(ctx, func(tx *bolt.Tx) error { return clearIDReqTx(tx, kind, gtin, id) })
}

func clearIDReqTx(tx *bolt.Tx, kind IDKind, gtin, id string) error {
	m := tx.Bucket(bktMeta)
	cur, err := decodePoolReq(stream(kind, gtin), m.Get(idReqKey(kind, gtin)))
	if err != nil || cur == "" || (id != "" && cur != id) {
		return err
	}
	return m.Delete(idReqKey(kind, gtin))
}

// aggTime is a helper for records that need a non-zero time.
func aggTime(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t.UTC()
}
