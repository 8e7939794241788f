package printersim

import (
	"image"
	"image/draw"
	"math/rand/v2"

	"github.com/serialine/serialine/printer/datamatrix"
)

// RenderOptions returns the module size and quiet zone DefaultRender
// uses: 4 dots per module (a 0.34 mm module at 300 dpi) and a 2-module
// quiet zone.
func RenderOptions() datamatrix.Options { return datamatrix.Options{ModuleDots: 4, QuietZone: 2} }

// DefaultRender encodes an element string (GS-separated, no leading FNC1)
// as a GS1 DataMatrix with printer/datamatrix and renders it.
func DefaultRender(data string) (image.Image, error) {
	sym, err := datamatrix.Encode(data, true)
	if err != nil {
		return nil, err
	}
	return sym.Image(RenderOptions()), nil
}

// ApplyDefects returns img with the print defects applied (img itself when
// there are none). seed makes the damage reproducible.
//   - contrast: dark dots print lighter, the substrate darker (severity 1:
//     almost no contrast left);
//   - missing-dots: whole dot rows stay blank (blocked nozzles), a
//     fraction of 0.4*severity of the rows;
//   - smear: ink drags to the right by up to 1+8*severity dots.
func ApplyDefects(img image.Image, defects []Defect, seed uint64) image.Image {
	if len(defects) == 0 || img == nil {
		return img
	}
	b := img.Bounds()
	g := image.NewGray(b)
	draw.Draw(g, b, img, b.Min, draw.Src)
	rnd := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	for _, d := range defects {
		sev := min(max(d.Severity, 0), 1)
		switch d.Kind {
		case DefectContrast:
			dark := uint8(180 * sev)
			light := uint8(255 - 55*sev)
			for i, v := range g.Pix {
				if v < 128 {
					g.Pix[i] = max(v, dark)
				} else {
					g.Pix[i] = min(v, light)
				}
			}
		case DefectMissingDots:
			for y := b.Min.Y; y < b.Max.Y; y++ {
				if rnd.Float64() >= 0.4*sev {
					continue
				}
				row := g.Pix[(y-b.Min.Y)*g.Stride : (y-b.Min.Y)*g.Stride+b.Dx()]
				for i := range row {
					row[i] = 255
				}
			}
		case DefectSmear:
			k := 1 + int(8*sev)
			for y := 0; y < b.Dy(); y++ {
				row := g.Pix[y*g.Stride : y*g.Stride+b.Dx()]
				src := append([]uint8(nil), row...)
				for x := range row {
					for j := 1; j <= k && x-j >= 0; j++ {
						if src[x-j] < 128 {
							row[x] = min(row[x], uint8(90+120*j/(k+1)))
						}
					}
				}
			}
		}
	}
	return g
}
