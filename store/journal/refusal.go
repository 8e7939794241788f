package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ReturnRefusal is a serial handed back to the site server (unused pool
// serial or a Returned unit) that the site server would not take back. The
// serial stays returned on this line (it is never drawn again); the refusal
// is kept so that alarms and the reconciliation can list it and a person
// can settle it with the site server.
type ReturnRefusal struct {
	Serial string `json:"serial"`
	GTIN   string `json:"gtin"`
	// Batch whose end returned the serial ("" when not known).
	Batch string `json:"batch,omitempty"`
	// Code and Message are the site server's reason.
	Code    string    `json:"code"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// Refusals live in the meta bucket under "retrefused/<serial>"; the value
// is a record version byte (1) followed by the refusal as JSON.
const (
	refusalPrefix  = "retrefused/"
	refusalVersion = 1
)

// RecordReturnRefusals stores refusals durably (one transaction). A serial
// recorded again replaces its earlier refusal. At is set to the journal's
// clock when zero.
func (j *Journal) RecordReturnRefusals(ctx context.Context, rs []ReturnRefusal) error {
	for i, r := range rs {
		if r.Serial == "" || strings.ContainsRune(r.Serial, 0) {
			return fmt.Errorf("%w: return refusal %d: empty serial", ErrInvalid, i)
		}
	}
	if len(rs) == 0 {
		return nil
	}
	now := j.now()
	return j.update(ctx, func(tx *bolt.Tx) error {
		m := tx.Bucket(bktMeta)
		for _, r := range rs {
			if r.At.IsZero() {
				r.At = now
			}
			data, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("return refusal %s: %w", r.Serial, err)
			}
			if err := m.Put([]byte(refusalPrefix+r.Serial), append([]byte{refusalVersion}, data...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReturnRefusals lists every recorded refusal, by serial.
func (j *Journal) ReturnRefusals() ([]ReturnRefusal, error) {
	var out []ReturnRefusal
	err := j.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktMeta).Cursor()
		p := []byte(refusalPrefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if len(v) < 2 || v[0] != refusalVersion {
				return fmt.Errorf("%w: return refusal %q: bad record", ErrCorrupt, k)
			}
			var r ReturnRefusal
			if err := json.Unmarshal(v[1:], &r); err != nil {
				return fmt.Errorf("%w: return refusal %q: %v", ErrCorrupt, k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	sort.Slice(out, func(a, b int) bool { return out[a].Serial < out[b].Serial })
	return out, err
}
