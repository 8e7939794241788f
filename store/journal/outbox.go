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
	if kind == "" {
		return 0, fmt.Errorf("%w: outbox kind is empty", ErrInvalid)
	}
	at := j.now()
	var id uint64
	err := j.update(ctx, func(tx *bolt.Tx) error {
		var err error
		id, err = outboxPutTx(tx, kind, payload, at)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

func outboxPutTx(tx *bolt.Tx, kind string, payload []byte, at time.Time) (uint64, error) {
	b := tx.Bucket(bktOutbox)
	id, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	return id, b.Put(u64key(id), encodeOutbox(kind, payload, at))
}

// OutboxPending returns up to limit (<= 0: all) unacknowledged items, oldest first.
func (j *Journal) OutboxPending(ctx context.Context, limit int) ([]OutboxItem, error) {
	var out []OutboxItem
	err := j.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktOutbox).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			it, err := decodeOutbox(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// OutboxAck removes acknowledged items. An id that is not pending (never
// put, or already acknowledged) is an error wrapping ErrNotFound, and then
// nothing is removed.
func (j *Journal) OutboxAck(ctx context.Context, ids ...uint64) error {
	return j.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktOutbox)
		for _, id := range ids {
			k := u64key(id)
			if b.Get(k) == nil {
				return fmt.Errorf("%w: outbox item %d", ErrNotFound, id)
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
