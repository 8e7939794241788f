package journal

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OutboxPut stores an event for upstream and returns its id (increasing).
// It stays until OutboxAck.
func (j *Journal) OutboxPut(ctx context.Context, kind string, payload []byte) (uint64, error) {
	return j.OutboxPutBatch(ctx, "", kind, payload)
}

// OutboxPutBatch is OutboxPut for an item that belongs to a batch (its
// EPCIS events, its returned serials): once acknowledged, the item is kept
// (bucket sent) until the batch is archived, and goes into its archive.
func (j *Journal) OutboxPutBatch(ctx context.Context, batch, kind string, payload []byte) (uint64, error) {
	if kind == "" {
		return 0, fmt.Errorf("%w: outbox kind is empty", ErrInvalid)
	}
	at := j.now()
	var id uint64
	err := j.update(ctx, func(tx *bolt.Tx) error {
		var err error
		id, err = outboxPutTx(tx, kind, payload, at, batch)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

func outboxPutTx(tx *bolt.Tx, kind string, payload []byte, at time.Time, batch string) (uint64, error) {
	if batch != "" {
		if tx.Bucket(bktBatches).Bucket([]byte(batch)) == nil {
			return 0, fmt.Errorf("%w: outbox item of batch %q", ErrNotFound, batch)
		}
		if tx.Bucket(bktArchBatches).Get([]byte(batch)) != nil {
			return 0, fmt.Errorf("%w: batch %q is archived", ErrInvalid, batch)
		}
	}
	b := tx.Bucket(bktOutbox)
	id, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	return id, b.Put(u64key(id), encodeOutbox(kind, payload, at, batch))
}

// OutboxPending returns up to limit (<= 0: all) unacknowledged items, oldest
// first: OutboxPendingAfter(ctx, 0, limit).
func (j *Journal) OutboxPending(ctx context.Context, limit int) ([]OutboxItem, error) {
	return j.OutboxPendingAfter(ctx, 0, limit)
}

// OutboxPendingAfter returns up to limit (<= 0: all) unacknowledged items
// with an id greater than after, oldest first, so a forwarder can page past
// items it has to leave where they are.
//
// A record that cannot be decoded is not returned as an item, and it is
// never removed: its id is listed in an *OutboxCorruptError (wrapping
// ErrCorrupt), returned together with the items that do decode, so one bad
// record does not hold up the others. Verify reports it as well.
func (j *Journal) OutboxPendingAfter(ctx context.Context, after uint64, limit int) ([]OutboxItem, error) {
	var out []OutboxItem
	var bad *OutboxCorruptError
	err := j.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktOutbox).Cursor()
		for k, v := c.Seek(u64key(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(k) != 8 {
				continue // Verify reports a malformed key
			}
			id := binary.BigEndian.Uint64(k)
			if id <= after { // after+1 wrapped
				break
			}
			it, err := decodeOutbox(id, v)
			if err != nil {
				if bad == nil {
					bad = &OutboxCorruptError{}
				}
				bad.IDs = append(bad.IDs, id)
				bad.Errs = append(bad.Errs, err)
				continue
			}
			out = append(out, it)
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	if bad != nil {
		return out, bad
	}
	return out, nil
}

// OutboxCorruptError lists outbox records that cannot be decoded. They stay
// in the outbox (a person must look: journal verify names them).
type OutboxCorruptError struct {
	// IDs of the records, in order.
	IDs []uint64
	// Errs are the decoding errors, one per id.
	Errs []error
}

func (e *OutboxCorruptError) Error() string {
	return fmt.Sprintf("journal: %d outbox record(s) cannot be decoded (kept), first: %v", len(e.IDs), e.Errs[0])
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *OutboxCorruptError) Is(target error) bool { return target == ErrCorrupt }

// OutboxAck removes acknowledged items from the outbox. An item that
// belongs to a batch (OutboxPutBatch) is kept as sent, with the time of its
// acknowledgement, until the batch is archived. An id that is not pending
// (never put, or already acknowledged) is an error wrapping ErrNotFound, and
// then nothing is removed.
func (j *Journal) OutboxAck(ctx context.Context, ids ...uint64) error {
	at := j.now()
	return j.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktOutbox)
		sent := tx.Bucket(bktSent)
		for _, id := range ids {
			k := u64key(id)
			v := b.Get(k)
			if v == nil {
				return fmt.Errorf("%w: outbox item %d", ErrNotFound, id)
			}
			if len(v) > 0 && v[0] == recVersionOutboxBatch {
				it, err := decodeOutbox(id, v)
				if err != nil {
					return err
				}
				if err := sent.Put(k, encodeSent(sentRec{OutboxItem: it, AckedAt: at})); err != nil {
					return err
				}
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
