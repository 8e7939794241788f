package journal

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// recover runs on Open (read-write) in one transaction; see doc.go.
func (j *Journal) recover() (RecoveryReport, error) {
	rep := RecoveryReport{At: j.now()}
	err := j.db.Update(func(tx *bolt.Tx) error {
		rep = RecoveryReport{At: rep.At}
		recount := map[uint32]*Counters{}
		var changes []Change
		err := tx.Bucket(bktSerials).ForEach(func(k, v []byte) error {
			if len(v) > 1 && v[1] != kindUnit {
				return nil
			}
			r, err := decodeSerial(string(k), v)
			if err != nil {
				return err
			}
			u := &r.unitData
			c := recount[u.batch]
			if c == nil {
				c = &Counters{}
				recount[u.batch] = c
			}
			c.add(u.state, 1)
			switch {
			case u.state == Drawn:
				changes = append(changes, Change{Serial: string(k), To: Returned, Reason: ReasonRecovery,
					Detail: "drawn, never sent: returned unused on restart"})
				rep.Returned = append(rep.Returned, string(k))
			case u.state.InFlight():
				changes = append(changes, Change{Serial: string(k), To: Uncertain, Reason: ReasonRecovery,
					Detail: "sent as " + u.state.String() + ", no decision before restart"})
				rep.Uncertain = append(rep.Uncertain, string(k))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("journal: recovery: %w", err)
		}
		// Counters: stored must equal recount; rewrite (and report) any that differ.
		err = tx.Bucket(bktBatchIdx).ForEach(func(k, id []byte) error {
			b, def, err := batchBucket(tx, string(id))
			if err != nil {
				return err
			}
			want := Counters{}
			if c := recount[def.idx]; c != nil {
				want = *c
			}
			got, err := decodeCounters(string(id), b.Get(keyCtr))
			if err == nil && got == want {
				return nil
			}
			rep.CounterFixes = append(rep.CounterFixes, string(id))
			j.opt.Logger.Error("journal: recovery: batch counters differ from recount; rewritten",
				"batch", string(id), "stored", fmt.Sprintf("%+v", got), "recount", fmt.Sprintf("%+v", want), "err", err)
			return b.Put(keyCtr, encodeCounters(want))
		})
		if err != nil {
			return fmt.Errorf("journal: recovery: %w", err)
		}
		if len(changes) > 0 {
			if err := applyTx(tx, rep.At, changes); err != nil {
				return fmt.Errorf("journal: recovery: %w", err)
			}
		}
		if rep.Clean() {
			return nil
		}
		slices.Sort(rep.Returned)
		slices.Sort(rep.Uncertain)
		return appendAudit(tx, rep.At, AuditEntry{Who: ActorSystem.User, Role: ActorSystem.Role, Action: "recovery",
			Reason: "open after an unclean stop",
			After: fmt.Sprintf("returned %d, uncertain %d, counter fixes %v",
				len(rep.Returned), len(rep.Uncertain), rep.CounterFixes)})
	})
	if err != nil {
		return RecoveryReport{}, err
	}
	if !rep.Clean() {
		j.opt.Logger.Warn("journal: recovery", "returned", len(rep.Returned), "uncertain", len(rep.Uncertain),
			"counter_fixes", rep.CounterFixes)
	}
	return rep, nil
}
