// Package grade is Serialine's one model of ISO/IEC 15415 print-quality
// grades for 2D matrix symbols (GS1 DataMatrix), as reported by inline
// verifying cameras, and the policy deciding whether a grade is good enough
// for a market.
//
// Scale: A/B/C/D/F = 4/3/2/1/0. Per scan, the scan grade is the lowest
// parameter grade; the overall symbol grade is the mean of the scan grades to
// one decimal, reported as grade/aperture/wavelength[/angle], e.g.
// "1.5/08/660". EU Delegated Regulation 2016/161 art. 6(4) presumes a grade
// of at least 1.5 compliant, which is the default Policy minimum.
//
// Print growth (PGH horizontal, PGV vertical) is reported but not graded:
// ISO/IEC 15415 lists it for process control only, so it is a measured
// value (Report.PrintGrowth, a signed fraction of the nominal module), never
// part of a scan grade or the overall grade, and a policy cannot set a
// minimum for it. A read the camera did not grade is "ungraded" (never
// grade 0.0, which is an F), and an aperture or wavelength the camera did
// not state is "-" in the ISO statement, never 00.
package grade

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Param names one ISO/IEC 15415 grading parameter, by the abbreviation the
// cameras use (Keyence SR: ALL, DEC, SC, MOD, RM, FPD, AN, GN, UEC).
type Param string

// The grading parameters. Overall is the symbol grade itself (Keyence "ALL").
const (
	Overall Param = "ALL" // overall symbol grade (lowest parameter per scan, mean over scans)
	DEC     Param = "DEC" // decode (pass = A, fail = F)
	SC      Param = "SC"  // symbol contrast
	MOD     Param = "MOD" // modulation
	RM      Param = "RM"  // reflectance margin
	FPD     Param = "FPD" // fixed pattern damage
	AN      Param = "AN"  // axial nonuniformity
	GN      Param = "GN"  // grid nonuniformity
	UEC     Param = "UEC" // unused error correction
	PGH     Param = "PGH" // print growth horizontal: measured, not graded
	PGV     Param = "PGV" // print growth vertical: measured, not graded
)

// Graded reports whether p is a graded parameter: every one but print
// growth (PGH, PGV), which ISO/IEC 15415 reports without a grade.
func (p Param) Graded() bool { return p != PGH && p != PGV }

// ParseGrowth parses a print growth as a camera reports it: a percentage
// ("12%", "-8.5%") or a signed fraction of the nominal module ("+0.12",
// "-0.085"), into the fraction; |growth| must not exceed 1 (100 %).
func ParseGrowth(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	num := strings.TrimSuffix(t, "%")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(num, "eExXpP_") {
		return 0, fmt.Errorf("grade: print growth %q is not a number (a percentage like 12%% or a fraction like +0.12)", s)
	}
	if pct {
		v /= 100
	}
	if v < -1 || v > 1 {
		return 0, fmt.Errorf("grade: print growth %q is beyond ±100%%", s)
	}
	return v, nil
}

// FormatGrowth writes a print growth fraction as a signed percentage with
// one decimal ("+12.0%").
func FormatGrowth(v float64) string { return fmt.Sprintf("%+.1f%%", v*100) }

// params lists the parameters (without Overall) in the order cameras
// usually report them; renderers use this order.
var params = [...]Param{DEC, SC, MOD, RM, FPD, AN, GN, UEC, PGH, PGV}

// Params returns the known parameters (without Overall) in canonical
// report order: the graded ones, then print growth (PGH, PGV).
func Params() []Param { return append([]Param(nil), params[:]...) }

// ParseParam returns the Param for an abbreviation, case-insensitive. It
// accepts the common long spellings too (CONTRAST, MODULATION, …).
func ParseParam(s string) (Param, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	switch u {
	case "ALL", "OVERALL", "OVR", "GRADE":
		return Overall, nil
	case "DEC", "DECODE":
		return DEC, nil
	case "SC", "CONTRAST", "SYMBOLCONTRAST":
		return SC, nil
	case "MOD", "MODULATION":
		return MOD, nil
	case "RM", "REFLECTANCEMARGIN":
		return RM, nil
	case "FPD", "FIXEDPATTERNDAMAGE":
		return FPD, nil
	case "AN", "AXIAL", "AXIALNONUNIFORMITY":
		return AN, nil
	case "GN", "GRID", "GRIDNONUNIFORMITY":
		return GN, nil
	case "UEC", "UNUSEDEC", "UNUSEDERRORCORRECTION":
		return UEC, nil
	case "PGH":
		return PGH, nil
	case "PGV":
		return PGV, nil
	}
	return "", fmt.Errorf("grade: unknown parameter %q (want one of ALL, DEC, SC, MOD, RM, FPD, AN, GN, UEC, PGH, PGV)", s)
}

