// Package reconcile accounts for every serial drawn for a batch:
//
//	drawn = commissioned + rejected + sampled + returned + uncertain
//
// per batch and per shift (by the shift in which each unit was drawn). Units
// still in flight (drawn, queued, printed, verified), serials seen twice and
// counters that differ from the unit-by-unit recount are listed one by one
// as differences. Reports are written as JSON, CSV and a printable HTML page;
// a supervisor's electronic signature is recorded with the report.
package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/store/journal"
)

// Counts are the reconciliation terms.
type Counts struct {
	Drawn        int `json:"drawn"`
	Commissioned int `json:"commissioned"`
	Rejected     int `json:"rejected"`
	Sampled      int `json:"sampled"`
	Returned     int `json:"returned"`
	Uncertain    int `json:"uncertain"`
	// InFlight are units not yet in a final state (drawn, queued, printed,
	// verified); a closed batch must have none.
	InFlight int `json:"in_flight"`
}

// Accounted is commissioned + rejected + sampled + returned + uncertain.
func (c Counts) Accounted() int {
	return c.Commissioned + c.Rejected + c.Sampled + c.Returned + c.Uncertain
}

// Balanced reports whether every drawn serial is accounted for.
func (c Counts) Balanced() bool { return c.Drawn == c.Accounted() && c.InFlight == 0 }

func (c *Counts) add(s journal.State) {
	c.Drawn++
	switch s {
	case journal.Commissioned:
		c.Commissioned++
	case journal.Rejected:
		c.Rejected++
	case journal.Sampled:
		c.Sampled++
	case journal.Returned:
		c.Returned++
	case journal.Uncertain:
		c.Uncertain++
	default:
		c.InFlight++
	}
}

// Difference is one unit (or one counter) that keeps the batch from balancing.
type Difference struct {
	Serial  string `json:"serial,omitempty"`
	State   string `json:"state,omitempty"`
	Problem string `json:"problem"`
	// Deviation marks a unit that is accounted for but needs a deviation
	// at sign-off (a reject the gate did not confirm: the pack may be in the
	// good stream); it does not keep the counts from balancing.
	Deviation bool `json:"deviation,omitempty"`
}

// Shift is one shift's share of the batch.
type Shift struct {
	Name   string    `json:"name"` // "2026-11-26 06:00"
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Counts Counts    `json:"counts"`
}

// Signature is a supervisor's electronic signature of a report (21 CFR Part
// 11: who, what it means, when, why). The password check happens before
// (line/auth); this is the record.
type Signature struct {
	User     string `json:"user"`
	FullName string `json:"full_name,omitempty"`
	// Step is the review step: "production" (sign-off) or "qa" (release);
	// "" in records written before the two-step review.
	Step    string    `json:"step,omitempty"`
	Role    string    `json:"role"`
	Meaning string    `json:"meaning"` // e.g. "reviewed and approved"
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
	// Digest is the SHA-256 of the report's JSON at signing time (hex).
	Digest string `json:"digest,omitempty"`
}

// Check reports what is missing from s.
func (s Signature) Check() error {
	var miss []string
	if s.User == "" {
		miss = append(miss, "user")
	}
	if s.Meaning == "" {
		miss = append(miss, "meaning")
	}
	if s.At.IsZero() {
		miss = append(miss, "time")
	}
	if len(miss) > 0 {
		return fmt.Errorf("%w: signature without %s", ErrInvalid, strings.Join(miss, ", "))
	}
	return nil
}

