package datamatrix

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/gs1/corpus"
)

// roundTripCorpus is ≥30 hand-picked and 200 generated payloads.
func roundTripCorpus(t *testing.T) []gs1.Message {
	t.Helper()
	ins := corpus.HandPicked()
	g := corpus.New(7)
	for i := 0; i < 200; i++ {
		ins = append(ins, g.Pharma())
	}
	var out []gs1.Message
	for _, in := range ins {
		m, err := gs1.Options{SkipAssociations: strings.HasPrefix(in, "(00)") || strings.HasPrefix(in, "(8004)") || strings.HasPrefix(in, "(414)")}.Parse(in)
		if err != nil {
			t.Fatalf("corpus payload %q: %v", in, err)
		}
		out = append(out, m)
	}
	return out
}

// writePNGs renders every message into dir and returns the file names.
func writePNGs(t *testing.T, dir string, msgs []gs1.Message) []string {
	t.Helper()
	e := NewEncoder()
	var files []string
	for i, m := range msgs {
		s, err := e.Encode(m.ElementString(), true)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		name := filepath.Join(dir, fmt.Sprintf("%04d.png", i))
		var buf bytes.Buffer
		if err := s.PNG(&buf, Options{QuietZone: 2, ModuleDots: 4}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	return files
}

// TestRoundTripZXing: ZXingReader (zxing-cpp) must report symbology
// identifier ]d2 and exactly our element string for every corpus symbol.
// All files go to one ZXingReader process.
func TestRoundTripZXing(t *testing.T) {
	zx := reference.Tool(t, "ZXingReader")
	msgs := roundTripCorpus(t)
	if len(msgs) < 230 {
		t.Fatalf("corpus has %d payloads", len(msgs))
	}
	files := writePNGs(t, t.TempDir(), msgs)
	got := zxingRead(t, zx, files)
	for i, f := range files {
		r := got[f]
		want := msgs[i].ElementString()
		switch {
		case r == nil:
			t.Errorf("%s (%s): ZXingReader found nothing", f, msgs[i])
		case r.id != "]d2":
			t.Errorf("%s: identifier %q, want ]d2", msgs[i], r.id)
		case r.bytes != want:
			t.Errorf("%s: ZXing read %q, want %q", msgs[i], r.bytes, want)
		}
	}
}

type zxResult struct{ id, bytes string }

// zxingRead runs one ZXingReader process over files and returns, per file,
// the symbology identifier and the decoded bytes.
func zxingRead(t *testing.T, zx string, files []string) map[string]*zxResult {
	t.Helper()
	out, err := exec.Command(zx, append([]string{"-format", "DataMatrix", "-ispure"}, files...)...).Output()
	if err != nil {
		t.Fatalf("ZXingReader: %v", err)
	}
	got := map[string]*zxResult{}
	var cur *zxResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "File":
			cur = &zxResult{}
			got[v] = cur
		case "Identifier":
			if cur != nil {
				cur.id = v
			}
		case "Bytes":
			if cur != nil {
				b, err := hex.DecodeString(strings.ReplaceAll(v, " ", ""))
				if err != nil {
					t.Fatalf("bytes %q: %v", v, err)
				}
				cur.bytes = string(b)
			}
		}
	}
	return got
}

