package gs1

import (
	"net/url"
	"sort"
	"strings"
)

// DefaultDigitalLinkBase is the resolver used when DigitalLink gets "".
const DefaultDigitalLinkBase = "https://id.gs1.org"

// shortNames maps the GS1 Digital Link convenience alphas (legacy URI
// syntax) to AIs; ParseDigitalLink accepts them.
var shortNames = map[string]string{
	"gtin": "01", "itip": "8006", "cpv": "22", "lot": "10", "ser": "21", "exp": "17",
	"sscc": "00", "gln": "414", "glnx": "254", "gdti": "253", "gcn": "255", "ginc": "401",
	"gsin": "402", "shipTo": "410", "billTo": "411", "purchasedFrom": "412", "shipFor": "413",
	"payTo": "415", "glnProd": "416", "party": "417", "giai": "8004", "grai": "8003",
	"gsrn": "8018", "gsrnp": "8017", "cpid": "8010", "cpsn": "8011", "gmn": "8013", "srin": "8019",
	"bbd": "15", "bestBeforeDate": "15", "sellBy": "16", "prodDate": "11", "packDate": "13",
}

// DigitalLink returns the GS1 Digital Link URI of the message: the primary
// key and its qualifiers (in the dictionary's order) in the path, the other
// data attributes as "?AI=value" query parameters in message order.
// base "" means https://id.gs1.org.
func (m Message) DigitalLink(base string) (string, error) {
	if base == "" {
		base = DefaultDigitalLinkBase
	}
	base = strings.TrimRight(base, "/")
	// find the primary key
	var key *aiDef
	keyIdx := -1
	for i, e := range m.elems {
		d := lookupAI(e.AI)
		if d != nil && isDLKey(d) {
			if key != nil {
				// two keys: prefer one that another key qualifies (e.g. 414 with 254)
				continue
			}
			key, keyIdx = d, i
		}
	}
	if key == nil {
		return "", newErr("", 0, RuleDigitalLnk, "no Digital Link primary key (e.g. 01, 00, 414, 8004) in the message")
	}
	used := make([]bool, len(m.elems))
	used[keyIdx] = true
	var b strings.Builder
	b.WriteString(base)
	writeSeg := func(ai, v string) {
		b.WriteByte('/')
		b.WriteString(ai)
		b.WriteByte('/')
		b.WriteString(escapeDL(v))
	}
	writeSeg(key.ai, m.elems[keyIdx].Value)
	// choose the qualifier sequence covering most present qualifiers
	best, bestN := -1, 0
	for si, seq := range key.dlQuals {
		n := 0
		for _, q := range seq {
			if _, ok := m.Value(q); ok {
				n++
			}
		}
		if n > bestN {
			best, bestN = si, n
		}
	}
	if best >= 0 {
		for _, q := range key.dlQuals[best] {
			for i, e := range m.elems {
				if e.AI == q && !used[i] {
					used[i] = true
					writeSeg(q, e.Value)
					break
				}
			}
		}
	}
	sep := byte('?')
	for i, e := range m.elems {
		if used[i] {
			continue
		}
		d := lookupAI(e.AI)
		if d == nil || !d.dlAttr {
			return "", newErr(e.AI, 0, RuleDigitalLnk, "AI is not permitted as a Digital Link data attribute")
		}
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(e.AI)
		b.WriteByte('=')
		b.WriteString(escapeDL(e.Value))
	}
	return b.String(), nil
}