// Report is the reconciliation of one batch.
type Report struct {
	Batch     journal.BatchDef `json:"batch"`
	State     string           `json:"state"`
	Generated time.Time        `json:"generated"`
	Counts    Counts           `json:"counts"`
	Balanced  bool             `json:"balanced"`
	// Stored are the journal's transactional counters, compared with the recount.
	Stored journal.Counters `json:"stored_counters"`
	// RejectsByReason counts Rejected units by reason (Uncertain units are
	// not rejects: they are in UncertainByReason).
	RejectsByReason map[string]int `json:"rejects_by_reason"`
	// UncertainByReason counts Uncertain units by reason.
	UncertainByReason map[string]int `json:"uncertain_by_reason"`
	Shifts            []Shift        `json:"shifts"`
	Differences       []Difference   `json:"differences"`
	// ReturnRefused are serials of the batch handed back to the site server
	// that it would not take back (also listed among Differences as
	// deviations: accounted for, but to be settled with the site server).
	ReturnRefused []journal.ReturnRefusal `json:"return_refused,omitempty"`
	Signatures    []Signature             `json:"signatures,omitempty"`
}

// AddReturnRefusals lists the refusals of this batch's returns (refusals
// of other batches are ignored).
func (r *Report) AddReturnRefusals(rs []journal.ReturnRefusal) {
	for _, x := range rs {
		if x.Batch != r.Batch.ID {
			continue
		}
		r.ReturnRefused = append(r.ReturnRefused, x)
		r.Differences = append(r.Differences, Difference{Serial: x.Serial, State: "returned",
			Problem: fmt.Sprintf("returned to the site server, refused: %s %s", x.Code, x.Message), Deviation: true})
	}
}

// Shifts cuts the day into shifts at the given local times of day ("06:00",
// "14:00", "22:00"). The zero value is one shift per calendar day (UTC).
type Shifts struct {
	starts []int // minutes after midnight, sorted
	loc    *time.Location
}

// ParseShifts parses shift start times "HH:MM" in loc (nil = UTC).
func ParseShifts(starts []string, loc *time.Location) (Shifts, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := Shifts{loc: loc}
	for i, v := range starts {
		t, err := time.Parse("15:04", v)
		if err != nil {
			return Shifts{}, fmt.Errorf("%w: shift start #%d %q: want HH:MM", ErrInvalid, i+1, v)
		}
		m := t.Hour()*60 + t.Minute()
		if slices.Contains(s.starts, m) {
			return Shifts{}, fmt.Errorf("%w: shift start %q given twice", ErrInvalid, v)
		}
		s.starts = append(s.starts, m)
	}
	sort.Ints(s.starts)
	return s, nil
}

// Of returns the shift containing t.
func (s Shifts) Of(t time.Time) (start, end time.Time) {
	loc := s.loc
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	starts := s.starts
	if len(starts) == 0 {
		starts = []int{0}
	}
	// Shift starts are wall-clock times: build them with time.Date, not
	// midnight + duration, so that days with a daylight-saving change (23 or
	// 25 hours) still cut at the local "06:00".
	at := func(y int, mo time.Month, d, minutes int) time.Time {
		return time.Date(y, mo, d, minutes/60, minutes%60, 0, 0, loc)
	}
	y, mo, d := t.Date()
	m := t.Hour()*60 + t.Minute()
	i := sort.SearchInts(starts, m+1) - 1 // last start <= m
	if i < 0 {
		y, mo, d = time.Date(y, mo, d-1, 12, 0, 0, 0, loc).Date()
		i = len(starts) - 1
	}
	start = at(y, mo, d, starts[i])
	if i+1 < len(starts) {
		end = at(y, mo, d, starts[i+1])
	} else {
		end = at(y, mo, d+1, starts[0])
	}
	return start, end
}