// dmtxRead runs dmtxread (GS1 mode, FNC1 as GS) over files, in chunks, and
// returns one line per file ("<no read>" when it found nothing).
func dmtxRead(dm string, files []string) []string {
	read := func(fs []string) []string {
		out, _ := exec.Command(dm, append([]string{"-n", "-G", "29", "-N", "1"}, fs...)...).Output()
		s := strings.TrimSuffix(string(out), "\n")
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	const chunk = 40
	var all []string
	for start := 0; start < len(files); start += chunk {
		end := min(start+chunk, len(files))
		lines := read(files[start:end])
		if len(lines) != end-start { // someone failed: find out who, one by one
			lines = lines[:0]
			for _, f := range files[start:end] {
				l := read([]string{f})
				if len(l) != 1 {
					l = []string{"<no read>"}
				}
				lines = append(lines, l[0])
			}
		}
		all = append(all, lines...)
	}
	return all
}

// TestRoundTripDmtxread: libdmtx's dmtxread (GS1 mode, FNC1 shown as GS)
// must read GS + our element string for every corpus symbol.
func TestRoundTripDmtxread(t *testing.T) {
	dm := reference.Tool(t, "dmtxread")
	msgs := roundTripCorpus(t)
	files := writePNGs(t, t.TempDir(), msgs)
	for i, l := range dmtxRead(dm, files) {
		if want := "\x1d" + msgs[i].ElementString(); l != want {
			t.Errorf("%s: dmtxread %q, want %q", msgs[i], l, want)
		}
	}
}

// zintSizes runs zint in batch mode over bracketed payloads and returns the
// side of each symbol it chose (square), parsed from its hex dump.
func zintSizes(t testing.TB, zint string, payloads []string) []int {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	var b strings.Builder
	for _, p := range payloads {
		b.WriteString(p + "\n")
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zint, "-b", "71", "--gs1", "--gs1parens", "--square", "--batch", "--dump", "-i", in).Output()
	if err != nil {
		t.Fatalf("zint: %v", err)
	}
	return SidesFromZintDump(string(out))
}

// SidesFromZintDump splits concatenated `zint --dump` output of square Data
// Matrix symbols into symbol sides: each symbol starts with its alternating
// top row, whose text is unique per size.
func SidesFromZintDump(out string) []int {
	top := map[string]int{}
	for _, s := range sizes {
		sym := &Symbol{Rows: 1, Cols: s.rows, mods: make([]byte, s.rows)}
		for c := range sym.mods {
			sym.mods[c] = byte(1 - c%2)
		}
		top[strings.TrimSuffix(string(sym.AppendDumpHex(nil)), "\n")] = s.rows
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var sides []int
	for i := 0; i < len(lines); {
		side, ok := top[lines[i]]
		if !ok {
			return append(sides, -1)
		}
		sides = append(sides, side)
		i += side
	}
	return sides
}

// TestSizesVsZint: on the corpus plus 3,000 more generated payloads our
// square symbol must never be larger than zint's choice (zint 2.11 runs a
// minimal encodation over all six modes; we search ASCII/C40/Text/EDIFACT).
// Every symbol that comes out smaller than zint's is decoded by ZXingReader
// and dmtxread, since those are where our encodation differs most.
func TestSizesVsZint(t *testing.T) {
	zint := reference.Tool(t, "zint")
	zx := reference.Tool(t, "ZXingReader")
	dm := reference.Tool(t, "dmtxread")
	msgs := roundTripCorpus(t)
	g := corpus.New(99)
	for i := 0; i < 3000; i++ {
		m, err := gs1.Parse(g.Pharma())
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	var payloads []string
	var idx []int
	for i, m := range msgs {
		if strings.Count(m.Bracketed(), "(") != m.Len() || strings.Count(m.Bracketed(), ")") != m.Len() {
			continue // zint --gs1parens cannot carry a literal parenthesis
		}
		payloads = append(payloads, m.Bracketed())
		idx = append(idx, i)
	}
	zs := zintSizes(t, zint, payloads)
	if len(zs) != len(payloads) {
		t.Fatalf("zint produced %d symbols for %d payloads", len(zs), len(payloads))
	}
	e := NewEncoder()
	larger := 0
	var smaller []gs1.Message
	for k, i := range idx {
		s, err := e.Encode(msgs[i].ElementString(), true)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case s.Rows > zs[k]:
			larger++
			t.Errorf("larger than zint: %s: ours %d, zint %d", payloads[k], s.Rows, zs[k])
		case s.Rows < zs[k]:
			smaller = append(smaller, msgs[i])
		}
	}
	t.Logf("%d payloads: %d larger than zint, %d smaller", len(payloads), larger, len(smaller))
	if len(smaller) == 0 {
		return
	}
	files := writePNGs(t, t.TempDir(), smaller)
	got := zxingRead(t, zx, files)
	lines := dmtxRead(dm, files)
	for i, f := range files {
		want := smaller[i].ElementString()
		if r := got[f]; r == nil || r.id != "]d2" || r.bytes != want {
			t.Errorf("%s: ZXing read %+v", smaller[i], r)
		}
		if lines[i] != "\x1d"+want {
			t.Errorf("%s: dmtxread %q", smaller[i], lines[i])
		}
	}
}
