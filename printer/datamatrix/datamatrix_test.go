package datamatrix

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	bbdm "github.com/boombuler/barcode/datamatrix"
	"github.com/boombuler/barcode/utils"

	"github.com/serialine/serialine/printer/gs1"
)

// TestRSMatchesBoombuler checks our table-driven Reed–Solomon encoder
// against boombuler/barcode's polynomial implementation for every block
// length the square sizes use.
func TestRSMatchesBoombuler(t *testing.T) {
	rs := sharedRS()
	for a := 1; a < 256; a++ {
		if rs.mul(byte(a), 1) != byte(a) || rs.mul(1, byte(a)) != byte(a) {
			t.Fatalf("mul(%d, 1) wrong", a)
		}
	}
	ref := utils.NewReedSolomonEncoder(utils.NewGaloisField(301, 256, 1))
	for _, s := range sizes {
		per := s.eccCW / s.blocks
		data := make([]byte, s.dataCW/s.blocks)
		in := make([]int, len(data))
		for i := range data {
			data[i] = byte(i*37 + per)
			if i%5 == 1 {
				data[i] = 1 // α^0: caught a log-table bug once
			}
			in[i] = int(data[i])
		}
		got := make([]byte, per)
		rs.encodeBlock(data, 1, 0, len(data), got)
		want := ref.Encode(in, per)
		for i := range got {
			if int(got[i]) != want[i] {
				t.Fatalf("size %d: ecc[%d] = %d, boombuler %d", s.rows, i, got[i], want[i])
			}
		}
	}
}

// TestASCIIMatchesBoombuler: for all-digit GS1 data our shortest path is
// pure ASCII digit pairs, exactly what boombuler's encoder emits, so the
// whole module matrix (padding, RS, placement, finder) must be identical.
func TestASCIIMatchesBoombuler(t *testing.T) {
	inputs := []string{
		"0109501101530003",
		"010950110153000317290331",
		"01095011015300031729033110123456",
		"0109501101530003172903311012345678\x1d21123456789012",
		"01095011015300031729033110" + strings.Repeat("12", 10) + "\x1d21" + strings.Repeat("98", 10),
		"00123456789012345675" + strings.Repeat("9", 1) + "1" + strings.Repeat("0123456789", 40),
	}
	for _, in := range inputs {
		ours, err := Encode(in, true)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		// boombuler: FNC1 byte first; GS separators as FNC1 bytes too.
		bb, err := bbdm.Encode(string([]byte{bbdm.FNC1}) + strings.ReplaceAll(in, "\x1d", string([]byte{bbdm.FNC1})))
		if err != nil {
			t.Fatalf("boombuler %q: %v", in, err)
		}
		b := bb.Bounds()
		if b.Dx() != ours.Cols || b.Dy() != ours.Rows {
			t.Fatalf("%q: size %dx%d, boombuler %dx%d", in, ours.Rows, ours.Cols, b.Dy(), b.Dx())
		}
		for y := 0; y < ours.Rows; y++ {
			for x := 0; x < ours.Cols; x++ {
				r, _, _, _ := bb.At(x, y).RGBA()
				if dark := r < 0x8000; dark != ours.Module(y, x) {
					t.Fatalf("%q: module (%d,%d) differs from boombuler", in, y, x)
				}
			}
		}
	}
}

// TestKnownSymbol pins one symbol byte-for-byte to zint 2.11's output
// (zint -b 71 --gs1 --square --dump -d '[01]09501101530003[21]ABC').
func TestKnownSymbol(t *testing.T) {
	want := "AA AA 8\nCF 25 4\n8A 0F 8\nB2 CB C\nEA 2B 0\n82 C2 4\n98 2A 8\nD2 7A C\nEA 9B 8\nDC DF 4\n82 B6 0\nDB 91 4\nA8 22 0\nB2 D2 C\nA9 1C 8\nD7 15 4\nC6 21 8\nFF FF C\n"
	m, err := gs1.Parse("(01)09501101530003(21)ABC")
	if err != nil {
		t.Fatal(err)
	}
	s, err := EncodeGS1(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.AppendDumpHex(nil)); got != want {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, want)
	}
	if s.Rows != 18 || s.DataCodewords != 18 || s.UsedCodewords != 13 {
		t.Fatalf("rows %d data %d used %d", s.Rows, s.DataCodewords, s.UsedCodewords)
	}
	var dump bytes.Buffer
	if err := s.Dump(&dump); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(dump.String(), "\n"), "\n")
	if len(lines) != 18 || lines[0] != "101010101010101010" || lines[17] != strings.Repeat("1", 18) {
		t.Fatalf("0/1 dump wrong: %q", lines)
	}
}

func TestRenderOptions(t *testing.T) {
	s, err := Encode("0109501101530003", true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		o       Options
		dots, q int
	}{
		{Options{}, 4, 1},
		{Options{QuietZone: 3, ModuleDots: 2}, 2, 3},
		{Options{DPI: 600, ModuleMM: 0.254}, 6, 1},
		{Options{DPI: 300, ModuleMM: 0.01}, 1, 1},
	}
	for _, c := range cases {
		if got := c.o.ModuleSize(); got != c.dots {
			t.Errorf("%+v: module %d dots, want %d", c.o, got, c.dots)
		}
		b := s.Bitmap(c.o)
		side := (s.Cols + 2*c.q) * c.dots
		if b.Width != side || b.Height != side {
			t.Errorf("%+v: bitmap %dx%d, want %d", c.o, b.Width, b.Height, side)
		}
		// quiet zone light, top-left finder module dark
		if b.Dot(c.q*c.dots-1, c.q*c.dots-1) || !b.Dot(c.q*c.dots, c.q*c.dots) {
			t.Errorf("%+v: quiet zone/finder wrong", c.o)
		}
		img := s.Image(c.o)
		if img.Bounds().Dx() != side {
			t.Errorf("image width %d", img.Bounds().Dx())
		}
		var buf bytes.Buffer
		if err := s.PNG(&buf, c.o); err != nil {
			t.Fatal(err)
		}
		p, err := png.Decode(&buf)
		if err != nil || p.Bounds().Dx() != side {
			t.Fatalf("png: %v", err)
		}
	}
}

func TestTooLong(t *testing.T) {
	if _, err := Encode(strings.Repeat("a!", 2000), false); err == nil {
		t.Fatal("no error for oversized data")
	}
	// largest: 3116 digits fit in 144x144 (1558 digit pairs)
	s, err := Encode(strings.Repeat("1", 3116), false)
	if err != nil || s.Rows != 144 {
		t.Fatalf("3116 digits: %v", err)
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "0109501101530003", "abcABC012!\"%", "\x1d\x1d", "\xff\x80abc", strings.Repeat("Z", 50)} {
		f.Add(s, true)
		f.Add(s, false)
	}
	e := NewEncoder()
	f.Fuzz(func(t *testing.T, data string, g bool) {
		s, err := e.Encode(data, g)
		if err != nil {
			return
		}
		if s.Rows < 10 || s.UsedCodewords > s.DataCodewords {
			t.Fatalf("bad symbol %dx%d used %d/%d", s.Rows, s.Cols, s.UsedCodewords, s.DataCodewords)
		}
	})
}

func BenchmarkEncodeGS1(b *testing.B) {
	e := NewEncoder()
	var s Symbol
	data := "0109501101530003172903311" + "0ABC123XYZ\x1d21A1B2C3D4E5F6G7"
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		if err := e.EncodeInto(&s, data, true); err != nil {
			b.Fatal(err)
		}
		buf = s.AppendDumpHex(buf[:0])
	}
}
