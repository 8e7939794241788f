package grade

import (
	"strings"
	"testing"
)

// TestPrintGrowthNotGraded: print growth is kept as measured and never
// lowers a scan grade, the overall grade or the lowest parameter, however
// far off it is.
func TestPrintGrowthNotGraded(t *testing.T) {
	r := FromScans(Scan{SC: 4, MOD: 3, PGH: 0.45, PGV: -0.30}, Scan{SC: 4, MOD: 3, PGH: 0.35})
	if r.Overall != 3 || len(r.Params) != 2 {
		t.Fatalf("overall %v params %v: print growth must not be graded", r.Overall, r.Params)
	}
	if _, ok := r.Params[PGH]; ok {
		t.Fatal("PGH among the graded parameters")
	}
	if g := r.PrintGrowth; len(g) != 2 || g[PGH] < 0.3999 || g[PGH] > 0.4001 || g[PGV] != -0.30 {
		t.Fatalf("print growth %v, want PGH 0.40 (mean of two scans) and PGV -0.30", g)
	}
	if p, v := r.Lowest(); p != MOD || v != 3 {
		t.Fatalf("lowest %s %v", p, v)
	}
	if s := r.String(); !strings.HasSuffix(s, "MOD=B PGH=+40.0% PGV=-30.0%") {
		t.Fatalf("String = %q", s)
	}
	if ok, _ := DefaultPolicy().Check(r); !ok {
		t.Fatal("a B symbol with wild print growth must pass: print growth is not graded")
	}
	if PGH.Graded() || PGV.Graded() || !SC.Graded() || !Overall.Graded() {
		t.Fatal("Graded")
	}
}

func TestParseGrowth(t *testing.T) {
	for in, want := range map[string]float64{"12%": 0.12, "-8.5%": -0.085, "+0.12": 0.12, "0": 0, " -0.3 ": -0.3, "100%": 1} {
		if got, err := ParseGrowth(in); err != nil || got < want-1e-12 || got > want+1e-12 {
			t.Errorf("ParseGrowth(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "%", "B", "1.5e1", "120%", "-1.2", "NaN", "12%%"} {
		if v, err := ParseGrowth(in); err == nil {
			t.Errorf("ParseGrowth(%q) = %v, want an error", in, v)
		}
	}
	if s := FormatGrowth(0.125); s != "+12.5%" {
		t.Errorf("FormatGrowth = %q", s)
	}
}

// TestUngradedShownAsSuch: a read without grade is "ungraded" (not 0.0,
// which is an F), and an aperture or wavelength the camera did not state
// is "-" in the ISO statement (not 00 or 0), and parses back.
func TestUngradedShownAsSuch(t *testing.T) {
	var r Report
	if r.Notation() != "ungraded" || r.String() != "ungraded" {
		t.Fatalf("ungraded: %q %q", r.Notation(), r.String())
	}
	f := Report{Overall: 0, Scans: 1, Params: map[Param]float64{SC: 0}}
	if f.Notation() != "0.0/-/-" || f.Letter() != "F" || !strings.HasPrefix(f.String(), "F (0.0/-/-)") {
		t.Fatalf("graded F: %q %q", f.Notation(), f.String())
	}
	n, err := ParseNotation("1.5/-/660")
	if err != nil || n != (Notation{Grade: 1.5, Wavelength: 660}) || n.String() != "1.5/-/660" {
		t.Fatalf("unknown aperture: %+v %v %q", n, err, n.String())
	}
	if _, err := ParseNotation("1.5/x/660"); err == nil {
		t.Fatal("bad aperture accepted")
	}
}

func TestPolicyRefusesPrintGrowthMinimum(t *testing.T) {
	c := Config{MinParam: map[string]float64{"PGH": 2, "SC": 2}, Profiles: map[string]ProfileConfig{"eu-fmd": {MinParam: map[string]float64{"pgv": 1}}}}
	pr := c.Validate()
	got := pr.Err()
	if got == nil || !strings.Contains(got.Error(), "min_param.PGH: print growth is reported, not graded") ||
		!strings.Contains(got.Error(), "profiles.eu-fmd.min_param.pgv: print growth") || strings.Contains(got.Error(), "min_param.SC") {
		t.Fatalf("Validate: %v", got)
	}
	if p := c.Policy("eu-fmd"); len(p.MinParam) != 1 || p.MinParam[SC] != 2 {
		t.Fatalf("policy min params %v", p.MinParam)
	}
}

// TestPrintGrowthOnly: a read with print growth and no grade is ungraded
// (not an F), and keeps the growth.
func TestPrintGrowthOnly(t *testing.T) {
	r := FromScans(Scan{PGH: 0.1})
	if r.Graded() || r.PrintGrowth[PGH] != 0.1 || r.String() != "ungraded PGH=+10.0%" {
		t.Fatalf("%+v %q", r, r.String())
	}
	if ok, _ := DefaultPolicy().Check(r); ok {
		t.Fatal("an ungraded read passed the default policy")
	}
}
