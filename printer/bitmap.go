package printer

import (
	"image"
	"image/color"
)

// Bitmap is a 1-bit image as printers take it: rows of Stride bytes, most
// significant bit first, a set bit is a printed (dark) dot. It is the
// bitmap path for printers that print images rather than their own
// symbology (ZPL ^GF, TIJ image download).
type Bitmap struct {
	Width, Height int
	Stride        int // bytes per row: (Width+7)/8
	Bits          []byte
}

// NewBitmap returns a blank (all white) bitmap.
func NewBitmap(w, h int) *Bitmap {
	stride := (w + 7) / 8
	return &Bitmap{Width: w, Height: h, Stride: stride, Bits: make([]byte, stride*h)}
}

// Dot reports whether the dot at (x, y) is printed.
func (b *Bitmap) Dot(x, y int) bool {
	if x < 0 || y < 0 || x >= b.Width || y >= b.Height {
		return false
	}
	return b.Bits[y*b.Stride+x/8]&(0x80>>(x%8)) != 0
}

// Set prints (or clears) the dot at (x, y).
func (b *Bitmap) Set(x, y int, dark bool) {
	if x < 0 || y < 0 || x >= b.Width || y >= b.Height {
		return
	}
	i, m := y*b.Stride+x/8, byte(0x80>>(x%8))
	if dark {
		b.Bits[i] |= m
	} else {
		b.Bits[i] &^= m
	}
}

// ToBitmap thresholds img at mid-grey: darker pixels become printed dots.
// The image is used at its own resolution: render the symbol at the
// printer's DPI first (datamatrix Options.DPI/ModuleDots).
func ToBitmap(img image.Image) *Bitmap {
	r := img.Bounds()
	b := NewBitmap(r.Dx(), r.Dy())
	if d, ok := img.(interface{ Dot(x, y int) bool }); ok && r.Min == (image.Point{}) {
		// A 1-bit image already (datamatrix.Bitmap): copy the dots.
		for y := 0; y < r.Dy(); y++ {
			for x := 0; x < r.Dx(); x++ {
				if d.Dot(x, y) {
					b.Set(x, y, true)
				}
			}
		}
		return b
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			g := color.GrayModel.Convert(img.At(x, y)).(color.Gray)
			if g.Y < 128 {
				b.Set(x-r.Min.X, y-r.Min.Y, true)
			}
		}
	}
	return b
}

// Image renders b as a grey image (printed dots black, the rest white).
func (b *Bitmap) Image() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, b.Width, b.Height))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := 0; y < b.Height; y++ {
		for x := 0; x < b.Width; x++ {
			if b.Dot(x, y) {
				img.Pix[y*img.Stride+x] = 0
			}
		}
	}
	return img
}
