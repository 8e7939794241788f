// Package codectest runs data-driven codec tables for the camera reply
// parsers: each testdata/<case>/ folder holds an input file (the line as
// received, without terminator, bytes exact) and either expected.json (the
// Result) or error (substrings the error message must contain, one per line;
// a line "is: garbled|checksum|refused" asserts errors.Is).
package codectest

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/grade"
)

// Expected is the JSON form of a Result in expected.json.
type Expected struct {
	Data       string             `json:"data"`
	SymID      string             `json:"symid"`
	NoRead     bool               `json:"noread"`
	Overall    *float64           `json:"overall"` // nil = ungraded
	Params     map[string]float64 `json:"params"`
	Aperture   int                `json:"aperture"`
	Wavelength int                `json:"wavelength"`
	// PrintGrowth is the measured print growth (PGH, PGV), reported and
	// not graded.
	PrintGrowth map[string]float64 `json:"print_growth"`
}

// Parser parses one input; dir is the case folder (for per-case options).
type Parser func(t *testing.T, dir string, input []byte) (vision.Result, error)

// Run runs every case under dir.
func Run(t *testing.T, dir string, parse Parser) {
	t.Helper()
	cases, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("codec table %s: %v", dir, err)
	}
	n := 0
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		n++
		cdir := filepath.Join(dir, c.Name())
		t.Run(c.Name(), func(t *testing.T) {
			input, err := os.ReadFile(filepath.Join(cdir, "input"))
			if err != nil {
				t.Fatal(err)
			}
			got, perr := parse(t, cdir, input)
			if want, err := os.ReadFile(filepath.Join(cdir, "error")); err == nil {
				if perr == nil {
					t.Fatalf("input %q: no error, got %+v", input, got)
				}
				for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
					line = strings.TrimSpace(line)
					if is, ok := strings.CutPrefix(line, "is: "); ok {
						target := map[string]error{"garbled": vision.ErrGarbled, "checksum": vision.ErrChecksum, "refused": vision.ErrRefused}[is]
						if target == nil || !errors.Is(perr, target) {
							t.Errorf("error %v: want errors.Is %s", perr, is)
						}
						continue
					}
					if line != "" && !strings.Contains(perr.Error(), line) {
						t.Errorf("error %q does not contain %q", perr, line)
					}
				}
				return
			}
			raw, err := os.ReadFile(filepath.Join(cdir, "expected.json"))
			if err != nil {
				t.Fatalf("case needs expected.json or error: %v", err)
			}
			var want Expected
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&want); err != nil {
				t.Fatalf("expected.json: %v", err)
			}
			if perr != nil {
				t.Fatalf("input %q: %v", input, perr)
			}
			Compare(t, got, want)
		})
	}
	if n == 0 {
		t.Fatalf("codec table %s has no cases", dir)
	}
}

// Compare checks a Result against an Expected.
func Compare(t *testing.T, got vision.Result, want Expected) {
	t.Helper()
	if got.Data != want.Data {
		t.Errorf("data %q, want %q", got.Data, want.Data)
	}
	if got.SymbologyID != want.SymID {
		t.Errorf("symid %q, want %q", got.SymbologyID, want.SymID)
	}
	if got.NoRead != want.NoRead {
		t.Errorf("noread %v, want %v", got.NoRead, want.NoRead)
	}
	gg := map[string]float64{}
	for p, v := range got.Grade.PrintGrowth {
		gg[string(p)] = v
	}
	if len(gg) != len(want.PrintGrowth) {
		t.Errorf("print growth %v, want %v", gg, want.PrintGrowth)
	}
	for k, w := range want.PrintGrowth {
		if g, ok := gg[k]; !ok || math.Abs(g-w) > 1e-9 {
			t.Errorf("print growth %s = %v (%v), want %v", k, g, ok, w)
		}
	}
	if want.Overall == nil {
		if got.Grade.Graded() {
			t.Errorf("grade %v, want ungraded", got.Grade)
		}
		return
	}
	if !got.Grade.Graded() || math.Abs(got.Grade.Overall-*want.Overall) > 1e-9 {
		t.Errorf("overall %v (graded %v), want %v", got.Grade.Overall, got.Grade.Graded(), *want.Overall)
	}
	gp := map[string]float64{}
	for p, v := range got.Grade.Params {
		gp[string(p)] = v
	}
	if want.Params == nil {
		want.Params = map[string]float64{}
	}
	keys := map[string]bool{}
	for k := range gp {
		keys[k] = true
	}
	for k := range want.Params {
		keys[k] = true
	}
	ks := make([]string, 0, len(keys))
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		g, gok := gp[k]
		w, wok := want.Params[k]
		if gok != wok || math.Abs(g-w) > 1e-9 {
			t.Errorf("param %s = %v (%v), want %v (%v)", k, g, gok, w, wok)
		}
	}
	if got.Grade.Aperture != want.Aperture || got.Grade.Wavelength != want.Wavelength {
		t.Errorf("aperture/wavelength %d/%d, want %d/%d", got.Grade.Aperture, got.Grade.Wavelength, want.Aperture, want.Wavelength)
	}
}

var _ = grade.Overall
