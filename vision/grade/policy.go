package grade

import (
	"fmt"
	"sort"
	"strings"

	"github.com/serialine/serialine/configs"
)

// DefaultMinOverall is the default minimum overall grade: EU Delegated
// Regulation 2016/161 art. 6(4) presumes ≥ 1.5 compliant.
const DefaultMinOverall = 1.5

// Policy decides whether a Report is good enough. The zero Policy accepts
// any graded symbol; use DefaultPolicy or Config.Policy.
type Policy struct {
	// Name is the market profile this policy belongs to ("eu-fmd"), for
	// messages only.
	Name string
	// MinOverall is the minimum overall grade (0–4); DefaultMinOverall unless
	// configured.
	MinOverall float64
	// MinParam holds optional per-parameter minimums, e.g. {SC: 2} for
	// "symbol contrast C or better".
	MinParam map[Param]float64
	// AllowUngraded accepts reads that carry no grade at all. Off by
	// default: a camera that stops grading must not pass units silently.
	AllowUngraded bool
}

// DefaultPolicy is MinOverall 1.5, no per-parameter minimums.
func DefaultPolicy() Policy { return Policy{Name: "default", MinOverall: DefaultMinOverall} }

// Verdict is the outcome of a policy check.
type Verdict struct {
	// OK is true when the grade meets the policy.
	OK bool
	// Param is the failing parameter (Overall when the overall grade fails
	// and no parameter grades are known, or when the read is ungraded); ""
	// when OK.
	Param Param
	// Grade is the failing parameter's grade (the overall grade when OK).
	Grade float64
	// Min is the minimum that was not met.
	Min float64
	// Reason is a human sentence: "overall grade 1.0 (D) below minimum 1.5;
	// lowest parameter MOD 1.0".
	Reason string
}

// Check reports whether r meets the policy and, when not, the failing
// parameter. See Evaluate for the details.
func (p Policy) Check(r Report) (ok bool, failing Param) {
	v := p.Evaluate(r)
	return v.OK, v.Param
}

// Evaluate checks r against the policy. Per-parameter minimums are checked
// first (the named parameter fails); then the overall minimum, where the
// failing parameter is the lowest-graded one (the parameter that set the
// scan grade), or Overall when the camera sent only an overall grade.
func (p Policy) Evaluate(r Report) Verdict {
	if !r.Graded() {
		if p.AllowUngraded {
			return Verdict{OK: true, Reason: "ungraded (allowed by policy)"}
		}
		return Verdict{Param: Overall, Min: p.MinOverall, Reason: "no grade reported by the camera"}
	}
	keys := make([]Param, 0, len(p.MinParam))
	for k := range p.MinParam {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return paramRank(keys[i]) < paramRank(keys[j]) })
	for _, k := range keys {
		if !k.Graded() {
			continue // print growth has no grade to hold against a minimum
		}
		min := p.MinParam[k]
		got, have := r.Params[k], true
		if k == Overall {
			got = r.Overall
		} else if _, have = r.Params[k]; !have {
			return Verdict{Param: k, Min: min, Reason: fmt.Sprintf("parameter %s not reported (minimum %.1f)", k, min)}
		}
		if got < min {
			return Verdict{Param: k, Grade: got, Min: min,
				Reason: fmt.Sprintf("parameter %s grade %.1f (%s) below minimum %.1f", k, got, Letter(got), min)}
		}
	}
	if r.Overall < p.MinOverall {
		lp, lv := r.Lowest()
		reason := fmt.Sprintf("overall grade %.1f (%s) below minimum %.1f", r.Overall, Letter(r.Overall), p.MinOverall)
		if lp != Overall {
			reason += fmt.Sprintf("; lowest parameter %s %.1f (%s)", lp, lv, Letter(lv))
		} else {
			lv = r.Overall
		}
		return Verdict{Param: lp, Grade: lv, Min: p.MinOverall, Reason: reason}
	}
	return Verdict{OK: true, Grade: r.Overall, Reason: "grade " + r.Notation() + " meets minimum"}
}

// Config is the grading policy as configured (yaml), per market profile:
//
//	grading:
//	  min_overall: 1.5
//	  min_param: {SC: 2.0}
//	  profiles:
//	    eu-fmd: {min_overall: 1.5}
//	    us-dscsa: {min_overall: 1.5, min_param: {MOD: 1.0}}
type Config struct {
	// MinOverall is the default minimum overall grade; 0 = DefaultMinOverall.
	MinOverall float64 `yaml:"min_overall"`
	// MinParam are default per-parameter minimums, keyed by abbreviation.
	MinParam map[string]float64 `yaml:"min_param"`
	// AllowUngraded accepts reads without any grade (not for regulated markets).
	AllowUngraded bool `yaml:"allow_ungraded"`
	// Profiles override the defaults per market profile name (the batch's
	// GS1 profile, e.g. "eu-fmd"). Unset fields inherit the defaults.
	Profiles map[string]ProfileConfig `yaml:"profiles"`
}

// ProfileConfig overrides the grading policy for one market profile.
type ProfileConfig struct {
	// MinOverall overrides Config.MinOverall when > 0.
	MinOverall float64 `yaml:"min_overall"`
	// MinParam adds to / overrides Config.MinParam per parameter.
	MinParam map[string]float64 `yaml:"min_param"`
}

// Validate reports every problem with its dotted path (relative; Merge it
// under the caller's prefix).
func (c Config) Validate() configs.Problems {
	var pr configs.Problems
	checkMin := func(path string, v float64) {
		if v < 0 || v > 4 {
			pr.Add(path, "must be a grade between 0 and 4, got %v", v)
		}
	}
	checkMin("min_overall", c.MinOverall)
	checkParams := func(path string, m map[string]float64) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			q, err := ParseParam(k)
			if err != nil {
				pr.Add(path+"."+k, "unknown grade parameter (want one of ALL, DEC, SC, MOD, RM, FPD, AN, GN, UEC)")
				continue
			}
			if !q.Graded() {
				pr.Add(path+"."+k, "print growth is reported, not graded (ISO/IEC 15415): it cannot have a minimum")
				continue
			}
			checkMin(path+"."+k, m[k])
		}
	}
	checkParams("min_param", c.MinParam)
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pc := c.Profiles[n]
		if strings.TrimSpace(n) == "" {
			pr.Add("profiles", "empty profile name")
		}
		checkMin("profiles."+n+".min_overall", pc.MinOverall)
		checkParams("profiles."+n+".min_param", pc.MinParam)
	}
	return pr
}

// Policy returns the policy for a market profile: the defaults overridden by
// the profile's entry if there is one. An unknown profile name gets the
// defaults. Call Validate first; invalid parameter names are skipped here.
func (c Config) Policy(profile string) Policy {
	p := Policy{Name: profile, MinOverall: c.MinOverall, AllowUngraded: c.AllowUngraded, MinParam: map[Param]float64{}}
	if p.Name == "" {
		p.Name = "default"
	}
	if p.MinOverall == 0 {
		p.MinOverall = DefaultMinOverall
	}
	add := func(m map[string]float64) {
		for k, v := range m {
			if q, err := ParseParam(k); err == nil && q.Graded() {
				p.MinParam[q] = v
			}
		}
	}
	add(c.MinParam)
	if pc, ok := c.Profiles[profile]; ok {
		if pc.MinOverall > 0 {
			p.MinOverall = pc.MinOverall
		}
		add(pc.MinParam)
	}
	if len(p.MinParam) == 0 {
		p.MinParam = nil
	}
	return p
}
