package printersim_test

import (
	"testing"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/printer/printersim"
)

// The printed symbol, checked with a decoder others wrote (zxing-cpp's
// ZXingReader): GS1 DataMatrix (]d2) carrying exactly the element string.
func TestPrintedSymbolWithZXingReader(t *testing.T) {
	img, err := printersim.DefaultRender(gs1Data)
	if err != nil {
		t.Fatal(err)
	}
	ident, got, out := reference.ZXingRead(t, img, "-format", "DataMatrix")
	if ident != "]d2" || string(got) != gs1Data {
		t.Errorf("ZXingReader read %q as %q, want ]d2 %q\n%s", ident, got, gs1Data, out)
	}
}
