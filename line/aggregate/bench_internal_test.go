package aggregate

import (
	"context"
	"fmt"
	"image"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/store/journal"
	"github.com/serialine/serialine/vision/casecam"
	"github.com/serialine/serialine/vision/multiread"
)

type benchLine struct{}

func (benchLine) State() (string, packml.State) { return "B1", packml.Execute }

// BenchmarkDecodeAndCheckCase100: one case of 100 packs, from the camera's
// image to the station's verdict on its content: every symbol found and
// decoded (region split + gozxing), the multi-read line rendered and
// parsed as it crosses the wire, every code parsed as GS1 and checked in
// the journal (commissioned, this batch, in no case). Target <= 250 ms on
// 2 cores.
func BenchmarkDecodeAndCheckCase100(b *testing.B) {
	ctx := context.Background()
	j, err := journal.Open(filepath.Join(b.TempDir(), "j.db"), &journal.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	const gtin = "09501101530003"
	var serials []string
	for i := range 100 {
		serials = append(serials, fmt.Sprintf("CASE%06d", i))
	}
	if err := j.ImportPool(ctx, journal.Pool{ID: "P", GTIN: gtin, Serials: serials}); err != nil {
		b.Fatal(err)
	}
	if err := j.CreateBatch(ctx, journal.BatchDef{ID: "B1", GTIN: gtin, Lot: "L1", Expiry: "281231", Profile: "eu-fmd", Target: 100}, journal.Actor{}); err != nil {
		b.Fatal(err)
	}
	us, _ := j.Draw(ctx, "B1", 100)
	var ch []journal.Change
	var imgs []image.Image
	for i, u := range us {
		ch = append(ch, journal.Change{Serial: u.Serial, To: journal.Queued}, journal.Change{Serial: u.Serial, To: journal.Printed, Seq: uint64(i + 1)},
			journal.Change{Serial: u.Serial, To: journal.Verified}, journal.Change{Serial: u.Serial, To: journal.Commissioned})
		img, err := printersim.DefaultRender("01" + gtin + "17281231" + "10L1\x1d21" + u.Serial)
		if err != nil {
			b.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	if err := j.Apply(ctx, ch...); err != nil {
		b.Fatal(err)
	}
	cfg := config.Aggregation{Enabled: true, Products: []config.Product{{GTIN: gtin, Levels: []config.Level{{Name: "case", Quantity: 100}}}},
		SSCC: config.SSCCSource{Source: "range", RangeID: "R", Extension: 1, CompanyPrefix: "9501101", First: 1, Last: 9999}}
	a, err := New(Options{Config: cfg, Journal: j, Line: benchLine{}})
	if err != nil {
		b.Fatal(err)
	}
	img := casecam.Compose(imgs, 10, 12)
	f := multiread.New(multiread.Config{})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		codes, failed := casecam.DecodeAll(img)
		r, err := f.Parse(f.Render(codes))
		if err != nil || failed != 0 {
			b.Fatal(err, failed)
		}
		job := a.checkCase(ctx, 1, caseRead{read: r, at: t0})
		if job.bad != "" || len(job.serials) != 100 {
			b.Fatalf("case judged bad: %s", job.bad)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)])/1e6, "p99-ms")
}
