package casecam

import (
	"context"
	"fmt"
	"image"
	"slices"
	"testing"
	"time"

	"github.com/serialine/serialine/printer/printersim"
	"github.com/serialine/serialine/vision/camerasim"
	"github.com/serialine/serialine/vision/dmcc"
	"github.com/serialine/serialine/vision/keyence"
	"github.com/serialine/serialine/vision/multiread"
	"github.com/serialine/serialine/vision/pattern"
)

// packs renders n packs' printed codes as the printer simulator does.
func packs(t testing.TB, n int) ([]image.Image, []string) {
	t.Helper()
	var imgs []image.Image
	var data []string
	for i := range n {
		d := fmt.Sprintf("0109501101530003172812311"+"0LOT1\x1d21S%05dX", i)
		img, err := printersim.DefaultRender(d)
		if err != nil {
			t.Fatal(err)
		}
		imgs, data = append(imgs, img), append(data, d)
	}
	return imgs, data
}

func datas(cs []multiread.Code) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Data
	}
	slices.Sort(out)
	return out
}

func TestDecodeAllReadsEveryPack(t *testing.T) {
	imgs, want := packs(t, 40)
	codes, failed := DecodeAll(Compose(imgs, 8, 12))
	slices.Sort(want)
	if failed != 0 || !slices.Equal(datas(codes), want) {
		t.Fatalf("decoded %d (failed %d), want the 40 packs", len(codes), failed)
	}
	for _, c := range codes {
		if c.SymbologyID != "]d2" {
			t.Fatalf("symbology %q, want ]d2 (GS1 DataMatrix)", c.SymbologyID)
		}
	}
}

// TestFaultsChangeWhatIsRead: the camera reports what it could decode in
// the picture, over DMCC and Keyence, through the real drivers.
func TestFaultsChangeWhatIsRead(t *testing.T) {
	imgs, data := packs(t, 12)
	sorted := slices.Sorted(slices.Values(data))
	foreign, _ := printersim.DefaultRender("010950110153000321FOREIGN1")
	for _, proto := range []camerasim.Protocol{camerasim.DMCC, camerasim.Keyence} {
		t.Run(string(proto), func(t *testing.T) {
			mf := multiread.Config{Count: true}
			s, err := New(Options{Protocol: proto, Format: mf, Columns: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pf := pattern.MustCompile(pattern.Options{Pattern: "{data}", NoRead: multiread.New(mf).NoReadLine()})
			type reader interface {
				Connect(context.Context) error
				Close(context.Context) error
			}
			var read func() (string, bool, error)
			var cl reader
			if proto == camerasim.DMCC {
				c := dmcc.New(dmcc.Options{Addr: s.Addr(), Extended: true, Format: pf})
				cl = c
				read = func() (string, bool, error) { r, err := c.Read(ctx); return r.Raw, r.NoRead, err }
			} else {
				c := keyence.New(keyence.Options{Addr: s.Addr(), Format: pf})
				cl = c
				read = func() (string, bool, error) { r, err := c.Read(ctx); return r.Raw, r.NoRead, err }
			}
			if err := cl.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			defer cl.Close(ctx)
			if err := s.Camera().WaitConnections(ctx, 1); err != nil {
				t.Fatal(err)
			}
			f := multiread.New(mf)
			for _, tc := range []struct {
				fault  *Fault
				want   int
				failed int
				dup    bool
			}{
				{nil, 12, 0, false},
				{&Fault{Kind: FaultHide, N: 2}, 10, 0, false},
				{&Fault{Kind: FaultDamage, N: 1}, 11, 1, false},
				{&Fault{Kind: FaultDuplicate}, 13, 0, true},
				{&Fault{Kind: FaultForeign, Image: foreign}, 13, 0, false},
				{&Fault{Kind: FaultNoRead}, 0, 0, false},
			} {
				if tc.fault != nil {
					s.Inject(*tc.fault)
				}
				sh := s.Shoot(imgs)
				raw, noread, err := read()
				if err != nil {
					t.Fatal(err)
				}
				r, err := f.Parse(raw)
				if err != nil {
					t.Fatalf("%v: parse %q: %v", tc.fault, raw, err)
				}
				if len(r.Codes) != tc.want || sh.Failed != tc.failed || noread != (tc.want == 0) {
					t.Fatalf("%v: read %d codes (failed regions %d, no-read %t), want %d (%d)", tc.fault, len(r.Codes), sh.Failed, noread, tc.want, tc.failed)
				}
				got := datas(r.Codes)
				if tc.dup {
					got = slices.Compact(got)
				}
				if tc.want == 12 || tc.dup {
					if !slices.Equal(got, sorted) {
						t.Fatalf("%v: codes differ from the packs", tc.fault)
					}
				}
			}
		})
	}
}

// BenchmarkDecodeCase100 decodes one case image of 100 packs (the case
// camera's share of "decode and check a case of 100 codes").
func BenchmarkDecodeCase100(b *testing.B) {
	imgs, _ := packs(b, 100)
	img := Compose(imgs, 10, 12)
	b.ResetTimer()
	for b.Loop() {
		if codes, failed := DecodeAll(img); len(codes) != 100 || failed != 0 {
			b.Fatalf("decoded %d, failed %d", len(codes), failed)
		}
	}
}
