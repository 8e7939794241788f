package reconcile

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/store/journal"
)

var t0 = time.Date(2026, 11, 26, 13, 50, 0, 0, time.UTC)

func unit(serial string, s journal.State, r journal.Reason, at time.Time) journal.Unit {
	return journal.Unit{Serial: serial, State: s, Reason: r, History: []journal.Step{{State: journal.Drawn, At: at}}}
}

func fixture() (journal.Batch, []journal.Unit) {
	units := []journal.Unit{
		unit("A", journal.Commissioned, 0, t0),
		unit("B", journal.Commissioned, 0, t0),
		unit("C", journal.Rejected, journal.ReasonLowGrade, t0),
		unit("D", journal.Sampled, 0, t0.Add(time.Hour)), // next shift (14:00)
		unit("E", journal.Returned, journal.ReasonBatchEnd, t0.Add(time.Hour)),
		unit("F", journal.Uncertain, journal.ReasonPrinterFault, t0.Add(time.Hour)),
	}
	b := journal.Batch{BatchDef: journal.BatchDef{ID: "B1", GTIN: "09501101530003", Lot: "L<1>", Expiry: "271231", Target: 6},
		State: "Complete", Counters: journal.Counters{Commissioned: 2, Rejected: 1, Sampled: 1, Returned: 1, Uncertain: 1}}
	return b, units
}

func shifts(t *testing.T) Shifts {
	s, err := ParseShifts([]string{"22:00", "06:00", "14:00"}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBalanced(t *testing.T) {
	b, units := fixture()
	r := Build(b, units, shifts(t), t0)
	if !r.Balanced || r.Err() != nil {
		t.Fatalf("not balanced: %v", r.Err())
	}
	if r.Counts.Drawn != 6 || r.Counts.Accounted() != 6 {
		t.Fatalf("counts %+v", r.Counts)
	}
	if len(r.Shifts) != 2 || r.Shifts[0].Counts.Drawn != 3 || r.Shifts[1].Counts.Drawn != 3 {
		t.Fatalf("shifts %+v", r.Shifts)
	}
	if r.Shifts[0].Name != "2026-11-26 06:00" || r.Shifts[1].Name != "2026-11-26 14:00" {
		t.Fatalf("shift names %s %s", r.Shifts[0].Name, r.Shifts[1].Name)
	}
	if len(r.RejectsByReason) != 1 || r.RejectsByReason["low-grade"] != 1 {
		t.Fatalf("rejects by reason %v, want only the rejected unit", r.RejectsByReason)
	}
	if len(r.UncertainByReason) != 1 || r.UncertainByReason["printer-fault"] != 1 {
		t.Fatalf("uncertain by reason %v", r.UncertainByReason)
	}
}

// rejects_by_reason counts Rejected units only: an Uncertain unit with the
// same reason is counted apart, and each map sums to its state's count.
func TestRejectsByReasonCountsRejectedOnly(t *testing.T) {
	units := []journal.Unit{
		unit("A", journal.Rejected, journal.ReasonFault, t0),
		unit("B", journal.Uncertain, journal.ReasonFault, t0),
		unit("C", journal.Uncertain, journal.ReasonRecovery, t0),
		unit("D", journal.Rejected, journal.ReasonNoRead, t0),
		unit("E", journal.Commissioned, 0, t0),
	}
	b := journal.Batch{BatchDef: journal.BatchDef{ID: "B2", GTIN: "09501101530003", Lot: "L", Expiry: "271231", Target: 5},
		State: "Complete", Counters: journal.Counters{Commissioned: 1, Rejected: 2, Uncertain: 2}}
	r := Build(b, units, shifts(t), t0)
	if want := map[string]int{"fault": 1, "no-read": 1}; !maps.Equal(r.RejectsByReason, want) {
		t.Errorf("rejects_by_reason %v, want %v", r.RejectsByReason, want)
	}
	if want := map[string]int{"fault": 1, "recovery": 1}; !maps.Equal(r.UncertainByReason, want) {
		t.Errorf("uncertain_by_reason %v, want %v", r.UncertainByReason, want)
	}
	sum := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	if sum(r.RejectsByReason) != r.Counts.Rejected || sum(r.UncertainByReason) != r.Counts.Uncertain {
		t.Errorf("by-reason sums %d/%d, counts %+v", sum(r.RejectsByReason), sum(r.UncertainByReason), r.Counts)
	}
	var csv strings.Builder
	if err := r.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"reason,fault,1", "reason,no-read,1", "uncertain_reason,fault,1", "uncertain_reason,recovery,1"} {
		if !strings.Contains(csv.String(), want) {
			t.Errorf("CSV lacks %q:\n%s", want, csv.String())
		}
	}
}

func TestDifferences(t *testing.T) {
	cases := []struct {
		name string
		edit func(*journal.Batch, *[]journal.Unit)
		want string
	}{
		{"in flight", func(b *journal.Batch, u *[]journal.Unit) {
			*u = append(*u, unit("G", journal.Printed, 0, t0))
			b.Counters.Printed = 1
		}, "still in flight"},
		{"duplicate", func(b *journal.Batch, u *[]journal.Unit) {
			*u = append(*u, unit("A", journal.Rejected, journal.ReasonNoRead, t0))
		}, "more than one unit"},
		{"counter drift", func(b *journal.Batch, u *[]journal.Unit) { b.Counters.Commissioned = 3 }, "stored counter 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, units := fixture()
			c.edit(&b, &units)
			r := Build(b, units, shifts(t), t0)
			err := r.Err()
			if r.Balanced || !errors.Is(err, ErrUnbalanced) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want %q", err, c.want)
			}
		})
	}
}

