package camerasim

import (
	"image"
	"image/color"
	"image/draw"
)

// withQuietZone returns img on a white canvas with q pixels of margin.
func withQuietZone(img image.Image, q int) image.Image {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx()+2*q, b.Dy()+2*q))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(q, q, q+b.Dx(), q+b.Dy()), img, b.Min, draw.Src)
	return out
}

// Fade returns a copy of img with its dark parts lightened: every pixel's
// luminance l becomes l + (255−l)·amount. Used to simulate a low-contrast
// print (amount 0 = unchanged, 1 = blank).
func Fade(img image.Image, amount float64) image.Image {
	b := img.Bounds()
	out := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			l := float64(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
			out.SetGray(x, y, color.Gray{Y: uint8(l + (255-l)*amount + 0.5)})
		}
	}
	return out
}
