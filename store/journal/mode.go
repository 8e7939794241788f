package journal

import (
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The line's PackML unit mode (Production, Maintenance, Manual) is kept in
// the meta bucket under keyUnitMode, as one version byte and the mode's
// name. A journal without it (every journal before unit modes) is in
// Production.
var keyUnitMode = []byte("unitmode")

const unitModeVersion = 1

// SetUnitMode records the line's unit mode together with its audit entry
// (e.Action, e.Who required), in one transaction: the mode never changes
// without its record. Which mode names and changes are allowed is
// line/packml's business.
func (j *Journal) SetUnitMode(ctx context.Context, mode string, e AuditEntry) error {
	if mode == "" || strings.ContainsRune(mode, 0) {
		return fmt.Errorf("%w: empty unit mode", ErrInvalid)
	}
	if e.Who == "" || e.Action == "" {
		return fmt.Errorf("%w: audit entry needs Who and Action", ErrInvalid)
	}
	at := e.At
	if at.IsZero() {
		at = j.now()
	}
	return j.update(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bktMeta).Put(keyUnitMode, append([]byte{unitModeVersion}, mode...)); err != nil {
			return err
		}
		return appendAudit(tx, at, e)
	})
}

// UnitMode returns the recorded unit mode ("" when none was ever set).
func (j *Journal) UnitMode() (string, error) {
	var mode string
	err := j.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktMeta).Get(keyUnitMode)
		if v == nil {
			return nil
		}
		if len(v) < 2 || v[0] != unitModeVersion {
			return fmt.Errorf("%w: unit mode record %q", ErrCorrupt, v)
		}
		mode = string(v[1:])
		return nil
	})
	return mode, err
}
