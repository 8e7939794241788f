package zpl_test

import (
	"context"
	"errors"
	"image"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxdm "github.com/makiuchi-d/gozxing/datamatrix"

	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/datamatrix"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/printer/zpl"
)

const gs1Data = "0109501101530003\x1d17261231\x1d21SN0001"

// ctxT is the test's context: no wall-clock limit of its own (a hang is
// reported by go test -timeout with every goroutine's stack).
func ctxT(t *testing.T) context.Context { return t.Context() }

func setup(t *testing.T, o zpl.Options) (*printersim.Server, *zpl.Client) {
	t.Helper()
	s, err := printersim.Start(printersim.Options{ZPLAddr: "127.0.0.1:0", QueueCap: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	o.Addr = s.ZPLAddr()
	o.PollInterval = time.Millisecond
	c, err := zpl.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return s, c
}

func next(t *testing.T, c *zpl.Client) printer.Event {
	t.Helper()
	ev, err := c.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestStoredFormatRecallAndHostStatus(t *testing.T) {
	s, c := setup(t, zpl.Options{
		Format:   "^FO50,50^BXN,6,200,,,,_^FN2^FS^FO50,300^A0N,30,30^FN1^FS",
		Fields:   map[string]int{"GS1": 2},
		IDField:  1,
		MaxQueue: 2,
	})
	ctx := ctxT(t)
	printed := make(chan printersim.Printed, 4)
	s.OnPrint(func(p printersim.Printed) { printed <- p })
	for _, id := range []string{"SN0001", "SN0002"} {
		if err := c.Enqueue(ctx, printer.Record{ID: id, Fields: map[string]string{"GS1": gs1Data}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.QueueDepth(ctx); err != nil || n != 2 {
		t.Fatalf("formats in buffer %d %v", n, err)
	}
	if err := c.Enqueue(ctx, printer.Record{ID: "SN0003", Fields: map[string]string{"GS1": gs1Data}}); !errors.Is(err, printer.ErrQueueFull) {
		t.Fatalf("third label: %v, want ErrQueueFull", err)
	}
	if err := c.Enqueue(ctx, printer.Record{ID: "X", Fields: map[string]string{"LOT": "1"}}); err == nil {
		t.Error("a field without ^FN number was accepted")
	}
	s.Print(9)
	p := <-printed
	if p.RecordID != "SN0001" || p.Data != gs1Data || p.Seq != 9 {
		t.Errorf("printed %+v", p)
	}
	if ev := next(t, c); ev.Kind != printer.PrintComplete || ev.RecordID != "SN0001" || ev.Counter != 1 {
		t.Errorf("event %v", ev)
	}

	s.SetZPLFlags(true, false, false, false)
	if ev := next(t, c); ev.Kind != printer.Fault || ev.Code != "PAPER_OUT" {
		t.Errorf("paper out: %v", ev)
	}
	s.SetZPLFlags(false, true, true, true)
	seen := map[string]bool{}
	for range 3 {
		ev := next(t, c)
		seen[ev.Code] = true
	}
	if !seen["RIBBON_OUT"] || !seen["HEAD_OPEN"] || !seen["PAUSED"] {
		t.Errorf("events %v", seen)
	}
	if st := c.Status(); !st.RibbonOut || !st.HeadOpen || !st.Paused || st.PaperOut {
		t.Errorf("status %+v", st)
	}
	s.SetZPLFlags(false, false, false, false)
	if ev := next(t, c); ev.Kind != printer.Status || ev.Code != "READY" {
		t.Errorf("ready: %v", ev)
	}
	if err := c.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.QueueLen(); n != 0 {
		t.Errorf("~JA left %d", n)
	}
	s.Disconnect()
	if _, err := c.Next(ctx); !errors.Is(err, printer.ErrDisconnected) {
		t.Errorf("Next after disconnect: %v", err)
	}
}

// The bitmap path: the record's symbol, rendered at the printer's dots,
// travels as a ^GF graphic and is what the printer prints.
func TestBitmapPath(t *testing.T) {
	render := func(r printer.Record) (image.Image, error) {
		sym, err := datamatrix.Encode(r.Fields["GS1"], true)
		if err != nil {
			return nil, err
		}
		return sym.Bitmap(datamatrix.Options{DPI: 300, ModuleMM: 0.34, QuietZone: 2}), nil
	}
	s, c := setup(t, zpl.Options{Bitmap: &zpl.BitmapOptions{Render: render, X: 20, Y: 20}, IDField: 1})
	printed := make(chan printersim.Printed, 1)
	s.OnPrint(func(p printersim.Printed) { printed <- p })
	if err := c.Enqueue(ctxT(t), printer.Record{ID: "SN0001", Fields: map[string]string{"GS1": gs1Data}}); err != nil {
		t.Fatal(err)
	}
	// ZPL has no acknowledgement: wait until the printer has the label.
	if err := s.Wait(ctxT(t), func(sn printersim.Snapshot) bool { return sn.QueueLen == 1 }); err != nil {
		t.Fatal(err)
	}
	s.Print(1)
	p := <-printed
	if p.RecordID != "SN0001" || p.Image == nil {
		t.Fatalf("printed %+v", p)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(p.Image)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxdm.NewDataMatrixReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("decode the printed graphic: %v", err)
	}
	if res.GetText() != "\x1d"+gs1Data {
		t.Errorf("decoded %q", res.GetText())
	}
	if ev := next(t, c); ev.Kind != printer.PrintComplete || ev.RecordID != "SN0001" {
		t.Errorf("event %v", ev)
	}
}

func TestNewValidates(t *testing.T) {
	for _, o := range []zpl.Options{{}, {Addr: "x:9100"}, {Addr: "x:9100", Bitmap: &zpl.BitmapOptions{}}} {
		if _, err := zpl.New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}
