// Package casecam is a simulated aggregation camera: it looks into a
// closed case (or one layer of it) from above and reads every pack's code
// in ONE image. Like vision/camerasim it is a real device on the wire: the
// result goes out over Cognex DMCC or Keyence SR (camerasim's protocol
// server) as one multi-read result line (vision/multiread). The image is
// real too: Compose lays the packs' printed symbols (as the printer
// simulator rendered them, print defects included) out in the case's grid,
// faults change the picture (a flap hides a pack, a crushed pack damages
// its code, a pack lies in the case twice …), and DecodeAll finds each
// symbol by splitting the image into regions and decodes it with gozxing.
// What the camera reports is what it could decode, never the list it was
// given.
package casecam

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"

	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/multiread"
	"github.com/serialine/serialine/vision/pattern"
)

// Canvas is the case floor: white, so a symbol region is any pixel darker.
const canvasWhite = 255

// Compose lays symbols out in a grid of cols columns with gutter pixels of
// case floor between and around them (cols <= 0: a square-ish grid).
func Compose(symbols []image.Image, cols, gutter int) *image.Gray {
	if cols <= 0 {
		cols = 1
		for cols*cols < len(symbols) {
			cols++
		}
	}
	if gutter <= 0 {
		gutter = 12
	}
	cw, ch := 0, 0
	for _, s := range symbols {
		if s == nil {
			continue
		}
		cw, ch = max(cw, s.Bounds().Dx()), max(ch, s.Bounds().Dy())
	}
	rows := (len(symbols) + cols - 1) / cols
	out := image.NewGray(image.Rect(0, 0, gutter+cols*(cw+gutter), gutter+max(rows, 1)*(ch+gutter)))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Gray{canvasWhite}), image.Point{}, draw.Src)
	for i, s := range symbols {
		if s == nil {
			continue
		}
		x, y := gutter+(i%cols)*(cw+gutter), gutter+(i/cols)*(ch+gutter)
		b := s.Bounds()
		draw.Draw(out, image.Rect(x, y, x+b.Dx(), y+b.Dy()), s, b.Min, draw.Src)
	}
	return out
}

// Regions splits an image into the rectangles holding something darker
// than the case floor: bands of rows, then runs of columns within each
// band, each grown by margin pixels.
func Regions(img *image.Gray, margin int) []image.Rectangle {
	b := img.Bounds()
	dark := func(x, y int) bool { return img.Pix[(y-b.Min.Y)*img.Stride+(x-b.Min.X)] < canvasWhite-5 }
	var out []image.Rectangle
	rowHas := func(y, x0, x1 int) bool {
		for x := x0; x < x1; x++ {
			if dark(x, y) {
				return true
			}
		}
		return false
	}
	for y := b.Min.Y; y < b.Max.Y; {
		if !rowHas(y, b.Min.X, b.Max.X) {
			y++
			continue
		}
		y0 := y
		for y < b.Max.Y && rowHas(y, b.Min.X, b.Max.X) {
			y++
		}
		y1 := y
		for x := b.Min.X; x < b.Max.X; {
			col := false
			for yy := y0; yy < y1 && !col; yy++ {
				col = dark(x, yy)
			}
			if !col {
				x++
				continue
			}
			x0 := x
			for x < b.Max.X {
				col = false
				for yy := y0; yy < y1 && !col; yy++ {
					col = dark(x, yy)
				}
				if !col {
					break
				}
				x++
			}
			out = append(out, image.Rect(x0-margin, y0-margin, x+margin, y1+margin).Intersect(b))
		}
	}
	return out
}

// DecodeAll decodes every DataMatrix symbol it finds in img: one region
// per symbol (Regions), each decoded with gozxing; regions that do not
// decode are counted in failed.
func DecodeAll(img image.Image) (codes []multiread.Code, failed int) {
	g, ok := img.(*image.Gray)
	if !ok {
		g = image.NewGray(img.Bounds())
		draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
	}
	for _, r := range Regions(g, 4) {
		d, err := camerasim.Decode(g.SubImage(r))
		if err != nil {
			failed++
			continue
		}
		codes = append(codes, multiread.Code{Data: d.Data, SymbologyID: d.SymbologyID})
	}
	return codes, failed
}

// DecodeLinear reads a GS1-128 (or plain Code 128) barcode from a label
// image with gozxing: data with FNC1 separators as GS, symbology id "]C1"
// for GS1-128.
func DecodeLinear(img image.Image) (data, symID string, err error) {
	if img == nil {
		return "", "", errors.New("casecam: no label")
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", "", err
	}
	res, err := oned.NewCode128Reader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_ASSUME_GS1: true, gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		return "", "", err
	}
	data = res.GetText()
	if strings.HasPrefix(data, "]C1") {
		return data[3:], "]C1", nil
	}
	return data, "]C0", nil
}

// FaultKind is a fault of the next case image.
type FaultKind string

