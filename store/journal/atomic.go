package journal

import (
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// OutboxEntry is an outbox item written in the same transaction as other
// changes (ApplyWithOutbox).
type OutboxEntry struct {
	Kind    string // e.g. "epcis"; must not be empty
	Payload []byte
	// Batch the item belongs to (see OutboxPutBatch); "" = the batch of the
	// first change's unit (none without changes).
	Batch string
}

// ApplyWithOutbox applies changes (as Apply) and puts items into the
// outbox (as OutboxPut) in ONE transaction: either every change and every
// item is durable, or none is (an illegal change leaves the outbox
// untouched). It returns the items' outbox ids, in order.
func (j *Journal) ApplyWithOutbox(ctx context.Context, changes []Change, items []OutboxEntry) ([]uint64, error) {
	now := j.now()
	for i := range changes {
		c := &changes[i]
		if c.Serial == "" || !c.To.Valid() {
			return nil, fmt.Errorf("%w: change %d: serial %q to %s", ErrInvalid, i, c.Serial, c.To)
		}
	}
	for i, it := range items {
		if it.Kind == "" {
			return nil, fmt.Errorf("%w: outbox item %d: kind is empty", ErrInvalid, i)
		}
	}
	if len(changes) == 0 && len(items) == 0 {
		return nil, nil
	}
	var ids []uint64
	err := j.update(ctx, func(tx *bolt.Tx) error {
		ids = ids[:0]
		if len(changes) > 0 {
			if err := applyTx(tx, now, changes); err != nil {
				return err
			}
		}
		var batch string // the changes' batch, for items that name none
		if len(changes) > 0 {
			batch = unitBatchID(tx, changes[0].Serial)
		}
		for _, it := range items {
			b := it.Batch
			if b == "" {
				b = batch
			}
			id, err := outboxPutTx(tx, it.Kind, it.Payload, now, b)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// TakeUnusedWithOutbox is TakeUnused and OutboxPut of the message that
// gives the serials back, in ONE transaction: the serials are marked
// returned-upstream only together with the outbox item that tells
// upstream. payload builds the item's payload from the serials taken (in
// pool order); it runs inside the transaction and may run more than once.
// No serial available: nothing is written, no item.
func (j *Journal) TakeUnusedWithOutbox(ctx context.Context, gtin string, n int, kind string, payload func(serials []string) ([]byte, error)) ([]string, error) {
	if kind == "" || payload == nil {
		return nil, fmt.Errorf("%w: outbox kind is empty or no payload builder", ErrInvalid)
	}
	var out []string
	at := j.now()
	err := j.update(ctx, func(tx *bolt.Tx) error {
		var err error
		if out, err = takeUnusedTx(tx, at, gtin, n); err != nil || len(out) == 0 {
			return err
		}
		data, err := payload(out)
		if err != nil {
			return fmt.Errorf("outbox payload: %w", err)
		}
		_, err = outboxPutTx(tx, kind, data, at, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Pending pool requests live in the meta bucket under "poolreq/<gtin>";
// the value is a record version byte (1) followed by the request id.
const (
	poolReqPrefix  = "poolreq/"
	poolReqVersion = 1
)

func poolReqKey(gtin string) []byte { return []byte(poolReqPrefix + gtin) }

func decodePoolReq(gtin string, v []byte) (string, error) {
	if v == nil {
		return "", nil
	}
	if len(v) < 2 || v[0] != poolReqVersion {
		return "", fmt.Errorf("%w: pending pool request of gtin %s: bad record %q", ErrCorrupt, gtin, v)
	}
	return string(v[1:]), nil
}

// SetPendingRequest records id as the pending serial request of gtin
// (durable before it returns), replacing any other. It stays until
// ClearPendingRequest or until ImportPool imports a pool with
// Pool.RequestID == id, so a request whose reply was lost can be repeated
// with the same id after a restart.
func (j *Journal) SetPendingRequest(ctx context.Context, gtin, id string) error {
	if err := checkGTIN(gtin); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if id == "" || strings.ContainsRune(id, 0) {
		return fmt.Errorf("%w: empty request id", ErrInvalid)
	}
	return j.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktMeta).Put(poolReqKey(gtin), append([]byte{poolReqVersion}, id...))
	})
}

// PendingRequest returns the pending serial request id of gtin ("" = none).
func (j *Journal) PendingRequest(gtin string) (string, error) {
	var id string
	err := j.view(func(tx *bolt.Tx) error {
		var err error
		id, err = decodePoolReq(gtin, tx.Bucket(bktMeta).Get(poolReqKey(gtin)))
		return err
	})
	return id, err
}

// ClearPendingRequest removes gtin's pending request id if it is id (""
// = whatever it is). Nothing pending is not an error.
func (j *Journal) ClearPendingRequest(ctx context.Context, gtin, id string) error {
	return j.update(ctx, func(tx *bolt.Tx) error { return clearPoolReqTx(tx, gtin, id) })
}

func clearPoolReqTx(tx *bolt.Tx, gtin, id string) error {
	m := tx.Bucket(bktMeta)
	cur, err := decodePoolReq(gtin, m.Get(poolReqKey(gtin)))
	if err != nil || cur == "" || (id != "" && cur != id) {
		return err
	}
	return m.Delete(poolReqKey(gtin))
}
