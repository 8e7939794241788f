package hmi_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// Screenshot references: every screen the tests compare lives in
// testdata/screens/<name>.png. compareScreen takes a screenshot, writes it
// to the artefacts ($SERIALINE_ARTIFACTS) and compares it with the
// reference: a pixel differs when any colour channel differs by more than
// pixelTolerance; the screen matches while at most screenTolerance of its
// pixels differ (live values such as clock times and rates change a few
// glyphs). On a mismatch the diff image (differing pixels in red) goes to
// the artefacts too. SERIALINE_UPDATE_SCREENS=1 rewrites the references; a
// missing reference is written (and fails under CI=true).
const (
	pixelTolerance  = 40
	screenTolerance = 0.02
)

func compareScreen(t *testing.T, ctx context.Context, b *cdp, name string) {
	t.Helper()
	art := filepath.Join(artifactDir(t), name+".png")
	b.screenshot(ctx, art)
	got, err := os.ReadFile(art)
	if err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join("testdata", "screens", name+".png")
	want, err := os.ReadFile(ref)
	if os.Getenv("SERIALINE_UPDATE_SCREENS") != "" || os.IsNotExist(err) {
		if err != nil && os.Getenv("CI") == "true" {
			t.Fatalf("screenshot reference %s missing (run the test with SERIALINE_UPDATE_SCREENS=1 and commit it)", ref)
		}
		if err := os.WriteFile(ref, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot reference written: %s", ref)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	frac, diff, err := screenDiff(want, got)
	if err != nil {
		t.Errorf("screen %s: %v (artefact %s)", name, err, art)
		return
	}
	if frac > screenTolerance {
		dp := filepath.Join(artifactDir(t), name+".diff.png")
		var buf bytes.Buffer
		png.Encode(&buf, diff)
		os.WriteFile(dp, buf.Bytes(), 0o644)
		t.Errorf("screen %s differs from %s in %.2f%% of its pixels (tolerance %.1f%%): see %s and %s",
			name, ref, 100*frac, 100*screenTolerance, art, dp)
	}
}

// screenDiff returns the fraction of differing pixels of two PNGs and an
// image marking them.
func screenDiff(a, b []byte) (float64, image.Image, error) {
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		return 0, nil, fmt.Errorf("reference: %w", err)
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return 0, nil, fmt.Errorf("screenshot: %w", err)
	}
	if ia.Bounds() != ib.Bounds() {
		return 1, nil, fmt.Errorf("size %v, reference %v", ib.Bounds(), ia.Bounds())
	}
	r := ia.Bounds()
	out := image.NewRGBA(r)
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca, cb := color.RGBAModel.Convert(ia.At(x, y)).(color.RGBA), color.RGBAModel.Convert(ib.At(x, y)).(color.RGBA)
			if far(ca.R, cb.R) || far(ca.G, cb.G) || far(ca.B, cb.B) {
				n++
				out.Set(x, y, color.RGBA{255, 0, 0, 255})
			} else {
				out.Set(x, y, color.RGBA{ca.R / 3, ca.G / 3, ca.B / 3, 255})
			}
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy()), out, nil
}

func far(a, b uint8) bool {
	d := int(a) - int(b)
	return d > pixelTolerance || d < -pixelTolerance
}

// TestScreenDiff: the comparison itself finds a changed region and
// tolerates a few changed pixels.
func TestScreenDiff(t *testing.T) {
	mk := func(mark int) []byte {
		img := image.NewRGBA(image.Rect(0, 0, 100, 100))
		for i := range img.Pix {
			img.Pix[i] = 200
		}
		for y := 0; y < mark; y++ {
			for x := 0; x < 100; x++ {
				img.Set(x, y, color.Black)
			}
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		return b.Bytes()
	}
	if f, _, err := screenDiff(mk(0), mk(1)); err != nil || f != 0.01 {
		t.Fatalf("one row: %v %v", f, err)
	}
	if f, _, _ := screenDiff(mk(0), mk(10)); f <= screenTolerance {
		t.Fatalf("ten rows tolerated: %v", f)
	}
}
