package journal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchUnits prepares a journal with n drawn units and returns their serials.
func benchUnits(b *testing.B, o *Options, n int) (*Journal, []string) {
	b.Helper()
	j := openTest(b, o)
	return j, drawnUnits(b, j, n)
}

// drawnUnits imports pools of n new serials (checked against every serial
// the journal has seen) and draws them into a new batch B1.
func drawnUnits(b *testing.B, j *Journal, n int) []string {
	b.Helper()
	ctx := context.Background()
	const chunk = 100_000
	for p := 0; p*chunk < n; p++ {
		m := min(chunk, n-p*chunk)
		id := fmt.Sprintf("P%d", p)
		if err := j.ImportPool(ctx, Pool{ID: id, GTIN: testGTIN, Serials: serials(id+"-", m)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := j.CreateBatch(ctx, BatchDef{ID: "B1", GTIN: testGTIN}, Actor{}); err != nil {
		b.Fatal(err)
	}
	out := make([]string, 0, n)
	for len(out) < n {
		us, err := j.Draw(ctx, "B1", min(chunk, n-len(out)))
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range us {
			out = append(out, u.Serial)
		}
	}
	return out
}

// lifecycle is the normal path of a unit after Drawn.
var lifecycle = []Change{
	{To: Queued},
	{To: Printed, Seq: 123456, Actor: ActorPrinter},
	{To: Verified, Grade: &Grade{Overall: 3.5}, Actor: ActorCamera},
	{To: Commissioned, Actor: ActorPLC},
}

// transitions returns the b.N changes of the benchmark: whole lifecycles
// of units, interleaved so that consecutive changes touch different units.
func transitions(serials []string, n int) []Change {
	out := make([]Change, 0, n)
	for step := 0; len(out) < n; step++ {
		for _, s := range serials {
			if len(out) == n {
				break
			}
			c := lifecycle[step]
			c.Serial = s
			out = append(out, c)
		}
	}
	return out
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkApplyOneAtATime: one caller, one durable transition per Apply
// (one fsync each).
func BenchmarkApplyOneAtATime(b *testing.B) {
	j, ser := benchUnits(b, nil, b.N/4+1)
	runOneAtATime(b, j, ser)
}

func runOneAtATime(b *testing.B, j *Journal, ser []string) {
	ch := transitions(ser, b.N)
	lat := make([]time.Duration, 0, b.N)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		t := time.Now()
		if err := j.Apply(ctx, ch[i]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "transitions/s")
	reportLatency(b, lat)
}

// groupedCallers is how many concurrent callers BenchmarkApplyGrouped has.
const groupedCallers = 64

// BenchmarkApplyGrouped: 64 concurrent callers (the line's unit cycles),
// each Apply one durable transition; the committer groups them into one
// transaction and one fsync. Latency is per Apply call.
func BenchmarkApplyGrouped(b *testing.B) {
	j, ser := benchUnits(b, nil, b.N/4+groupedCallers)
	runGrouped(b, j, ser)
}

func runGrouped(b *testing.B, j *Journal, ser []string) {
	const callers = groupedCallers
	// Each caller owns its units so its transitions stay legal in order.
	per := make([][]Change, callers)
	for i, s := range ser {
		for _, c := range lifecycle {
			c.Serial = s
			per[i%callers] = append(per[i%callers], c)
		}
	}
	counts := make([]int, callers)
	for i := range b.N {
		counts[i%callers]++
	}
	ctx := context.Background()
	lats := make([][]time.Duration, callers)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range callers {
		wg.Go(func() {
			for k := range counts[w] {
				t := time.Now()
				if err := j.Apply(ctx, per[w][k]); err != nil {
					b.Error(err)
					return
				}
				lats[w] = append(lats[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "transitions/s")
	reportLatency(b, slices.Concat(lats...))
}

// BenchmarkApplyBatch100: one caller, 100 transitions per Apply call.
func BenchmarkApplyBatch100(b *testing.B) {
	j, ser := benchUnits(b, nil, b.N/4+100)
	ch := transitions(ser, b.N)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	lat := []time.Duration{}
	for i := 0; i < len(ch); i += 100 {
		t := time.Now()
		if err := j.Apply(ctx, ch[i:min(i+100, len(ch))]...); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "transitions/s")
	reportLatency(b, lat)
}

// BenchmarkBytesPerCommissionedUnit: disk use after importing, drawing and
// commissioning 100,000 units through groups of 64 transitions (as the
// grouped committer produces), divided by the units. bytes/unit is the
// file's high-water mark (pages ever allocated, free ones included);
// file-bytes/unit adds bbolt's up-to-16 MiB preallocation; tree-bytes/unit
// counts only the pages the B+trees hold.
func BenchmarkBytesPerCommissionedUnit(b *testing.B) {
	const n = 100_000
	for range b.N {
		j, ser := benchUnits(b, &Options{NoSync: true}, n)
		ctx := context.Background()
		for _, step := range lifecycle {
			for i := 0; i < n; i += 64 {
				var g []Change
				for _, s := range ser[i:min(i+64, n)] {
					c := step
					c.Serial = s
					g = append(g, c)
				}
				if err := j.Apply(ctx, g...); err != nil {
					b.Fatal(err)
				}
			}
		}
		st, err := os.Stat(j.Path())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/n, "file-bytes/unit")
		var hwm, tree int
		if err := j.view(func(tx *bolt.Tx) error {
			hwm = int(tx.Size())
			return tx.ForEach(func(_ []byte, bk *bolt.Bucket) error {
				s := bk.Stats()
				tree += s.BranchAlloc + s.LeafAlloc
				return nil
			})
		}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(hwm)/n, "bytes/unit")
		b.ReportMetric(float64(tree)/n, "tree-bytes/unit")
	}
}

// benchFixture is a journal built once per test binary run, only when a
// benchmark asks, in a temporary folder TestMain removes.
type benchFixture struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// get builds the fixture on first use: build writes the journal file name
// in the fixture's folder dir.
func (f *benchFixture) get(b *testing.B, name string, build func(path, dir string) error) string {
	f.once.Do(func() {
		dir, err := os.MkdirTemp("", "journal-bench-")
		if err != nil {
			f.err = err
			return
		}
		f.dir, f.path = dir, filepath.Join(dir, name)
		f.err = build(f.path, dir)
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	return f.path
}

func (f *benchFixture) remove() {
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// verifyFixture is a journal with 1,000,000 commissioned units, with
// NoSync and big groups.
var verifyFixture benchFixture

func fixture1M(b *testing.B) string {
	return verifyFixture.get(b, "1m.db", func(path, _ string) error { return build1M(path) })
}

func build1M(path string) error {
	const n, chunk = 1_000_000, 100_000
	ctx := context.Background()
	j, err := Open(path, &Options{NoSync: true})
	if err != nil {
		return err
	}
	defer j.Close()
	if err := j.CreateBatch(ctx, BatchDef{ID: "B1", GTIN: testGTIN}, Actor{}); err != nil {
		return err
	}
	for p := 0; p < n/chunk; p++ {
		id := fmt.Sprintf("P%d", p)
		ser := serials(id+"-", chunk)
		if err := j.ImportPool(ctx, Pool{ID: id, GTIN: testGTIN, Serials: ser}); err != nil {
			return err
		}
		if _, err := j.Draw(ctx, "B1", chunk); err != nil {
			return err
		}
		for _, step := range lifecycle {
			for i := 0; i < chunk; i += 10_000 {
				g := make([]Change, 0, 10_000)
				for _, s := range ser[i : i+10_000] {
					c := step
					c.Serial = s
					g = append(g, c)
				}
				if err := j.Apply(ctx, g...); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// BenchmarkVerify1M: Verify of a journal holding 1,000,000 commissioned units.
func BenchmarkVerify1M(b *testing.B) {
	path := fixture1M(b)
	j, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	b.ResetTimer()
	for range b.N {
		rep, err := j.Verify(context.Background())
		if err != nil || rep.Units != 1_000_000 {
			b.Fatalf("verify: %v (%d units)", err, rep.Units)
		}
		b.ReportMetric(rep.Duration.Seconds(), "s/verify")
	}
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/1e6, "bytes/unit(1M)")
	}
}

// BenchmarkOpen1M: Open (with recovery's full recount) of the 1M-unit journal.
func BenchmarkOpen1M(b *testing.B) {
	path := fixture1M(b)
	b.ResetTimer()
	for range b.N {
		j, err := Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		j.Close()
	}
}
