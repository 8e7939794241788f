package printersim_test

import (
	"testing"

	"github.com/serialine/serialine/printer/printersim"
)

// Rendering cost per printed record when a camera is attached (OnPrint).
func BenchmarkRender(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := printersim.DefaultRender(gs1Data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderWithDefect(b *testing.B) {
	b.ReportAllocs()
	d := []printersim.Defect{{Kind: printersim.DefectSmear, Severity: 0.3}}
	for i := range b.N {
		img, err := printersim.DefaultRender(gs1Data)
		if err != nil {
			b.Fatal(err)
		}
		printersim.ApplyDefects(img, d, uint64(i))
	}
}
