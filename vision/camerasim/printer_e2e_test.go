package camerasim_test

import (
	"context"
	"testing"

	"github.com/serialine/serialine/printer"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/printer/tij"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/dmcc"
)

// The whole chain the line runs, with real wire protocols on loopback:
// records queued to the simulated TIJ printer over its text protocol, the
// photo-eye prints them, the printer hands each rendered image to the
// camera sim (OnPrint -> Feed, as the demo wires it), the camera reports
// over DMCC, the driver reads and the Verifier decides.
func TestPrinterSimToCameraSimToDecision(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cam, err := camerasim.New(camerasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	ps, err := printersim.Start(printersim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	ps.OnPrint(func(p printersim.Printed) {
		ds := make([]camerasim.Defect, len(p.Defects))
		for i, d := range p.Defects {
			ds[i] = camerasim.Defect{Kind: d.Kind, Severity: d.Severity}
		}
		cam.Feed(camerasim.Shot{Image: p.Image, Defects: ds, Seq: p.Seq, Ref: p.RecordID})
	})
	pc, err := tij.New(tij.Options{Addr: ps.Addr(), Job: "GS1JOB", Fields: []string{"ID", "GS1"}, IDField: "ID"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	dc := dmcc.New(dmcc.Options{Addr: cam.Addr(), Extended: true, Trigger: true})
	if err := dc.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer dc.Close(ctx)
	if err := cam.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	v := vision.NewVerifier(vision.VerifierOptions{})
	for seq := uint64(1); seq <= 3; seq++ {
		s := serial(seq)
		if err := pc.Enqueue(ctx, printer.Record{ID: s, Fields: map[string]string{"GS1": elem(s)}}); err != nil {
			t.Fatal(err)
		}
		if err := v.Expect(vision.Expected{Seq: seq, Serial: s, Data: elem(s)}); err != nil {
			t.Fatal(err)
		}
		ps.Print(seq)
		r, err := dc.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d := one(t, v.Observe(r))
		want(t, d, seq, vision.Pass, vision.ReasonOK)
		if d.Read.Data != elem(s) || d.Read.SymbologyID != "]d2" {
			t.Errorf("read %+v", d.Read)
		}
	}
}
