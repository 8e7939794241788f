package grade

import (
	"strings"
	"testing"

	"github.com/serialine/serialine/configs"
)

// The ISO/IEC 15415 scale as given in device-protocols.md: A/B/C/D/F = 4/3/2/1/0.
func TestScaleLettersNumbers(t *testing.T) {
	for letter, n := range map[string]float64{"A": 4, "B": 3, "C": 2, "D": 1, "F": 0, "a": 4, "E": 0} {
		got, err := Number(letter)
		if err != nil || got != n {
			t.Errorf("Number(%q) = %v, %v; want %v", letter, got, err, n)
		}
	}
	for v, want := range map[float64]string{4: "A", 3.5: "A", 3.4: "B", 2.5: "B", 2.4: "C", 1.5: "C", 1.4: "D", 0.5: "D", 0.4: "F", 0: "F"} {
		if got := Letter(v); got != want {
			t.Errorf("Letter(%v) = %s, want %s", v, got, want)
		}
	}
	if _, err := Number("G"); err == nil {
		t.Error("Number(G) accepted")
	}
}

func TestParseValue(t *testing.T) {
	good := map[string]float64{"A": 4, "c": 2, "0": 0, "4": 4, "2.5": 2.5, " 3 ": 3, "1.5/08/660": 1.5, "3.0/10/670/45": 3}
	for s, want := range good {
		got, err := ParseValue(s)
		if err != nil || got != want {
			t.Errorf("ParseValue(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "G", "5", "-1", "4.1", "1e0", "NaN", "0x1", "1.5/08", "1.5/x/660", "1.5/08/660/45/1", "AB"} {
		if v, err := ParseValue(s); err == nil {
			t.Errorf("ParseValue(%q) = %v, want error", s, v)
		}
	}
}

// The documented notation example: "1.5/08/660" (grade/aperture/wavelength).
func TestNotation(t *testing.T) {
	n, err := ParseNotation("1.5/08/660")
	if err != nil {
		t.Fatal(err)
	}
	if n != (Notation{Grade: 1.5, Aperture: 8, Wavelength: 660}) {
		t.Errorf("got %+v", n)
	}
	if s := n.String(); s != "1.5/08/660" {
		t.Errorf("String = %q", s)
	}
	n.Angle = 30
	if s := n.String(); s != "1.5/08/660/30" {
		t.Errorf("String = %q", s)
	}
	r := Report{Overall: 2.3, Scans: 1, Aperture: 10, Wavelength: 670}
	if r.Notation() != "2.3/10/670" || r.Letter() != "C" {
		t.Errorf("report notation %s letter %s", r.Notation(), r.Letter())
	}
}

// Per scan the grade is the lowest parameter grade; overall is the mean of
// the scan grades to one decimal.
func TestFromScans(t *testing.T) {
	one := FromScans(Scan{SC: 4, MOD: 2, UEC: 3, DEC: 4})
	if one.Overall != 2 || one.Scans != 1 {
		t.Errorf("one scan: %+v", one)
	}
	if p, v := one.Lowest(); p != MOD || v != 2 {
		t.Errorf("lowest %s %v", p, v)
	}
	// Five scans with grades 4, 3, 1, 2, 2 (their lowest parameters) -> 12/5 = 2.4.
	scans := []Scan{
		{SC: 4, MOD: 4},
		{SC: 4, MOD: 3},
		{SC: 1, MOD: 4},
		{SC: 3, MOD: 2},
		{SC: 2, MOD: 4},
	}
	r := FromScans(scans...)
	if r.Overall != 2.4 || r.Scans != 5 || r.Letter() != "C" {
		t.Errorf("five scans: %+v", r)
	}
	if r.Params[SC] != 2.8 || r.Params[MOD] != 3.4 {
		t.Errorf("param means %v", r.Params)
	}
	// One decimal: (4+3+3)/3 = 3.333 -> 3.3
	if g := FromScans(Scan{SC: 4}, Scan{SC: 3}, Scan{SC: 3}).Overall; g != 3.3 {
		t.Errorf("rounding: %v", g)
	}
	if FromScans().Graded() {
		t.Error("no scans must be ungraded")
	}
	if s := one.String(); !strings.HasPrefix(s, "C (2.0/-/-)") || !strings.Contains(s, "MOD=C") {
		t.Errorf("String = %q", s)
	}
}

// Thresholds from device-protocols.md (AN, GN, UEC) and ISO/IEC 15415 SC.
func TestThresholds(t *testing.T) {
	type c struct {
		f    func(float64) float64
		name string
		v    float64
		want float64
	}
	for _, tc := range []c{
		{AxialGrade, "AN", 0.06, 4}, {AxialGrade, "AN", 0.061, 3}, {AxialGrade, "AN", 0.08, 3}, {AxialGrade, "AN", 0.10, 2},
		{AxialGrade, "AN", 0.12, 1}, {AxialGrade, "AN", 0.13, 0},
		{GridGrade, "GN", 0.38, 4}, {GridGrade, "GN", 0.50, 3}, {GridGrade, "GN", 0.63, 2}, {GridGrade, "GN", 0.75, 1}, {GridGrade, "GN", 0.76, 0},
		{UECGrade, "UEC", 0.62, 4}, {UECGrade, "UEC", 0.61, 3}, {UECGrade, "UEC", 0.50, 3}, {UECGrade, "UEC", 0.37, 2},
		{UECGrade, "UEC", 0.25, 1}, {UECGrade, "UEC", 0.24, 0},
		{ContrastGrade, "SC", 0.70, 4}, {ContrastGrade, "SC", 0.55, 3}, {ContrastGrade, "SC", 0.40, 2}, {ContrastGrade, "SC", 0.20, 1}, {ContrastGrade, "SC", 0.19, 0},
	} {
		if got := tc.f(tc.v); got != tc.want {
			t.Errorf("%s(%v) = %v, want %v", tc.name, tc.v, got, tc.want)
		}
	}
}

func TestPolicy(t *testing.T) {
	p := DefaultPolicy()
	// EU FMD: 1.5 passes, 1.4 fails.
	if ok, _ := p.Check(Report{Overall: 1.5, Scans: 1}); !ok {
		t.Error("1.5 must pass the default policy")
	}
	ok, failing := p.Check(Report{Overall: 1.4, Scans: 1})
	if ok || failing != Overall {
		t.Errorf("1.4 overall-only: ok=%v failing=%s", ok, failing)
	}
	// Overall fails: the failing param is the lowest-graded one.
	r := FromScans(Scan{SC: 4, MOD: 1, UEC: 3})
	v := p.Evaluate(r)
	if v.OK || v.Param != MOD || v.Grade != 1 || v.Min != 1.5 || !strings.Contains(v.Reason, "lowest parameter MOD") {
		t.Errorf("verdict %+v", v)
	}
	// Per-parameter minimum: SC C or better.
	p.MinParam = map[Param]float64{SC: 2}
	v = p.Evaluate(FromScans(Scan{SC: 1, MOD: 4, UEC: 4}))
	if v.OK || v.Param != SC || !strings.Contains(v.Reason, "parameter SC grade 1.0 (D) below minimum 2.0") {
		t.Errorf("per-param verdict %+v", v)
	}
	v = p.Evaluate(FromScans(Scan{MOD: 4}))
	if v.OK || v.Param != SC || !strings.Contains(v.Reason, "not reported") {
		t.Errorf("missing param verdict %+v", v)
	}
	// Ungraded reads fail unless allowed.
	if ok, f := p.Check(Report{}); ok || f != Overall {
		t.Errorf("ungraded: %v %s", ok, f)
	}
	p.AllowUngraded = true
	if ok, _ := p.Check(Report{}); !ok {
		t.Error("ungraded must pass with AllowUngraded")
	}
}

func TestConfig(t *testing.T) {
	var c Config
	if err := configs.DecodeStrictBytes("grading.yaml", []byte(`
min_overall: 1.5
min_param: {SC: 2.0}
profiles:
  us-dscsa: {min_overall: 1.0}
  eu-fmd-de: {min_param: {MOD: 2.5}}
`), &c); err != nil {
		t.Fatal(err)
	}
	if pr := c.Validate(); len(pr) != 0 {
		t.Fatal(pr.Err())
	}
	us := c.Policy("us-dscsa")
	if us.MinOverall != 1.0 || us.MinParam[SC] != 2 {
		t.Errorf("us: %+v", us)
	}
	de := c.Policy("eu-fmd-de")
	if de.MinOverall != 1.5 || de.MinParam[MOD] != 2.5 || de.MinParam[SC] != 2 {
		t.Errorf("de: %+v", de)
	}
	if d := (Config{}).Policy(""); d.MinOverall != DefaultMinOverall || d.MinParam != nil {
		t.Errorf("default: %+v", d)
	}
	bad := Config{MinOverall: 5, MinParam: map[string]float64{"XX": 1, "SC": -1}, Profiles: map[string]ProfileConfig{"eu": {MinOverall: 9}}}
	pr := bad.Validate()
	msg := pr.Err().Error()
	for _, want := range []string{"min_overall: must be a grade between 0 and 4", "min_param.XX: unknown grade parameter", "min_param.SC: must be", "profiles.eu.min_overall"} {
		if !strings.Contains(msg, want) {
			t.Errorf("validate: %q lacks %q", msg, want)
		}
	}
	if err := configs.DecodeStrictBytes("g.yaml", []byte("min_overal: 1\n"), &c); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestParseParam(t *testing.T) {
	for _, s := range []string{"ALL", "dec", "SC", "Contrast", "MOD", "RM", "FPD", "AN", "GN", "UEC", "PGH", "PGV"} {
		if _, err := ParseParam(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseParam("QQ"); err == nil {
		t.Error("QQ accepted")
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"A", "F", "2.5", "1.5/08/660", "4.0/10/670/45", "", "9", "1e5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseValue(s)
		if err == nil && (v < 0 || v > 4) {
			t.Fatalf("ParseValue(%q) = %v out of range", s, v)
		}
	})
}