// Fault kinds.
const (
	FaultHide      FaultKind = "hide"      // N packs hidden (a flap over them): codes missing
	FaultDamage    FaultKind = "damage"    // N packs' codes damaged (crushed, torn): codes missing
	FaultDuplicate FaultKind = "duplicate" // one pack's code seen twice
	FaultForeign   FaultKind = "foreign"   // Image (a foreign pack) lies in the case too
	FaultNoRead    FaultKind = "no-read"   // the camera sees nothing (lighting failed)
)

// Fault changes the next case image.
type Fault struct {
	Kind  FaultKind
	N     int         // hide, damage: how many (default 1)
	Image image.Image // foreign: the extra pack's symbol
}

// Options configure a Server.
type Options struct {
	// Protocol is camerasim.DMCC (default) or camerasim.Keyence.
	Protocol camerasim.Protocol
	// Addr is the listen address (default "127.0.0.1:0").
	Addr string
	// Format is the multi-read line layout; keep it equal to the driver's.
	Format multiread.Config
	// Columns of the case grid (0: square-ish).
	Columns int
	// Latency delays every result.
	Latency time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
}

// Shot is what the camera made of one case.
type Shot struct {
	Image  *image.Gray
	Codes  []multiread.Code
	Failed int // regions that did not decode
	Line   string
}

// Server is a running simulated aggregation camera.
type Server struct {
	o      Options
	format *multiread.Format
	cam    *camerasim.Server

	mu     sync.Mutex
	faults []Fault
	last   *Shot
}

// New starts the camera.
func New(o Options) (*Server, error) {
	if err := o.Format.Validate().Err(); err != nil {
		return nil, fmt.Errorf("casecam: format: %w", err)
	}
	f := multiread.New(o.Format)
	pf, err := pattern.Compile(pattern.Options{Pattern: "{data}", NoRead: f.NoReadLine(), Source: "casecam"})
	if err != nil {
		return nil, err
	}
	cam, err := camerasim.New(camerasim.Options{Protocol: o.Protocol, Addr: o.Addr, Format: pf, Latency: o.Latency,
		NoSymbologyID: true, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return &Server{o: o, format: f, cam: cam}, nil
}

// Addr is the camera's address.
func (s *Server) Addr() string { return s.cam.Addr() }

// Camera is the protocol server (connections, stats).
func (s *Server) Camera() *camerasim.Server { return s.cam }

// Inject queues a fault for the next case.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// Last returns the last case shot (nil before the first).
func (s *Server) Last() *Shot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Close stops the camera.
func (s *Server) Close() error { return s.cam.Close() }

// Shoot takes the picture of one case whose packs carry symbols (nil: a
// blank pack), decodes it and sends the result.
func (s *Server) Shoot(symbols []image.Image) Shot {
	s.mu.Lock()
	var f *Fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()
	syms := append([]image.Image(nil), symbols...)
	var hide, damage map[int]bool
	if f != nil {
		n := max(f.N, 1)
		switch f.Kind {
		case FaultHide:
			hide = spread(len(syms), n)
		case FaultDamage:
			damage = spread(len(syms), n)
		case FaultDuplicate:
			if len(syms) > 0 {
				syms = append(syms, syms[len(syms)/2])
			}
		case FaultForeign:
			syms = append(syms, f.Image)
		}
	}
	for i := range syms {
		switch {
		case hide[i]:
			syms[i] = nil
		case damage[i] && syms[i] != nil:
			syms[i] = Damage(syms[i])
		}
	}
	img := Compose(syms, s.o.Columns, 12)
	sh := Shot{Image: img}
	if f == nil || f.Kind != FaultNoRead {
		sh.Codes, sh.Failed = DecodeAll(img)
	}
	sh.Line = s.format.Render(sh.Codes)
	s.mu.Lock()
	s.last = &sh
	s.mu.Unlock()
	s.cam.Send(vision.Result{Data: sh.Line, NoRead: len(sh.Codes) == 0})
	return sh
}

// spread picks n of size indexes, spread over the case.
func spread(size, n int) map[int]bool {
	out := map[int]bool{}
	if size == 0 {
		return out
	}
	for i := range min(n, size) {
		out[(i*size/max(n, 1)+size/3)%size] = true
	}
	return out
}

// Damage returns a copy of a symbol with a torn-off corner and a crease
// through its middle: the finder pattern and a third of the modules gone.
func Damage(img image.Image) image.Image {
	b := img.Bounds()
	out := image.NewGray(b)
	draw.Draw(out, b, img, b.Min, draw.Src)
	w, h := b.Dx(), b.Dy()
	draw.Draw(out, image.Rect(b.Min.X, b.Min.Y+h/2, b.Min.X+w/2, b.Max.Y), image.NewUniform(color.Gray{225}), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(b.Min.X, b.Min.Y+h/2-2, b.Max.X, b.Min.Y+h/2+2), image.NewUniform(color.Gray{40}), image.Point{}, draw.Src)
	return out
}