// Build reconciles one batch from its stored record and every one of its
// units (each, for instance, from journal.Units).
func Build(b journal.Batch, units []journal.Unit, shifts Shifts, now time.Time) Report {
	r := Report{Batch: b.BatchDef, State: b.State, Generated: now.UTC(), Stored: b.Counters,
		RejectsByReason: map[string]int{}, UncertainByReason: map[string]int{}, Differences: []Difference{}}
	byShift := map[time.Time]*Shift{}
	seen := make(map[string]bool, len(units))
	for _, u := range units {
		if seen[u.Serial] {
			r.Differences = append(r.Differences, Difference{Serial: u.Serial, State: u.State.String(),
				Problem: "serial appears on more than one unit"})
			continue
		}
		seen[u.Serial] = true
		r.Counts.add(u.State)
		drawnAt := now
		if len(u.History) > 0 {
			drawnAt = u.History[0].At
		}
		st, en := shifts.Of(drawnAt)
		sh := byShift[st]
		if sh == nil {
			sh = &Shift{Name: st.Format("2006-01-02 15:04"), Start: st, End: en}
			byShift[st] = sh
		}
		sh.Counts.add(u.State)
		switch u.State {
		case journal.Uncertain:
			r.UncertainByReason[u.Reason.String()]++
		case journal.Rejected:
			r.RejectsByReason[u.Reason.String()]++
			if u.Reason == journal.ReasonRejectNotConfirmed {
				r.Differences = append(r.Differences, Difference{Serial: u.Serial, State: u.State.String(), Deviation: true,
					Problem: "reject not confirmed by the gate: the pack may be in the good stream (deviation)"})
			}
		case journal.Commissioned, journal.Sampled, journal.Returned:
		default:
			r.Differences = append(r.Differences, Difference{Serial: u.Serial, State: u.State.String(),
				Problem: "still in flight: not commissioned, rejected, sampled, returned or uncertain"})
		}
	}
	for _, st := range journal.States() {
		want := 0
		switch st {
		case journal.Commissioned:
			want = r.Counts.Commissioned
		case journal.Rejected:
			want = r.Counts.Rejected
		case journal.Sampled:
			want = r.Counts.Sampled
		case journal.Returned:
			want = r.Counts.Returned
		case journal.Uncertain:
			want = r.Counts.Uncertain
		default:
			continue
		}
		if got := b.Counters.Of(st); got != want {
			r.Differences = append(r.Differences, Difference{State: st.String(),
				Problem: fmt.Sprintf("stored counter %d, unit recount %d", got, want)})
		}
	}
	if b.Counters.Total() != r.Counts.Drawn {
		r.Differences = append(r.Differences, Difference{
			Problem: fmt.Sprintf("stored counters total %d drawn, unit recount %d", b.Counters.Total(), r.Counts.Drawn)})
	}
	for _, sh := range byShift {
		r.Shifts = append(r.Shifts, *sh)
	}
	sort.Slice(r.Shifts, func(i, j int) bool { return r.Shifts[i].Start.Before(r.Shifts[j].Start) })
	r.Balanced = r.Counts.Balanced() && len(r.Differences) == len(r.Deviations())
	return r
}

// Deviations are the differences that balance but need a deviation at
// sign-off (Difference.Deviation).
func (r Report) Deviations() []Difference {
	var out []Difference
	for _, d := range r.Differences {
		if d.Deviation {
			out = append(out, d)
		}
	}
	return out
}

// Err returns nil for a balanced report, else an error wrapping
// ErrUnbalanced with the counts and the first differences.
func (r Report) Err() error {
	if r.Balanced {
		return nil
	}
	var b strings.Builder
	c := r.Counts
	fmt.Fprintf(&b, "batch %s: drawn %d, accounted %d (commissioned %d + rejected %d + sampled %d + returned %d + uncertain %d), in flight %d",
		r.Batch.ID, c.Drawn, c.Accounted(), c.Commissioned, c.Rejected, c.Sampled, c.Returned, c.Uncertain, c.InFlight)
	for i, d := range r.Differences {
		if d.Deviation {
			continue
		}
		if i == 10 {
			fmt.Fprintf(&b, "; … %d more", len(r.Differences)-10)
			break
		}
		b.WriteString("; ")
		if d.Serial != "" {
			b.WriteString(strconv.Quote(d.Serial) + " ")
		}
		b.WriteString(d.Problem)
	}
	return fmt.Errorf("%w: %s", ErrUnbalanced, b.String())
}