// Letter returns the ISO/IEC 15415 letter for a numeric grade: A ≥ 3.5,
// B ≥ 2.5, C ≥ 1.5, D ≥ 0.5, else F.
func Letter(v float64) string {
	switch {
	case v >= 3.5:
		return "A"
	case v >= 2.5:
		return "B"
	case v >= 1.5:
		return "C"
	case v >= 0.5:
		return "D"
	}
	return "F"
}

// Number returns the numeric grade of a letter A/B/C/D/F (4..0),
// case-insensitive. E is accepted as F (some readers print it).
func Number(letter string) (float64, error) {
	switch strings.ToUpper(letter) {
	case "A":
		return 4, nil
	case "B":
		return 3, nil
	case "C":
		return 2, nil
	case "D":
		return 1, nil
	case "E", "F":
		return 0, nil
	}
	return 0, fmt.Errorf("grade: %q is not a grade letter (A, B, C, D or F)", letter)
}

// ParseValue parses one grade as a camera prints it: a letter A–F, a number
// 0–4 (integer or decimal, "2.5"), or ISO notation grade/aperture/wavelength
// ("1.5/08/660", of which only the grade is returned; see ParseNotation).
func ParseValue(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("grade: empty grade")
	}
	if i := strings.IndexByte(t, '/'); i >= 0 {
		n, err := ParseNotation(t)
		if err != nil {
			return 0, err
		}
		return n.Grade, nil
	}
	if len(t) == 1 && (t[0] >= 'A' && t[0] <= 'F' || t[0] >= 'a' && t[0] <= 'f') {
		return Number(t)
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || strings.ContainsAny(t, "eExXpP_") {
		return 0, fmt.Errorf("grade: %q is not a grade (letter A–F or number 0–4)", s)
	}
	if v < 0 || v > 4 {
		return 0, fmt.Errorf("grade: %q is out of range 0–4", s)
	}
	return v, nil
}

// Notation is an ISO/IEC 15415 grade statement: grade/aperture/wavelength
// [/angle], e.g. 1.5/08/660 (aperture in thousandths of an inch, wavelength
// in nm, angle in degrees; 45 when absent).
type Notation struct {
	Grade      float64 // overall grade 0.0–4.0
	Aperture   int     // measuring aperture, mils (thousandths of an inch)
	Wavelength int     // illumination wavelength, nm
	Angle      int     // illumination angle, degrees; 0 = not stated (45° implied)
}

// ParseNotation parses "grade/aperture/wavelength[/angle]"; "-" for an
// aperture, wavelength or angle the camera did not state reads as 0.
func ParseNotation(s string) (Notation, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) < 3 || len(parts) > 4 {
		return Notation{}, fmt.Errorf("grade: %q is not grade/aperture/wavelength[/angle] notation", s)
	}
	var n Notation
	g, err := ParseValue(parts[0])
	if err != nil {
		return Notation{}, fmt.Errorf("grade: notation %q: %w", s, err)
	}
	n.Grade = g
	ints := []*int{&n.Aperture, &n.Wavelength, &n.Angle}
	names := []string{"aperture", "wavelength", "angle"}
	for i, p := range parts[1:] {
		if p == "-" {
			continue // not stated
		}
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 9999 || p == "" || p[0] == '+' || p[0] == '-' {
			return Notation{}, fmt.Errorf("grade: notation %q: bad %s %q", s, names[i], p)
		}
		*ints[i] = v
	}
	return n, nil
}

// String formats the notation as "1.5/08/660" (with "/angle" when set); an
// aperture or wavelength that is not known (0) is "-", not a number.
func (n Notation) String() string {
	ap, wl := "-", "-"
	if n.Aperture > 0 {
		ap = fmt.Sprintf("%02d", n.Aperture)
	}
	if n.Wavelength > 0 {
		wl = strconv.Itoa(n.Wavelength)
	}
	s := fmt.Sprintf("%.1f/%s/%s", n.Grade, ap, wl)
	if n.Angle != 0 {
		s += fmt.Sprintf("/%d", n.Angle)
	}
	return s
}

// Scan is one scan's parameter grades (0–4 each).
type Scan map[Param]float64

