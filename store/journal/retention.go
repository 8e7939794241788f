package journal

import (
	"fmt"
	"strings"
	"time"
)

// Retention is how long a batch's archive must be kept: until the later of
// AfterExpiry years past the batch's expiry date and Minimum years past the
// batch's end (its release). EU FMD (Delegated Regulation 2016/161, art. 15):
// at least one year after expiry or five years after release, whichever is
// longer; US DSCSA: six years. AfterExpiry 0 means no rule on the expiry.
type Retention struct {
	AfterExpiry int `json:"after_expiry_years" yaml:"after_expiry_years"`
	Minimum     int `json:"min_years" yaml:"min_years"`
}

// DefaultRetention holds the rules by market profile prefix ("eu-fmd" covers
// "eu-fmd-de"…); "" is the rule for any other profile.
var DefaultRetention = map[string]Retention{
	"eu-fmd":   {AfterExpiry: 1, Minimum: 5},
	"us-dscsa": {AfterExpiry: 0, Minimum: 6},
	"":         {AfterExpiry: 1, Minimum: 6},
}

// RetentionFor returns the rule of profile in rules (nil: DefaultRetention):
// the longest matching prefix, else the "" rule, else the default "" rule.
func RetentionFor(profile string, rules map[string]Retention) Retention {
	if rules == nil {
		rules = DefaultRetention
	}
	best, bestLen, found := Retention{}, -1, false
	for p, r := range rules {
		if p != "" && (profile == p || strings.HasPrefix(profile, p+"-")) && len(p) > bestLen {
			best, bestLen, found = r, len(p), true
		}
	}
	if found {
		return best
	}
	if r, ok := rules[""]; ok {
		return r
	}
	return DefaultRetention[""]
}

// Until is the end of the retention period of a batch with expiry (YYMMDD,
// may be empty; day 00 means the end of the month) that ended at ended.
func (r Retention) Until(expiry string, ended time.Time) time.Time {
	until := ended.UTC().AddDate(r.Minimum, 0, 0)
	if exp, err := expiryDate(expiry); err == nil && !exp.IsZero() && r.AfterExpiry > 0 {
		if t := exp.AddDate(r.AfterExpiry, 0, 0); t.After(until) {
			until = t
		}
	}
	return until
}

// expiryDate turns YYMMDD into the first instant after that day (UTC). GS1
// AI 17: YY is 2000–2099 here (a pharmaceutical line's expiries); DD 00 is
// the last day of the month.
func expiryDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	var y, m, d int
	if len(s) != 6 {
		return time.Time{}, fmt.Errorf("expiry %q is not YYMMDD", s)
	}
	if _, err := fmt.Sscanf(s, "%2d%2d%2d", &y, &m, &d); err != nil || m < 1 || m > 12 {
		return time.Time{}, fmt.Errorf("expiry %q is not YYMMDD", s)
	}
	if d == 0 {
		return time.Date(2000+y, time.Month(m)+1, 1, 0, 0, 0, 0, time.UTC), nil
	}
	return time.Date(2000+y, time.Month(m), d+1, 0, 0, 0, 0, time.UTC), nil
}
