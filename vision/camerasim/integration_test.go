package camerasim_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/devices"
	"github.com/serialine/serialine/devices/serialport"
	"github.com/serialine/serialine/printer/datamatrix"
	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/grade"
	"github.com/serialine/serialine/vision/keyence"
	"github.com/serialine/serialine/vision/pattern"
)

// The path under test: element string -> symbol image (printer/datamatrix,
// defects by printersim.ApplyDefects) -> camera sim (gozxing decode, grading)
// -> DMCC or Keyence over loopback TCP -> driver -> Verifier decision.

const gtin = "09501101530003"

func elemWith(gtin, expiry, lot, serial string) string {
	return "01" + gtin + "17" + expiry + "10" + lot + "\x1d21" + serial
}

func elem(serial string) string { return elemWith(gtin, "290331", "LOT42", serial) }

func serial(seq uint64) string { return fmt.Sprintf("SER%04d", seq) }

func render(t testing.TB, data string, defects ...printersim.Defect) image.Image {
	t.Helper()
	sym, err := datamatrix.Encode(data, true)
	if err != nil {
		t.Fatalf("encode %q: %v", data, err)
	}
	img := sym.Image(datamatrix.Options{ModuleDots: 4, QuietZone: 2})
	return printersim.ApplyDefects(img, defects, 1)
}

func shotDefects(ds []printersim.Defect) []camerasim.Defect {
	out := make([]camerasim.Defect, len(ds))
	for i, d := range ds {
		out[i] = camerasim.Defect{Kind: d.Kind, Severity: d.Severity}
	}
	return out
}

type variant struct {
	name  string
	sim   camerasim.Options
	dial  func(addr string) vision.Camera
	proto camerasim.Protocol
}

func variants() []variant {
	return []variant{
		{name: "dmcc-extended-checksum", sim: camerasim.Options{Protocol: camerasim.DMCC}, dial: func(addr string) vision.Camera {
			return dmcc.New(dmcc.Options{Addr: addr, Extended: true, Checksum: true, Trigger: true, Setup: []string{"SET SYMBOL.DATAMATRIX ON"}})
		}},
		{name: "dmcc-silent", sim: camerasim.Options{Protocol: camerasim.DMCC}, dial: func(addr string) vision.Camera {
			return dmcc.New(dmcc.Options{Addr: addr})
		}},
		{name: "keyence", sim: camerasim.Options{Protocol: camerasim.Keyence}, dial: func(addr string) vision.Camera {
			return keyence.New(keyence.Options{Addr: addr})
		}},
		// a listen-only reader with its own result layout (vision/pattern)
		{name: "pattern", sim: camerasim.Options{Format: customFormat()}, dial: func(addr string) vision.Camera {
			return pattern.NewClient(pattern.ClientOptions{Addr: addr, Format: customFormat()})
		}},
	}
}

func customFormat() *pattern.Format {
	f, err := pattern.Compile(pattern.Options{Pattern: "<{symid}{data}> Q={overall} SC={SC} MOD={MOD} UEC={UEC} FPD={FPD} GN={GN} DEC={DEC}", NoRead: "<NR>"})
	if err != nil {
		panic(err)
	}
	return f
}

type rig struct {
	t   *testing.T
	ctx context.Context
	sim *camerasim.Server
	cam vision.Camera
	v   *vision.Verifier
}

func newRig(t *testing.T, vr variant, vo vision.VerifierOptions) *rig {
	t.Helper()
	// The test's own context: a hang is caught by go test -timeout, not by
	// a wall-clock bound a loaded machine could hit; nothing asserts on time.
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	sim, err := camerasim.New(vr.sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	cam := vr.dial(sim.Addr())
	if err := cam.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cam.Close(context.Background()) })
	if err := sim.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, ctx: ctx, sim: sim, cam: cam, v: vision.NewVerifier(vo)}
}