func TestShiftOf(t *testing.T) {
	s := shifts(t)
	cases := map[string]string{"05:59": "2026-11-25 22:00", "06:00": "2026-11-26 06:00", "21:59": "2026-11-26 14:00", "23:30": "2026-11-26 22:00"}
	for hm, want := range cases {
		tm, _ := time.Parse("2006-01-02 15:04", "2026-11-26 "+hm)
		st, en := s.Of(tm)
		if st.Format("2006-01-02 15:04") != want || !en.After(tm) {
			t.Errorf("Of(%s) = %v..%v, want start %s", hm, st, en, want)
		}
	}
	var zero Shifts
	if st, _ := zero.Of(t0); st != time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC) {
		t.Errorf("zero Shifts: %v", st)
	}
	for _, bad := range [][]string{{"25:00"}, {"06:00", "06:00"}, {"6am"}} {
		if _, err := ParseShifts(bad, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseShifts(%v) err = %v", bad, err)
		}
	}
}

func TestWriters(t *testing.T) {
	b, units := fixture()
	r := Build(b, units, shifts(t), t0)
	r.Signatures = append(r.Signatures, Signature{User: "sue", Role: "supervisor", Meaning: "approved", At: t0, Digest: r.Digest()})

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Counts != r.Counts || back.Signatures[0].User != "sue" {
		t.Fatalf("json round trip: %v %+v", err, back.Counts)
	}

	var cb bytes.Buffer
	if err := r.WriteCSV(&cb); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, row := range rows {
		if row[0] == "counts" && row[1] == "commissioned" && row[2] == "2" {
			found = true
		}
	}
	if !found {
		t.Fatalf("csv lacks counts,commissioned,2: %v", rows)
	}

	var hb bytes.Buffer
	if err := r.WriteHTML(&hb); err != nil {
		t.Fatal(err)
	}
	h := hb.String()
	if !strings.Contains(h, "BALANCED") || !strings.Contains(h, "L&lt;1&gt;") || !strings.Contains(h, "Signed by <b>sue</b>") {
		t.Fatalf("html:\n%s", h)
	}
}

