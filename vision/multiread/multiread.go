// Package multiread parses (and renders) the result line of a reader set
// up to read many codes in one image — an aggregation camera reading every
// pack through the open case, a DataMan "multicode" or a Keyence SR
// multi-read. The codes come in one result string, separated by a
// delimiter that is the reader's setting (no manual fixes it: it is
// configuration here, as the reference notes ask), optionally led by the
// number of codes the reader found.
//
// Layout: [count PrefixSep] code Separator code Separator … ; the no-read
// string alone means nothing was decoded. Each code may start with an AIM
// symbology identifier (]d2, ]d1, ]C1, ]Q3 …), which is split off, and a
// GS standing for the leading FNC1, which is dropped. The separator must
// not occur inside the codes: GS1 element strings use the characters of
// CSET 82 and GS, so the default "|" (not in CSET 82) is safe.
package multiread

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/vision"
)

// Defaults.
const (
	DefaultSeparator = "|"
	DefaultNoRead    = "NOREAD"
)

// Config is a multi-read result format (yaml).
type Config struct {
	// Separator is the delimiter between codes (default "|"). It must not
	// be a character GS1 element strings use.
	Separator string `yaml:"separator"`
	// Count: the line starts with the number of codes and CountSeparator.
	Count bool `yaml:"count"`
	// CountSeparator follows the count (default ":").
	CountSeparator string `yaml:"count_separator"`
	// NoRead is the whole line sent when nothing was decoded (default
	// NOREAD).
	NoRead string `yaml:"no_read"`
}

// Validate reports problems with paths relative to this block.
func (c Config) Validate() configs.Problems {
	var p configs.Problems
	f := c.withDefaults()
	for _, r := range f.Separator {
		if isCSET82(r) || r == 0x1d {
			p.Add("separator", "%q occurs in GS1 element strings (CSET 82 or GS): codes could not be told apart", f.Separator)
			break
		}
	}
	if strings.ContainsAny(f.CountSeparator, "0123456789") {
		p.Add("count_separator", "%q must not contain digits (it ends the count)", f.CountSeparator)
	}
	if f.NoRead == "" {
		p.Add("no_read", "must not be empty")
	}
	return p
}

func (c Config) withDefaults() Config {
	if c.Separator == "" {
		c.Separator = DefaultSeparator
	}
	if c.CountSeparator == "" {
		c.CountSeparator = ":"
	}
	if c.NoRead == "" {
		c.NoRead = DefaultNoRead
	}
	return c
}

func isCSET82(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || strings.ContainsRune("!\"%&'()*+,-./:;<=>?_", r)
}

// Code is one decoded code of a multi-read.
type Code struct {
	Data        string // content, symbology id and leading FNC1 removed; FNC1 separators are GS
	SymbologyID string // "]d2" …, "" when not sent
}

// Read is one multi-read result.
type Read struct {
	Codes  []Code
	NoRead bool
	// Count is the number the reader reported (-1 when the format has none).
	Count int
	Raw   string
}

// Format is a compiled Config.
type Format struct{ c Config }

// New returns the format of c (defaults filled in). It does not validate:
// call c.Validate first for configured input.
func New(c Config) *Format { return &Format{c: c.withDefaults()} }

// Parse splits one result line. A line whose count does not match the
// codes, or with an empty code, is a *vision.LineError (ErrGarbled).
func (f *Format) Parse(line string) (Read, error) {
	r := Read{Raw: line, Count: -1}
	if line == f.c.NoRead {
		r.NoRead = true
		if f.c.Count {
			r.Count = 0
		}
		return r, nil
	}
	rest := line
	if f.c.Count {
		n, after, ok := strings.Cut(line, f.c.CountSeparator)
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 0 {
			return r, &vision.LineError{Source: "multiread", Line: line, Pos: 1, Msg: "expected the code count and " + strconv.Quote(f.c.CountSeparator)}
		}
		r.Count, rest = v, after
		if v == 0 && rest == "" {
			r.NoRead = true
			return r, nil
		}
	}
	pos := len(line) - len(rest)
	for _, part := range strings.Split(rest, f.c.Separator) {
		if part == "" {
			return r, &vision.LineError{Source: "multiread", Line: line, Pos: pos + 1, Msg: "empty code between separators"}
		}
		c := Code{Data: part}
		if len(c.Data) >= 3 && c.Data[0] == ']' {
			c.SymbologyID, c.Data = c.Data[:3], c.Data[3:]
		}
		if strings.HasPrefix(c.Data, "\x1d") {
			c.Data = c.Data[1:]
		}
		if c.Data == "" {
			return r, &vision.LineError{Source: "multiread", Line: line, Pos: pos + 1, Msg: "code without data"}
		}
		r.Codes = append(r.Codes, c)
		pos += len(part) + len(f.c.Separator)
	}
	if r.Count >= 0 && r.Count != len(r.Codes) {
		return r, &vision.LineError{Source: "multiread", Line: line, Pos: 1,
			Msg: fmt.Sprintf("reader says %d codes, line holds %d", r.Count, len(r.Codes))}
	}
	return r, nil
}

// Render writes codes as the reader would (the simulated camera uses it).
func (f *Format) Render(codes []Code) string {
	if len(codes) == 0 {
		if f.c.Count {
			return "0" + f.c.CountSeparator
		}
		return f.c.NoRead
	}
	var b strings.Builder
	if f.c.Count {
		b.WriteString(strconv.Itoa(len(codes)) + f.c.CountSeparator)
	}
	for i, c := range codes {
		if i > 0 {
			b.WriteString(f.c.Separator)
		}
		b.WriteString(c.SymbologyID + c.Data)
	}
	return b.String()
}

// NoReadLine is the line of a read that found no code.
func (f *Format) NoReadLine() string { return f.Render(nil) }
