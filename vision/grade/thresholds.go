package grade

// Measured-value → grade thresholds of ISO/IEC 15415 for the parameters whose
// grade follows from one measured value. The figures for AN, GN and UEC are
// those in ../shared/reference/device-protocols.md; SC uses the ISO/IEC 15415
// symbol contrast steps (A ≥ 70 %, B ≥ 55 %, C ≥ 40 %, D ≥ 20 %).

// ContrastGrade grades symbol contrast SC, given as a fraction 0–1
// (Rmax − Rmin over the reflectance range).
func ContrastGrade(sc float64) float64 { return stepUp(sc, 0.70, 0.55, 0.40, 0.20) }

// AxialGrade grades axial nonuniformity AN (fraction; lower is better):
// A ≤ 0.06, B ≤ 0.08, C ≤ 0.10, D ≤ 0.12.
func AxialGrade(an float64) float64 { return stepDown(an, 0.06, 0.08, 0.10, 0.12) }

// GridGrade grades grid nonuniformity GN (fraction of a module; lower is
// better): A ≤ 0.38, B ≤ 0.50, C ≤ 0.63, D ≤ 0.75.
func GridGrade(gn float64) float64 { return stepDown(gn, 0.38, 0.50, 0.63, 0.75) }

// UECGrade grades unused error correction (fraction; higher is better):
// A ≥ 0.62, B ≥ 0.50, C ≥ 0.37, D ≥ 0.25.
func UECGrade(uec float64) float64 { return stepUp(uec, 0.62, 0.50, 0.37, 0.25) }

// stepUp: grade 4..1 for v ≥ a, b, c, d; else 0.
func stepUp(v, a, b, c, d float64) float64 {
	switch {
	case v >= a:
		return 4
	case v >= b:
		return 3
	case v >= c:
		return 2
	case v >= d:
		return 1
	}
	return 0
}

// stepDown: grade 4..1 for v ≤ a, b, c, d; else 0.
func stepDown(v, a, b, c, d float64) float64 {
	switch {
	case v <= a:
		return 4
	case v <= b:
		return 3
	case v <= c:
		return 2
	case v <= d:
		return 1
	}
	return 0
}
