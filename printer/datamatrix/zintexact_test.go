package datamatrix

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs/reference"
)

// TestDigitsMatchZintExactly: for all-digit data both encoders use ASCII
// digit pairs, so the symbols must be identical module for module, across
// single- and multi-block sizes up to 144×144 (which has its own ECC
// interleave).
func TestDigitsMatchZintExactly(t *testing.T) {
	zint := reference.Tool(t, "zint")
	e := NewEncoder()
	for _, n := range []int{6, 40, 120, 380, 540, 700, 1100, 1600, 2000, 2600, 3116} {
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			b.WriteByte(byte('0' + (i*7+i/10)%10))
		}
		data := b.String()
		out, err := exec.Command(zint, "-b", "71", "--square", "--dump", "-d", data).Output()
		if err != nil {
			t.Fatalf("zint: %v", err)
		}
		s, err := e.Encode(data, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(s.AppendDumpHex(nil)); got != string(out) {
			t.Errorf("%d digits (%dx%d): symbol differs from zint's", n, s.Rows, s.Cols)
		}
	}
}
