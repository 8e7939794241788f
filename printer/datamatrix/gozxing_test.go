package datamatrix

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzdm "github.com/makiuchi-d/gozxing/datamatrix"
)

// randomData draws strings that push the encoder through every mode and
// through the end-of-symbol rules: runs of digits, upper case with
// punctuation (EDIFACT), lower case (Text), mixed, and GS separators.
func randomData(r *rand.Rand, gs1 bool) string {
	classes := []string{
		"0123456789",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ!\"%&'()*+,-./:;<=>?",
		"abcdefghijklmnopqrstuvwxyz0123456789",
		"!\"%&'()*+,-./:;<=>?_ABCabcxyz019",
	}
	var b strings.Builder
	n := 1 + r.IntN(120)
	for b.Len() < n {
		set := classes[r.IntN(len(classes))]
		run := 1 + r.IntN(12)
		for i := 0; i < run; i++ {
			b.WriteByte(set[r.IntN(len(set))])
		}
		if gs1 && r.IntN(6) == 0 {
			b.WriteByte(0x1d)
		}
	}
	return strings.TrimSuffix(b.String(), "\x1d")
}

// TestDecodeGozxing decodes thousands of random symbols in process with
// gozxing (a Go port of ZXing) and requires the exact data back. It also
// checks that the EDIFACT and Text paths were really exercised.
func TestDecodeGozxing(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	e := NewEncoder()
	reader := gzdm.NewDataMatrixReader()
	hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true}
	sizesSeen := map[int]int{}
	edi := 0
	const n = 1500
	for i := 0; i < n; i++ {
		gs1 := i%2 == 0
		data := randomData(r, gs1)
		s, err := e.Encode(data, gs1)
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if err := checkSyndromes(e.cw, s); err != "" {
			t.Fatalf("%q: %s", data, err)
		}
		if e.enc.lastEdi {
			edi++
		}
		sizesSeen[s.Rows]++
		img := s.Image(Options{QuietZone: 1, ModuleDots: 2})
		bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(img)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := reader.Decode(bmp, hints)
		if err != nil {
			t.Fatalf("%q (gs1=%v, %dx%d): gozxing: %v", data, gs1, s.Rows, s.Cols, err)
		}
		want := data
		if gs1 {
			want = "\x1d" + data
		}
		if got := res.GetText(); got != want {
			t.Fatalf("%q (gs1=%v, %dx%d): gozxing read %q", data, gs1, s.Rows, s.Cols, got)
		}
	}
	t.Logf("%d symbols decoded, %d used EDIFACT, sizes %v", n, edi, sizesSeen)
	if edi < n/20 {
		t.Fatalf("only %d symbols used EDIFACT", edi)
	}
}

// checkSyndromes verifies every interleaved Reed–Solomon block of the last
// encoded codewords: the block polynomial must vanish at α^1…α^n. Decoders
// silently correct a wrong ECC, so this catches what round trips cannot.
func checkSyndromes(cw []byte, s *Symbol) string {
	rs := sharedRS()
	var sz *size
	for i := range sizes {
		if sizes[i].rows == s.Rows {
			sz = &sizes[i]
		}
	}
	nb := sz.blocks
	per := sz.eccCW / nb
	for b := 0; b < nb; b++ {
		var block []byte
		for i := b; i < sz.dataCW; i += nb {
			block = append(block, cw[i])
		}
		for k := 0; k < per; k++ {
			block = append(block, cw[sz.dataCW+eccSlot(sz, b)+k*nb])
		}
		for i := 1; i <= per; i++ {
			var syn byte
			for _, c := range block {
				syn = rs.mul(syn, rs.exp[i]) ^ c
			}
			if syn != 0 {
				return fmt.Sprintf("block %d: syndrome %d = %d", b, i, syn)
			}
		}
	}
	return ""
}

// TestLargeSymbols covers the multi-block sizes (52×52 … 144×144):
// interleaved Reed–Solomon blocks checked by syndromes, and decoded by
// gozxing.
func TestLargeSymbols(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	e := NewEncoder()
	reader := gzdm.NewDataMatrixReader()
	hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true}
	seen := map[int]bool{}
	for _, n := range []int{150, 250, 350, 450, 600, 700, 850, 1000, 1200, 1500, 1800, 2200, 2600, 3000} {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(randomData(r, false))
		}
		data := b.String()[:n]
		s, err := e.Encode(data, false)
		if err != nil {
			continue // too long for mixed data: fine
		}
		seen[s.Rows] = true
		if err := checkSyndromes(e.cw, s); err != "" {
			t.Fatalf("%d chars, %dx%d: %s", n, s.Rows, s.Cols, err)
		}
		img := s.Image(Options{QuietZone: 1, ModuleDots: 2})
		bmp, _ := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(img)))
		res, err := reader.Decode(bmp, hints)
		if err != nil {
			t.Fatalf("%d chars, %dx%d: gozxing: %v", n, s.Rows, s.Cols, err)
		}
		if res.GetText() != data {
			t.Fatalf("%d chars, %dx%d: decoded text differs", n, s.Rows, s.Cols)
		}
	}
	if len(seen) < 6 {
		t.Fatalf("only sizes %v exercised", seen)
	}
	t.Logf("sizes %v", seen)
}
