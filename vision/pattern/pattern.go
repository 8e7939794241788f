// Package pattern parses (and renders) camera result lines in a configurable
// format: a pattern of literal text and named fields in braces, for readers
// whose output format is set up on the reader (Omron/Microscan, DataMan
// "formatted output", Keyence appended data …).
//
// Fields:
//
//	{data}     the decoded data (required, once); may contain any byte
//	{symid}    AIM symbology identifier, e.g. ]d2 (optional in the line)
//	{overall}  the overall grade: letter, number 0–4 or 1.5/08/660 notation
//	{SC} {MOD} {RM} {FPD} {AN} {GN} {UEC} {DEC} {PGH} {PGV} {ALL}
//	           one parameter grade: letter A–F or number 0–4
//	{grades}   a list NAME=grade separated by "," ";" or " "
//	           (e.g. ALL=B,SC=A,MOD=B); ALL may use the notation
//	{_}        anything (skipped)
//
// "{{" and "}}" are literal braces. Everything else is literal. The data
// field is matched shortest-first, so a literal after it (a tab, ":") may
// also occur inside the data as long as the rest of the line then matches.
// A leading AIM identifier in the data ("]d2…") is split off into
// SymbologyID when the pattern has no {symid}; after "]d2" a GS standing
// for the leading FNC1 is dropped.
package pattern

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/grade"
)

// Options define a result format.
type Options struct {
	// Pattern is the line layout, e.g. "{symid}{data}\t{overall}\t{grades}".
	Pattern string
	// NoRead is the whole line a reader sends for a no-read ("NOREAD",
	// "ERROR"); "" = the reader sends none.
	NoRead string
	// Numeric makes Render write grades as numbers (3.0) instead of letters.
	Numeric bool
	// Source names the format in errors (default "pattern").
	Source string
}

// Config is Options as configured (yaml).
type Config struct {
	// Pattern is the result line layout (see package doc).
	Pattern string `yaml:"pattern"`
	// NoRead is the line the reader sends for a no-read.
	NoRead string `yaml:"no_read"`
}

// Validate compiles the pattern and reports problems with paths.
func (c Config) Validate() configs.Problems {
	var p configs.Problems
	if _, err := Compile(Options{Pattern: c.Pattern, NoRead: c.NoRead}); err != nil {
		p.Add("pattern", "%v", err)
	}
	return p
}

type kind int

const (
	kLit kind = iota
	kData
	kSymID
	kOverall
	kParam
	kGrades
	kSkip
)

type token struct {
	kind  kind
	lit   string      // kLit
	param grade.Param // kParam
	name  string      // as written
}

// Format is a compiled pattern. It is immutable and safe for concurrent use.
type Format struct {
	o        Options
	toks     []token
	re       *regexp.Regexp
	groups   []int // token index per capture group
	prefixes []*regexp.Regexp
}

const (
	gradeRE    = `[A-Fa-f]|[0-4](?:\.[0-9]{1,3})?`
	notationRE = `(?:[0-4](?:\.[0-9]{1,3})?/(?:[0-9]{1,4}|-)/(?:[0-9]{1,4}|-)(?:/[0-9]{1,4})?)`
	growthRE   = `[+-]?[0-9]{1,3}(?:\.[0-9]{1,4})?%?` // print growth: percentage or fraction
	itemRE     = `[A-Za-z]{2,8}=(?:` + notationRE + `|` + growthRE + `|` + gradeRE + `)`
)

// MustCompile is Compile for a pattern fixed in the program (a driver's
// default): it panics on error, which that driver's tests cover. Never
// use it on configured input.
func MustCompile(o Options) *Format {
	f, err := Compile(o)
	if err != nil {
		panic(err)
	}
	return f
}

// CompileDefault is Compile with defPattern and defNoRead standing in for
// an empty o.Pattern and o.NoRead (a driver config's optional format).
func CompileDefault(o Options, defPattern, defNoRead string) (*Format, error) {
	if o.Pattern == "" {
		o.Pattern = defPattern
	}
	if o.NoRead == "" {
		o.NoRead = defNoRead
	}
	return Compile(o)
}

// Compile parses a pattern.
func Compile(o Options) (*Format, error) {
	if o.Source == "" {
		o.Source = "pattern"
	}
	toks, err := lex(o.Pattern)
	if err != nil {
		return nil, err
	}
	f := &Format{o: o, toks: toks}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i, t := range toks {
		part, group := tokenRE(t)
		b.WriteString(part)
		if group {
			f.groups = append(f.groups, i)
		}
		pre, err := regexp.Compile(b.String())
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %v", o.Pattern, err)
		}
		f.prefixes = append(f.prefixes, pre)
	}
	b.WriteString(`$`)
	f.re, err = regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", o.Pattern, err)
	}
	return f, nil
}

