package camerasim_test

import (
	"testing"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/vision/camerasim"
)

// The simulated camera's decoder (gozxing) agrees with an outside decoder,
// zxing-cpp's ZXingReader, on content bytes (GS separators) and the
// symbology identifier (]d2).
func TestDecodeAgreesWithZXingReader(t *testing.T) {
	for i, data := range []string{
		elem("SER0001"),
		elemWith(gtin, "290331", "A:B;C", "X1"),
		"01" + gtin + "21" + "ABCDEFGHIJ0123456789" + "\x1d" + "10" + "L",
	} {
		img := render(t, data)
		ident, want, _ := reference.ZXingRead(t, img)
		got, err := camerasim.Decode(img)
		if err != nil {
			t.Fatal(err)
		}
		if got.Data != string(want) || got.SymbologyID != ident || got.Data != data {
			t.Errorf("case %d: gozxing %q %s, ZXingReader %q %s, printed %q", i, got.Data, got.SymbologyID, want, ident, data)
		}
	}
}
