package line_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/serialine/serialine/line"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/internal/linetest"
	"github.com/serialine/serialine/line/linesim"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
)

// The soak: the controller runs batch after batch at line speed for a long
// time (SERIALINE_SOAK=24h in `make soak`; 40 s in `go test`), archiving and
// backing up its journal as it goes, while its heap (after GC) and
// goroutine count are sampled. The controller runs in a child process (the
// test binary re-executed) so that the simulators' own records, which grow
// with every product by design, are not counted; the simulators run in the
// parent. It fails when the heap or the goroutines grow from the first
// third of the run (after warm-up) to the last.

const soakChildEnv = "SERIALINE_SOAK_CHILD"

type soakSample struct {
	at         time.Duration
	heap       uint64
	goroutines int
	units      int
}

func soakDuration(t *testing.T) time.Duration {
	v := os.Getenv("SERIALINE_SOAK")
	if v == "" || v == "1" {
		if testing.Short() {
			t.Skip("soak: -short")
		}
		return 40 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("SERIALINE_SOAK=%q: want a duration (24h)", v)
	}
	return d
}

func TestSoakLine(t *testing.T) {
	dur := soakDuration(t)
	rate := 50.0
	if v := os.Getenv("SERIALINE_SOAK_RATE"); v != "" {
		var err error
		if rate, err = strconv.ParseFloat(v, 64); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := linesim.StartDevices(ctx, linesim.Options{Dir: dir, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := l.Config
	cfg.Journal.Archive = config.JournalArchive{Dir: filepath.Join(dir, "archive"), Every: max(2*time.Second, dur/200)}
	cfg.Journal.Backup = config.JournalBackup{Dir: filepath.Join(dir, "backup"), Every: max(5*time.Second, dur/50), Keep: 2}
	cfg.API.Listen = ""
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	every := min(max(time.Second, dur/60), 10*time.Minute)
	child := linetest.StartChild(t, soakChildEnv+"="+cfgPath, "SERIALINE_SOAK_SAMPLE="+every.String())
	cmd, out := child.Cmd, child.Stdout()
	samples := make(chan soakSample, 1024)
	lines := make(chan string, 1024)
	go func() {
		defer close(samples)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var s soakSample
			var ms int64
			if _, err := fmt.Sscanf(sc.Text(), "SAMPLE %d %d %d %d", &ms, &s.heap, &s.goroutines, &s.units); err == nil {
				s.at = time.Duration(ms) * time.Millisecond
				samples <- s
			} else {
				select {
				case lines <- sc.Text():
				default:
				}
			}
		}
	}()
	var got []soakSample
	deadline := time.NewTimer(dur)
	defer deadline.Stop()
collect:
	for {
		select {
		case s, ok := <-samples:
			if !ok {
				break collect // the child died
			}
			got = append(got, s)
		case <-deadline.C:
			break collect
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for range samples {
	}
	werr := cmd.Wait()
	close(lines)
	var tail []string
	for l := range lines {
		tail = append(tail, l)
	}
	if werr != nil {
		t.Fatalf("soak child: %v\n%s", werr, strings.Join(tail, "\n"))
	}
	writeSoakCSV(t, got)
	if len(got) < 8 {
		t.Fatalf("only %d samples in %s", len(got), dur)
	}
	last := got[len(got)-1]
	t.Logf("soak %s at %.0f units/s asked: %d units commissioned (%.0f/s), %d samples", last.at.Round(time.Second), rate,
		last.units, float64(last.units)/last.at.Seconds(), len(got))
	rest := got[len(got)/4:] // warm-up: pools, caches, the first batches
	third := len(rest) / 3
	first, end := rest[:third], rest[len(rest)-third:]
	h0, h1 := median(first, func(s soakSample) float64 { return float64(s.heap) }), median(end, func(s soakSample) float64 { return float64(s.heap) })
	g0, g1 := median(first, func(s soakSample) float64 { return float64(s.goroutines) }), median(end, func(s soakSample) float64 { return float64(s.goroutines) })
	t.Logf("heap in use after GC: %.1f MiB -> %.1f MiB; goroutines %.0f -> %.0f (medians of the first and last third after warm-up)", h0/(1<<20), h1/(1<<20), g0, g1)
	if h1 > h0*1.2+2<<20 {
		t.Errorf("heap grew from %.1f MiB to %.1f MiB", h0/(1<<20), h1/(1<<20))
	}
	if g1 > g0+5 {
		t.Errorf("goroutines grew from %.0f to %.0f", g0, g1)
	}
	if last.units == 0 {
		t.Fatal("no unit commissioned")
	}

	// The journal after the soak: verify, and every archive verifies.
	j, err := journal.Open(cfg.Journal.Path, &journal.Options{ReadOnly: true, ArchiveDir: cfg.Journal.Archive.Dir})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if rep, err := j.Verify(context.Background()); err != nil {
		t.Fatalf("journal verify: %v %v", err, rep.Problems)
	}
	as, err := j.Archives()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if _, err := j.VerifyArchive(context.Background(), filepath.Join(cfg.Journal.Archive.Dir, a.File)); err != nil {
			t.Errorf("archive %s: %v", a.File, err)
		}
	}
	t.Logf("%d batches archived during the soak", len(as))
}

func median(s []soakSample, f func(soakSample) float64) float64 {
	v := make([]float64, len(s))
	for i, x := range s {
		v[i] = f(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func writeSoakCSV(t *testing.T, s []soakSample) {
	dir := os.Getenv("SERIALINE_ARTIFACTS")
	if dir == "" {
		return
	}
	var b strings.Builder
	b.WriteString("seconds,heap_inuse_bytes,goroutines,units\n")
	for _, x := range s {
		fmt.Fprintf(&b, "%.0f,%d,%d,%d\n", x.at.Seconds(), x.heap, x.goroutines, x.units)
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.csv"), []byte(b.String()), 0o644); err != nil {
		t.Log(err)
	}
}

// soakChild runs the controller against the parent's simulators, batch
// after batch (signed, then archived by the controller), printing a sample
// line every SERIALINE_SOAK_SAMPLE until SIGTERM.
func soakChild(cfgPath string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fail := func(err error) int { fmt.Println("soak child:", err); return 3 }
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return fail(err)
	}
	var cfg config.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fail(err)
	}
	every, err := time.ParseDuration(os.Getenv("SERIALINE_SOAK_SAMPLE"))
	if err != nil {
		return fail(err)
	}
	log := slog.New(slog.DiscardHandler)
	j, err := journal.Open(cfg.Journal.Path, &journal.Options{ArchiveDir: cfg.Journal.Archive.Dir})
	if err != nil {
		return fail(err)
	}
	defer j.Close()
	drv, err := line.NewDrivers(cfg, log, nil)
	if err != nil {
		return fail(err)
	}
	up, err := line.NewUpstream(cfg, log)
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	c, err := line.New(line.Options{Config: cfg, Journal: j, PLC: drv.PLC, Printer: drv.Printer, Camera: drv.Camera, Upstream: up,
		Logger: log, DiskFree: line.DiskUsage, Mono: func() time.Duration { return time.Since(start) }})
	if err != nil {
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	var units atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			n := units.Load()
			if st, err := c.Status(ctx); err == nil && st.Batch != nil && st.State != string(packml.Complete) {
				n += int64(st.Batch.Counters.Commissioned)
			}
			fmt.Printf("SAMPLE %d %d %d %d\n", time.Since(start).Milliseconds(), ms.HeapInuse, runtime.NumGoroutine(), n)
		}
	}()
	op := api.Actor{User: "olga", Role: "operator"}
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("SOAK%06d", i)
		if _, err := c.CreateBatch(ctx, api.BatchDef{ID: id, GTIN: testGTIN, Lot: "L" + id, Expiry: "281231", Profile: "eu-fmd", Target: 500}, op); err != nil {
			break
		}
		if err := linesim.ConfirmClearance(ctx, c, id, op, nil); err != nil {
			return fail(err)
		}
		for ctx.Err() == nil {
			if err := c.Command(ctx, id, api.Command{Name: api.CmdStart}, op); err == nil {
				break
			}
			sleepCtx(ctx, 200*time.Millisecond) // pool being filled, printer connecting
		}
		for ctx.Err() == nil {
			st, err := c.WaitState(ctx, packml.Complete, packml.Held)
			if err != nil || st == packml.Complete {
				break
			}
			sleepCtx(ctx, 100*time.Millisecond)
			_ = c.Command(ctx, id, api.Command{Name: api.CmdUnhold}, op)
		}
		if ctx.Err() != nil {
			break
		}
		rec, err := c.Reconciliation(ctx, id)
		if err != nil {
			return fail(err)
		}
		meaning := "approved"
		if !rec.Balanced || rec.Deviations > 0 {
			meaning = api.MeaningApprovedWithDeviation
		}
		if _, err := c.SignReconciliation(ctx, id, api.Signature{User: "sam", Role: "supervisor", Meaning: meaning, Reason: "soak"}); err != nil {
			return fail(err)
		}
		units.Add(int64(rec.Commissioned))
	}
	<-sampled
	if err := <-done; err != nil {
		return fail(err)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
