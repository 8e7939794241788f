package labelsim

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"strconv"
	"strings"

	"github.com/boombuler/barcode/code128"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/serialine/serialine/printer/datamatrix"
	"github.com/serialine/serialine/printer/gs1"
	"github.com/serialine/serialine/printer/zpl"
)

// field is one ZPL field: what ^FO … ^FS defines.
type field struct {
	x, y     int
	kind     byte // 'T' text, 'C' Code 128, 'X' DataMatrix, 'B' box
	params   []string
	module   int // ^BY module width
	fn       int // ^FN placeholder (-1 none)
	data     string
	hexEsc   byte // ^FH escape (0 none)
	fontH    int
	fontW    int
	boxW     int
	boxH     int
	boxThick int
}

// layout is a parsed label (or stored format): size and fields.
type layout struct {
	width, length int
	fields        []field
}

func params(s string) []string { return strings.Split(s, ",") }

func atoi(s string, def int) int {
	if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return v
	}
	return def
}

func param(p []string, i int) string {
	if i < len(p) {
		return strings.TrimSpace(p[i])
	}
	return ""
}

// parse reads the commands of one ^XA…^XZ body into a layout. Unknown
// commands are ignored (as a printer ignores what it does not support).
func parse(cmds []zpl.Cmd) (layout, error) {
	l := layout{width: 812, length: 1218}
	cur := field{fn: -1}
	module := 2
	fontH, fontW := 30, 30
	for _, c := range cmds {
		switch c.Name {
		case "PW":
			l.width = atoi(c.Params, l.width)
		case "LL":
			l.length = atoi(c.Params, l.length)
		case "FO":
			p := params(c.Params)
			cur.x, cur.y = atoi(param(p, 0), 0), atoi(param(p, 1), 0)
		case "BY":
			module = atoi(param(params(c.Params), 0), module)
		case "A0", "A@":
			p := params(c.Params)
			if len(c.Params) > 0 && (c.Params[0] == 'N' || c.Params[0] == 'R' || c.Params[0] == 'I' || c.Params[0] == 'B') {
				fontH, fontW = atoi(param(p, 1), fontH), atoi(param(p, 2), fontW)
			}
			cur.kind = 'T'
		case "BC":
			cur.kind, cur.params = 'C', params(c.Params)
		case "BX":
			cur.kind, cur.params = 'X', params(c.Params)
		case "GB":
			p := params(c.Params)
			cur.kind, cur.boxW, cur.boxH, cur.boxThick = 'B', atoi(param(p, 0), 1), atoi(param(p, 1), 1), atoi(param(p, 2), 1)
		case "FN":
			cur.fn = atoi(c.Params, -1)
		case "FH":
			cur.hexEsc = '_'
			if c.Params != "" {
				cur.hexEsc = c.Params[0]
			}
		case "FD":
			cur.data = c.Params
		case "FS":
			if cur.kind == 0 {
				cur.kind = 'T'
			}
			cur.module, cur.fontH, cur.fontW = module, fontH, fontW
			l.fields = append(l.fields, cur)
			cur = field{fn: -1}
		}
	}
	return l, nil
}

// render draws the layout with the recalled field values.
func render(l layout, values map[int]string) (*image.Gray, error) {
	img := image.NewGray(image.Rect(0, 0, l.width, l.length))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, f := range l.fields {
		data := f.data
		if f.fn >= 0 {
			v, ok := values[f.fn]
			if !ok {
				continue // no value recalled: the field prints nothing
			}
			data = v
		}
		if f.hexEsc != 0 {
			d, err := zpl.UnescapeFH(data, f.hexEsc)
			if err != nil {
				return nil, err
			}
			data = d
		}
		var err error
		switch f.kind {
		case 'T':
			drawText(img, f.x, f.y, f.fontH, data)
		case 'B':
			drawBox(img, f.x, f.y, f.boxW, f.boxH, f.boxThick)
		case 'C':
			err = drawCode128(img, f, data)
		case 'X':
			err = drawDataMatrix(img, f, data)
		}
		if err != nil {
			return nil, fmt.Errorf("field at %d,%d: %w", f.x, f.y, err)
		}
	}
	return img, nil
}

// fill blackens r (direct pixel writes: labels are big, fields many).
func fill(img *image.Gray, r image.Rectangle) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Pix[(y-img.Rect.Min.Y)*img.Stride:]
		for x := r.Min.X; x < r.Max.X; x++ {
			row[x-img.Rect.Min.X] = 0
		}
	}
}

