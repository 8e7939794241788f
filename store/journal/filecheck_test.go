package journal

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// smallJournal writes a journal with a pool, a batch, units in several
// states, audit entries and outbox items, and returns its bytes.
func smallJournal(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "small.db")
	j, err := Open(path, &Options{Now: newFakeClock().Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	setup(t, j, 40)
	ctx := context.Background()
	us, err := j.Draw(ctx, "B1", 12)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range us {
		steps := []Change{{Serial: u.Serial, To: Queued}, {Serial: u.Serial, To: Printed, Seq: uint64(i)}}
		if i%3 == 0 {
			steps = append(steps, Change{Serial: u.Serial, To: Rejected, Reason: ReasonNoRead})
		} else {
			steps = append(steps, Change{Serial: u.Serial, To: Verified}, Change{Serial: u.Serial, To: Commissioned})
		}
		if err := j.Apply(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := j.OutboxPut(ctx, "epcis", []byte(`{"type":"EPCISDocument"}`)); err != nil {
		t.Fatal(err)
	}
	if err := j.AppendAudit(ctx, AuditEntry{Who: "ann", Role: "operator", Action: "batch.start"}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt grows the file in big steps; the pages in use are enough.
	fc := fileChecker{r: bytesReaderAt(b), size: int64(len(b)), seen: map[uint64]bool{}}
	if err := fc.check(); err != nil {
		t.Fatal(err)
	}
	return b[:fc.hwm*uint64(fc.pageSize)]
}

// openDamaged writes data to a file and opens it read-only as `journal
// verify` does, running Verify and Export when it opens. It must not
// panic or crash: a damaged file is an error (wrapping ErrCorrupt when the
// file's structure is at fault) or a report of problems.
func openDamaged(t *testing.T, dir string, data []byte) (openErr error, rep VerifyReport, verr error) {
	t.Helper()
	path := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		return err, rep, nil
	}
	defer j.Close()
	rep, verr = j.Verify(context.Background())
	_ = j.Export(context.Background(), discard{}, "B1", FormatJSONL)
	return nil, rep, verr
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// A truncated or overwritten journal file makes verify fail with a message
// naming the damage — never a panic or a crash inside bbolt.
func TestDamagedFileVerifyFails(t *testing.T) {
	good := smallJournal(t)
	dir := t.TempDir()
	if err, rep, verr := openDamaged(t, dir, good); err != nil || verr != nil || !rep.OK() {
		t.Fatalf("the undamaged file: %v %v %v", err, verr, rep.Problems)
	}
	const page = 4096
	pages := len(good) / page
	failed := func(what string, data []byte) {
		t.Helper()
		err, rep, verr := openDamaged(t, dir, data)
		if err == nil && verr == nil && rep.OK() {
			t.Errorf("%s: verify passed", what)
		}
		if err != nil && err.Error() == "" {
			t.Errorf("%s: an error without a message", what)
		}
	}
	// Truncated at every page boundary and in the middle of every page.
	for n := 0; n < len(good); n += page / 2 {
		failed("truncated to "+strconv.Itoa(n)+" bytes", good[:n])
	}
	// Each page overwritten: with zeros, with 0xff, with noise.
	rng := rand.New(rand.NewPCG(1, 2))
	for p := range pages {
		for _, fill := range []string{"zeros", "ones", "noise"} {
			d := append([]byte(nil), good...)
			for i := p * page; i < (p+1)*page; i++ {
				switch fill {
				case "ones":
					d[i] = 0xff
				case "noise":
					d[i] = byte(rng.Uint32())
				default:
					d[i] = 0
				}
			}
			err, rep, verr := openDamaged(t, dir, d)
			// A page in use that is overwritten must be noticed; a free page
			// may be overwritten harmlessly, and with one meta page gone
			// bbolt uses the other.
			if err == nil && verr == nil && rep.OK() && p >= 2 && usedPage(good, p) {
				t.Errorf("page %d (in use) overwritten with %s: verify passed", p, fill)
			}
		}
	}
	// Single bytes flipped across the file (page headers, element
	// offsets, keys, values); FuzzDamagedFile goes further.
	for i := 0; i < len(good); i += 37 {
		d := append([]byte(nil), good...)
		d[i] ^= 0x5a
		openDamaged(t, dir, d) // must not crash; a flip may be harmless
	}
	// A file that is no journal at all.
	failed("noise", func() []byte {
		b := make([]byte, 8*page)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}())
	failed("empty", nil)
	err, _, _ := openDamaged(t, dir, good[:3*page])
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("a truncated file: %v, want ErrCorrupt", err)
	}
}

// usedPage reports whether page p of the file is reachable from its root
// (CheckFile's walk marks it).
func usedPage(file []byte, p int) bool {
	fc := fileChecker{r: bytesReaderAt(file), size: int64(len(file)), seen: map[uint64]bool{}}
	if fc.check() != nil {
		return false
	}
	return fc.seen[uint64(p)]
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errors.New("EOF")
	}
	return n, nil
}

// FuzzDamagedFile: whatever the bytes of the journal file, opening it
// read-only and verifying it reports an error or problems, never panics
// and never crashes the process (bbolt would, on a damaged file, without
// CheckFile).
func FuzzDamagedFile(f *testing.F) {
	good := smallJournal(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:8192])
	f.Fuzz(func(t *testing.T, data []byte) {
		openDamaged(t, t.TempDir(), data)
	})
}
