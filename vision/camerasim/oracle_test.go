package camerasim_test

import (
	"encoding/hex"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/vision/camerasim"
)

// The simulated camera's decoder (gozxing) agrees with an outside decoder,
// zxing-cpp's ZXingReader, on content bytes (GS separators) and the
// symbology identifier (]d2).
func TestDecodeAgreesWithZXingReader(t *testing.T) {
	tool := reference.Tool(t, "ZXingReader")
	for i, data := range []string{
		elem("SER0001"),
		elemWith(gtin, "290331", "A:B;C", "X1"),
		"01" + gtin + "21" + "ABCDEFGHIJ0123456789" + "\x1d" + "10" + "L",
	} {
		img := render(t, data)
		path := filepath.Join(t.TempDir(), "sym.png")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		out, err := exec.Command(tool, path).CombinedOutput()
		if err != nil {
			t.Fatalf("ZXingReader: %v\n%s", err, out)
		}
		var bytesHex, ident string
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "Bytes:"); ok {
				bytesHex = strings.ReplaceAll(strings.TrimSpace(v), " ", "")
			}
			if v, ok := strings.CutPrefix(line, "Identifier:"); ok {
				ident = strings.TrimSpace(v)
			}
		}
		want, err := hex.DecodeString(bytesHex)
		if err != nil {
			t.Fatalf("ZXingReader output %q: %v", out, err)
		}
		got, err := camerasim.Decode(img)
		if err != nil {
			t.Fatal(err)
		}
		if got.Data != string(want) || got.SymbologyID != ident || got.Data != data {
			t.Errorf("case %d: gozxing %q %s, ZXingReader %q %s, printed %q", i, got.Data, got.SymbologyID, want, ident, data)
		}
	}
}
