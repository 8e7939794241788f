package printersim_test

import (
	"encoding/hex"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/printer/printersim"
)

// The printed symbol, checked with a decoder others wrote (zxing-cpp's
// ZXingReader): GS1 DataMatrix (]d2) carrying exactly the element string.
func TestPrintedSymbolWithZXingReader(t *testing.T) {
	tool := reference.Tool(t, "ZXingReader")
	img, err := printersim.DefaultRender(gs1Data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "print.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "-format", "DataMatrix", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ZXingReader: %v\n%s", err, out)
	}
	var bytesHex, ident string
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Bytes":
			bytesHex = strings.ReplaceAll(strings.TrimSpace(v), " ", "")
		case "Identifier":
			ident = strings.TrimSpace(v)
		}
	}
	got, err := hex.DecodeString(bytesHex)
	if err != nil {
		t.Fatalf("ZXingReader output %q: %v", out, err)
	}
	if ident != "]d2" || string(got) != gs1Data {
		t.Errorf("ZXingReader read %q as %q, want ]d2 %q\n%s", ident, got, gs1Data, out)
	}
}