func tokenRE(t token) (string, bool) {
	switch t.kind {
	case kLit:
		return regexp.QuoteMeta(t.lit), false
	case kData:
		return `(.*?)`, true
	case kSymID:
		return `((?:\][A-Za-z][0-9A-Za-z])?)`, true
	case kOverall:
		return `(` + notationRE + `|` + gradeRE + `)`, true
	case kParam:
		if t.param == grade.Overall {
			return `(` + notationRE + `|` + gradeRE + `)`, true
		}
		if !t.param.Graded() {
			return `(` + growthRE + `)`, true
		}
		return `(` + gradeRE + `)`, true
	case kGrades:
		return `(` + itemRE + `(?:[,; ]` + itemRE + `)*)`, true
	case kSkip:
		return `.*?`, false
	}
	return "", false
}

func lex(p string) ([]token, error) {
	var toks []token
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, token{kind: kLit, lit: lit.String()})
			lit.Reset()
		}
	}
	seen := map[string]bool{}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '{' && i+1 < len(p) && p[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(p) && p[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("pattern %q: unmatched } at byte %d (write }} for a literal brace)", p, i+1)
		case c == '{':
			end := strings.IndexByte(p[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("pattern %q: unclosed { at byte %d", p, i+1)
			}
			name := p[i+1 : i+end]
			t := token{name: name}
			switch strings.ToLower(name) {
			case "data":
				t.kind = kData
			case "symid":
				t.kind = kSymID
			case "overall":
				t.kind = kOverall
			case "grades":
				t.kind = kGrades
			case "_":
				t.kind = kSkip
			default:
				prm, err := grade.ParseParam(name)
				if err != nil {
					return nil, fmt.Errorf("pattern %q: unknown field {%s} at byte %d (want data, symid, overall, grades, _ or a grade parameter)", p, name, i+1)
				}
				t.kind, t.param = kParam, prm
			}
			key := strings.ToLower(name)
			if t.kind == kParam {
				key = string(t.param)
			}
			if seen[key] && t.kind != kSkip {
				return nil, fmt.Errorf("pattern %q: field {%s} appears twice", p, name)
			}
			seen[key] = true
			if len(toks) > 0 && lit.Len() == 0 && t.kind != kLit {
				prev := toks[len(toks)-1].kind
				if (prev == kData || prev == kSkip) && (t.kind == kData || t.kind == kSkip || t.kind == kGrades) {
					return nil, fmt.Errorf("pattern %q: {%s} directly after {%s} is ambiguous: put a separator between", p, name, toks[len(toks)-1].name)
				}
			}
			flush()
			toks = append(toks, t)
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	if !seen["data"] {
		return nil, fmt.Errorf("pattern %q: needs a {data} field", p)
	}
	return toks, nil
}

// String returns the pattern.
func (f *Format) String() string { return f.o.Pattern }

// Parse parses one line (without its terminator) into a Result (At is left
// zero for the driver to set). A line that does not fit the format is a
// *vision.LineError naming the byte where it stops fitting and what was
// expected there.
func (f *Format) Parse(line string) (vision.Result, error) {
	r := vision.Result{Raw: line}
	if f.o.NoRead != "" && line == f.o.NoRead {
		r.NoRead = true
		return r, nil
	}
	m := f.re.FindStringSubmatchIndex(line)
	if m == nil {
		return r, f.explain(line)
	}
	var scan grade.Scan
	var notation *grade.Notation
	haveOverall := false
	overall := 0.0
	setGrade := func(p grade.Param, s string, pos int) error {
		if p == grade.Overall {
			if strings.Contains(s, "/") {
				n, err := grade.ParseNotation(s)
				if err != nil {
					return &vision.LineError{Source: f.o.Source, Line: line, Pos: pos, Msg: "bad overall grade", Err: err}
				}
				notation = &n
				overall, haveOverall = n.Grade, true
				return nil
			}
		}
		if !p.Graded() { // print growth: a measured value, kept but not graded
			v, err := grade.ParseGrowth(s)
			if err != nil {
				if _, gerr := grade.ParseValue(s); gerr == nil && !strings.ContainsAny(s, "%+-") {
					return nil // a reader that grades print growth: not a measurement, and not graded here
				}
				return &vision.LineError{Source: f.o.Source, Line: line, Pos: pos, Msg: fmt.Sprintf("bad %s print growth", p), Err: err}
			}
			if scan == nil {
				scan = grade.Scan{}
			}
			scan[p] = v
			return nil
		}
		v, err := grade.ParseValue(s)
		if err != nil {
			return &vision.LineError{Source: f.o.Source, Line: line, Pos: pos, Msg: fmt.Sprintf("bad %s grade", p), Err: err}
		}
		if p == grade.Overall {
			overall, haveOverall = v, true
			return nil
		}
		if scan == nil {
			scan = grade.Scan{}
		}
		scan[p] = v
		return nil
	}
	for gi, ti := range f.groups {
		lo, hi := m[2+2*gi], m[3+2*gi]
		if lo < 0 {
			continue
		}
		s := line[lo:hi]
		t := f.toks[ti]
		switch t.kind {
		case kData:
			r.Data = s
		case kSymID:
			r.SymbologyID = s
		case kOverall:
			if err := setGrade(grade.Overall, s, lo+1); err != nil {
				return r, err
			}
		case kParam:
			if err := setGrade(t.param, s, lo+1); err != nil {
				return r, err
			}
		case kGrades:
			pos := lo
			for _, item := range strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == ';' || c == ' ' }) {
				at := strings.Index(line[pos:], item) + pos
				name, val, _ := strings.Cut(item, "=")
				p, err := grade.ParseParam(name)
				if err != nil {
					return r, &vision.LineError{Source: f.o.Source, Line: line, Pos: at + 1, Msg: "unknown grade name " + name, Err: err}
				}
				if err := setGrade(p, val, at+len(name)+2); err != nil {
					return r, err
				}
				pos = at + len(item)
			}
		}
	}
	if r.SymbologyID == "" && len(r.Data) >= 3 && r.Data[0] == ']' && isAlpha(r.Data[1]) && isAlnum(r.Data[2]) {
		r.SymbologyID, r.Data = r.Data[:3], r.Data[3:]
	}
	if len(r.Data) > 0 && r.Data[0] == 0x1d && (r.SymbologyID == "]d2" || r.SymbologyID == "") {
		r.Data = r.Data[1:] // FNC1 in first position, transmitted as GS
	}
	if r.Data == "" {
		return r, &vision.LineError{Source: f.o.Source, Line: line, Pos: m[0] + 1, Msg: "empty data (and not the no-read string)"}
	}
	if scan != nil || haveOverall {
		rep := grade.FromScans(scan)
		if scan == nil {
			rep = grade.Report{Scans: 1}
		}
		if haveOverall {
			rep.Overall = grade.Round1(overall)
		}
		if notation != nil {
			rep.Aperture, rep.Wavelength = notation.Aperture, notation.Wavelength
		}
		r.Grade = rep
	}
	return r, nil
}

