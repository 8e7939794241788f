package journal

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// benchUnits creates batch B1 with n commissioned units (one durable
// transaction) and an SSCC range.
func aggBenchUnits(b *testing.B, j *Journal, n int) []string {
	b.Helper()
	ctx := context.Background()
	ser := serials("U", n)
	if err := j.ImportPool(ctx, Pool{ID: "P1", GTIN: testGTIN, Serials: ser}); err != nil {
		b.Fatal(err)
	}
	if err := j.CreateBatch(ctx, BatchDef{ID: "B1", GTIN: testGTIN, Lot: "L", Expiry: "281231"}, Actor{}); err != nil {
		b.Fatal(err)
	}
	us, err := j.Draw(ctx, "B1", n)
	if err != nil {
		b.Fatal(err)
	}
	for start := 0; start < n; start += 5000 {
		var ch []Change
		for i, u := range us[start:min(start+5000, n)] {
			ch = append(ch, Change{Serial: u.Serial, To: Queued}, Change{Serial: u.Serial, To: Printed, Seq: uint64(start + i + 1)},
				Change{Serial: u.Serial, To: Verified}, Change{Serial: u.Serial, To: Commissioned})
		}
		if err := j.Apply(ctx, ch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := j.ImportSSCCRange(ctx, SSCCRange{ID: "R", Extension: 1, CompanyPrefix: "9501101", First: 1, Last: 99_999_999}); err != nil {
		b.Fatal(err)
	}
	out := make([]string, n)
	for i, u := range us {
		out[i] = u.Serial
	}
	return out
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p int) float64 { return float64(lat[min(len(lat)-1, len(lat)*p/100)]) / 1e6 }
	b.ReportMetric(q(50), "p50-ms")
	b.ReportMetric(q(99), "p99-ms")
}

// BenchmarkCloseCase100 commits a case of 100 units durably: children
// checked (commissioned, same batch, in no parent), added, the case
// closed, its commissioning and packing events logged — one transaction,
// one fsync. Target p99 <= 10 ms. The case's code was drawn before (at
// label print), as the station does.
func BenchmarkCloseCase100(b *testing.B) {
	j := openTest(b, &Options{Now: time.Now})
	n := 100 * max(b.N, 1)
	units := aggBenchUnits(b, j, n)
	ctx := context.Background()
	spec := ParentSpec{Batch: "B1", Level: "case", ChildLevel: UnitLevel, Capacity: 100, Kind: IDSSCC}
	codes := make([]string, b.N)
	for i := range codes {
		p, err := j.OpenParent(ctx, spec, Actor{})
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = p.Code
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		kids := units[i*100 : (i+1)*100]
		t0 := time.Now()
		if err := j.Aggregate(ctx, func(a *AggTx) error {
			if err := a.Add(codes[i], kids, Actor{}); err != nil {
				return err
			}
			return a.Close(codes[i], false, "", Actor{})
		}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkPalletContents looks up what is on a pallet of 30 cases of 40
// units, down to every unit record (the recall question). Target <= 50 ms.
func BenchmarkPalletContents(b *testing.B) {
	j := openTest(b, &Options{Now: time.Now, NoSync: true})
	units := aggBenchUnits(b, j, 1200)
	ctx := context.Background()
	var cases []string
	for c := range 30 {
		p, err := j.OpenParent(ctx, ParentSpec{Batch: "B1", Level: "case", ChildLevel: UnitLevel, Capacity: 40, Kind: IDSSCC}, Actor{})
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Aggregate(ctx, func(a *AggTx) error {
			if err := a.Add(p.Code, units[c*40:(c+1)*40], Actor{}); err != nil {
				return err
			}
			return a.Close(p.Code, false, "", Actor{})
		}); err != nil {
			b.Fatal(err)
		}
		cases = append(cases, p.Code)
	}
	pal, err := j.OpenParent(ctx, ParentSpec{Batch: "B1", Level: "pallet", ChildLevel: "case", Capacity: 30, Kind: IDSSCC}, Actor{})
	if err != nil {
		b.Fatal(err)
	}
	if err := j.Aggregate(ctx, func(a *AggTx) error {
		if err := a.Add(pal.Code, cases, Actor{}); err != nil {
			return err
		}
		return a.Close(pal.Code, false, "", Actor{})
	}); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		t, err := j.Contents(pal.Code)
		if err != nil || t.UnitCount() != 1200 {
			b.Fatal(fmt.Sprint(t.UnitCount(), err))
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}
