package camerasim

import (
	"image"
	"strings"
	"testing"

	"github.com/boombuler/barcode"
	bdm "github.com/boombuler/barcode/datamatrix"
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
