package camerasim

import (
	"image"
	"strings"
	"testing"

	"github.com/boombuler/barcode"
	bdm "github.com/boombuler/barcode/datamatrix"

	"github.com/serialine/serialine/vision/grade"
)

// gs1Symbol renders a GS1 DataMatrix for an element string (GS separated,
// no leading FNC1) with boombuler/barcode: FNC1 (codeword 232) first and as
// separator. moduleSize pixels per module, plus a 2-module quiet zone.
func gs1Symbol(t testing.TB, elementString string, moduleSize int) image.Image {
	t.Helper()
	content := string([]byte{bdm.FNC1}) + strings.ReplaceAll(elementString, "\x1d", string([]byte{bdm.FNC1}))
	bc, err := bdm.Encode(content)
	if err != nil {
		t.Fatalf("boombuler encode: %v", err)
	}
	w := bc.Bounds().Dx()
	sc, err := barcode.Scale(bc, w*moduleSize, w*moduleSize)
	if err != nil {
		t.Fatalf("scale: %v", err)
	}
	return withQuietZone(sc, 2*moduleSize)
}

const sampleData = "0109501101530003" + "17290331" + "10LOT42\x1d" + "21SER0001"

func TestDecodeGS1KeepsFNC1AsGS(t *testing.T) {
	img := gs1Symbol(t, sampleData, 4)
	d, err := Decode(img)
	if err != nil {
		t.Fatal(err)
	}
	if d.SymbologyID != "]d2" {
		t.Errorf("symbology id %q, want ]d2", d.SymbologyID)
	}
	if d.Data != sampleData {
		t.Errorf("data %q, want %q", d.Data, sampleData)
	}
}

func TestDecodePlainIsD1(t *testing.T) {
	bc, err := bdm.Encode("HELLO")
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := barcode.Scale(bc, bc.Bounds().Dx()*4, bc.Bounds().Dy()*4)
	d, err := Decode(withQuietZone(sc, 8))
	if err != nil {
		t.Fatal(err)
	}
	if d.SymbologyID != "]d1" || d.Data != "HELLO" {
		t.Errorf("got %+v", d)
	}
}

func TestContrastMeasuredFromImage(t *testing.T) {
	img := gs1Symbol(t, sampleData, 4)
	if c := Contrast(img); c < 0.99 {
		t.Errorf("black on white contrast %v", c)
	}
	faded := Fade(img, 0.5) // black -> 128: contrast 127/255
	if c := Contrast(faded); c < 0.49 || c > 0.51 {
		t.Errorf("faded contrast %v", c)
	}
	// the faded symbol still decodes (exposure normalisation) but grades SC C
	d, err := Decode(faded)
	if err != nil || d.Data != sampleData {
		t.Fatalf("faded decode %+v %v", d, err)
	}
	if g := Grade(true, Contrast(faded), nil)[grade.SC]; g != 2 {
		t.Errorf("SC grade %v, want 2 (C: 40–55 %%)", g)
	}
}

func TestGradeFromDefects(t *testing.T) {
	s := Grade(true, 0.9, []Defect{{Kind: "missing-dots", Severity: 0.5}, {Kind: "smear", Severity: 0.25}, {Kind: "FPD", Severity: 1}})
	want := grade.Scan{grade.DEC: 4, grade.SC: 4, grade.RM: 4, grade.UEC: 2, grade.MOD: 3, grade.FPD: 0, grade.GN: 3, grade.AN: 4}
	for p, v := range want {
		if s[p] != v {
			t.Errorf("%s = %v, want %v", p, s[p], v)
		}
	}
	if r := grade.FromScans(s); r.Overall != 0 {
		t.Errorf("overall %v, want 0 (FPD F)", r.Overall)
	}
	if s := Grade(false, 0.9, nil); s[grade.DEC] != 0 {
		t.Error("DEC must be F when not decoded")
	}
	if s := Grade(true, 0.9, []Defect{{Kind: "contrast", Severity: 0.8}}); s[grade.SC] != 0 || s[grade.RM] != 0 {
		t.Errorf("contrast 0.8: %v", s)
	}
}
