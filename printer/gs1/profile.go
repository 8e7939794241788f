package gs1

import "strings"

// Profile is a market's rule for what a pack's code must carry.
type Profile struct {
	// Name identifies the profile ("us-dscsa", "eu-fmd", "eu-fmd-de", …).
	Name string
	// Market describes where it applies.
	Market string
	// Mandatory lists the AIs every message must carry.
	Mandatory []string
	// NHRN is the national healthcare reimbursement number AI (710-715)
	// the market requires, or "".
	NHRN string
}

// profiles are the market profiles, as data.
var profiles = []Profile{
	{Name: "us-dscsa", Market: "United States, Drug Supply Chain Security Act", Mandatory: []string{"01", "21", "10", "17"}},
	{Name: "eu-fmd", Market: "European Union, Falsified Medicines Directive (Delegated Regulation 2016/161)", Mandatory: []string{"01", "21", "10", "17"}},
	{Name: "eu-fmd-de", Market: "Germany (PZN)", Mandatory: []string{"01", "21", "10", "17", "710"}, NHRN: "710"},
	{Name: "eu-fmd-fr", Market: "France (CIP)", Mandatory: []string{"01", "21", "10", "17", "711"}, NHRN: "711"},
	{Name: "eu-fmd-es", Market: "Spain (CN)", Mandatory: []string{"01", "21", "10", "17", "712"}, NHRN: "712"},
	{Name: "eu-fmd-gr", Market: "Greece (DRN)", Mandatory: []string{"01", "21", "10", "17", "713"}, NHRN: "713"},
	{Name: "eu-fmd-pt", Market: "Portugal (AIM)", Mandatory: []string{"01", "21", "10", "17", "714"}, NHRN: "714"},
	{Name: "eu-fmd-us-ndc", Market: "EU pack carrying a US NDC", Mandatory: []string{"01", "21", "10", "17", "715"}, NHRN: "715"},
}

// Profiles returns every known profile.
func Profiles() []Profile { return append([]Profile(nil), profiles...) }

// LookupProfile returns the profile named name.
func LookupProfile(name string) (Profile, error) {
	for _, p := range profiles {
		if strings.EqualFold(p.Name, name) {
			p.Mandatory = append([]string(nil), p.Mandatory...)
			return p, nil
		}
	}
	return Profile{}, ErrUnknownProfile
}

// Check reports the first mandatory AI missing from m.
func (p Profile) Check(m Message) error {
	for _, ai := range p.Mandatory {
		if _, ok := m.Value(ai); !ok {
			return newErr(ai, 0, RuleProfile, "market profile "+p.Name+" requires AI ("+ai+")")
		}
	}
	return nil
}
