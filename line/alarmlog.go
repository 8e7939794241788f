package line

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
)

// Alarm lifecycle in the journal: every raise, acknowledgement and clear is
// an audit-trail entry (hash-chained like every other record):
//
//	alarm.raise  who = raised by (system, plc, a user), reason = code,
//	             after = the alarm as JSON (api.Alarm)
//	alarm.ack    who = the person, after = {"id","code","condition"}
//	alarm.clear  who = who or what cleared it, after = {"id","code","condition"}
//
// The journal writes are made by one writer goroutine (alarmLog.run, owned
// by Run) in the order of the changes, so raising an alarm on the unit path
// never waits for an fsync. On New the alarms are read back: an alarm whose
// condition was still present when the controller stopped is cleared as
// "controller restart" (its condition raises it again if it is still
// there), except latched ones (a pack to find), which stay until their
// close-out.
const (
	auditAlarmRaise = "alarm.raise"
	auditAlarmAck   = "alarm.ack"
	auditAlarmClear = "alarm.clear"
)

type alarmRef struct {
	ID        string `json:"id"`
	Code      string `json:"code"`
	Condition string `json:"condition"`
}

// alarmLog queues alarm events for the journal.
type alarmLog struct {
	j    *journal.Journal
	mu   sync.Mutex
	q    []api.AlarmEvent
	kick chan struct{}
}

func (l *alarmLog) add(ev api.AlarmEvent) {
	l.mu.Lock()
	l.q = append(l.q, ev)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// run writes queued events until ctx ends, then writes what is left with a
// short bounded wait.
func (l *alarmLog) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			l.flush(fctx)
			cancel()
			return
		case <-l.kick:
			l.flush(ctx)
		}
	}
}

func (l *alarmLog) flush(ctx context.Context) {
	for {
		l.mu.Lock()
		evs := l.q
		l.q = nil
		l.mu.Unlock()
		if len(evs) == 0 {
			return
		}
		for _, ev := range evs {
			if err := l.j.AppendAudit(ctx, alarmEntry(ev)); err != nil {
				return // journal closed or failing: the journal alarm says so
			}
		}
	}
}

func alarmEntry(ev api.AlarmEvent) journal.AuditEntry {
	a := ev.Alarm
	who := ev.By
	if who == "" {
		who = "system"
	}
	e := journal.AuditEntry{Who: who, Role: "system", Reason: a.Code}
	switch ev.Kind {
	case api.AlarmRaised:
		e.Action = auditAlarmRaise
		b, _ := json.Marshal(a)
		e.After = string(b)
		e.At = a.Raised
	case api.AlarmAcknowledged:
		e.Action, e.Role, e.At = auditAlarmAck, "", a.AckedAt
		b, _ := json.Marshal(alarmRef{a.ID, a.Code, a.Condition})
		e.After = string(b)
	default:
		e.Action, e.At = auditAlarmClear, a.Cleared
		b, _ := json.Marshal(alarmRef{a.ID, a.Code, a.Condition})
		e.After = string(b)
	}
	if !(journal.Actor{User: who, Role: "system"}).IsSystem() {
		e.Role = "" // a person: the API's own audit entry carries the role
	}
	return e
}

// restoreAlarms reads the alarm lifecycle back from the journal.
func (c *Controller) restoreAlarms() error {
	var list []api.Alarm
	idx := map[string]int{}
	err := c.j.Audit(context.Background(), journal.AuditFilter{Action: "alarm.*"}, func(e journal.AuditEntry) error {
		switch e.Action {
		case auditAlarmRaise:
			var a api.Alarm
			if json.Unmarshal([]byte(e.After), &a) == nil && a.ID != "" {
				idx[a.ID] = len(list)
				list = append(list, a)
			}
		case auditAlarmAck, auditAlarmClear:
			var r alarmRef
			if json.Unmarshal([]byte(e.After), &r) != nil {
				return nil
			}
			i, ok := idx[r.ID]
			if !ok {
				return nil
			}
			if e.Action == auditAlarmAck {
				list[i].Acked, list[i].AckedBy, list[i].AckedAt = true, e.Who, e.At
			} else {
				list[i].Active, list[i].ClearedBy, list[i].Cleared = false, e.Who, e.At
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	now := c.now()
	var stale []api.AlarmEvent
	for i := range list {
		if list[i].Active && !list[i].Latched {
			list[i].Active, list[i].Cleared, list[i].ClearedBy = false, now, "controller restart"
			stale = append(stale, api.AlarmEvent{Kind: api.AlarmCleared, Alarm: list[i], By: "controller restart"})
		}
	}
	c.AlarmBook.Restore(list)
	for _, ev := range stale {
		c.alarmLog.add(ev)
	}
	return nil
}

// initShift wires the alarm book to the journal, the metrics and the
// current batch, and reads the alarm history back.
func (c *Controller) initShift() error {
	c.alarmLog = &alarmLog{j: c.j, kick: make(chan struct{}, 1)}
	c.AlarmBook.Metrics = c.m
	c.AlarmBook.BatchOf = func() string {
		if s := c.snap.Load(); s != nil {
			return s.id
		}
		return ""
	}
	if err := c.restoreAlarms(); err != nil {
		return err
	}
	c.AlarmBook.OnEvent = c.alarmLog.add
	if r := c.currentRun(); r != nil {
		c.m.SetBatch(r.def.ID, r.def.GTIN, r.def.Lot, r.def.Expiry, "")
	}
	return nil
}

// clearOnResume clears the alarms whose condition the operator fixed
// before Start/Unhold succeeded (the printer reported no fault left, the
// line runs again): printer faults (ink refilled), camera runs of
// no-reads, the acting-state failure, journal and PLC one-off faults.
// Device link alarms clear when the link is back; latched alarms (a pack to
// find) only by their close-out.
func (c *Controller) clearOnResume() {
	for _, src := range []string{"line", "printer", "journal", "pool"} {
		c.Clear(src)
	}
	c.ClearCodes("camera", "system", "CAM-NOREAD-RUN", "CAM-LOWGRADE-RUN", "CAM-FAULT", "CAM-WARNING")
	c.ClearCodes("plc", "system", "PLC-VERDICT", "PLC-MISSED-TRIGGER", "PLC-OUTPUTS", "LATE-VERDICT")
}

// onTransition updates what follows a PackML state change besides the
// journal: hold metrics, the batch series.
func (c *Controller) onTransition(from, to packml.State, by journal.Actor) {
	if to == packml.Holding && from != packml.Holding {
		kind := "person"
		if by.IsSystem() {
			kind = "system"
		}
		c.m.Hold(kind)
	}
}