// explain builds the error for a line that does not match: the longest
// prefix of the pattern that matches, and what was expected next.
func (f *Format) explain(line string) error {
	pos, k := 0, 0
	for i, pre := range f.prefixes {
		loc := pre.FindStringIndex(line)
		if loc == nil {
			break
		}
		pos, k = loc[1], i+1
	}
	want := "end of line"
	if k < len(f.toks) {
		want = describe(f.toks[k])
	}
	return &vision.LineError{Source: f.o.Source, Line: line, Pos: pos + 1,
		Msg: fmt.Sprintf("does not fit result format %q: expected %s", f.o.Pattern, want)}
}

func describe(t token) string {
	switch t.kind {
	case kLit:
		return fmt.Sprintf("%q", t.lit)
	case kOverall:
		return "an overall grade (A–F, 0–4 or 1.5/08/660)"
	case kParam:
		return "a " + string(t.param) + " grade (A–F or 0–4)"
	case kGrades:
		return "a grade list NAME=grade,…"
	}
	return "{" + t.name + "}"
}

func isAlpha(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }

// Render writes r as the reader would send it in this format (used by the
// simulated camera). A no-read renders as the NoRead string.
func (f *Format) Render(r vision.Result) string {
	if r.NoRead {
		return f.o.NoRead
	}
	hasOverall := false
	for _, t := range f.toks {
		if t.kind == kOverall || (t.kind == kParam && t.param == grade.Overall) {
			hasOverall = true
		}
	}
	var b strings.Builder
	for _, t := range f.toks {
		switch t.kind {
		case kLit:
			b.WriteString(t.lit)
		case kData:
			if !f.has(kSymID) && r.SymbologyID != "" {
				b.WriteString(r.SymbologyID)
			}
			b.WriteString(r.Data)
		case kSymID:
			b.WriteString(r.SymbologyID)
		case kOverall:
			b.WriteString(f.overall(r.Grade))
		case kParam:
			switch {
			case t.param == grade.Overall:
				b.WriteString(f.overall(r.Grade))
			case !t.param.Graded():
				b.WriteString(grade.FormatGrowth(r.Grade.PrintGrowth[t.param]))
			default:
				b.WriteString(f.grade(r.Grade.Params[t.param]))
			}
		case kGrades:
			var items []string
			if !hasOverall {
				items = append(items, "ALL="+f.overall(r.Grade))
			}
			for _, p := range grade.Params() {
				if v, ok := r.Grade.Params[p]; ok {
					items = append(items, string(p)+"="+f.grade(v))
				}
				if v, ok := r.Grade.PrintGrowth[p]; ok {
					items = append(items, string(p)+"="+grade.FormatGrowth(v))
				}
			}
			b.WriteString(strings.Join(items, ","))
		}
	}
	return b.String()
}

func (f *Format) has(k kind) bool {
	for _, t := range f.toks {
		if t.kind == k {
			return true
		}
	}
	return false
}

func (f *Format) grade(v float64) string {
	if f.o.Numeric {
		return fmt.Sprintf("%.1f", v)
	}
	return grade.Letter(v)
}

func (f *Format) overall(r grade.Report) string {
	if r.Aperture > 0 || r.Wavelength > 0 {
		return r.Notation()
	}
	if f.o.Numeric || r.Overall != float64(int(r.Overall)) {
		return fmt.Sprintf("%.1f", r.Overall)
	}
	return grade.Letter(r.Overall)
}