func drawBox(img *image.Gray, x, y, w, h, t int) {
	if t*2 >= h || t*2 >= w {
		fill(img, image.Rect(x, y, x+w, y+h))
		return
	}
	fill(img, image.Rect(x, y, x+w, y+t))
	fill(img, image.Rect(x, y+h-t, x+w, y+h))
	fill(img, image.Rect(x, y, x+t, y+h))
	fill(img, image.Rect(x+w-t, y, x+w, y+h))
}

// drawText renders s with the 7×13 bitmap font scaled to height h dots
// (ZPL font 0 is scalable; a bitmap face is enough for a human to read
// the label image and for nothing else to depend on).
func drawText(img *image.Gray, x, y, h int, s string) {
	face := basicfont.Face7x13
	w := font.MeasureString(face, s).Ceil()
	if w == 0 {
		return
	}
	small := image.NewGray(image.Rect(0, 0, w, 13))
	draw.Draw(small, small.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	d := font.Drawer{Dst: small, Src: image.NewUniform(color.Black), Face: face, Dot: fixed.P(0, 11)}
	d.DrawString(s)
	scale := max(1, h/13)
	for sy := 0; sy < 13; sy++ {
		for sx := 0; sx < w; sx++ {
			if small.GrayAt(sx, sy).Y < 128 {
				fill(img, image.Rect(x+sx*scale, y+sy*scale, x+(sx+1)*scale, y+(sy+1)*scale))
			}
		}
	}
}

// code128Content turns ^BC field data into Code 128 content: mode D
// (UCC/EAN) takes bracketed AIs and starts with FNC1, FNC1 separating
// variable-length AIs; otherwise ">8" is FNC1 and the other ">" invocation
// codes (start/switch code sets) are left to the encoder.
func code128Content(mode, data string) (string, error) {
	if mode == "D" {
		m, err := gs1.ParseBracketed(data)
		if err != nil {
			return "", fmt.Errorf("^BC mode D data %q: %w", data, err)
		}
		return string(code128.FNC1) + strings.ReplaceAll(m.ElementString(), "\x1d", string(code128.FNC1)), nil
	}
	var b strings.Builder
	for i := 0; i < len(data); i++ {
		if data[i] == '>' && i+1 < len(data) {
			i++
			switch data[i] {
			case '8':
				b.WriteRune(code128.FNC1)
			case '>':
				b.WriteByte('>')
			}
			continue
		}
		b.WriteByte(data[i])
	}
	return b.String(), nil
}

func drawCode128(img *image.Gray, f field, data string) error {
	// ^BCo,h,f,g,e,m
	h := atoi(param(f.params, 1), 100)
	content, err := code128Content(strings.ToUpper(param(f.params, 5)), data)
	if err != nil {
		return err
	}
	bc, err := code128.Encode(content)
	if err != nil {
		return fmt.Errorf("code 128 %q: %w", data, err)
	}
	n := bc.Bounds().Dx()
	mw := max(1, f.module)
	for i := 0; i < n; i++ {
		if r, _, _, _ := bc.At(i, 0).RGBA(); r == 0 {
			fill(img, image.Rect(f.x+i*mw, f.y, f.x+(i+1)*mw, f.y+h))
		}
	}
	if strings.ToUpper(param(f.params, 2)) == "Y" {
		drawText(img, f.x, f.y+h+6, 26, data)
	}
	return nil
}

func drawDataMatrix(img *image.Gray, f field, data string) error {
	// ^BXo,h,s,c,r,f,g,a: h module size in dots, g escape character
	h := max(1, atoi(param(f.params, 1), 4))
	esc := param(f.params, 6)
	isGS1 := false
	if esc != "" {
		e := esc[0]
		var b strings.Builder
		for i := 0; i < len(data); i++ {
			if data[i] == e && i+1 < len(data) && data[i+1] == '1' {
				if b.Len() == 0 {
					isGS1 = true
				} else {
					b.WriteByte(0x1d)
				}
				i++
				continue
			}
			b.WriteByte(data[i])
		}
		data = b.String()
	}
	sym, err := datamatrix.Encode(data, isGS1)
	if err != nil {
		return fmt.Errorf("datamatrix %q: %w", data, err)
	}
	sm := sym.Image(datamatrix.Options{ModuleDots: h, QuietZone: 1})
	b := sm.Bounds()
	draw.Draw(img, image.Rect(f.x, f.y, f.x+b.Dx(), f.y+b.Dy()).Intersect(img.Bounds()), sm, b.Min, draw.Src)
	return nil
}
