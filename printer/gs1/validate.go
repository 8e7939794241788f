package gs1

import "strings"

// cset82 marks the characters of GS1 AI encodable character set 82.
var cset82 = func() (t [256]bool) {
	for _, c := range "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz" {
		t[c] = true
	}
	return
}()

// cset39 marks the characters of GS1 AI encodable character set 39.
var cset39 = func() (t [256]bool) {
	for _, c := range "#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
		t[c] = true
	}
	return
}()

// cset64 marks the characters of the base64url set (CSET 64); "=" padding is
// handled separately.
var cset64 = func() (t [256]bool) {
	for _, c := range "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz" {
		t[c] = true
	}
	return
}()

// CheckValue validates one AI's value on its own (length, character set,
// check digit, dates and the dictionary's other linters), without
// association rules. The journal uses it for AI 21 serials.
func CheckValue(ai, value string) error {
	d := lookupAI(ai)
	if d == nil {
		if len(ai) < 2 || len(ai) > 4 || !allDigits(ai) {
			return newErr(ai, 0, RuleUnknownAI, "AI must be 2 to 4 digits")
		}
		return newErr(ai, 0, RuleUnknownAI, "AI is not in the GS1 syntax dictionary ("+dictionaryRelease+")")
	}
	if err := checkValue(d, value); err != nil {
		return err
	}
	return nil
}

func checkValue(d *aiDef, v string) *Error {
	min, max := d.lengths()
	if len(v) < min || len(v) > max {
		msg := "value has " + itoa(len(v)) + " characters, "
		if min == max {
			msg += "must have " + itoa(min)
		} else {
			msg += "must have " + itoa(min) + " to " + itoa(max)
		}
		return newErr(d.ai, 1, RuleLength, msg)
	}
	p := 0
	for i := range d.comps {
		c := &d.comps[i]
		rest := len(v) - p
		if rest == 0 {
			if c.optional {
				break
			}
			return newErr(d.ai, p+1, RuleLength, "value too short: component "+itoa(i+1)+" missing")
		}
		n := c.max
		if n > rest {
			n = rest
		}
		if n < c.min {
			return newErr(d.ai, p+1, RuleLength, "component "+itoa(i+1)+" has "+itoa(n)+" characters, needs "+itoa(c.min))
		}
		part := v[p : p+n]
		if err := checkCharset(d.ai, c.kind, part, p); err != nil {
			return err
		}
		for _, l := range c.linters {
			if err := lint(d.ai, l, part, p, v); err != nil {
				return err
			}
		}
		p += n
	}
	if p != len(v) {
		return newErr(d.ai, p+1, RuleLength, "value too long")
	}
	return nil
}

func checkCharset(ai string, k charKind, s string, off int) *Error {
	switch k {
	case kindN:
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return newErr(ai, off+i+1, RuleNumeric, "non-numeric character "+quote(s[i:i+1]))
			}
		}
	case kindX:
		for i := 0; i < len(s); i++ {
			if !cset82[s[i]] {
				return newErr(ai, off+i+1, RuleCSET82, "invalid CSET 82 character "+quote(s[i:i+1]))
			}
		}
	case kindY:
		for i := 0; i < len(s); i++ {
			if !cset39[s[i]] {
				return newErr(ai, off+i+1, RuleCSET39, "invalid CSET 39 character "+quote(s[i:i+1]))
			}
		}
	case kindZ:
		eq := strings.IndexByte(s, '=')
		body := s
		if eq >= 0 {
			body = s[:eq]
		}
		for i := 0; i < len(body); i++ {
			if !cset64[body[i]] {
				return newErr(ai, off+i+1, RuleCSET64, "invalid CSET 64 character "+quote(body[i:i+1]))
			}
		}
		if eq >= 0 {
			pad := s[eq:]
			if strings.Trim(pad, "=") != "" || len(pad) > 2 || len(s)%3 != 0 {
				return newErr(ai, off+eq+1, RuleCSET64, "invalid CSET 64 character '=' (padding only at the end, to a multiple of 3)")
			}
		}
	}
	return nil
}

