// Package gs1 parses, validates and emits GS1 element strings: the bracketed
// form "(01)09501101530003(21)ABC", the raw form a scanner returns (FNC1/GS
// separators, optional "]d2" symbology identifier) and GS1 Digital Link URIs.
// Validation uses the whole AI table generated from the GS1 Barcode Syntax
// Dictionary (aitable_gen.go): lengths, character sets 82/39/64, numeric
// fields, check digits, dates, the dictionary's linters, repeated AIs and the
// required/excluded AI associations.
package gs1

import (
	"strings"
)

// GS is the ASCII group separator that stands for FNC1 between element
// strings in the transmitted data of a GS1 symbol.
const GS = '\x1d'

// Element is one AI and its value.
type Element struct {
	AI    string
	Value string
}

// Message is an ordered list of validated element strings. The zero value is
// an empty message. Messages are immutable values; build them with New or
// the Parse functions.
type Message struct {
	elems []Element
}

// Options tune validation. The zero value applies every rule.
type Options struct {
	// SkipAssociations switches off the dictionary's req= rules (useful
	// when a message is one of several carriers on an item, whose other
	// carriers hold the required AIs). The ex= rules stay on, as in the
	// GS1 Syntax Engine, where AIs that exclude each other are an error
	// whatever else the item carries.
	SkipAssociations bool
	// PermitConvenienceAlphas accepts the deprecated Digital Link
	// convenience names in the URI path (/gtin/…/ser/…), as the GS1
	// Syntax Engine does when told to; off by default, as there.
	PermitConvenienceAlphas bool
	// PermitZeroSuppressedGTIN accepts GTIN-8/12/13 in a Digital Link's
	// (01) and pads them to 14 digits, as the GS1 Syntax Engine does when
	// told to; off by default, as there.
	PermitZeroSuppressedGTIN bool
}

// New builds a message from elements and validates it with every rule.
func New(elems ...Element) (Message, error) {
	return Options{}.New(elems...)
}

