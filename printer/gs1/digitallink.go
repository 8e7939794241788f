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

// ParseDigitalLink parses a GS1 Digital Link URI into a message, with the
// GS1 Barcode Syntax Engine's rules (listed in printer/README.md): numeric
// AIs only (convenience alphas such as /gtin/ need
// Options.PermitConvenienceAlphas), the primary key and its qualifiers in
// the path in one of the dictionary's sequences, data attributes in the
// query, each AI once. The element order is: primary key, qualifiers, then
// query attributes in URI order. Query parameters whose names are not all
// digits are not AIs and are ignored, as the standard requires.
func ParseDigitalLink(uri string) (Message, error) { return Options{}.ParseDigitalLink(uri) }

// ParseDigitalLink is ParseDigitalLink with o's validation rules.
func (o Options) ParseDigitalLink(uri string) (Message, error) {
	elems, err := o.splitDigitalLink(uri)
	if err != nil {
		return Message{}, err
	}
	return o.build(elems)
}

// uriChars are the characters a URI may contain (RFC 3986 unreserved,
// reserved and "%").
var uriChars = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%" {
		t[c] = true
	}
	return
}()

// badDomainChars may not appear in a Digital Link URI's domain.
const badDomainChars = "_~?#@!$&'()*+,;=%"

func dlErr(ai, msg string) *Error { return newErr(ai, 0, RuleDigitalLnk, msg) }

func (o Options) splitDigitalLink(uri string) ([]Element, error) {
	for i := 0; i < len(uri); i++ {
		if !uriChars[uri[i]] {
			return nil, newErr("", i+1, RuleDigitalLnk, "URI contains an illegal character "+quote(uri[i:i+1]))
		}
	}
	var rest string
	switch {
	case strings.HasPrefix(uri, "https://"), strings.HasPrefix(uri, "HTTPS://"):
		rest = uri[8:]
	case strings.HasPrefix(uri, "http://"), strings.HasPrefix(uri, "HTTP://"):
		rest = uri[7:]
	default:
		return nil, dlErr("", "scheme must be http:// or https:// (all lower or all upper case)")
	}
	slash := strings.IndexByte(rest, '/')
	if slash < 1 {
		return nil, dlErr("", "URI has no domain and path")
	}
	if i := strings.IndexAny(rest[:slash], badDomainChars); i >= 0 {
		return nil, dlErr("", "domain contains an illegal character "+quote(rest[i:i+1]))
	}
	path := rest[slash:]
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path = path[:i] // the fragment is not data
	}
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	segs := strings.Split(path, "/")[1:] // path starts with "/"
	// The DL path info starts at the last "/AI/value" pair, walking back
	// from the end over known AIs, whose AI is a primary key.
	start := -1
	for i := len(segs) - 2; i >= 0; i -= 2 {
		d := o.pathAI(segs[i])
		if d == nil {
			break
		}
		if d.dlpkey {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, dlErr("", "no GS1 Digital Link primary key AI/value pair in the URI path")
	}
	var elems []Element
	key := o.pathAI(segs[start])
	for j := start; j < len(segs); j += 2 {
		d := o.pathAI(segs[j])
		if segs[j+1] == "" {
			return nil, dlErr(d.ai, "empty value in the URI path")
		}
		v, err := url.PathUnescape(segs[j+1])
		if err != nil {
			return nil, dlErr(d.ai, "bad percent-encoding in path value")
		}
		if strings.IndexByte(v, 0) >= 0 {
			return nil, dlErr(d.ai, "path value decodes to a NUL character")
		}
		if d.ai == "01" && o.PermitZeroSuppressedGTIN && (len(v) == 8 || len(v) == 12 || len(v) == 13) {
			v = strings.Repeat("0", 14-len(v)) + v
		}
		elems = append(elems, Element{AI: d.ai, Value: v})
	}
	if !validPathSeq(key, elems) {
		return nil, dlErr(elems[1].AI, "AI is not a qualifier of key ("+key.ai+") or is out of order (the path's AIs must be one of the key's qualifier sequences)")
	}
	npath := len(elems)
	for _, kv := range strings.Split(query, "&") {
		name, v, hasValue := strings.Cut(kv, "=")
		if !hasValue || name == "" || !allDigits(name) {
			continue // a singleton or a non-AI parameter: not AI data
		}
		d := lookupAI(name)
		if d == nil {
			return nil, dlErr(name, "unknown AI in the query parameters")
		}
		if v == "" {
			return nil, dlErr(d.ai, "empty value in the query parameters")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, dlErr(d.ai, "bad percent-encoding in query value")
		}
		if strings.IndexByte(val, 0) >= 0 {
			return nil, dlErr(d.ai, "query value decodes to a NUL character")
		}
		if d.ai == "01" && o.PermitZeroSuppressedGTIN && (len(val) == 8 || len(val) == 12 || len(val) == 13) {
			val = strings.Repeat("0", 14-len(val)) + val
		}
		elems = append(elems, Element{AI: d.ai, Value: val})
	}
	for i := range elems {
		for j := 0; j < i; j++ {
			if elems[j].AI == elems[i].AI {
				return nil, dlErr(elems[i].AI, "AI appears twice in the URI")
			}
		}
	}
	for _, e := range elems[npath:] {
		d := lookupAI(e.AI)
		if !d.dlAttr {
			return nil, dlErr(e.AI, "AI is not permitted as a Digital Link data attribute")
		}
		// an attribute that would make a valid key-qualifier sequence in
		// the path belongs there
		for k := 1; k <= npath; k++ {
			seq := append(append(append([]Element(nil), elems[:k]...), e), elems[k:npath]...)
			if validPathSeq(key, seq) {
				return nil, dlErr(e.AI, "AI must be in the URI path as a qualifier of key ("+key.ai+"), not in the query")
			}
		}
	}
	return elems, nil
}

// pathAI resolves a path segment to an AI: numeric, or a convenience alpha
// when o permits them.
func (o Options) pathAI(seg string) *aiDef {
	if o.PermitConvenienceAlphas && len(seg) >= 3 && len(seg) <= 14 && (seg[0] < '0' || seg[0] > '9') {
		if ai, ok := shortNames[seg]; ok {
			return lookupAI(ai)
		}
	}
	if !allDigits(seg) {
		return nil
	}
	return lookupAI(seg)
}

// validPathSeq reports whether the path AIs (key first) follow one of the
// key's qualifier sequences in order, each qualifier optional.
func validPathSeq(key *aiDef, path []Element) bool {
	quals := path[1:]
	if len(quals) == 0 {
		return true
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
			return true
		}
	}
	return false
}

// isDLKey reports whether d may be the primary key of a Digital Link
// path: the dictionary's dlpkey AIs (as the GS1 Syntax Engine has it).
func isDLKey(d *aiDef) bool { return d.dlpkey }

func dlAI(s string) string {
	if ai, ok := shortNames[s]; ok {
		return ai
	}
	return s
}

// sortedAIs is used by tests to compare messages regardless of order.
func sortedAIs(elems []Element) []Element {
	out := append([]Element(nil), elems...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].AI < out[j].AI })
	return out
}