func TestDigestIgnoresSignatures(t *testing.T) {
	b, units := fixture()
	r := Build(b, units, shifts(t), t0)
	d := r.Digest()
	r.Signatures = []Signature{{User: "x"}}
	if r.Digest() != d {
		t.Fatal("digest changed with signatures")
	}
	// Rebuilt later from the same journal content: the same digest, so a
	// signature can be checked against a report built after it.
	if later := Build(b, units, shifts(t), t0.Add(time.Hour)); later.Digest() != d {
		t.Fatal("digest changed with the generation time only")
	}
	r.Counts.Rejected++
	if r.Digest() == d {
		t.Fatal("digest did not change with content")
	}
}

func TestSignatureCheck(t *testing.T) {
	if err := (Signature{User: "a", Meaning: "m", At: t0}).Check(); err != nil {
		t.Fatal(err)
	}
	if err := (Signature{}).Check(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "user, meaning, time") {
		t.Fatalf("err = %v", err)
	}
}

// Shift starts are local wall-clock times, also on the days daylight saving
// starts or ends (23- and 25-hour days).
func TestShiftOfDaylightSaving(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	s, err := ParseShifts([]string{"06:00", "14:00", "22:00"}, loc)
	if err != nil {
		t.Fatal(err)
	}
	for _, day := range []int{29 /* March 2026: 23 h */, 25 /* October 2026: 25 h */} {
		mo := time.March
		if day == 25 {
			mo = time.October
		}
		for _, c := range []struct{ h, m, wantH, wantEndH int }{{5, 30, 22, 6}, {7, 0, 6, 14}, {13, 59, 6, 14}, {14, 0, 14, 22}, {23, 0, 22, 6}} {
			tm := time.Date(2026, mo, day, c.h, c.m, 0, 0, loc)
			st, en := s.Of(tm)
			if st.In(loc).Hour() != c.wantH || st.Minute() != 0 || en.In(loc).Hour() != c.wantEndH || en.Minute() != 0 {
				t.Errorf("%s: shift %s .. %s, want %02d:00 .. %02d:00", tm, st.In(loc), en.In(loc), c.wantH, c.wantEndH)
			}
			if tm.Before(st) || !tm.Before(en) {
				t.Errorf("%s not inside its shift %s .. %s", tm, st, en)
			}
		}
	}
}

// Serials and lots may start with "=", "+" or "-" (GS1 character set 82):
// the CSV must not hand a spreadsheet a formula.
func TestCSVDefusesFormulas(t *testing.T) {
	b, _ := fixture()
	b.Lot = "=1+2"
	units := []journal.Unit{
		{Serial: "=HYPERLINK(\"x\")", State: journal.Printed, History: []journal.Step{{State: journal.Drawn, At: t0}}},
		{Serial: "-5", State: journal.Queued, History: []journal.Step{{State: journal.Drawn, At: t0}}},
		{Serial: "A+1", State: journal.Queued, History: []journal.Step{{State: journal.Drawn, At: t0}}},
	}
	r := Build(b, units, shifts(t), t0)
	var cb bytes.Buffer
	if err := r.WriteCSV(&cb); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{`'=HYPERLINK("x")`: false, "'-5": false, "A+1": false, "'=1+2": false}
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("cell %q starts a formula (row %v)", cell, row)
			}
			if _, ok := want[cell]; ok {
				want[cell] = true
			}
		}
	}
	for cell, seen := range want {
		if !seen {
			t.Errorf("csv lacks %q", cell)
		}
	}
}

func FuzzParseShifts(f *testing.F) {
	f.Add("06:00,14:00,22:00", int64(0))
	f.Add("23:59", int64(1_800_000_000))
	f.Add("6am,06:00", int64(-1))
	f.Fuzz(func(t *testing.T, list string, unix int64) {
		s, err := ParseShifts(strings.Split(list, ","), time.FixedZone("X", 3600))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseShifts(%q) error %v does not wrap ErrInvalid", list, err)
			}
			return
		}
		at := time.Unix(unix%(1<<40), 0)
		st, en := s.Of(at)
		if at.Before(st) || !at.Before(en) {
			t.Fatalf("ParseShifts(%q).Of(%s) = %s .. %s: not inside", list, at, st, en)
		}
	})
}
