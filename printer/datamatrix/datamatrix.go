// Package datamatrix renders Data Matrix ECC 200 symbols, in particular GS1
// DataMatrix (FNC1 in the first position), as module matrices, images, PNG,
// 1-bit bitmaps and zint-style dumps.
//
// Square ECC 200 sizes 10×10 … 144×144 are supported. Rectangular sizes
// (8×18 … 16×48) and DMRE are not yet supported.
//
// What comes from github.com/boombuler/barcode: the GF(256) arithmetic
// (utils.NewGaloisField with the ECC 200 polynomial 0x12D) from which our
// Reed–Solomon tables are built; its own Data Matrix encoder is used in the
// tests as an independent reference for the ASCII path. What is ours: the
// codeword encodation (ASCII with digit pairs, C40, Text and EDIFACT, chosen
// by a shortest-path search with the end-of-symbol rules; FNC1 as first
// codeword and as separator), the interleaved Reed–Solomon blocks (built on
// boombuler's field tables), module placement, symbol assembly and all
// output formats. X12 and Base 256 encodation are not used. boombuler's encoder only has ASCII encodation, has no way
// to pass prebuilt codewords, and keeps placement unexported.
package datamatrix

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"sync"

	"github.com/serialine/serialine/printer/gs1"
)

// Symbol is an encoded Data Matrix symbol: its module matrix without quiet zone.
type Symbol struct {
	// Rows and Cols are the symbol's size in modules (equal: square only).
	Rows, Cols int
	// DataCodewords is the symbol's data capacity in codewords.
	DataCodewords int
	// UsedCodewords is how many of them the data took (the rest is padding).
	UsedCodewords int
	// ECCCodewords is the number of Reed–Solomon codewords.
	ECCCodewords int
	mods         []byte // Rows*Cols, 1 = dark
}

// Module reports whether the module at (row, col) is dark. Out of range is light.
func (s *Symbol) Module(row, col int) bool {
	if row < 0 || col < 0 || row >= s.Rows || col >= s.Cols {
		return false
	}
	return s.mods[row*s.Cols+col] != 0
}

// Options control rendering.
type Options struct {
	// QuietZone is the light margin around the symbol in modules; values
	// below 1 are raised to 1 (ISO/IEC 16022 asks for at least one module).
	QuietZone int
	// ModuleDots is the size of one module in printer dots (pixels). When 0
	// it is derived from DPI and ModuleMM, else it defaults to 4.
	ModuleDots int
	// DPI is the printer resolution in dots per inch, used with ModuleMM.
	DPI int
	// ModuleMM is the wanted module (X-dimension) size in millimetres, used
	// with DPI; the dot count is rounded to the nearest whole dot (min 1).
	ModuleMM float64
}

// ModuleSize returns the module size in dots the options resolve to.
func (o Options) ModuleSize() int {
	if o.ModuleDots > 0 {
		return o.ModuleDots
	}
	if o.DPI > 0 && o.ModuleMM > 0 {
		d := int(float64(o.DPI)*o.ModuleMM/25.4 + 0.5)
		if d < 1 {
			d = 1
		}
		return d
	}
	return 4
}

func (o Options) quiet() int {
	if o.QuietZone < 1 {
		return 1
	}
	return o.QuietZone
}

// Encoder encodes symbols reusing its buffers: use one per goroutine for
// allocation-light batch work. The zero value is not ready; use NewEncoder.
type Encoder struct {
	enc     *encoder
	rs      *rsTables
	in      []int
	cw      []byte
	scratch []byte
	place   placement
}

var (
	rsOnce   sync.Once
	rsShared *rsTables
)

// sharedRS returns the read-only Reed–Solomon tables, built once.
func sharedRS() *rsTables {
	rsOnce.Do(func() { rsShared = newRSTables() })
	return rsShared
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	return &Encoder{enc: newEncoder(), rs: sharedRS()}
}

