package vision

import (
	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/vision/grade"
)

// VerifierConfig is the verification policy as configured (yaml). Zero
// values take the defaults documented on VerifierOptions.
type VerifierConfig struct {
	// Window is how many awaiting units a read may match (default 3).
	Window int `yaml:"window"`
	// MaxNoReads: units in a row without a usable read that hold the line
	// (default 3; -1 = never).
	MaxNoReads int `yaml:"max_no_reads"`
	// MaxLowGrades: units in a row below the grade policy that hold the
	// line (default 3; -1 = never).
	MaxLowGrades int `yaml:"max_low_grades"`
	// AllowNonGS1 accepts symbology identifiers other than ]d2.
	AllowNonGS1 bool `yaml:"allow_non_gs1"`
	// Grading is the ISO/IEC 15415 grade policy, per market profile.
	Grading grade.Config `yaml:"grading"`
}

// Validate reports every problem with its path (relative to this block).
func (c VerifierConfig) Validate() configs.Problems {
	var p configs.Problems
	if c.Window < 0 || c.Window > 100 {
		p.Add("window", "must be 0..100 (0 = 3), got %d", c.Window)
	}
	if c.MaxNoReads < -1 {
		p.Add("max_no_reads", "must be >= -1 (-1 = never hold, 0 = 3)")
	}
	if c.MaxLowGrades < -1 {
		p.Add("max_low_grades", "must be >= -1 (-1 = never hold, 0 = 3)")
	}
	p.Merge("grading", c.Grading.Validate())
	return p
}

// Options returns VerifierOptions for a batch of the given market profile
// (the batch's GS1 profile name, e.g. "eu-fmd"). Clock and logger are left
// for the caller.
func (c VerifierConfig) Options(profile string) VerifierOptions {
	return VerifierOptions{
		Policy:       c.Grading.Policy(profile),
		Window:       c.Window,
		MaxNoReads:   c.MaxNoReads,
		MaxLowGrades: c.MaxLowGrades,
		AllowNonGS1:  c.AllowNonGS1,
	}
}