// Report is the grade of one symbol as read: overall grade, per-parameter
// grades and how many scans they come from. The zero Report means "not
// graded" (the camera sent no quality data).
type Report struct {
	// Overall is the overall symbol grade, 0.0–4.0, one decimal.
	Overall float64
	// Params are the parameter grades (mean over scans, one decimal).
	// Overall and print growth are not in this map.
	Params map[Param]float64
	// PrintGrowth holds the measured print growth (PGH, PGV) when the
	// camera reported it: a signed fraction of the nominal module (+0.12 =
	// 12 % too wide), mean over the scans that measured it. It is reported
	// only, never graded.
	PrintGrowth map[Param]float64
	// Scans is how many scans the grade is averaged over (≥1 when graded;
	// 0 = no grade reported).
	Scans int
	// Aperture (mils) and Wavelength (nm) of the measurement, 0 = unknown.
	Aperture   int
	Wavelength int
}

// Graded reports whether the camera sent any grade.
func (r Report) Graded() bool { return r.Scans > 0 }

// Letter is the overall grade's letter.
func (r Report) Letter() string { return Letter(r.Overall) }

// Notation returns the ISO statement "1.5/08/660" (aperture and wavelength
// as reported; "-" when unknown), or "ungraded".
func (r Report) Notation() string {
	if !r.Graded() {
		return "ungraded"
	}
	return Notation{Grade: r.Overall, Aperture: r.Aperture, Wavelength: r.Wavelength}.String()
}

// Lowest returns the parameter with the lowest grade (ties: canonical order)
// and its grade; Overall and r.Overall when there are no parameter grades.
func (r Report) Lowest() (Param, float64) {
	best, val := Overall, r.Overall
	first := true
	for _, p := range r.sortedParams() {
		v := r.Params[p]
		if first || v < val {
			best, val, first = p, v, false
		}
	}
	return best, val
}

func (r Report) sortedParams() []Param {
	out := make([]Param, 0, len(r.Params))
	for p := range r.Params {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return paramRank(out[i]) < paramRank(out[j]) })
	return out
}

func paramRank(p Param) int {
	for i, q := range params {
		if q == p {
			return i
		}
	}
	return len(params) + int(p[0]) // unknown names after known ones; deterministic
}

// String is a compact form: "B (3.0/08/660) SC=A MOD=B … PGH=+12.0%"
// (print growth as measured, not graded); "ungraded" when the camera sent
// no grade.
func (r Report) String() string {
	var b strings.Builder
	if !r.Graded() {
		b.WriteString("ungraded")
	} else {
		fmt.Fprintf(&b, "%s (%s)", r.Letter(), r.Notation())
		for _, p := range r.sortedParams() {
			fmt.Fprintf(&b, " %s=%s", p, Letter(r.Params[p]))
		}
	}
	for _, p := range []Param{PGH, PGV} {
		if v, ok := r.PrintGrowth[p]; ok {
			fmt.Fprintf(&b, " %s=%s", p, FormatGrowth(v))
		}
	}
	return b.String()
}

// Round1 rounds a grade to one decimal as ISO/IEC 15415 reports it.
func Round1(v float64) float64 { return math.Round(v*10) / 10 }

// FromScans builds a Report from per-scan parameter grades: each scan's
// grade is its lowest parameter grade, the overall grade the mean of the
// scan grades (one decimal); Params holds each parameter's mean over the
// scans that graded it. Print growth values in a scan (PGH, PGV: measured
// fractions, see ParseGrowth) go to PrintGrowth and take no part in any
// grade; a scan with nothing but print growth is not a graded scan. It
// returns an ungraded Report (Scans 0) when no scan carries a grade.
func FromScans(scans ...Scan) Report {
	if len(scans) == 0 {
		return Report{}
	}
	sum := 0.0
	graded := 0 // scans with a grade (a scan with print growth only has none)
	psum := map[Param]float64{}
	pn := map[Param]int{}
	gsum := map[Param]float64{}
	gn := map[Param]int{}
	for _, s := range scans {
		low := math.Inf(1)
		for p, v := range s {
			if p == Overall {
				continue
			}
			if !p.Graded() {
				gsum[p] += v
				gn[p]++
				continue
			}
			if v < low {
				low = v
			}
			psum[p] += v
			pn[p]++
		}
		if math.IsInf(low, 1) {
			ov, ok := s[Overall] // a scan with only an overall grade
			if !ok {
				continue
			}
			low = ov
		}
		sum += low
		graded++
	}
	var r Report
	if graded > 0 {
		r = Report{Overall: Round1(sum / float64(graded)), Scans: graded, Params: map[Param]float64{}}
		for p, v := range psum {
			r.Params[p] = Round1(v / float64(pn[p]))
		}
	}
	for p, v := range gsum {
		if r.PrintGrowth == nil {
			r.PrintGrowth = map[Param]float64{}
		}
		r.PrintGrowth[p] = v / float64(gn[p])
	}
	return r
}