// Encode encodes data. With gs1 set, the first codeword is FNC1 and every
// GS (0x1D) in data is encoded as FNC1 (a GS1 separator); data must then be
// an element string without leading FNC1.
func Encode(data string, gs1 bool) (*Symbol, error) {
	return NewEncoder().Encode(data, gs1)
}

// EncodeGS1 encodes a GS1 message as GS1 DataMatrix.
func EncodeGS1(m gs1.Message) (*Symbol, error) {
	return NewEncoder().Encode(m.ElementString(), true)
}

// Encode is Encode reusing e's buffers. The returned Symbol is new.
func (e *Encoder) Encode(data string, isGS1 bool) (*Symbol, error) {
	s := &Symbol{}
	if err := e.EncodeInto(s, data, isGS1); err != nil {
		return nil, err
	}
	return s, nil
}

// EncodeInto encodes data into s, reusing s's module buffer.
func (e *Encoder) EncodeInto(s *Symbol, data string, isGS1 bool) error {
	in := e.in[:0]
	if isGS1 {
		in = append(in, fnc1)
	}
	for i := 0; i < len(data); i++ {
		c := int(data[i])
		if isGS1 && c == 0x1d {
			c = fnc1
		}
		in = append(in, c)
	}
	e.in = in
	cw, si := e.enc.codewords(in)
	if si < 0 {
		return fmt.Errorf("%w (%d input characters)", ErrTooLong, len(data))
	}
	sz := &sizes[si]
	used := len(cw)
	buf := append(e.cw[:0], cw...)
	// padding (ISO/IEC 16022 5.2.3): 129, then 253-state randomised pads
	if len(buf) < sz.dataCW {
		buf = append(buf, cwPad)
	}
	for len(buf) < sz.dataCW {
		r := ((149 * (len(buf) + 1)) % 253) + 1
		p := cwPad + r
		if p > 254 {
			p -= 254
		}
		buf = append(buf, byte(p))
	}
	buf = e.rs.addECC(buf, sz, e.scratch)
	e.cw = buf
	e.layout(s, sz, buf)
	s.DataCodewords = sz.dataCW
	s.ECCCodewords = sz.eccCW
	s.UsedCodewords = used
	return nil
}

func (e *Encoder) layout(s *Symbol, sz *size, cw []byte) {
	n := sz.regionSide * sz.regions // mapping matrix side
	p := &e.place
	p.nrow, p.ncol = n, n
	if cap(p.m) < n*n {
		p.m = make([]byte, n*n)
	}
	p.m = p.m[:n*n]
	for i := range p.m {
		p.m[i] = 0
	}
	p.cw = cw
	p.run()
	side := sz.rows
	s.Rows, s.Cols = side, side
	if cap(s.mods) < side*side {
		s.mods = make([]byte, side*side)
	}
	s.mods = s.mods[:side*side]
	rs := sz.regionSide
	for r := 0; r < side; r++ {
		rr := r % (rs + 2)
		for c := 0; c < side; c++ {
			cc := c % (rs + 2)
			var v byte
			switch {
			case rr == rs+1: // bottom edge of a region: solid
				v = 1
			case rr == 0: // top edge: alternating, dark at even columns
				v = byte(1 - c%2)
			case cc == 0: // left edge: solid
				v = 1
			case cc == rs+1: // right edge: alternating, dark at odd rows
				v = byte(r % 2)
			default:
				mr := (r/(rs+2))*rs + rr - 1
				mc := (c/(rs+2))*rs + cc - 1
				v = p.m[mr*n+mc] & 1
			}
			s.mods[r*side+c] = v
		}
	}
}

// Image renders the symbol with its quiet zone at o's module size.
func (s *Symbol) Image(o Options) image.Image {
	return s.Bitmap(o).toGray()
}

// PNG writes the symbol as a 1-bit grey PNG.
func (s *Symbol) PNG(w io.Writer, o Options) error {
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, s.Bitmap(o))
}

// Bitmap is a 1-bit image, rows packed MSB first, 1 = dark (printer dot on).
// It implements image.Image (black on white).
type Bitmap struct {
	Width, Height int
	Stride        int // bytes per row
	Bits          []byte
}

