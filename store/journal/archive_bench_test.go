package journal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The live journal after years of archiving: a compacted journal that
// remembers 10,000,000 archived units (tombstones, so that no archived
// serial is ever imported again) must keep every journal benchmark target.
// SERIALINE_BENCH_ARCHIVED sets the number (default 10,000,000).
//
// The fixture is built once per test binary, only when -bench selects one
// of these benchmarks: one real batch is archived through ArchiveBatch
// (the real path), the remaining tombstones, pools and archive records are
// written with the same encoders in large NoSync transactions (the line
// would take years to make them), and the file is compacted (Compact).

var archivedFixture benchFixture

func archivedUnits() int {
	if v, err := strconv.Atoi(os.Getenv("SERIALINE_BENCH_ARCHIVED")); err == nil && v > 0 {
		return v
	}
	return 10_000_000
}

func fixtureArchived(b *testing.B) (string, int) {
	n := archivedUnits()
	return archivedFixture.get(b, "archived.db", func(path, dir string) error { return buildArchived(path, dir, n) }), n
}

func buildArchived(path, dir string, n int) error {
	ctx := context.Background()
	start := time.Now()
	j, err := Open(path, &Options{NoSync: true, ArchiveDir: dir})
	if err != nil {
		return err
	}
	// One real batch through the whole path.
	const real = 10_000
	if err := j.ImportPool(ctx, Pool{ID: "R0", GTIN: testGTIN, Serials: serials("R0-", real)}); err != nil {
		return err
	}
	if err := j.CreateBatch(ctx, BatchDef{ID: "REAL", GTIN: testGTIN, Expiry: "281231", Profile: "eu-fmd"}, Actor{}); err != nil {
		return err
	}
	us, err := j.Draw(ctx, "REAL", real)
	if err != nil {
		return err
	}
	for _, step := range lifecycle {
		g := make([]Change, 0, real)
		for _, u := range us {
			c := step
			c.Serial = u.Serial
			g = append(g, c)
		}
		if err := j.Apply(ctx, g...); err != nil {
			return err
		}
	}
	if err := j.SetBatchState(ctx, "REAL", "Complete", Actor{}, "bench"); err != nil {
		return err
	}
	if err := j.AppendAudit(ctx, AuditEntry{Who: "sam", Role: "supervisor", Action: AuditActionSign, Before: "REAL"}); err != nil {
		return err
	}
	if _, err := j.ArchiveBatch(ctx, "REAL", ArchiveOptions{Dir: dir}); err != nil {
		return err
	}
	// The rest: 1,000,000 units per archive, each from its own pool.
	const per = 1_000_000
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for done, a := real, 0; done < n; a++ {
		m := min(per, n-done)
		batch := fmt.Sprintf("OLD%04d", a)
		err := j.db.Update(func(tx *bolt.Tx) error {
			pidx, err := nextIndex(tx.Bucket(bktPoolIdx))
			if err != nil {
				return err
			}
			aidx, err := nextIndex(tx.Bucket(bktArchives))
			if err != nil {
				return err
			}
			id := "OLDPOOL" + strconv.Itoa(a)
			if err := tx.Bucket(bktPoolIdx).Put(u32key(pidx), []byte(id)); err != nil {
				return err
			}
			if err := tx.Bucket(bktPools).Put([]byte(id), encodePool(poolRec{idx: pidx, gtin: testGTIN, count: m, importedAt: at})); err != nil {
				return err
			}
			ab := tx.Bucket(bktArchived)
			ab.FillPercent = 1
			tomb := encodeTombstone(tombstone{pool: pidx, archive: aidx})
			for i := range m {
				if err := ab.Put(fmt.Appendf(nil, "%s-%07d", batch, i), tomb); err != nil {
					return err
				}
			}
			rec := archiveRec{idx: aidx, batch: batch, gtin: testGTIN, lot: batch, expiry: "281231", profile: "eu-fmd",
				file: batch + "." + ArchiveExt, sha: [32]byte{1}, units: m, archivedAt: at, retainUntil: at.AddDate(5, 0, 0), state: archDone}
			if err := tx.Bucket(bktArchives).Put(u32key(aidx), encodeArchive(rec)); err != nil {
				return err
			}
			return tx.Bucket(bktArchBatches).Put([]byte(batch), u32key(aidx))
		})
		if err != nil {
			return err
		}
		done += m
	}
	if err := j.Close(); err != nil {
		return err
	}
	built := time.Since(start)
	rep, err := Compact(ctx, path, false, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "archived fixture: %d archived units, built in %s, compacted %d -> %d bytes (%.1f B per archived unit)\n",
		n, built.Round(time.Second), rep.Before, rep.After, float64(rep.After)/float64(n))
	return nil
}

// openArchived opens a copy-free journal on the fixture for one benchmark:
// the benchmark's live pool, batch and units go into it.
func openArchived(b *testing.B, o *Options) *Journal {
	path, _ := fixtureArchived(b)
	cp := filepath.Join(b.TempDir(), "j.db")
	if err := copyFile(context.Background(), path, cp); err != nil {
		b.Fatal(err)
	}
	if o == nil {
		o = &Options{}
	}
	j, err := Open(cp, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	return j
}

// BenchmarkArchivedApplyGrouped is BenchmarkApplyGrouped (64 callers,
// durable) on the journal that remembers the archived units. Target as
// there: >= 20,000 transitions/s, p99 <= 5 ms.
func BenchmarkArchivedApplyGrouped(b *testing.B) {
	j := openArchived(b, nil)
	runGrouped(b, j, drawnUnits(b, j, b.N/4+groupedCallers))
}

// BenchmarkArchivedApplyOneAtATime: one caller, one fsync per transition.
func BenchmarkArchivedApplyOneAtATime(b *testing.B) {
	j := openArchived(b, nil)
	runOneAtATime(b, j, drawnUnits(b, j, b.N/4+1))
}

// BenchmarkArchivedImportPool: importing a pool of 5,000 serials (the
// line's request size), each checked against every serial ever seen.
func BenchmarkArchivedImportPool(b *testing.B) {
	j := openArchived(b, nil)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("IMP%d", i)
		if err := j.ImportPool(ctx, Pool{ID: id, GTIN: testGTIN, Serials: serials(id+"-", 5000)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkArchivedVerify: Verify of the journal with 100,000 live
// commissioned units besides the archived ones (every tombstone decoded
// and checked). Target: the 1M-unit Verify target, <= 10 s.
func BenchmarkArchivedVerify(b *testing.B) {
	j := openArchived(b, &Options{NoSync: true})
	ser := drawnUnits(b, j, 100_000)
	ctx := context.Background()
	for _, step := range lifecycle {
		g := make([]Change, 0, len(ser))
		for _, s := range ser {
			c := step
			c.Serial = s
			g = append(g, c)
		}
		if err := j.Apply(ctx, g...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		rep, err := j.Verify(ctx)
		if err != nil {
			b.Fatalf("verify: %v %v", err, rep.Problems)
		}
		b.ReportMetric(rep.Duration.Seconds(), "s/verify")
		b.ReportMetric(float64(rep.Archived), "archived")
	}
}

// BenchmarkArchivedOpen: Open (recovery) of the journal.
func BenchmarkArchivedOpen(b *testing.B) {
	path, n := fixtureArchived(b)
	st, _ := os.Stat(path)
	b.ResetTimer()
	for range b.N {
		j, err := Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		j.Close()
	}
	b.ReportMetric(float64(st.Size())/float64(n), "file-bytes/archived-unit")
}
