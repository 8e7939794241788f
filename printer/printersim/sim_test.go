package printersim_test

import (
	"context"
	"errors"
	"image"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxdm "github.com/makiuchi-d/gozxing/datamatrix"

	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/printer/tij"
)

const gs1Data = "0109501101530003\x1d17261231\x1d10LOT42\x1d21SN0001"

// ctxT is the test's context: no wall-clock limit of its own (a hang is
// reported by go test -timeout with every goroutine's stack).
func ctxT(t *testing.T) context.Context { return t.Context() }

func start(t *testing.T, o printersim.Options) (*printersim.Server, *tij.Client) {
	t.Helper()
	s, err := printersim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := tij.New(tij.Options{Addr: s.Addr(), Job: "CARTON", Fields: []string{"ID", "GS1"}, IDField: "ID"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return s, c
}

func decode(t *testing.T, img image.Image) (string, error) {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := zxdm.NewDataMatrixReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

func TestPrintedSymbolIsTheRealDataMatrix(t *testing.T) {
	s, c := start(t, printersim.Options{})
	got := make(chan printersim.Printed, 1)
	s.OnPrint(func(p printersim.Printed) { got <- p })
	if err := c.Enqueue(ctxT(t), printer.Record{ID: "SN0001", Fields: map[string]string{"GS1": gs1Data}}); err != nil {
		t.Fatal(err)
	}
	s.Print(42)
	p := <-got
	if p.Seq != 42 || p.RecordID != "SN0001" || p.Data != gs1Data || p.Counter != 1 || len(p.Defects) != 0 {
		t.Fatalf("printed %+v", p)
	}
	text, err := decode(t, p.Image)
	if err != nil {
		t.Fatalf("decoding the printed symbol: %v", err)
	}
	// A GS1 decoder reports the leading FNC1 as GS (gozxing) before the element string.
	if text != "\x1d"+gs1Data {
		t.Errorf("decoded %q, want FNC1+%q", text, gs1Data)
	}
}

func TestDefects(t *testing.T) {
	sym, err := printersim.DefaultRender(gs1Data)
	if err != nil {
		t.Fatal(err)
	}
	darkCount := func(img image.Image) (n int, span uint8) {
		g := img.(*image.Gray)
		lo, hi := uint8(255), uint8(0)
		for _, v := range g.Pix {
			if v < 128 {
				n++
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		return n, hi - lo
	}
	clean, _ := darkCount(sym)

	// Low contrast, full severity: nothing dark is left.
	img := printersim.ApplyDefects(sym, []printersim.Defect{{Kind: printersim.DefectContrast, Severity: 1}}, 1)
	if n, span := darkCount(img); n != 0 || span > 25 {
		t.Errorf("contrast 1: %d dark pixels, contrast %d", n, span)
	}
	if _, err := decode(t, img); err == nil {
		t.Error("a symbol without contrast decoded")
	}
	// Mild low contrast still reads.
	img = printersim.ApplyDefects(sym, []printersim.Defect{{Kind: printersim.DefectContrast, Severity: 0.2}}, 1)
	if text, err := decode(t, img); err != nil || text != "\x1d"+gs1Data {
		t.Errorf("contrast 0.2: %q %v", text, err)
	}
	// Missing dots remove ink; smear adds it.
	img = printersim.ApplyDefects(sym, []printersim.Defect{{Kind: printersim.DefectMissingDots, Severity: 1}}, 7)
	if n, _ := darkCount(img); n >= clean {
		t.Errorf("missing dots: %d dark pixels, clean %d", n, clean)
	}
	img = printersim.ApplyDefects(sym, []printersim.Defect{{Kind: printersim.DefectSmear, Severity: 1}}, 7)
	if n, _ := darkCount(img); n <= clean {
		t.Errorf("smear: %d dark pixels, clean %d", n, clean)
	}
	// Same seed, same damage.
	a := printersim.ApplyDefects(sym, []printersim.Defect{{Kind: printersim.DefectMissingDots, Severity: 0.5}}, 9).(*image.Gray)
	b := printersim.ApplyDefects(sym, []printersim.Defect{{Kind: printersim.DefectMissingDots, Severity: 0.5}}, 9).(*image.Gray)
	if string(a.Pix) != string(b.Pix) {
		t.Error("defects not reproducible for a seed")
	}
	if printersim.ApplyDefects(sym, nil, 1) != sym {
		t.Error("no defects must return the image itself")
	}

	// Through the printer: every print gets a defect when the rate is 1.
	s, c := start(t, printersim.Options{DefectRate: 1, DefectKinds: []string{printersim.DefectSmear}, MaxDefectSeverity: 0.3})
	got := make(chan printersim.Printed, 1)
	s.OnPrint(func(p printersim.Printed) { got <- p })
	if err := c.Enqueue(ctxT(t), printer.Record{ID: "SN0001", Fields: map[string]string{"GS1": gs1Data}}); err != nil {
		t.Fatal(err)
	}
	s.Print(1)
	p := <-got
	if len(p.Defects) != 1 || p.Defects[0].Kind != printersim.DefectSmear || p.Defects[0].Severity > 0.3 {
		t.Errorf("defects %+v", p.Defects)
	}
}

func TestNoDataIgnore(t *testing.T) {
	s, c := start(t, printersim.Options{NoData: printersim.NoDataIgnore})
	s.Print(1) // empty queue: silently missed
	ctx := ctxT(t)
	if err := s.Wait(ctx, func(sn printersim.Snapshot) bool { return sn.Stats.Missed == 1 }); err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(ctx, printer.Record{ID: "A"}); err != nil {
		t.Fatal(err)
	}
	s.Print(2)
	ev, err := c.Next(ctx)
	if err != nil || ev.Kind != printer.PrintStart || ev.RecordID != "A" {
		t.Errorf("first event %v %v: the ignored miss must say nothing", ev, err)
	}
}

func TestPhotoEyeTimer(t *testing.T) {
	s, c := start(t, printersim.Options{PhotoEye: time.Millisecond, NoData: printersim.NoDataIgnore})
	ctx := ctxT(t)
	for _, id := range []string{"A", "B", "C"} {
		if err := c.Enqueue(ctx, printer.Record{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Wait(ctx, func(sn printersim.Snapshot) bool { return sn.Counter == 3 }); err != nil {
		t.Fatal(err)
	}
}

func TestStartValidates(t *testing.T) {
	for _, o := range []printersim.Options{
		{NoData: "panic"},
		{WrongRecordRate: 2},
		{LateAckRate: 0.5},
		{QueueCap: -1},
		{AckDelay: -time.Millisecond},
		{PrintTime: -time.Millisecond},
		{Addr: "256.0.0.1:0"},
	} {
		if s, err := printersim.Start(o); err == nil {
			s.Close()
			t.Errorf("Start(%+v): no error", o)
		} else if o.Addr == "" && !errors.Is(err, printersim.ErrBadOptions) {
			t.Errorf("Start(%+v): %v, want ErrBadOptions", o, err)
		}
	}
}
