package api

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// AlarmBook is a concurrency-safe in-memory alarm list implementing the
// Alarms, RaiseAlarm and AckAlarm methods of Controller. A controller may
// embed it and call Raise/Clear from its device-fault handling. The zero
// value is ready to use (clock time.Now).
type AlarmBook struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu     sync.Mutex
	next   int
	alarms []Alarm // oldest first
}

func (b *AlarmBook) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Raise records a new active alarm and returns it with its ID.
func (b *AlarmBook) Raise(severity, source, text, by string) Alarm {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	a := Alarm{ID: "A" + strconv.Itoa(b.next), Severity: severity, Source: source, Text: text,
		Raised: b.now(), RaisedBy: by, Active: true}
	b.alarms = append(b.alarms, a)
	return a
}

// Clear marks every active alarm of source whose condition is gone as
// inactive (it stays listed until acknowledged).
func (b *AlarmBook) Clear(source string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.alarms {
		if b.alarms[i].Source == source {
			b.alarms[i].Active = false
		}
	}
}

// Alarms implements Controller.Alarms.
func (b *AlarmBook) Alarms(ctx context.Context, activeOnly bool) ([]Alarm, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Alarm, 0, len(b.alarms))
	for _, a := range slices.Backward(b.alarms) {
		if activeOnly && !a.Active && a.Acked {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// RaiseAlarm implements Controller.RaiseAlarm.
func (b *AlarmBook) RaiseAlarm(ctx context.Context, a Alarm, by Actor) (Alarm, error) {
	if err := ctx.Err(); err != nil {
		return Alarm{}, err
	}
	if a.Text == "" {
		return Alarm{}, fmt.Errorf("alarm text is empty: %w", ErrBadRequest)
	}
	switch a.Severity {
	case "":
		a.Severity = SeverityWarning
	case SeverityInfo, SeverityWarning, SeverityFault:
	default:
		return Alarm{}, fmt.Errorf("alarm severity %q: want info, warning or fault: %w", a.Severity, ErrBadRequest)
	}
	if a.Source == "" {
		a.Source = "operator"
	}
	return b.Raise(a.Severity, a.Source, a.Text, by.User), nil
}

// AckAlarm implements Controller.AckAlarm. Acknowledging twice is refused
// with ErrInvalidState.
func (b *AlarmBook) AckAlarm(ctx context.Context, id string, by Actor) (Alarm, error) {
	if err := ctx.Err(); err != nil {
		return Alarm{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.alarms {
		if b.alarms[i].ID != id {
			continue
		}
		if b.alarms[i].Acked {
			return b.alarms[i], fmt.Errorf("alarm %s already acknowledged by %s: %w", id, b.alarms[i].AckedBy, ErrInvalidState)
		}
		b.alarms[i].Acked = true
		b.alarms[i].AckedBy = by.User
		b.alarms[i].AckedAt = b.now()
		if b.alarms[i].Source == "operator" {
			b.alarms[i].Active = false // manual alarms clear on acknowledge
		}
		return b.alarms[i], nil
	}
	return Alarm{}, fmt.Errorf("alarm %q: %w", id, ErrNotFound)
}

// ActiveCount is the number of alarms that are active or unacknowledged.
func (b *AlarmBook) ActiveCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, a := range b.alarms {
		if a.Active || !a.Acked {
			n++
		}
	}
	return n
}
