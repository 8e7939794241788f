package journal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

var supervisor = Actor{User: "sam", Role: "supervisor"}

// aggSetup: batch B1 with n commissioned units S000000…, and an SSCC range.
func aggSetup(t *testing.T, j *Journal, n int) []string {
	t.Helper()
	setup(t, j, n)
	us, err := j.Draw(context.Background(), "B1", n)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, n)
	for i, u := range us {
		commission(t, j, u.Serial, uint64(i+1))
		out[i] = u.Serial
	}
	if err := j.ImportSSCCRange(context.Background(), SSCCRange{ID: "R1", Extension: 3, CompanyPrefix: "0614141", First: 1, Last: 1000}); err != nil {
		t.Fatal(err)
	}
	return out
}

func caseSpec(capacity int) ParentSpec {
	return ParentSpec{Batch: "B1", Level: "case", ChildLevel: UnitLevel, Capacity: capacity, Station: "case", Kind: IDSSCC}
}

func palletSpec(capacity int) ParentSpec {
	return ParentSpec{Batch: "B1", Level: "pallet", ChildLevel: "case", Capacity: capacity, Station: "pallet", Kind: IDSSCC}
}

func mustOpen(t *testing.T, j *Journal, s ParentSpec) Parent {
	t.Helper()
	p, err := j.OpenParent(context.Background(), s, Actor{})
	if err != nil {
		t.Fatalf("OpenParent: %v", err)
	}
	return p
}

func wantRefused(t *testing.T, err error, substr string) {
	t.Helper()
	var ae *AggError
	if !errors.As(err, &ae) || !errors.Is(err, ErrAggRefused) {
		t.Fatalf("error %v, want an *AggError", err)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not say %q", err, substr)
	}
}