// print registers unit seq as printed with data and passes image under the camera.
func (r *rig) expect(seq uint64) {
	r.t.Helper()
	if err := r.v.Expect(vision.Expected{Seq: seq, Serial: serial(seq), Data: elem(serial(seq))}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) feed(seq uint64, data string, defects ...printersim.Defect) {
	r.t.Helper()
	var img image.Image
	if data != "" {
		img = render(r.t, data, defects...)
	}
	if _, ok := r.sim.Feed(camerasim.Shot{Image: img, Defects: shotDefects(defects), Seq: seq}); !ok {
		r.t.Fatal("shot dropped: camera not reading")
	}
}

// read takes the next result from the driver and lets the verifier decide.
func (r *rig) read() []vision.Decision {
	r.t.Helper()
	res, err := r.cam.Read(r.ctx)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return r.v.Observe(res)
}

// unit prints the correct code on unit seq and returns its decision.
func (r *rig) unit(seq uint64, defects ...printersim.Defect) vision.Decision {
	r.t.Helper()
	r.expect(seq)
	r.feed(seq, elem(serial(seq)), defects...)
	return one(r.t, r.read())
}

func one(t *testing.T, ds []vision.Decision) vision.Decision {
	t.Helper()
	if len(ds) != 1 {
		t.Fatalf("want one decision, got %v", ds)
	}
	return ds[0]
}

func want(t *testing.T, d vision.Decision, seq uint64, o vision.Outcome, reason vision.Reason) {
	t.Helper()
	if d.Seq != seq || d.Outcome != o || d.Reason != reason {
		t.Fatalf("decision %v; want seq=%d %s/%s", d, seq, o, reason)
	}
}

func forEach(t *testing.T, f func(t *testing.T, vr variant)) {
	for _, vr := range variants() {
		t.Run(vr.name, func(t *testing.T) { f(t, vr) })
	}
}

func TestPassCarriesGradeAndGS1Content(t *testing.T) {
	forEach(t, func(t *testing.T, vr variant) {
		r := newRig(t, vr, vision.VerifierOptions{})
		d := r.unit(1)
		want(t, d, 1, vision.Pass, vision.ReasonOK)
		if d.Read.Data != elem(serial(1)) || d.Grade != 4 || d.Read.Grade.Params[grade.DEC] != 4 {
			t.Errorf("read %+v", d.Read)
		}
		if vr.name != "keyence" && d.Read.SymbologyID != "]d2" {
			t.Errorf("symbology id %q", d.Read.SymbologyID)
		}
		if d.Read.Grade.Aperture != 8 || d.Read.Grade.Wavelength != 660 {
			if vr.name != "keyence" { // Keyence default layout has no notation
				t.Errorf("notation %s", d.Read.Grade.Notation())
			}
		}
	})
}

func TestNoRead(t *testing.T) {
	forEach(t, func(t *testing.T, vr variant) {
		r := newRig(t, vr, vision.VerifierOptions{MaxNoReads: 3})
		// 1: nothing printed (blank label) -> the decoder finds nothing
		r.expect(1)
		blank := image.NewGray(image.Rect(0, 0, 80, 80))
		for i := range blank.Pix {
			blank.Pix[i] = 255
		}
		r.sim.Feed(camerasim.Shot{Image: blank, Seq: 1})
		want(t, one(t, r.read()), 1, vision.Reject, vision.ReasonNoRead)
		// 2: injected no-read
		r.expect(2)
		r.sim.Inject(camerasim.Fault{Kind: camerasim.FaultNoRead})
		r.feed(2, elem(serial(2)))
		want(t, one(t, r.read()), 2, vision.Reject, vision.ReasonNoRead)
		// 3: third in a row holds the line
		r.expect(3)
		r.sim.Inject(camerasim.Fault{Kind: camerasim.FaultNoRead})
		r.feed(3, elem(serial(3)))
		d := one(t, r.read())
		want(t, d, 3, vision.Reject, vision.ReasonNoRead)
		if !d.Hold || !strings.Contains(d.HoldReason, "3 units in a row") {
			t.Errorf("no hold after 3 no-reads: %v", d)
		}
	})
}

func TestMismatchPerField(t *testing.T) {
	other := "09501101530010" // valid check digit, different GTIN
	forEach(t, func(t *testing.T, vr variant) {
		r := newRig(t, vr, vision.VerifierOptions{})
		cases := []struct {
			printed string
			field   vision.Field
		}{
			{elemWith(other, "290331", "LOT42", serial(1)), vision.FieldGTIN},
			{elemWith(gtin, "290331", "LOT42", "WRONG1"), vision.FieldSerial},
			{elemWith(gtin, "290331", "LOT99", serial(3)), vision.FieldLot},
			{elemWith(gtin, "300101", "LOT42", serial(4)), vision.FieldExpiry},
		}
		for i, c := range cases {
			seq := uint64(i + 1)
			r.expect(seq)
			r.feed(seq, c.printed) // the printer printed the wrong content
			d := one(t, r.read())
			want(t, d, seq, vision.Reject, vision.ReasonMismatch)
			if !slices.Equal(d.Fields, []vision.Field{c.field}) {
				t.Errorf("unit %d: fields %v, want %s (%s)", seq, d.Fields, c.field, d.Detail)
			}
		}
		// injected: the camera reports other content than printed
		r.expect(5)
		r.sim.Inject(camerasim.Fault{Kind: camerasim.FaultMismatch, Data: elemWith(gtin, "290331", "LOT7", serial(5))})
		r.feed(5, elem(serial(5)))
		d := one(t, r.read())
		want(t, d, 5, vision.Reject, vision.ReasonMismatch)
		if !slices.Equal(d.Fields, []vision.Field{vision.FieldLot}) {
			t.Errorf("fields %v", d.Fields)
		}
	})
}

func TestLowGrade(t *testing.T) {
	forEach(t, func(t *testing.T, vr variant) {
		r := newRig(t, vr, vision.VerifierOptions{MaxLowGrades: 2})
		// faded print: contrast measured from the image and derived from the defect
		d := r.unit(1, printersim.Defect{Kind: printersim.DefectContrast, Severity: 0.8})
		want(t, d, 1, vision.Reject, vision.ReasonLowGrade)
		if d.Param != grade.SC || d.Grade >= 1.5 {
			t.Errorf("contrast defect: param %s grade %.1f (%s)", d.Param, d.Grade, d.Read.Grade)
		}
		// injected drop of one parameter
		r.expect(2)
		r.sim.Inject(camerasim.Fault{Kind: camerasim.FaultGradeDrop, Param: grade.MOD, Grade: 1})
		r.feed(2, elem(serial(2)))
		d = one(t, r.read())
		want(t, d, 2, vision.Reject, vision.ReasonLowGrade)
		if d.Param != grade.MOD || d.Grade != 1 || !d.Hold {
			t.Errorf("grade drop: %v", d)
		}
		// mild smear still passes (C or better)
		want(t, r.unit(3, printersim.Defect{Kind: printersim.DefectSmear, Severity: 0.3}), 3, vision.Pass, vision.ReasonOK)
	})
}

func TestLateResult(t *testing.T) {
	forEach(t, func(t *testing.T, vr variant) {
		r := newRig(t, vr, vision.VerifierOptions{})
		release := make(chan struct{})
		r.expect(1)
		r.sim.Inject(camerasim.Fault{Kind: camerasim.FaultLate, Release: release})
		r.feed(1, elem(serial(1)))
		// the unit reaches its decision point without a result
		d, ok := r.v.Timeout(1)
		if !ok {
			t.Fatal("unit 1 not awaiting")
		}
		want(t, d, 1, vision.Reject, vision.ReasonLate)
		close(release)
		d = one(t, r.read())
		want(t, d, 1, vision.Alarm, vision.ReasonLateRead)
		want(t, r.unit(2), 2, vision.Pass, vision.ReasonOK)
	})
}

func TestDuplicateDoublePrint(t *testing.T) {
	forEach(t, func(t *testing.T, vr variant) {
		r := newRig(t, vr, vision.VerifierOptions{})
		want(t, r.unit(1), 1, vision.Pass, vision.ReasonOK)
		r.expect(2)
		r.feed(2, elem(serial(1))) // printer printed record 1 again on unit 2
		d := one(t, r.read())
		want(t, d, 1, vision.Alarm, vision.ReasonDuplicate)
		if !d.Hold || d.Serial != serial(1) {
			t.Errorf("duplicate: %v", d)
		}
		d, _ = r.v.Timeout(2)
		want(t, d, 2, vision.Reject, vision.ReasonLate)
	})
}

func TestSkippedAndUnexpected(t *testing.T) {
	forEach(t, func(t *testing.T, vr variant) {
		r := newRig(t, vr, vision.VerifierOptions{Window: 2})
		r.expect(1) // passes the camera untriggered: never fed
		want(t, r.unit(2), 2, vision.Pass, vision.ReasonOK)
		r.expect(3)
		r.feed(3, elem(serial(3)))
		ds := r.read()
		if len(ds) != 2 {
			t.Fatalf("want skipped + pass: %v", ds)
		}
		want(t, ds[0], 1, vision.Reject, vision.ReasonSkipped)
		want(t, ds[1], 3, vision.Pass, vision.ReasonOK)
		// a code that belongs to no unit
		r.feed(0, elem("STRAY"))
		d := one(t, r.read())
		want(t, d, 0, vision.Alarm, vision.ReasonUnexpected)
		if d.Serial != "STRAY" {
			t.Errorf("serial %q", d.Serial)
		}
	})
}

func TestDisconnectAndReconnect(t *testing.T) {
	forEach(t, func(t *testing.T, vr variant) {
		r := newRig(t, vr, vision.VerifierOptions{})
		r.expect(1)
		r.expect(2)
		r.sim.Inject(camerasim.Fault{Kind: camerasim.FaultDisconnect})
		r.feed(1, elem(serial(1)))
		_, err := r.cam.Read(r.ctx)
		if !errors.Is(err, vision.ErrDisconnected) {
			t.Fatalf("read after disconnect: %v", err)
		}
		ds := r.v.Fault(err)
		if len(ds) != 2 {
			t.Fatalf("fault decisions %v", ds)
		}
		for i, d := range ds {
			want(t, d, uint64(i+1), vision.Reject, vision.ReasonCameraFault)
			if !d.Hold {
				t.Errorf("no hold: %v", d)
			}
		}
		if _, err := r.cam.Read(r.ctx); !errors.Is(err, vision.ErrNotConnected) {
			t.Errorf("read while disconnected: %v", err)
		}
		// reconnect through the one backoff wrapper
		b := devices.DefaultBackoff()
		b.Initial, b.Max, b.Jitter = time.Millisecond, 10*time.Millisecond, 0
		if err := devices.Retry(r.ctx, b, r.cam.Connect, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.sim.WaitConnections(r.ctx, 1); err != nil {
			t.Fatal(err)
		}
		want(t, r.unit(3), 3, vision.Pass, vision.ReasonOK)
	})
}

func TestGarbledLineIsAnErrorAndReadGoesOn(t *testing.T) {
	forEach(t, func(t *testing.T, vr variant) {
		r := newRig(t, vr, vision.VerifierOptions{})
		r.sim.Inject(camerasim.Fault{Kind: camerasim.FaultGarble, Data: "#?garbage"})
		r.feed(1, elem(serial(1)))
		_, err := r.cam.Read(r.ctx)
		var le *vision.LineError
		if !errors.Is(err, vision.ErrGarbled) || !errors.As(err, &le) || !strings.Contains(err.Error(), "#?garbage") {
			t.Fatalf("garbled line: %v", err)
		}
		want(t, r.unit(2), 2, vision.Pass, vision.ReasonOK)
	})
}

func TestRefusedCommand(t *testing.T) {
	ctx := context.Background()
	sim, err := camerasim.New(camerasim.Options{Refuse: map[string]int{"TRIGGER ON": dmcc.StatusBadState}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c := dmcc.New(dmcc.Options{Addr: sim.Addr(), Extended: true, Trigger: true})
	err = c.Connect(ctx)
	var re *vision.ReplyError
	if !errors.Is(err, vision.ErrRefused) || !errors.As(err, &re) || re.Code != 104 || re.Command != "TRIGGER ON" {
		t.Fatalf("connect: %v", err)
	}
	if !strings.Contains(err.Error(), "rejected in this reader state") {
		t.Errorf("message %q", err)
	}
	ks, err := camerasim.New(camerasim.Options{Protocol: camerasim.Keyence, Refuse: map[string]int{"LON": 14}})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	k := keyence.New(keyence.Options{Addr: ks.Addr()})
	if err := k.Connect(ctx); !errors.As(err, &re) || re.Code != 14 {
		t.Fatalf("keyence connect: %v", err)
	}
	// Command on a connected DMCC reader
	good, _ := camerasim.New(camerasim.Options{})
	defer good.Close()
	c = dmcc.New(dmcc.Options{Addr: good.Addr(), Extended: true})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if v, err := c.Command(ctx, "GET SYMBOL.DATAMATRIX"); err != nil || v != "ON" {
		t.Errorf("GET: %q %v", v, err)
	}
	if _, err := c.Command(ctx, "FROB"); !errors.As(err, &re) || re.Code != dmcc.StatusBadCommand {
		t.Errorf("bad command: %v", err)
	}
}

func TestTriggerOffStopsReading(t *testing.T) {
	ctx := context.Background()
	sim, _ := camerasim.New(camerasim.Options{})
	defer sim.Close()
	c := dmcc.New(dmcc.Options{Addr: sim.Addr(), Extended: true, Trigger: true})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if !sim.Reading() {
		t.Fatal("not reading after TRIGGER ON")
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if sim.Reading() {
		t.Error("still reading after TRIGGER OFF at close")
	}
	if _, ok := sim.Feed(camerasim.Shot{Image: render(t, elem("X"))}); ok {
		t.Error("shot accepted while reading off")
	}
	if _, err := c.Read(ctx); !errors.Is(err, vision.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
}

// RS-232 path: the driver's Dial hook with a devices/serialport Port (here
// wrapping a TCP stream to the simulator instead of a tty).
func TestSerialTransportViaDial(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sim, _ := camerasim.New(camerasim.Options{Protocol: camerasim.Keyence})
	defer sim.Close()
	k := keyence.New(keyence.Options{Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", sim.Addr())
		if err != nil {
			return nil, err
		}
		return serialport.Wrap("/dev/ttySIM0", c), nil
	}})
	if err := k.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)
	sim.Feed(camerasim.Shot{Image: render(t, elem("S1"))})
	res, err := k.Read(ctx)
	if err != nil || res.Data != elem("S1") {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestLatencyDelivers(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sim, _ := camerasim.New(camerasim.Options{Latency: time.Millisecond, Extended: true})
	defer sim.Close()
	c := dmcc.New(dmcc.Options{Addr: sim.Addr(), Extended: true})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for i := 0; i < 3; i++ {
		sim.Feed(camerasim.Shot{Image: render(t, elem(serial(uint64(i))))})
	}
	for i := 0; i < 3; i++ {
		res, err := c.Read(ctx)
		if err != nil || res.Data != elem(serial(uint64(i))) {
			t.Fatalf("result %d: %+v %v", i, res, err)
		}
	}
}
