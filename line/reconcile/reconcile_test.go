package reconcile

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
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
	if r.RejectsByReason["low-grade"] != 1 || r.RejectsByReason["printer-fault"] != 1 {
		t.Fatalf("reasons %v", r.RejectsByReason)
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
