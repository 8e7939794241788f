package labelsim

import (
	"context"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boombuler/barcode/code128"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/logistic"
	"github.com/serialine/serialine/printer/zpl"
	"github.com/serialine/serialine/vision/casecam"
)

func modules(t *testing.T, mode, data string) string {
	t.Helper()
	c, err := code128Content(mode, data)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := code128.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; i < bc.Bounds().Dx(); i++ {
		if r, _, _, _ := bc.At(i, 0).RGBA(); r == 0 {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

// TestGS1128MatchesZint: the bars the labeller prints for ^BC mode D are
// exactly zint's GS1-128 (zint --gs1 --dump, an encoder others wrote).
func TestGS1128MatchesZint(t *testing.T) {
	tool := reference.Tool(t, "zint")
	for _, data := range []string{"(00)306141411234567891", "(00)106141412345678908", "(00)306141411234567891(02)09501101530003(37)40(10)LOT-7A"} {
		zdata := strings.NewReplacer("(", "[", ")", "]").Replace(data)
		out, err := exec.Command(tool, "-b", "16", "--gs1", "-d", zdata, "--dump").CombinedOutput()
		if err != nil {
			t.Fatalf("zint: %v\n%s", err, out)
		}
		raw, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "").Replace(strings.TrimSpace(string(out))) + "0"[:len(strings.ReplaceAll(strings.TrimSpace(string(out)), " ", ""))%2])
		if err != nil {
			t.Fatalf("zint dump %q: %v", out, err)
		}
		var bits strings.Builder
		for _, b := range raw {
			fmt.Fprintf(&bits, "%08b", b)
		}
		ours := modules(t, "D", data)
		if got := bits.String()[:len(ours)]; got != ours || strings.Trim(bits.String()[len(ours):], "0") != "" {
			t.Errorf("%s:\n ours %s\n zint %s", data, ours, bits.String())
		}
	}
}

// TestLabelOverZPL: the logistic label sent by the ZPL driver (stored
// format + recall) is rendered, applied, and read back: by gozxing here,
// and by ZXingReader as an outside oracle (GS1-128 ]C1 and the GS1
// DataMatrix ]d2 both carry (00) and the SSCC).
func TestLabelOverZPL(t *testing.T) {
	s, err := Start(Options{IDField: logistic.FieldID})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan Label, 1)
	s.OnLabel(func(l Label) { got <- l })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := zpl.New(zpl.Options{Addr: s.Addr(), FormatName: "R:SSCC.ZPL", Format: logistic.Format(logistic.Options{DataMatrix: true}),
		Fields: logistic.Fields, IDField: logistic.FieldID})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	const sscc = "306141411234567891"
	f, err := logistic.RecordFields(logistic.Label{SSCC: sscc, Title: "CASE 40 x 09501101530003", LotExp: "LOT L1 EXP 281231"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(ctx, printer.Record{ID: "00" + sscc, Fields: f}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("label not rendered")
	}
	if d, err := c.QueueDepth(ctx); err != nil || d != 1 {
		t.Fatalf("~HS formats in buffer %d, %v", d, err)
	}
	l, ok := s.Apply()
	if !ok || l.ID != "00"+sscc {
		t.Fatalf("applied %+v %t", l.ID, ok)
	}
	if _, ok := s.Apply(); ok || s.Stats().Missed != 1 {
		t.Fatal("second product got a label from an empty buffer")
	}
	data, sym, err := casecam.DecodeLinear(l.Image)
	if err != nil || sym != "]C1" || data != "00"+sscc {
		t.Fatalf("gozxing read %q %q %v", sym, data, err)
	}
	if os.Getenv("SERIALINE_ARTIFACTS") != "" {
		if a, err := os.Create(filepath.Join(os.Getenv("SERIALINE_ARTIFACTS"), "sscc-label.png")); err == nil {
			_ = png.Encode(a, l.Image)
			a.Close()
		}
	}
	b := l.Image.Bounds()
	for _, tc := range []struct {
		format, ident string
		img           image.Image
	}{
		// The bars alone: ZXingReader (2.x) aborts on a whole label where it
		// finds the linear code on many scan lines.
		{"Code128", "]C1", l.Image.SubImage(image.Rect(0, b.Dy()-480, b.Dx(), b.Dy()-200))},
		// The DataMatrix (ZXingReader misses it on the whole label).
		{"DataMatrix", "]d2", l.Image.SubImage(image.Rect(520, 180, 760, 400))},
	} {
		ident, got, out := reference.ZXingRead(t, tc.img, "-format", tc.format)
		if ident != tc.ident || strings.TrimPrefix(string(got), "\x1d") != "00"+sscc {
			t.Errorf("ZXingReader %s: %q %q\n%s", tc.format, ident, got, out)
		}
	}
}

func TestBadLabelsCounted(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img, err := RenderZPL([]byte("^XA^FO40,10^BY2^BCN,80,N,N,N,D^FD(00)306141411234567891^FS^XZ"))
	if err != nil {
		t.Fatal(err)
	}
	if d, sym, err := casecam.DecodeLinear(img); err != nil || sym != "]C1" || d != "00306141411234567891" {
		t.Fatalf("RenderZPL label read %q %q %v", sym, d, err)
	}
	if _, err := RenderZPL([]byte("^XA^FO10,10^BCN,80,N,N,N,D^FD(00)306141411234567890^FS^XZ")); err == nil {
		t.Fatal("a label with a bad SSCC check digit rendered")
	}
}