// escapeDL percent-encodes every character outside the URI unreserved set
// (RFC 3986: A-Z a-z 0-9 - . _ ~), as GS1 Digital Link requires for values.
func escapeDL(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// ParseDigitalLink parses a GS1 Digital Link URI (numeric AIs or the
// convenience alphas such as /gtin/…/ser/…) into a message. The element
// order is: primary key, qualifiers, then query attributes in URI order.
// Query parameters that are not AIs are ignored, as the standard requires.
func ParseDigitalLink(uri string) (Message, error) { return Options{}.ParseDigitalLink(uri) }

// ParseDigitalLink is ParseDigitalLink with o's validation rules.
func (o Options) ParseDigitalLink(uri string) (Message, error) {
	elems, err := splitDigitalLink(uri)
	if err != nil {
		return Message{}, err
	}
	return o.build(elems)
}

func splitDigitalLink(uri string) ([]Element, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, newErr("", 0, RuleDigitalLnk, "not a URI: "+err.Error())
	}
	if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "HTTP" && u.Scheme != "HTTPS" {
		return nil, newErr("", 0, RuleDigitalLnk, "scheme must be http or https")
	}
	if u.Host == "" {
		return nil, newErr("", 0, RuleDigitalLnk, "URI has no host")
	}
	raw := u.EscapedPath()
	segs := strings.Split(strings.Trim(raw, "/"), "/")
	// locate the primary key: the first segment naming a key AI such that
	// the rest of the path is AI/value pairs.
	start := -1
	for i := 0; i+1 < len(segs); i++ {
		ai := dlAI(segs[i])
		d := lookupAI(ai)
		if d == nil || !isDLKey(d) || (len(segs)-i)%2 != 0 {
			continue
		}
		ok := true
		for j := i; j < len(segs); j += 2 {
			if lookupAI(dlAI(segs[j])) == nil {
				ok = false
				break
			}
		}
		if ok {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, newErr("", 0, RuleDigitalLnk, "no primary key AI/value pair found in the URI path")
	}
	var elems []Element
	key := lookupAI(dlAI(segs[start]))
	for j := start; j < len(segs); j += 2 {
		ai := dlAI(segs[j])
		v, err := url.PathUnescape(segs[j+1])
		if err != nil {
			return nil, newErr(ai, 0, RuleDigitalLnk, "bad percent-encoding in path value")
		}
		if ai == "01" && len(v) < 14 && (len(v) == 8 || len(v) == 12 || len(v) == 13) {
			v = strings.Repeat("0", 14-len(v)) + v
		}
		if j > start && !qualifies(key, ai) {
			return nil, newErr(ai, 0, RuleDigitalLnk, "AI is not a qualifier of key AI ("+key.ai+") or is out of order")
		}
		elems = append(elems, Element{AI: ai, Value: v})
	}
	if err := checkQualOrder(key, elems[1:]); err != nil {
		return nil, err
	}
	if u.RawQuery != "" {
		for _, kv := range strings.Split(u.RawQuery, "&") {
			if kv == "" {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			ai := dlAI(k)
			d := lookupAI(ai)
			if d == nil {
				continue // not a GS1 AI: other query parameters are permitted
			}
			val, err := url.QueryUnescape(v)
			if err != nil {
				return nil, newErr(ai, 0, RuleDigitalLnk, "bad percent-encoding in query value")
			}
			if !d.dlAttr {
				return nil, newErr(ai, 0, RuleDigitalLnk, "AI is not permitted as a Digital Link data attribute")
			}
			elems = append(elems, Element{AI: ai, Value: val})
		}
	}
	return elems, nil
}

// isDLKey reports whether d may be the primary key of a Digital Link path:
// the dictionary's dlpkey AIs, plus the GLN-based location AIs 410-413 and
// 416 that earlier Digital Link releases (and the Solidsoft test table)
// placed in the path.
func isDLKey(d *aiDef) bool {
	if d.dlpkey {
		return true
	}
	switch d.ai {
	case "410", "411", "412", "413", "416":
		return true
	}
	return false
}

func dlAI(s string) string {
	if ai, ok := shortNames[s]; ok {
		return ai
	}
	return s
}

func qualifies(key *aiDef, ai string) bool {
	for _, seq := range key.dlQuals {
		for _, q := range seq {
			if q == ai {
				return true
			}
		}
	}
	return false
}

// checkQualOrder checks that the path qualifiers follow one of the key's
// qualifier sequences in order.
func checkQualOrder(key *aiDef, quals []Element) error {
	if len(quals) == 0 {
		return nil
	}
	for _, seq := range key.dlQuals {
		k := 0
		ok := true
		for _, q := range quals {
			for k < len(seq) && seq[k] != q.AI {
				k++
			}
			if k == len(seq) {
				ok = false
				break
			}
			k++
		}
		if ok {
			return nil
		}
	}
	return newErr(quals[0].AI, 0, RuleDigitalLnk, "qualifiers of key ("+key.ai+") out of order")
}

// sortedAIs is used by tests to compare messages regardless of order.
func sortedAIs(elems []Element) []Element {
	out := append([]Element(nil), elems...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].AI < out[j].AI })
	return out
}