// Dot reports whether the dot at (x, y) is dark.
func (b *Bitmap) Dot(x, y int) bool {
	if x < 0 || y < 0 || x >= b.Width || y >= b.Height {
		return false
	}
	return b.Bits[y*b.Stride+x/8]&(0x80>>uint(x%8)) != 0
}

// ColorModel implements image.Image.
func (b *Bitmap) ColorModel() color.Model { return color.GrayModel }

// Bounds implements image.Image.
func (b *Bitmap) Bounds() image.Rectangle { return image.Rect(0, 0, b.Width, b.Height) }

// At implements image.Image.
func (b *Bitmap) At(x, y int) color.Color {
	if b.Dot(x, y) {
		return color.Gray{Y: 0}
	}
	return color.Gray{Y: 255}
}

func (b *Bitmap) toGray() *image.Gray {
	g := image.NewGray(image.Rect(0, 0, b.Width, b.Height))
	for y := 0; y < b.Height; y++ {
		row := g.Pix[y*g.Stride : y*g.Stride+b.Width]
		for x := range row {
			if b.Bits[y*b.Stride+x/8]&(0x80>>uint(x%8)) != 0 {
				row[x] = 0
			} else {
				row[x] = 255
			}
		}
	}
	return g
}

// Bitmap renders the symbol with quiet zone into a packed 1-bit bitmap.
func (s *Symbol) Bitmap(o Options) *Bitmap {
	q := o.quiet()
	d := o.ModuleSize()
	w := (s.Cols + 2*q) * d
	h := (s.Rows + 2*q) * d
	stride := (w + 7) / 8
	b := &Bitmap{Width: w, Height: h, Stride: stride, Bits: make([]byte, stride*h)}
	for r := 0; r < s.Rows; r++ {
		y0 := (r + q) * d
		row := b.Bits[y0*stride : (y0+1)*stride]
		for c := 0; c < s.Cols; c++ {
			if s.mods[r*s.Cols+c] == 0 {
				continue
			}
			x0 := (c + q) * d
			for x := x0; x < x0+d; x++ {
				row[x/8] |= 0x80 >> uint(x%8)
			}
		}
		for k := 1; k < d; k++ {
			copy(b.Bits[(y0+k)*stride:(y0+k+1)*stride], row)
		}
	}
	return b
}

// Dump writes the module matrix as rows of '0'/'1' (no quiet zone), one row
// per line, like `zint --dump` shows the matrix (zint itself writes hex; see
// DumpHex).
func (s *Symbol) Dump(w io.Writer) error {
	_, err := w.Write(s.AppendDump(nil))
	return err
}

// AppendDump appends the Dump text to b.
func (s *Symbol) AppendDump(b []byte) []byte {
	for r := 0; r < s.Rows; r++ {
		for _, v := range s.mods[r*s.Cols : (r+1)*s.Cols] {
			b = append(b, '0'+v)
		}
		b = append(b, '\n')
	}
	return b
}

// DumpHex writes the matrix exactly as `zint --dump` 2.11 does: each row as
// hex bytes (8 modules, MSB first) separated by spaces, a last partial group
// as as many hex digits as needed.
func (s *Symbol) DumpHex(w io.Writer) error {
	_, err := w.Write(s.AppendDumpHex(nil))
	return err
}

// AppendDumpHex appends the DumpHex text to b.
func (s *Symbol) AppendDumpHex(b []byte) []byte {
	const hex = "0123456789ABCDEF"
	for r := 0; r < s.Rows; r++ {
		row := s.mods[r*s.Cols : (r+1)*s.Cols]
		for c := 0; c < len(row); c += 8 {
			if c > 0 {
				b = append(b, ' ')
			}
			var v byte
			n := len(row) - c
			if n > 8 {
				n = 8
			}
			for k := 0; k < 8; k++ {
				v <<= 1
				if k < n {
					v |= row[c+k]
				}
			}
			b = append(b, hex[v>>4])
			if n > 4 {
				b = append(b, hex[v&15])
			}
		}
		b = append(b, '\n')
	}
	return b
}
