package gs1

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every validation error is an *Error, which unwraps to
// ErrInvalid so callers can test with errors.Is.
var (
	// ErrInvalid is wrapped by every *Error: the data breaks a GS1 rule.
	ErrInvalid = errors.New("gs1: invalid element string")
	// ErrUnknownProfile is returned by LookupProfile for a name it does not know.
	ErrUnknownProfile = errors.New("gs1: unknown market profile")
	// ErrNoGTIN is returned by EPC and DigitalLink when the message lacks the
	// identifier they need.
	ErrNoGTIN = errors.New("gs1: message has no GTIN (01)")
	// ErrCompanyPrefix is returned by EPC for a company prefix length outside 6..12.
	ErrCompanyPrefix = errors.New("gs1: company prefix length must be 6..12")
)

// Rule names used in Error.Rule. They name the GS1 rule that failed.
const (
	RuleSyntax     = "syntax"      // the input is not a well-formed element string / URI
	RuleUnknownAI  = "unknown-ai"  // no such Application Identifier
	RuleLength     = "length"      // value too short or too long
	RuleNumeric    = "numeric"     // non-digit in a numeric component
	RuleCSET82     = "cset82"      // character outside GS1 AI encodable character set 82
	RuleCSET39     = "cset39"      // character outside GS1 AI encodable character set 39
	RuleCSET64     = "cset64"      // character outside the base64url set (CSET 64)
	RuleCheckDigit = "check-digit" // GS1 mod-10 (or alphanumeric) check character wrong
	RuleDate       = "date"        // not a real calendar date (YYMMDD / YYMMD0 / YYYYMMDD)
	RuleRepeat     = "repeat"      // an AI repeated with a different value
	RuleRequires   = "requires"    // a required associated AI is missing (dictionary req=)
	RuleExcludes   = "excludes"    // an AI appears with one it excludes (dictionary ex=)
	RuleProfile    = "profile"     // a market profile's mandatory AI is missing
	RuleDigitalLnk = "digital-link"
	// RuleSerialRequired: a key whose serial component is optional lacks
	// it while a digital signature (8030) is present.
	RuleSerialRequired = "serial-required"
	// RuleTooManyAIs: more than MaxAIs AIs in one message.
	RuleTooManyAIs = "too-many-ais"
)

// Error describes one broken rule. AI is the Application Identifier
// concerned ("" when the input could not be split into AIs), Pos the 1-based
// position of the offending character within that AI's value (0 when the
// rule concerns the whole element, e.g. an association), Rule one of the
// Rule* names and Msg the human explanation.
type Error struct {
	AI   string
	Pos  int
	Rule string
	Msg  string
}

func (e *Error) Error() string {
	b := make([]byte, 0, 64+len(e.Msg))
	b = append(b, "gs1: "...)
	if e.AI != "" {
		b = append(b, "AI ("...)
		b = append(b, e.AI...)
		b = append(b, ")"...)
	} else {
		b = append(b, "input"...)
	}
	if e.Pos > 0 {
		b = append(b, " position "...)
		b = strconv.AppendInt(b, int64(e.Pos), 10)
	}
	b = append(b, ": "...)
	b = append(b, e.Rule...)
	b = append(b, ": "...)
	b = append(b, e.Msg...)
	return string(b)
}

// Unwrap lets errors.Is(err, ErrInvalid) match every validation error.
func (e *Error) Unwrap() error { return ErrInvalid }

func newErr(ai string, pos int, rule, msg string) *Error {
	return &Error{AI: ai, Pos: pos, Rule: rule, Msg: msg}
}
