package vision

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/vision/grade"
)

const gtin = "09501101530003"

// elem builds the element string printed for a serial (GS separated).
func elem(serial string) string { return elemWith(gtin, "290331", "LOT42", serial) }

func elemWith(gtin, expiry, lot, serial string) string {
	return "01" + gtin + "17" + expiry + "10" + lot + "\x1d21" + serial
}

// withCheck completes a 13-digit GTIN body with its GS1 check digit.
func withCheck(body string) string {
	sum := 0
	for i := range body {
		d := int(body[len(body)-1-i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return body + fmt.Sprint((10-sum%10)%10)
}

func goodGrade() grade.Report {
	r := grade.FromScans(grade.Scan{grade.DEC: 4, grade.SC: 4, grade.MOD: 3, grade.UEC: 4})
	r.Aperture, r.Wavelength = 8, 660
	return r
}

func read(data string) Result {
	return Result{Data: data, SymbologyID: "]d2", Grade: goodGrade()}
}

type fixture struct {
	t *testing.T
	v *Verifier
}

func newFixture(t *testing.T, o VerifierOptions) *fixture {
	t.Helper()
	if o.Now == nil {
		now := time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC)
		o.Now = func() time.Time { return now }
	}
	return &fixture{t: t, v: NewVerifier(o)}
}

func (f *fixture) expect(seqs ...uint64) {
	f.t.Helper()
	for _, s := range seqs {
		if err := f.v.Expect(Expected{Seq: s, Serial: serial(s), Data: elem(serial(s))}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func serial(seq uint64) string { return fmt.Sprintf("SER%04d", seq) }

func one(t *testing.T, ds []Decision) Decision {
	t.Helper()
	if len(ds) != 1 {
		t.Fatalf("want 1 decision, got %d: %v", len(ds), ds)
	}
	return ds[0]
}

func want(t *testing.T, d Decision, seq uint64, o Outcome, r Reason) {
	t.Helper()
	if d.Seq != seq || d.Outcome != o || d.Reason != r {
		t.Fatalf("decision %v; want seq=%d %s/%s", d, seq, o, r)
	}
}

func TestElemIsValidGS1(t *testing.T) {
	if _, err := gs1.ParseRaw(elem("SER0001")); err != nil {
		t.Fatal(err)
	}
	if _, err := gs1.ParseRaw(elemWith(withCheck("0950110153001"), "290331", "LOT42", "X")); err != nil {
		t.Fatal(err)
	}
}

func TestPass(t *testing.T) {
	f := newFixture(t, VerifierOptions{})
	f.expect(1, 2)
	d := one(t, f.v.Observe(read(elem(serial(1)))))
	want(t, d, 1, Pass, ReasonOK)
	if d.Serial != serial(1) || d.Grade != 3 || d.Hold {
		t.Errorf("decision %v", d)
	}
	if f.v.Pending() != 1 {
		t.Errorf("pending %d", f.v.Pending())
	}
}

func TestNoReadRunHolds(t *testing.T) {
	f := newFixture(t, VerifierOptions{MaxNoReads: 3})
	f.expect(1, 2, 3, 4)
	for i := uint64(1); i <= 3; i++ {
		d := one(t, f.v.Observe(Result{NoRead: true}))
		want(t, d, i, Reject, ReasonNoRead)
		if d.Hold != (i == 3) {
			t.Fatalf("unit %d hold=%v", i, d.Hold)
		}
	}
	// a good read ends the run
	want(t, one(t, f.v.Observe(read(elem(serial(4))))), 4, Pass, ReasonOK)
	f.expect(5)
	if d := one(t, f.v.Observe(Result{NoRead: true})); d.Hold {
		t.Errorf("run not reset: %v", d)
	}
}

func TestMismatchPerField(t *testing.T) {
	otherGTIN := withCheck("0950110153001")
	for _, tc := range []struct {
		name   string
		data   string
		symid  string
		fields []Field
	}{
		{"serial", elem("OTHER99"), "]d2", []Field{FieldSerial}},
		{"lot", elemWith(gtin, "290331", "LOT43", serial(1)), "]d2", []Field{FieldLot}},
		{"expiry", elemWith(gtin, "290430", "LOT42", serial(1)), "]d2", []Field{FieldExpiry}},
		{"gtin", elemWith(otherGTIN, "290331", "LOT42", serial(1)), "]d2", []Field{FieldGTIN}},
		{"gtin-and-lot", elemWith(otherGTIN, "290331", "LOTX", serial(1)), "]d2", []Field{FieldGTIN, FieldLot}},
		{"gtin-bad-check-digit", elemWith("09501101530004", "290331", "LOT42", serial(1)), "]d2", []Field{FieldGTIN}},
		{"not-gs1-symbology", elem(serial(1)), "]d1", []Field{FieldSymbology}},
		{"garbage", "HELLO WORLD", "]d2", []Field{FieldContent}},
		{"extra-ai", elem(serial(1)) + "\x1d7003" + "2901011200", "]d2", []Field{"ai:7003"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, VerifierOptions{})
			f.expect(1)
			r := read(tc.data)
			r.SymbologyID = tc.symid
			d := one(t, f.v.Observe(r))
			want(t, d, 1, Reject, ReasonMismatch)
			if !slices.Equal(d.Fields, tc.fields) {
				t.Errorf("fields %v, want %v (%s)", d.Fields, tc.fields, d.Detail)
			}
			if d.Detail == "" {
				t.Error("no detail")
			}
		})
	}
}

func TestLowGradeNamesParam(t *testing.T) {
	f := newFixture(t, VerifierOptions{MaxLowGrades: 2})
	f.expect(1, 2, 3)
	low := read(elem(serial(1)))
	low.Grade = grade.FromScans(grade.Scan{grade.SC: 4, grade.MOD: 1, grade.UEC: 3})
	d := one(t, f.v.Observe(low))
	want(t, d, 1, Reject, ReasonLowGrade)
	if d.Param != grade.MOD || d.Grade != 1 || d.Hold || !strings.Contains(d.Detail, "below minimum 1.5") {
		t.Errorf("decision %v", d)
	}
	low.Data = elem(serial(2))
	d = one(t, f.v.Observe(low))
	if !d.Hold || !strings.Contains(d.HoldReason, "2 units in a row") {
		t.Errorf("second low grade must hold: %v", d)
	}
	// per-parameter minimum from policy
	f2 := newFixture(t, VerifierOptions{Policy: grade.Policy{MinOverall: 1.5, MinParam: map[grade.Param]float64{grade.UEC: 3.5}}})
	f2.expect(1)
	d = one(t, f2.v.Observe(read(elem(serial(1)))))
	_ = d
	r := read(elem(serial(1)))
	r.Grade = grade.FromScans(grade.Scan{grade.SC: 4, grade.UEC: 3})
	f2.expect(2)
	r.Data = elem(serial(2))
	d = one(t, f2.v.Observe(r))
	want(t, d, 2, Reject, ReasonLowGrade)
	if d.Param != grade.UEC {
		t.Errorf("param %s", d.Param)
	}
	// ungraded read fails the default policy
	f3 := newFixture(t, VerifierOptions{})
	f3.expect(1)
	d = one(t, f3.v.Observe(Result{Data: elem(serial(1))}))
	want(t, d, 1, Reject, ReasonLowGrade)
	if d.Param != grade.Overall {
		t.Errorf("ungraded param %s", d.Param)
	}
}

func TestLateAndLateRead(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, VerifierOptions{Now: func() time.Time { return now }})
	for s := uint64(1); s <= 2; s++ {
		if err := f.v.Expect(Expected{Seq: s, Serial: serial(s), Data: elem(serial(s)), Deadline: now.Add(time.Duration(s) * 100 * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	if ds := f.v.Expire(now.Add(50 * time.Millisecond)); len(ds) != 0 {
		t.Fatalf("expired early: %v", ds)
	}
	d := one(t, f.v.Expire(now.Add(100*time.Millisecond)))
	want(t, d, 1, Reject, ReasonLate)
	// the late result arrives afterwards: an alarm, unit 2 untouched
	d = one(t, f.v.Observe(read(elem(serial(1)))))
	want(t, d, 1, Alarm, ReasonLateRead)
	if f.v.Pending() != 1 {
		t.Errorf("pending %d", f.v.Pending())
	}
	d, ok := f.v.Timeout(2)
	if !ok {
		t.Fatal("Timeout(2) not pending")
	}
	want(t, d, 2, Reject, ReasonLate)
	if _, ok := f.v.Timeout(2); ok {
		t.Error("Timeout twice")
	}
}

func TestSkipped(t *testing.T) {
	f := newFixture(t, VerifierOptions{Window: 3})
	f.expect(1, 2, 3, 4, 5)
	// unit 1 never read; 2 and 3 are
	want(t, one(t, f.v.Observe(read(elem(serial(2))))), 2, Pass, ReasonOK)
	want(t, one(t, f.v.Observe(read(elem(serial(3))))), 3, Pass, ReasonOK)
	// the third overtaking read decides unit 1 skipped at once
	ds := f.v.Observe(read(elem(serial(4))))
	if len(ds) != 2 {
		t.Fatalf("want skipped + pass, got %v", ds)
	}
	want(t, ds[0], 1, Reject, ReasonSkipped)
	want(t, ds[1], 4, Pass, ReasonOK)
	// Timeout on an overtaken unit is "skipped" too
	f.expect(6)
	want(t, one(t, f.v.Observe(read(elem(serial(6))))), 6, Pass, ReasonOK)
	d, _ := f.v.Timeout(5)
	want(t, d, 5, Reject, ReasonSkipped)
}

func TestOutOfOrderWithinWindow(t *testing.T) {
	f := newFixture(t, VerifierOptions{})
	f.expect(1, 2)
	want(t, one(t, f.v.Observe(read(elem(serial(2))))), 2, Pass, ReasonOK)
	want(t, one(t, f.v.Observe(read(elem(serial(1))))), 1, Pass, ReasonOK)
}

func TestDuplicateHolds(t *testing.T) {
	f := newFixture(t, VerifierOptions{})
	f.expect(1, 2, 3)
	want(t, one(t, f.v.Observe(read(elem(serial(1))))), 1, Pass, ReasonOK)
	// unit 2 carries serial 1 again: double print
	d := one(t, f.v.Observe(read(elem(serial(1)))))
	want(t, d, 1, Alarm, ReasonDuplicate)
	if !d.Hold || d.Serial != serial(1) || !strings.Contains(d.HoldReason, "double print") {
		t.Errorf("duplicate %v", d)
	}
	// unit 2 was not consumed; the next read (unit 3) leaves it pending, and
	// its deadline decides it skipped.
	want(t, one(t, f.v.Observe(read(elem(serial(3))))), 3, Pass, ReasonOK)
	d, _ = f.v.Timeout(2)
	want(t, d, 2, Reject, ReasonSkipped)
}

func TestUnexpected(t *testing.T) {
	f := newFixture(t, VerifierOptions{})
	d := one(t, f.v.Observe(read(elem("STRAY1"))))
	want(t, d, 0, Alarm, ReasonUnexpected)
	if d.Serial != "STRAY1" {
		t.Errorf("serial %q", d.Serial)
	}
	want(t, one(t, f.v.Observe(Result{NoRead: true})), 0, Alarm, ReasonUnexpected)
}

func TestCameraFault(t *testing.T) {
	f := newFixture(t, VerifierOptions{})
	f.expect(1, 2)
	ds := f.v.Fault(fmt.Errorf("dmcc: read: %w", ErrDisconnected))
	if len(ds) != 2 {
		t.Fatalf("got %v", ds)
	}
	for i, d := range ds {
		want(t, d, uint64(i+1), Reject, ReasonCameraFault)
		if !d.Hold || !strings.Contains(d.Detail, "disconnected") {
			t.Errorf("fault decision %v", d)
		}
	}
	// a read for a faulted unit after reconnect is a late read
	want(t, one(t, f.v.Observe(read(elem(serial(2))))), 2, Alarm, ReasonLateRead)
}

func TestExpectErrors(t *testing.T) {
	f := newFixture(t, VerifierOptions{})
	f.expect(1)
	if err := f.v.Expect(Expected{Seq: 9, Serial: serial(1), Data: elem(serial(1))}); !errors.Is(err, ErrDuplicateSerial) {
		t.Errorf("pending duplicate: %v", err)
	}
	f.v.Observe(read(elem(serial(1))))
	if err := f.v.Expect(Expected{Seq: 9, Serial: serial(1), Data: elem(serial(1))}); !errors.Is(err, ErrDuplicateSerial) {
		t.Errorf("decided duplicate: %v", err)
	}
	if err := f.v.Expect(Expected{Seq: 9}); !errors.Is(err, ErrBadExpected) {
		t.Errorf("empty: %v", err)
	}
	f.expect(2)
	if got := f.v.Reset(); !slices.Equal(got, []string{serial(2)}) {
		t.Errorf("reset %v", got)
	}
	f.expect(1) // allowed again after reset (new batch)
}

func TestVerifierConfig(t *testing.T) {
	c := VerifierConfig{Window: -1, MaxNoReads: -2, Grading: grade.Config{MinOverall: 7}}
	msg := c.Validate().Err().Error()
	for _, w := range []string{"window:", "max_no_reads:", "grading.min_overall:"} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q lacks %q", msg, w)
		}
	}
	o := VerifierConfig{Window: 5, Grading: grade.Config{Profiles: map[string]grade.ProfileConfig{"us-dscsa": {MinOverall: 1}}}}.Options("us-dscsa")
	if o.Window != 5 || o.Policy.MinOverall != 1 {
		t.Errorf("options %+v", o)
	}
}