func TestRangeSSCC(t *testing.T) {
	// 3 0614141 123456789 + mod-10 check digit 1 (computed by hand).
	s, err := RangeSSCC(3, "0614141", 123456789)
	if err != nil {
		t.Fatal(err)
	}
	if s != "306141411234567891" {
		t.Fatalf("RangeSSCC = %s", s)
	}
	if err := CheckSSCC(s); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		ext    int
		prefix string
		ref    uint64
	}{{10, "0614141", 1}, {1, "061", 1}, {1, "0614141", 1_000_000_000}, {1, "06141A1", 1}} {
		if _, err := RangeSSCC(bad.ext, bad.prefix, bad.ref); !errors.Is(err, ErrInvalid) {
			t.Errorf("RangeSSCC(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSSCCRangeNeverReused(t *testing.T) {
	j := openTest(t, nil)
	aggSetup(t, j, 2)
	ctx := context.Background()
	if err := j.ImportSSCCRange(ctx, SSCCRange{ID: "R2", Extension: 3, CompanyPrefix: "0614141", First: 1000, Last: 2000}); !errors.Is(err, ErrPoolRefused) {
		t.Fatalf("overlapping range: %v", err)
	}
	if err := j.ImportSSCCRange(ctx, SSCCRange{ID: "R1", Extension: 4, CompanyPrefix: "0614141", First: 1, Last: 5}); !errors.Is(err, ErrPoolRefused) {
		t.Fatalf("range id again: %v", err)
	}
	a := mustOpen(t, j, caseSpec(2))
	b := mustOpen(t, j, caseSpec(2))
	want, _ := RangeSSCC(3, "0614141", 1)
	if a.Code != SSCCCode(want) || a.Code == b.Code || a.State != ParentOpen {
		t.Fatalf("opened %s and %s, want %s first", a.Code, b.Code, want)
	}
	if n, _ := j.IDLevel(IDSSCC, ""); n != 998 {
		t.Fatalf("IDLevel = %d, want 998", n)
	}
	// A list pool is drawn before ranges; its codes are refused when seen.
	sscc, _ := RangeSSCC(5, "0614141", 7)
	bad := sscc[:17] + string('0'+(sscc[17]-'0'+1)%10)
	err := j.ImportIDPool(ctx, IDPool{ID: "L1", Kind: IDSSCC, Codes: []string{sscc, bad, sscc, a.Code[2:]}})
	var pe *PoolError
	if !errors.As(err, &pe) || len(pe.Bad) != 2 { // bad check digit, duplicate
		t.Fatalf("bad pool: %v", err)
	}
	if err := j.ImportIDPool(ctx, IDPool{ID: "L1", Kind: IDSSCC, Codes: []string{sscc}}); err != nil {
		t.Fatal(err)
	}
	c := mustOpen(t, j, caseSpec(2))
	if c.Code != SSCCCode(sscc) || c.Pool != "L1" {
		t.Fatalf("third parent %s from %s, want %s from the list", c.Code, c.Pool, sscc)
	}
	pools, err := j.IDPools()
	if err != nil || len(pools) != 2 || pools[0].Drawn != 2 || pools[1].Drawn != 1 || pools[1].Available != 0 {
		t.Fatalf("IDPools = %+v, %v", pools, err)
	}
}

func TestCaseAndPalletEvents(t *testing.T) {
	j := openTest(t, nil)
	units := aggSetup(t, j, 8)
	ctx := context.Background()
	c1 := mustOpen(t, j, caseSpec(4))
	if err := j.AddChildren(ctx, c1.Code, units[:4], Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := j.CloseParent(ctx, c1.Code, false, "", Actor{}); err != nil {
		t.Fatal(err)
	}
	c2 := mustOpen(t, j, caseSpec(4))
	if err := j.AddChildren(ctx, c2.Code, units[4:7], Actor{}); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, j.CloseParent(ctx, c2.Code, false, "", Actor{}), "holds 3 of 4")
	wantRefused(t, j.CloseParent(ctx, c2.Code, true, "batch end", Actor{}), "needs a person")
	if err := j.CloseParent(ctx, c2.Code, true, "batch end", supervisor); err != nil {
		t.Fatal(err)
	}
	pal := mustOpen(t, j, palletSpec(3))
	if err := j.AddChildren(ctx, pal.Code, []string{c1.Code, c2.Code}, Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := j.CloseParent(ctx, pal.Code, true, "last pallet", supervisor); err != nil {
		t.Fatal(err)
	}
	evs, err := j.AggEvents("B1")
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range evs {
		ops = append(ops, fmt.Sprintf("%s %s %d", e.Op, e.Level, len(e.Children)))
	}
	want := []string{"commission case 0", "pack case 4", "commission case 0", "pack case 3", "commission pallet 0", "pack pallet 2"}
	if !slices.Equal(ops, want) {
		t.Fatalf("events %v, want %v", ops, want)
	}
	chain, err := j.Chain(units[5])
	if err != nil || len(chain) != 2 || chain[0].Code != c2.Code || chain[1].Code != pal.Code || chain[0].In != pal.Code {
		t.Fatalf("Chain = %+v, %v", chain, err)
	}
	tree, err := j.Contents(pal.Code)
	if err != nil || tree.UnitCount() != 7 || len(tree.Parents) != 2 || tree.Parents[1].Units[0].Serial != units[4] {
		t.Fatalf("Contents = %+v, %v", tree, err)
	}
	orph, agg, err := j.Orphans("B1")
	if err != nil || agg != 7 || !slices.Equal(orph, units[7:]) {
		t.Fatalf("Orphans = %v %d %v", orph, agg, err)
	}
	// Reporting: everything once, then nothing; later steps are pending.
	var got []AggEvent
	n, err := j.ReportAgg(ctx, "B1", func(evs []AggEvent) ([]OutboxEntry, error) {
		got = evs
		return []OutboxEntry{{Kind: "epcis", Payload: []byte("doc")}}, nil
	})
	if err != nil || n != 6 || len(got) != 6 {
		t.Fatalf("ReportAgg = %d %v", n, err)
	}
	if n, err := j.ReportAgg(ctx, "B1", nil); err != nil || n != 0 {
		t.Fatalf("second ReportAgg = %d %v", n, err)
	}
	if err := j.Unpack(ctx, c1.Code, "damaged case", supervisor); err != nil {
		t.Fatal(err)
	}
	if on, pending, err := j.AggReporting("B1"); !on || pending != 3 || err != nil {
		t.Fatalf("AggReporting = %t %d %v (unpack from pallet, unpack, decommission)", on, pending, err)
	}
	p, _ := j.Parent(pal.Code)
	if p.State != ParentOpen || len(p.Children) != 1 {
		t.Fatalf("pallet after a case was unpacked: %+v", p)
	}
	if in, _ := j.ParentOf(units[0], true); in != "" {
		t.Fatalf("unit of the unpacked case still in %s", in)
	}
}

func TestAddRefusals(t *testing.T) {
	j := openTest(t, nil)
	units := aggSetup(t, j, 6)
	ctx := context.Background()
	// one unit of the batch not commissioned, one of another batch
	if err := j.ImportPool(ctx, Pool{ID: "P2", GTIN: testGTIN, Serials: serials("T", 3)}); err != nil {
		t.Fatal(err)
	}
	if err := j.CreateBatch(ctx, BatchDef{ID: "B2", GTIN: testGTIN, Lot: "L2", Expiry: "281231"}, Actor{}); err != nil {
		t.Fatal(err)
	}
	other, _ := j.Draw(ctx, "B2", 1)
	commission(t, j, other[0].Serial, 99)
	c := mustOpen(t, j, caseSpec(3))
	if err := j.AddChildren(ctx, c.Code, units[:1], Actor{}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, j, Change{Serial: units[5], To: Sampled, Reason: ReasonQASample, Actor: supervisor})
	err := j.AddChildren(ctx, c.Code, []string{units[0], units[1], units[1], "NOPE", other[0].Serial, units[5]}, Actor{})
	for _, s := range []string{"already in this case", "scanned twice", "foreign code", "belongs to batch B2", "is sampled, not commissioned"} {
		wantRefused(t, err, s)
	}
	wantRefused(t, j.AddChildren(ctx, c.Code, units[1:4], Actor{}), "more than its capacity 3")
	c2 := mustOpen(t, j, caseSpec(3))
	wantRefused(t, j.AddChildren(ctx, c2.Code, units[:1], Actor{}), "already in "+c.Code)
	pal := mustOpen(t, j, palletSpec(2))
	wantRefused(t, j.AddChildren(ctx, pal.Code, []string{c.Code}, Actor{}), "is open, not closed")
	wantRefused(t, j.AddChildren(ctx, pal.Code, []string{units[2]}, Actor{}), "foreign code")
	wantRefused(t, j.AddChildren(ctx, c.Code, []string{pal.Code}, Actor{}), "foreign code")
	if prob, err := j.CheckCandidate("B1", UnitLevel, units[2]); prob != "" || err != nil {
		t.Fatalf("CheckCandidate(free unit) = %q %v", prob, err)
	}
	if prob, _ := j.CheckCandidate("B1", UnitLevel, units[0]); !strings.Contains(prob, "already in") {
		t.Fatalf("CheckCandidate(aggregated unit) = %q", prob)
	}
	// nothing of a refused step was written
	p, _ := j.Parent(c.Code)
	if len(p.Children) != 1 {
		t.Fatalf("case holds %v after refusals", p.Children)
	}
}

func TestSampledUnitLeavesCase(t *testing.T) {
	j := openTest(t, nil)
	units := aggSetup(t, j, 4)
	ctx := context.Background()
	c := mustOpen(t, j, caseSpec(3))
	if err := j.AddChildren(ctx, c.Code, units[:3], Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := j.CloseParent(ctx, c.Code, false, "", Actor{}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, j, Change{Serial: units[1], To: Sampled, Reason: ReasonQASample, Actor: supervisor})
	p, _ := j.Parent(c.Code)
	if p.State != ParentOpen || slices.Contains(p.Children, units[1]) || p.Packed != 2 {
		t.Fatalf("case after sampling a unit: %+v", p)
	}
	if err := j.AddChildren(ctx, c.Code, units[3:4], Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := j.CloseParent(ctx, c.Code, false, "replaced", Actor{}); err != nil {
		t.Fatal(err)
	}
	evs, _ := j.AggEvents("B1")
	last := evs[len(evs)-2:]
	if last[0].Op != AggUnpack || !slices.Equal(last[0].Children, units[1:2]) || last[1].Op != AggPack || !slices.Equal(last[1].Children, units[3:4]) {
		t.Fatalf("events after sample and replace: %+v", last)
	}
	// Void: an open case never closed releases its units, its code scrapped.
	if err := j.ImportPool(ctx, Pool{ID: "P9", GTIN: testGTIN, Serials: serials("V", 1)}); err != nil {
		t.Fatal(err)
	}
	c2 := mustOpen(t, j, caseSpec(3))
	wantRefused(t, j.Aggregate(ctx, func(a *AggTx) error { return a.Void(c.Code, "x", supervisor) }), "closed before")
	if err := j.Aggregate(ctx, func(a *AggTx) error { return a.Void(c2.Code, "label not verified", Actor{}) }); err != nil {
		t.Fatal(err)
	}
	if p, _ := j.Parent(c2.Code); p.State != ParentVoid {
		t.Fatalf("voided case: %+v", p)
	}
}

// TestAggVerifyFindsTampering breaks the hierarchy behind the journal's
// back and expects Verify to name each problem.
func TestAggVerifyFindsTampering(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		tamper     func(tx *bolt.Tx, c1, c2 string, units []string) error
	}{
		{"child in two parents", "child in two parents", func(tx *bolt.Tx, c1, c2 string, units []string) error {
			r, err := decodeID(c2, tx.Bucket(bktParents).Get([]byte(c2)))
			if err != nil {
				return err
			}
			r.p.children = append(r.p.children, units[0])
			return tx.Bucket(bktParents).Put([]byte(c2), encodeID(&r))
		}},
		{"count mismatch", "counts do not match", func(tx *bolt.Tx, c1, c2 string, units []string) error {
			r, err := decodeID(c1, tx.Bucket(bktParents).Get([]byte(c1)))
			if err != nil {
				return err
			}
			r.p.children, r.p.packed = r.p.children[:1], 1
			if err := tx.Bucket(bktChildOf).Delete(childKey(true, units[1])); err != nil {
				return err
			}
			return tx.Bucket(bktParents).Put([]byte(c1), encodeID(&r))
		}},
		{"unit not commissioned", "only commissioned units", func(tx *bolt.Tx, c1, c2 string, units []string) error {
			r, err := decodeSerial(units[0], tx.Bucket(bktSerials).Get([]byte(units[0])))
			if err != nil {
				return err
			}
			r.unitData.state = Verified
			r.unitData.steps = r.unitData.steps[:len(r.unitData.steps)-1]
			return tx.Bucket(bktSerials).Put([]byte(units[0]), encodeSerial(&r))
		}},
		{"unpack without pack", "unpack without a pack", func(tx *bolt.Tx, c1, c2 string, units []string) error {
			b := tx.Bucket(bktAggEvents).Bucket([]byte("B1"))
			seq, _ := b.NextSequence()
			return b.Put(u64key(seq), encodeAggEvent(&AggEvent{Op: AggUnpack, Parent: c2, Level: "case", Units: true, Children: units[3:4]}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Open(t.TempDir()+"/j.db", &Options{Now: newFakeClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			units := aggSetup(t, j, 4)
			ctx := context.Background()
			c1 := mustOpen(t, j, caseSpec(2))
			c2 := mustOpen(t, j, caseSpec(2))
			if err := j.Aggregate(ctx, func(a *AggTx) error {
				if err := a.Add(c1.Code, units[:2], Actor{}); err != nil {
					return err
				}
				return a.Close(c1.Code, false, "", Actor{})
			}); err != nil {
				t.Fatal(err)
			}
			if rep, err := j.Verify(ctx); err != nil {
				t.Fatalf("verify before tampering: %v %v", err, rep.Problems)
			}
			if err := j.db.Update(func(tx *bolt.Tx) error { return tc.tamper(tx, c1.Code, c2.Code, units) }); err != nil {
				t.Fatal(err)
			}
			rep, err := j.Verify(ctx)
			if err == nil || !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Fatalf("verify after %s: %v\n%s", tc.name, err, strings.Join(rep.Problems, "\n"))
			}
		})
	}
}

func TestAggCodecCorruption(t *testing.T) {
	recs := [][]byte{
		encodeID(&idRec{entry: entry{kind: kindIDAvailable, pool: 3, order: 9}}),
		encodeID(&idRec{entry: entry{kind: kindParent, pool: 1}, p: parentRec{batch: 1, level: "case", childLevel: UnitLevel, capacity: 2,
			state: ParentClosed, packed: 2, children: []string{"A", "B"}, steps: []ParentStep{{Op: OpOpen}, {Op: OpClose, N: 2}}}}),
	}
	for _, b := range recs {
		if _, err := decodeID("00x", b); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		for i := range b {
			c := slices.Clone(b)
			c[i] ^= 0x41
			if _, err := decodeID("00x", c); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d flipped: %v, want ErrCorrupt", i, err)
			}
		}
		if _, err := decodeID("00x", b[:len(b)-1]); !errors.Is(err, ErrCorrupt) {
			t.Fatal("truncated record decoded")
		}
	}
	ev := AggEvent{Op: AggPack, Parent: "00306141410000000011", Level: "case", Units: true, Children: []string{"S1", "S2"}}
	if got, err := decodeAggEvent("B1", 1, encodeAggEvent(&ev)); err != nil || !slices.Equal(got.Children, ev.Children) {
		t.Fatalf("event round trip: %+v %v", got, err)
	}
}

func TestTakeUnusedIDsWithOutbox(t *testing.T) {
	j := openTest(t, nil)
	aggSetup(t, j, 1)
	ctx := context.Background()
	var codes []string
	for i := range 4 {
		s, _ := RangeSSCC(7, "0614141", uint64(i+1))
		codes = append(codes, s)
	}
	if err := j.ImportIDPool(ctx, IDPool{ID: "L1", Kind: IDSSCC, Codes: codes}); err != nil {
		t.Fatal(err)
	}
	p := mustOpen(t, j, caseSpec(2)) // takes codes[0] (lists before ranges)
	var got []string
	out, err := j.TakeUnusedIDsWithOutbox(ctx, IDSSCC, "", 0, "sscc-return", func(c []string) ([]byte, error) {
		got = c
		return []byte(strings.Join(c, ",")), nil
	})
	if err != nil || len(out) != 3 || !slices.Equal(got, codes[1:]) || p.Code != SSCCCode(codes[0]) {
		t.Fatalf("returned %v (payload %v), opened %s: %v", out, got, p.Code, err)
	}
	items, _ := j.OutboxPending(ctx, 0)
	if len(items) != 1 || items[0].Kind != "sscc-return" {
		t.Fatalf("outbox %+v", items)
	}
	pools, _ := j.IDPools()
	if pools[1].Returned != 3 || pools[1].Available != 0 {
		t.Fatalf("pool after return: %+v", pools[1])
	}
	// a returned code is never taken again, nor imported again
	if err := j.ImportIDPool(ctx, IDPool{ID: "L2", Kind: IDSSCC, Codes: codes[1:2]}); !errors.Is(err, ErrPoolRefused) {
		t.Fatalf("returned SSCC imported again: %v", err)
	}
}
