package camerasim_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/grade"
	"github.com/serialine/serialine/vision/keyence"
)

func goodReport() grade.Report {
	r := grade.FromScans(grade.Scan{grade.DEC: 4, grade.SC: 4, grade.MOD: 3, grade.RM: 4, grade.FPD: 4, grade.AN: 4, grade.GN: 4, grade.UEC: 4})
	r.Aperture, r.Wavelength = 8, 660
	return r
}

// BenchmarkReadToDecision: the camera writes a result on loopback TCP; the
// driver reads and parses it; the Verifier decides. One result in flight at
// a time; latency is from the camera's write to the returned decision
// (excluding image decoding and the journal commit).
func BenchmarkReadToDecision(b *testing.B) {
	for _, vr := range []struct {
		name string
		sim  camerasim.Options
		cam  func(string) vision.Camera
	}{
		{"dmcc-extended", camerasim.Options{Extended: true}, func(a string) vision.Camera {
			return dmcc.New(dmcc.Options{Addr: a, Extended: true})
		}},
		{"keyence", camerasim.Options{Protocol: camerasim.Keyence}, func(a string) vision.Camera {
			return keyence.New(keyence.Options{Addr: a})
		}},
	} {
		b.Run(vr.name, func(b *testing.B) {
			ctx := context.Background()
			sim, err := camerasim.New(vr.sim)
			if err != nil {
				b.Fatal(err)
			}
			defer sim.Close()
			cam := vr.cam(sim.Addr())
			if err := cam.Connect(ctx); err != nil {
				b.Fatal(err)
			}
			defer cam.Close(ctx)
			if err := sim.WaitConnections(ctx, 1); err != nil {
				b.Fatal(err)
			}
			v := vision.NewVerifier(vision.VerifierOptions{})
			rep := goodReport()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := serial(uint64(i))
				data := elem(s)
				if err := v.Expect(vision.Expected{Seq: uint64(i), Serial: s, Data: data}); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				sim.Send(vision.Result{Data: data, SymbologyID: "]d2", Grade: rep})
				r, err := cam.Read(ctx)
				if err != nil {
					b.Fatal(err)
				}
				ds := v.Observe(r)
				lat = append(lat, time.Since(t0))
				if len(ds) != 1 || ds[0].Outcome != vision.Pass {
					b.Fatalf("decision %v", ds)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
		})
	}
}

// BenchmarkFeedDecode: one printed image decoded (gozxing) and graded by
// the camera sim, result sent; the camera's own throughput.
func BenchmarkFeedDecode(b *testing.B) {
	sim, err := camerasim.New(camerasim.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	img := render(b, elem("SER0001"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, ok := sim.Feed(camerasim.Shot{Image: img})
		if !ok || r.NoRead {
			b.Fatal("no read")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "shots/s")
}