// validate checks each element and then the message-level rules.
func (o Options) validate(elems []Element) error {
	if len(elems) == 0 {
		return newErr("", 0, RuleSyntax, "no element strings")
	}
	if len(elems) > MaxAIs {
		return newErr("", 0, RuleTooManyAIs, "more than "+itoa(MaxAIs)+" AIs in one message")
	}
	for i := range elems {
		e := &elems[i]
		d := lookupAI(e.AI)
		if d == nil {
			return CheckValue(e.AI, e.Value)
		}
		if err := checkValue(d, e.Value); err != nil {
			return err
		}
		for j := 0; j < i; j++ {
			if elems[j].AI == e.AI && elems[j].Value != e.Value {
				return newErr(e.AI, 0, RuleRepeat, "AI repeated with a different value ("+quote(elems[j].Value)+" then "+quote(e.Value)+")")
			}
		}
	}
	if err := checkDigSig(elems); err != nil {
		return err
	}
	return checkAssociations(elems, !o.SkipAssociations)
}

// MaxAIs is the most AIs one message may hold (the GS1 Syntax Engine's
// limit).
const MaxAIs = 64

// checkDigSig: with a digital signature (8030), the keys whose serial
// component is optional — GDTI (253), GCN (255), GRAI (8003) — must carry
// it, since the signature is over one serialised item (GS1 General
// Specifications; the GS1 Syntax Engine's "digsig serial key" check).
// Applied with or without the association rules.
func checkDigSig(elems []Element) error {
	if !hasPattern(elems, "8030", "") {
		return nil
	}
	for _, e := range elems {
		switch e.AI {
		case "253", "255", "8003":
			if min, _ := lookupAI(e.AI).lengths(); len(e.Value) == min {
				return newErr(e.AI, 0, RuleSerialRequired, "AI ("+e.AI+") must carry its serial component when a digital signature (8030) is present")
			}
		}
	}
	return nil
}

// matchPattern reports whether ai matches a dictionary pattern such as
// "01", "310n" or "35nn" ('n' stands for any digit).
func matchPattern(pat, ai string) bool {
	if len(pat) != len(ai) {
		return false
	}
	for i := 0; i < len(pat); i++ {
		if pat[i] != 'n' && pat[i] != ai[i] {
			return false
		}
	}
	return true
}

func hasPattern(elems []Element, pat, self string) bool {
	for _, e := range elems {
		if e.AI != self && matchPattern(pat, e.AI) {
			return true
		}
	}
	return false
}

// checkAssociations applies the dictionary's ex= rules always and its
// req= rules when requisites is set (as the GS1 Syntax Engine: its mutex
// check cannot be switched off, its requisite check can).
func checkAssociations(elems []Element, requisites bool) error {
	for _, e := range elems {
		d := lookupAI(e.AI)
		for _, ex := range d.ex {
			for _, pat := range ex {
				// Another AI matching the pattern is excluded, even of the
				// same family (3101 with 3102); the AI itself is not.
				if hasPattern(elems, pat, e.AI) {
					return newErr(e.AI, 0, RuleExcludes, "AI ("+e.AI+") may not appear with AI ("+pat+")")
				}
			}
		}
		if !requisites {
			continue
		}
		for _, req := range d.req {
			ok := false
			for _, group := range req {
				all := true
				for _, pat := range group {
					if !hasPattern(elems, pat, e.AI) { // an AI does not satisfy its own requirement
						all = false
						break
					}
				}
				if all {
					ok = true
					break
				}
			}
			if !ok {
				return newErr(e.AI, 0, RuleRequires, "AI ("+e.AI+") requires "+describeReq(req))
			}
		}
	}
	return nil
}

func describeReq(req [][]string) string {
	s := ""
	for i, g := range req {
		if i > 0 {
			s += " or "
		}
		for j, p := range g {
			if j > 0 {
				s += "+"
			}
			s += "(" + p + ")"
		}
	}
	return s
}
