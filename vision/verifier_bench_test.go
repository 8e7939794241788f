package vision_test

import (
	"fmt"
	"testing"

	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/grade"
)

func benchElem(s string) string { return "0109501101530003" + "17290331" + "10LOT42\x1d21" + s }

// BenchmarkParseAndDecide: a DMCC extended-mode result frame parsed (base64,
// checksum, result format, grades) and decided by the Verifier: the CPU
// cost per unit, without network.
func BenchmarkParseAndDecide(b *testing.B) {
	rep := grade.FromScans(grade.Scan{grade.DEC: 4, grade.SC: 4, grade.MOD: 3, grade.UEC: 4})
	rep.Aperture, rep.Wavelength = 8, 660
	f := dmcc.DefaultFormat()
	const n = 4096
	frames := make([][]byte, n)
	for i := range frames {
		line := f.Render(vision.Result{Data: benchElem(fmt.Sprintf("S%07d", i)), SymbologyID: "]d2", Grade: rep})
		w := dmcc.AppendResponse(nil, dmcc.Response{Status: dmcc.StatusReadString, Checksum: true, Payload: []byte(line)})
		frames[i] = w[:len(w)-2]
	}
	v := vision.NewVerifier(vision.VerifierOptions{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%n == 0 {
			b.StopTimer()
			v.Reset()
			for j := 0; j < n; j++ {
				s := fmt.Sprintf("S%07d", j)
				if err := v.Expect(vision.Expected{Seq: uint64(j), Serial: s, Data: benchElem(s)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		r, err := dmcc.ParseResult(frames[i%n], f)
		if err != nil {
			b.Fatal(err)
		}
		ds := v.Observe(r)
		if len(ds) != 1 || ds[0].Outcome != vision.Pass {
			b.Fatalf("%v", ds)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkDecideMismatch: the slow path, a content mismatch with
// field-level comparison (both element strings parsed by printer/gs1).
func BenchmarkDecideMismatch(b *testing.B) {
	rep := grade.FromScans(grade.Scan{grade.SC: 4})
	v := vision.NewVerifier(vision.VerifierOptions{MaxNoReads: -1})
	for i := 0; i < b.N; i++ {
		s := fmt.Sprintf("S%07d", i)
		if err := v.Expect(vision.Expected{Seq: uint64(i), Serial: s, Data: benchElem(s)}); err != nil {
			b.Fatal(err)
		}
		ds := v.Observe(vision.Result{Data: "0109501101530003" + "17290331" + "10LOT43\x1d21" + s, Grade: rep})
		if len(ds) != 1 || ds[0].Reason != vision.ReasonMismatch {
			b.Fatalf("%v", ds)
		}
	}
}