// New builds a message from elements and validates it with o's rules.
func (o Options) New(elems ...Element) (Message, error) {
	m := Message{elems: append([]Element(nil), elems...)}
	if err := o.validate(m.elems); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Elements returns a copy of the message's elements in order.
func (m Message) Elements() []Element { return append([]Element(nil), m.elems...) }

// Len is the number of elements.
func (m Message) Len() int { return len(m.elems) }

// Value returns the value of the first element with the given AI.
func (m Message) Value(ai string) (string, bool) {
	for _, e := range m.elems {
		if e.AI == ai {
			return e.Value, true
		}
	}
	return "", false
}

// Parse detects the syntax of s: "(" starts the bracketed form, "http://" or
// "https://" a Digital Link URI, anything else the raw element string.
func Parse(s string) (Message, error) { return Options{}.Parse(s) }

// Parse is Parse with o's validation rules.
func (o Options) Parse(s string) (Message, error) {
	switch {
	case strings.HasPrefix(s, "("):
		return o.ParseBracketed(s)
	case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") ||
		strings.HasPrefix(s, "HTTPS://") || strings.HasPrefix(s, "HTTP://"):
		return o.ParseDigitalLink(s)
	default:
		return o.ParseRaw(s)
	}
}

// ParseBracketed parses "(01)09501101530003(17)290331(10)AB\(1)": each AI
// in parentheses, followed by its value; a literal "(" in a value is written
// "\(".
func ParseBracketed(s string) (Message, error) { return Options{}.ParseBracketed(s) }

// ParseBracketed is ParseBracketed with o's validation rules.
func (o Options) ParseBracketed(s string) (Message, error) {
	elems, err := splitBracketed(s, '(', ')', true, nil)
	if err != nil {
		return Message{}, err
	}
	return o.build(elems)
}

// build validates elems and takes ownership of the slice.
func (o Options) build(elems []Element) (Message, error) {
	if err := o.validate(elems); err != nil {
		return Message{}, err
	}
	return Message{elems: elems}, nil
}

// splitBracketed splits "(AI)value(AI)value…" (or with other brackets).
func splitBracketed(s string, open, close byte, escapes bool, dst []Element) ([]Element, error) {
	if s == "" {
		return nil, newErr("", 0, RuleSyntax, "empty input")
	}
	i := 0
	for i < len(s) {
		if s[i] != open {
			return nil, newErr("", i+1, RuleSyntax, "expected '"+string(open)+"' before an AI at input position "+itoa(i+1))
		}
		end := strings.IndexByte(s[i+1:], close)
		if end < 0 {
			return nil, newErr("", i+1, RuleSyntax, "unterminated AI at input position "+itoa(i+1))
		}
		ai := s[i+1 : i+1+end]
		if len(ai) < 2 || len(ai) > 4 || !allDigits(ai) {
			return nil, newErr(ai, 0, RuleUnknownAI, "AI must be 2 to 4 digits")
		}
		i += end + 2
		// value runs to the next unescaped open bracket
		start := i
		hasEsc := false
		for i < len(s) && s[i] != open {
			if escapes && s[i] == '\\' && i+1 < len(s) && s[i+1] == open {
				hasEsc = true
				i += 2
				continue
			}
			i++
		}
		v := s[start:i]
		if hasEsc {
			v = strings.ReplaceAll(v, "\\"+string(open), string(open))
		}
		dst = append(dst, Element{AI: ai, Value: v})
	}
	return dst, nil
}

// ParseRaw parses an element string as a scanner transmits it: an optional
// symbology identifier ("]d2", "]C1", "]Q3", "]e0", "]J1"), an optional
// leading FNC1 written as GS (0x1D), and GS separators after variable-length
// fields.
func ParseRaw(s string) (Message, error) { return Options{}.ParseRaw(s) }

// ParseRaw is ParseRaw with o's validation rules.
func (o Options) ParseRaw(s string) (Message, error) {
	elems, err := splitRaw(s, nil)
	if err != nil {
		return Message{}, err
	}
	return o.build(elems)
}

func splitRaw(s string, dst []Element) ([]Element, error) {
	if len(s) >= 3 && s[0] == ']' {
		switch s[1:3] {
		case "d2", "C1", "Q3", "e0", "J1":
			s = s[3:]
		default:
			return nil, newErr("", 1, RuleSyntax, "symbology identifier "+quote(s[:3])+" is not a GS1 one (]d2, ]C1, ]Q3, ]e0, ]J1)")
		}
	}
	if len(s) > 0 && s[0] == GS {
		s = s[1:]
	}
	if s == "" {
		return nil, newErr("", 0, RuleSyntax, "empty input")
	}
	pos := 0
	for len(s) > 0 {
		n := aiLenFor(s)
		if n == 0 || len(s) < n {
			pre := s
			if len(pre) > 4 {
				pre = pre[:4]
			}
			return nil, newErr("", pos+1, RuleUnknownAI, "no AI starts with "+quote(pre)+" at input position "+itoa(pos+1))
		}
		ai := s[:n]
		d := lookupAI(ai)
		if d == nil {
			return nil, newErr(ai, 0, RuleUnknownAI, "unknown AI at input position "+itoa(pos+1))
		}
		s = s[n:]
		pos += n
		var v string
		if d.fixed {
			_, max := d.lengths()
			if len(s) < max {
				return nil, newErr(ai, len(s)+1, RuleLength, "value has "+itoa(len(s))+" characters, needs "+itoa(max))
			}
			v = s[:max]
			s = s[max:]
			pos += max
			if len(s) > 0 && s[0] == GS { // tolerated superfluous separator
				s = s[1:]
				pos++
			}
		} else {
			end := strings.IndexByte(s, GS)
			if end < 0 {
				end = len(s)
			}
			v = s[:end]
			s = s[end:]
			pos += end
			if len(s) > 0 {
				s = s[1:] // the separator; one at the very end is tolerated, as by the GS1 Syntax Engine
				pos++
			}
		}
		dst = append(dst, Element{AI: ai, Value: v})
	}
	return dst, nil
}

// ElementString returns the data carried by a GS1 symbol without the leading
// FNC1: element strings in order, a GS (0x1D) after every variable-length
// value that is not last, none after predefined-length AIs. A GS1 decoder
// returns "]d2" followed by exactly this.
func (m Message) ElementString() string {
	return string(m.AppendElementString(nil))
}

// AppendElementString appends ElementString to b (allocation-free batch use).
func (m Message) AppendElementString(b []byte) []byte {
	for i, e := range m.elems {
		b = append(b, e.AI...)
		b = append(b, e.Value...)
		if i < len(m.elems)-1 && !isFixed(e.AI) {
			b = append(b, GS)
		}
	}
	return b
}

func isFixed(ai string) bool {
	d := lookupAI(ai)
	return d != nil && d.fixed
}

// HRI returns the human-readable interpretation: "(01) 09501101530003 (21) ABC".
func (m Message) HRI() string {
	var b strings.Builder
	for i, e := range m.elems {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('(')
		b.WriteString(e.AI)
		b.WriteString(") ")
		b.WriteString(e.Value)
	}
	return b.String()
}

// Bracketed returns "(01)09501101530003(21)ABC", escaping "(" in values as "\(".
func (m Message) Bracketed() string {
	var b strings.Builder
	for _, e := range m.elems {
		b.WriteByte('(')
		b.WriteString(e.AI)
		b.WriteByte(')')
		if strings.IndexByte(e.Value, '(') >= 0 {
			b.WriteString(strings.ReplaceAll(e.Value, "(", "\\("))
		} else {
			b.WriteString(e.Value)
		}
	}
	return b.String()
}

// String is Bracketed.
func (m Message) String() string { return m.Bracketed() }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func itoa(n int) string {
	if n >= 0 && n < 10 {
		return string(rune('0' + n))
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			const hex = "0123456789ABCDEF"
			b.WriteString("\\x")
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// Equal reports whether m and o hold the same elements in the same order.
func (m Message) Equal(o Message) bool {
	if len(m.elems) != len(o.elems) {
		return false
	}
	for i := range m.elems {
		if m.elems[i] != o.elems[i] {
			return false
		}
	}
	return true
}
