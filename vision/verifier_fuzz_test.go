package vision_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/grade"
)

// FuzzVerifier feeds the content check arbitrary camera reads for ten
// printed units: exact reads, reads with a byte changed, arbitrary bytes,
// no-reads, out-of-order and repeated reads, timeouts. Whatever the reads:
// no panic; a unit passes only on a read of exactly what was printed, with
// a good grade; no unit is decided twice; after a camera fault no unit is
// left awaiting and every unit got exactly one decision.
func FuzzVerifier(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{16, 33, 50, 67, 84, 101, 118, 135, 152, 169, 186})
	f.Add([]byte{2, 2, 2, 2, 0, 0, 0})
	f.Add([]byte{7, 0x1d, '0', '1', 255, 3, 9})
	f.Fuzz(func(t *testing.T, script []byte) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		v := vision.NewVerifier(vision.VerifierOptions{Now: func() time.Time { return now }, MaxNoReads: -1, MaxLowGrades: -1})
		data := map[uint64]string{}
		for i := uint64(1); i <= 10; i++ {
			m, err := gs1.New(gs1.Element{AI: "01", Value: "09501101530003"}, gs1.Element{AI: "17", Value: "281231"},
				gs1.Element{AI: "10", Value: "LOT1"}, gs1.Element{AI: "21", Value: fmt.Sprintf("S%03d", i)})
			if err != nil {
				t.Fatal(err)
			}
			data[i] = m.ElementString()
			if err := v.Expect(vision.Expected{Seq: i, Serial: fmt.Sprintf("S%03d", i), Data: data[i]}); err != nil {
				t.Fatal(err)
			}
		}
		good := grade.Report{Overall: 4, Scans: 1}
		decided := map[uint64]vision.Decision{}
		take := func(ds []vision.Decision) {
			for _, d := range ds {
				if d.Outcome == vision.Alarm {
					continue
				}
				if prev, ok := decided[d.Seq]; ok {
					t.Fatalf("unit %d decided twice: %+v then %+v", d.Seq, prev, d)
				}
				if _, ok := data[d.Seq]; !ok {
					t.Fatalf("a decision for unit %d, never expected: %+v", d.Seq, d)
				}
				if d.Outcome == vision.Pass && (d.Read.Data != data[d.Seq] || d.Read.NoRead || !d.Read.Grade.Graded()) {
					t.Fatalf("unit %d passed on read %q (printed %q): %+v", d.Seq, d.Read.Data, data[d.Seq], d)
				}
				decided[d.Seq] = d
			}
		}
		for i := 0; i < len(script); i++ {
			b := script[i]
			unit := uint64(b/16%10) + 1
			now = now.Add(time.Millisecond)
			switch b % 8 {
			case 0, 1, 2: // the unit's code, read right
				take(v.Observe(vision.Result{Data: data[unit], SymbologyID: "]d2", Grade: good}))
			case 3: // one byte of it changed
				d := []byte(data[unit])
				if i+1 < len(script) {
					i++
					d[int(script[i])%len(d)] ^= byte(script[i]) | 1
				}
				take(v.Observe(vision.Result{Data: string(d), SymbologyID: "]d2", Grade: good}))
			case 4: // arbitrary bytes
				n := min(int(b/8), len(script)-i-1)
				take(v.Observe(vision.Result{Data: string(script[i+1 : i+1+n]), Grade: good}))
				i += n
			case 5:
				take(v.Observe(vision.Result{NoRead: true}))
			case 6: // read right, graded badly or not at all
				g := grade.Report{Overall: float64(b/16%5) / 2, Scans: int(b / 128)}
				take(v.Observe(vision.Result{Data: data[unit], Grade: g}))
			case 7:
				if d, ok := v.Timeout(unit); ok {
					take([]vision.Decision{d})
				}
			}
		}
		take(v.Fault(errors.New("camera gone")))
		if v.Pending() != 0 {
			t.Fatalf("%d units still awaiting after the fault", v.Pending())
		}
		if len(decided) != 10 {
			t.Fatalf("%d of 10 units decided", len(decided))
		}
	})
}
