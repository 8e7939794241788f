package camerasim

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix"

	"github.com/serialine/serialine/vision/grade"
)

// Decoded is what the simulated camera's decoder got from an image.
type Decoded struct {
	// Data is the content with the leading FNC1 removed; FNC1 separators
	// are GS (0x1D).
	Data string
	// SymbologyID is "]d2" (FNC1 first: GS1 DataMatrix) or "]d1".
	SymbologyID string
}

// Decode reads a DataMatrix symbol from img with gozxing (github.com/
// makiuchi-d/gozxing). gozxing reports FNC1 correctly: it sets the
// symbology identifier to ]d2 when FNC1 is the first codeword, and returns
// every FNC1 as GS (0x1D), including the leading one; Decode drops that
// leading GS so Data equals the element string (gs1.Message.ElementString).
func Decode(img image.Image) (Decoded, error) {
	if img == nil {
		return Decoded{}, fmt.Errorf("%w: no image", ErrNoSymbol)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(normalize(img))
	if err != nil {
		return Decoded{}, fmt.Errorf("%w: %v", ErrNoSymbol, err)
	}
	r := datamatrix.NewDataMatrixReader()
	res, err := r.Decode(bmp, nil)
	if err != nil {
		// Synthetic, unrotated images: the fast pure-barcode path often
		// succeeds where the finder-pattern detector gives up.
		res, err = r.Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil {
		return Decoded{}, fmt.Errorf("%w: %v", ErrNoSymbol, err)
	}
	d := Decoded{Data: res.GetText(), SymbologyID: "]d1"}
	if id, ok := res.GetResultMetadata()[gozxing.ResultMetadataType_SYMBOLOGY_IDENTIFIER].(string); ok {
		d.SymbologyID = id
	}
	if d.SymbologyID == "]d2" {
		d.Data = strings.TrimPrefix(d.Data, "\x1d")
	}
	return d, nil
}

// normalize stretches the luminance between the dark (5th percentile) and
// light (95th percentile) levels to the full range, as a camera's exposure
// and gain control would: a faded print still decodes, its low contrast is
// graded separately (SC).
func normalize(img image.Image) image.Image {
	lo, hi := percentiles(img)
	if hi-lo < 4 {
		return img // blank: nothing to stretch
	}
	if lo == 0 && hi == 255 {
		return img
	}
	b := img.Bounds()
	out := image.NewGray(b)
	scale := 255 / float64(hi-lo)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			l := float64(luma(img.At(x, y)))
			v := (l - float64(lo)) * scale
			out.Pix[(y-b.Min.Y)*out.Stride+(x-b.Min.X)] = uint8(math.Max(0, math.Min(255, v+0.5)))
		}
	}
	return out
}

func luma(c color.Color) int {
	r, g, bb, _ := c.RGBA()
	return int((19595*r + 38470*g + 7471*bb + 1<<15) >> 24)
}

// percentiles returns the 5th and 95th percentile luminance of img.
func percentiles(img image.Image) (lo, hi int) {
	b := img.Bounds()
	n := b.Dx() * b.Dy()
	if n == 0 {
		return 0, 0
	}
	var hist [256]int
	step := 1
	if n > 200000 {
		step = int(math.Sqrt(float64(n) / 200000))
	}
	total := 0
	for y := b.Min.Y; y < b.Max.Y; y += step {
		for x := b.Min.X; x < b.Max.X; x += step {
			hist[luma(img.At(x, y))]++
			total++
		}
	}
	pct := func(p float64) int {
		want := int(math.Ceil(p * float64(total)))
		acc := 0
		for i, c := range hist {
			acc += c
			if acc >= want {
				return i
			}
		}
		return 255
	}
	return pct(0.05), pct(0.95)
}

// Contrast measures symbol contrast from the image: the spread between
// the light (95th percentile) and dark (5th percentile) luminance, as a
// fraction 0–1 (ISO/IEC 15415 SC is Rmax − Rmin over the reflectance).
func Contrast(img image.Image) float64 {
	if img == nil {
		return 0
	}
	lo, hi := percentiles(img)
	return float64(hi-lo) / 255
}

// Defect is a print defect the printer (simulator) injected, with its
// severity 0 (none) … 1 (worst).
type Defect struct {
	Kind     string
	Severity float64
}

// defectParams maps defect kinds to the parameters they degrade, with an
// offset (grades better than the main one).
var defectParams = map[string][]struct {
	p   grade.Param
	off float64
}{
	"contrast":     {{grade.SC, 0}, {grade.RM, 0}},
	"missing-dots": {{grade.UEC, 0}, {grade.MOD, 1}, {grade.FPD, 1}},
	"smear":        {{grade.GN, 0}, {grade.AN, 1}, {grade.MOD, 1}},
}

// severityGrade turns a severity into a grade: 0 → 4 (A), 0.25 → 3,
// 0.5 → 2, 0.75 → 1, 1 → 0.
func severityGrade(s float64) float64 {
	s = math.Max(0, math.Min(1, s))
	return math.Floor(4*(1-s) + 1e-9)
}

// Grade derives the ISO/IEC 15415 parameter grades of one scan: DEC from
// whether it decoded, SC from the measured image contrast, everything else
// A unless a defect degrades it (defect kinds "contrast", "missing-dots",
// "smear", or a parameter name like "MOD" directly). The lowest grade per
// parameter wins.
func Grade(decoded bool, contrast float64, defects []Defect) grade.Scan {
	s := grade.Scan{grade.DEC: 0, grade.SC: grade.ContrastGrade(contrast), grade.MOD: 4, grade.RM: 4,
		grade.FPD: 4, grade.AN: 4, grade.GN: 4, grade.UEC: 4}
	if decoded {
		s[grade.DEC] = 4
	}
	lower := func(p grade.Param, v float64) {
		v = math.Max(0, math.Min(4, v))
		if cur, ok := s[p]; !ok || v < cur {
			s[p] = v
		}
	}
	for _, d := range defects {
		g := severityGrade(d.Severity)
		if m, ok := defectParams[strings.ToLower(d.Kind)]; ok {
			for _, e := range m {
				lower(e.p, g+e.off)
			}
			continue
		}
		if p, err := grade.ParseParam(d.Kind); err == nil && p != grade.Overall {
			lower(p, g)
		}
	}
	return s
}
