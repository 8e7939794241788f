package printer_test

import (
	"image"
	"image/color"
	"testing"

	"github.com/serialine/serialine/printer"
)

func TestBitmap(t *testing.T) {
	img := image.NewGray(image.Rect(10, 20, 19, 22)) // offset bounds, 9x2
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	img.SetGray(10, 20, color.Gray{Y: 0})
	img.SetGray(18, 21, color.Gray{Y: 100})
	img.SetGray(11, 20, color.Gray{Y: 200})
	b := printer.ToBitmap(img)
	if b.Width != 9 || b.Height != 2 || b.Stride != 2 || len(b.Bits) != 4 {
		t.Fatalf("size %+v", b)
	}
	if !b.Dot(0, 0) || !b.Dot(8, 1) || b.Dot(1, 0) || b.Dot(-1, 0) || b.Dot(9, 0) {
		t.Errorf("dots % x", b.Bits)
	}
	if got := b.Bits; got[0] != 0x80 || got[3] != 0x80 {
		t.Errorf("packing % x, want MSB first", got)
	}
	g := b.Image()
	if g.GrayAt(0, 0).Y != 0 || g.GrayAt(1, 0).Y != 255 || g.GrayAt(8, 1).Y != 0 {
		t.Error("Image does not render the dots")
	}
	// A 1-bit image (anything with Dot) is copied dot for dot.
	c := printer.ToBitmap(b.Image())
	d := printer.ToBitmap(dotImage{b})
	if string(c.Bits) != string(b.Bits) || string(d.Bits) != string(b.Bits) {
		t.Error("round trip changed the dots")
	}
	b.Set(0, 0, false)
	if b.Dot(0, 0) {
		t.Error("Set false")
	}
}

type dotImage struct{ b *printer.Bitmap }

func (d dotImage) ColorModel() color.Model { return color.GrayModel }
func (d dotImage) Bounds() image.Rectangle { return image.Rect(0, 0, d.b.Width, d.b.Height) }
func (d dotImage) At(x, y int) color.Color { return d.b.Image().At(x, y) }
func (d dotImage) Dot(x, y int) bool       { return d.b.Dot(x, y) }

func TestStrings(t *testing.T) {
	ev := printer.Event{Kind: printer.PrintComplete, RecordID: "SN1", Counter: 3, Code: "C", Text: "t"}
	if got := ev.String(); got != `print-complete record=SN1 counter=3 code=C text="t"` {
		t.Errorf("Event.String: %s", got)
	}
	if printer.EventKind(99).String() != "EventKind(99)" || printer.Result(9).String() != "Result(9)" || printer.Alarm(9).String() != "Alarm(9)" {
		t.Error("out-of-range names")
	}
	o := printer.Outcome{Serial: "SN1", Result: printer.ResultUncertain, Cause: printer.CauseDisconnect, Alarm: printer.AlarmHold, Detail: "gone"}
	if got := o.String(); got != "disconnect serial=SN1 -> uncertain alarm=hold: gone" {
		t.Errorf("Outcome.String: %s", got)
	}
}
