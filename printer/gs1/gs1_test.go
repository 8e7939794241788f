package gs1

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/printer/gs1/corpus"
)

func TestParseForms(t *testing.T) {
	want := "0109501101530003" + "17290331" + "10AB(1\x1d" + "21X"
	for _, in := range []string{
		`(01)09501101530003(17)290331(10)AB\(1(21)X`,
		"0109501101530003172903311" + "0AB(1\x1d21X",
		"]d2" + "0109501101530003172903311" + "0AB(1\x1d21X",
		"]d2\x1d" + "0109501101530003\x1d172903311" + "0AB(1\x1d21X",
		"]C1" + "0109501101530003172903311" + "0AB(1\x1d21X",
		"https://id.gs1.org/01/09501101530003/10/AB%281/21/X?17=290331",
	} {
		m, err := Parse(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		got := m.ElementString()
		if strings.HasPrefix(in, "http") {
			// DL order: key, qualifiers, attributes
			got = ""
			want2 := "0109501101530003" + "10AB(1\x1d" + "21X\x1d" + "17290331"
			if m.ElementString() != want2 {
				t.Fatalf("%q: element string %q want %q", in, m.ElementString(), want2)
			}
			continue
		}
		if got != want {
			t.Fatalf("%q: element string %q want %q", in, got, want)
		}
	}
	m, _ := Parse(`(01)09501101530003(17)290331(10)AB\(1(21)X`)
	if h := m.HRI(); h != "(01) 09501101530003 (17) 290331 (10) AB(1 (21) X" {
		t.Fatalf("HRI %q", h)
	}
	if b := m.Bracketed(); b != `(01)09501101530003(17)290331(10)AB\(1(21)X` {
		t.Fatalf("Bracketed %q", b)
	}
	if v, ok := m.Value("10"); !ok || v != "AB(1" {
		t.Fatalf("Value(10) = %q %v", v, ok)
	}
	dl, err := m.DigitalLink("")
	if err != nil || dl != "https://id.gs1.org/01/09501101530003/10/AB%281/21/X?17=290331" {
		t.Fatalf("DL %q %v", dl, err)
	}
	epc, err := m.EPC(7)
	if err != nil || epc != "urn:epc:id:sgtin:9501101.053000.X" {
		t.Fatalf("EPC %q %v", epc, err)
	}
	if _, err := m.EPC(13); !errors.Is(err, ErrCompanyPrefix) {
		t.Fatalf("EPC(13): %v", err)
	}
}

// TestErrors: every error names the AI, the position and the rule.
func TestErrors(t *testing.T) {
	cases := []struct {
		in, ai string
		pos    int
		rule   string
	}{
		{"(01)09501101530004(21)A", "01", 14, RuleCheckDigit},
		{"(01)0950110153000(21)A", "01", 1, RuleLength},
		{"(01)09501101530003(17)290230(21)A", "17", 5, RuleDate},
		{"(01)09501101530003(17)280229(21)A", "", 0, ""}, // leap year: valid
		{"(01)09501101530003(17)270229(21)A", "17", 5, RuleDate},
		{"(01)09501101530003(17)271300(21)A", "17", 3, RuleDate},
		{"(01)09501101530003(17)290300(21)A", "", 0, ""}, // day 00 allowed on 17
		{"(01)09501101530003(7006)290300", "7006", 5, RuleDate},
		{"(01)09501101530003(21)A B", "21", 2, RuleCSET82},
		{"(01)09501101530003(21)" + strings.Repeat("A", 21), "21", 1, RuleLength},
		{"(01)09501101530003(8010)AB", "8010", 1, "gcp"},
		{"(01)0950110153000A(21)A", "01", 14, RuleNumeric},
		{"(01)09501101530003(21)A(21)B", "21", 0, RuleRepeat},
		{"(01)09501101530003(21)A(21)A", "", 0, ""}, // same value repeated: allowed
		{"(21)A", "21", 0, RuleRequires},
		{"(01)09501101530003(02)09501101530003(37)1", "01", 0, RuleExcludes},
		{"(99)A(1)B", "1", 0, RuleUnknownAI},
		{"(01)09501101530003(235)X(21)A", "21", 0, RuleExcludes},
		{"(2)x", "2", 0, RuleUnknownAI},
		{"(23)x", "23", 0, RuleUnknownAI},
		{"0109501101530003\x1d", "", 0, ""},
		{"]X1abc", "", 1, RuleSyntax},
		{"019501101530003", "01", 14, RuleLength},
		{"https://id.gs1.org/10/ABC", "", 0, RuleDigitalLnk},
		{"https://id.gs1.org/01/09501101530003/21/A/10/B", "21", 0, RuleDigitalLnk},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		if c.rule == "" {
			if err != nil {
				t.Errorf("%q: unexpected %v", c.in, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err %v is not *Error", c.in, err)
			continue
		}
		if e.AI != c.ai || e.Pos != c.pos || e.Rule != c.rule {
			t.Errorf("%q: got AI %q pos %d rule %q (%v), want %q %d %q", c.in, e.AI, e.Pos, e.Rule, err, c.ai, c.pos, c.rule)
		}
		msg := err.Error()
		if c.ai != "" && !strings.Contains(msg, "AI ("+c.ai+")") || !strings.Contains(msg, c.rule) {
			t.Errorf("%q: message %q does not name AI and rule", c.in, msg)
		}
	}
}

func TestElementStringSeparators(t *testing.T) {
	m, err := New(Element{"10", "L1"}, Element{"01", "09501101530003"}, Element{"21", "S"}, Element{"17", "290331"})
	if err != nil {
		t.Fatal(err)
	}
	// GS after variable-length 10 and 21 (not last); none after 01 and 17 (predefined length)
	if got, want := m.ElementString(), "10L1\x1d0109501101530003"+"21S\x1d17290331"; got != want {
		t.Fatalf("%q want %q", got, want)
	}
	back, err := ParseRaw(m.ElementString())
	if err != nil || back.Bracketed() != m.Bracketed() {
		t.Fatalf("raw round trip: %v %s", err, back)
	}
}

func TestCheckValue(t *testing.T) {
	if err := CheckValue("21", "ABC-123"); err != nil {
		t.Fatal(err)
	}
	if err := CheckValue("21", "ABC 123"); err == nil {
		t.Fatal("space accepted in AI 21")
	}
	if err := CheckValue("5", "x"); err == nil {
		t.Fatal("unknown AI accepted")
	}
	if d, err := CheckDigit("0950110153000"); err != nil || d != '3' {
		t.Fatalf("CheckDigit %c %v", d, err)
	}
}

func TestProfiles(t *testing.T) {
	m, _ := Parse("(01)09501101530003(17)290331(10)L(21)S")
	for _, name := range []string{"us-dscsa", "eu-fmd"} {
		p, err := LookupProfile(name)
		if err != nil || p.Check(m) != nil {
			t.Fatalf("%s: %v %v", name, err, p.Check(m))
		}
	}
	p, _ := LookupProfile("eu-fmd-de")
	if p.NHRN != "710" {
		t.Fatalf("NHRN %q", p.NHRN)
	}
	var e *Error
	if err := p.Check(m); !errors.As(err, &e) || e.AI != "710" || e.Rule != RuleProfile {
		t.Fatalf("eu-fmd-de without 710: %v", err)
	}
	m2, _ := Parse("(01)09501101530003(17)290331(10)L(21)S(710)12345678")
	if err := p.Check(m2); err != nil {
		t.Fatal(err)
	}
	for _, nh := range []string{"710", "711", "712", "713", "714", "715"} {
		found := false
		for _, q := range Profiles() {
			found = found || q.NHRN == nh
		}
		if !found {
			t.Errorf("no profile for NHRN %s", nh)
		}
	}
	if _, err := LookupProfile("nope"); !errors.Is(err, ErrUnknownProfile) {
		t.Fatal(err)
	}
}

// TestTableFromDictionary checks the generated table against facts of the
// dictionary, and that every linter it names is implemented.
func TestTableFromDictionary(t *testing.T) {
	if len(aiTable) < 500 {
		t.Fatalf("only %d AIs", len(aiTable))
	}
	for _, ai := range []string{"00", "01", "10", "17", "21", "710", "715", "8030", "3103", "99"} {
		if lookupAI(ai) == nil {
			t.Errorf("AI %s missing", ai)
		}
	}
	if d := lookupAI("17"); !d.fixed || d.comps[0].linters[0] != "yymmd0" {
		t.Errorf("17: %+v", d)
	}
	if d := lookupAI("21"); d.fixed || d.comps[0].kind != kindX || d.comps[0].max != 20 {
		t.Errorf("21: %+v", d)
	}
	for i := range aiTable {
		d := &aiTable[i]
		for _, c := range d.comps {
			for _, l := range c.linters {
				if e := lint(d.ai, l, strings.Repeat("0", c.max), 0, ""); e != nil && strings.Contains(e.Msg, "not implemented") {
					t.Errorf("AI %s: %s", d.ai, e.Msg)
				}
			}
		}
	}
}

var zintLine = regexp.MustCompile(`On line (\d+): `)

// TestVerdictsVsZint compares our validator with zint --gs1 on the
// generated corpus and on invalid variants of it (associations off: zint
// 2.11 does not check them).
func TestVerdictsVsZint(t *testing.T) {
	zint := reference.Tool(t, "zint")
	g := corpus.New(11)
	var ins []string
	for _, h := range corpus.HandPicked() {
		if !strings.Contains(h, `\(`) && !strings.Contains(h, ")EF") {
			ins = append(ins, h)
		}
	}
	for i := 0; i < 200; i++ {
		p := g.Pharma()
		ins = append(ins, p)
		switch i % 5 { // invalid variants
		case 0:
			ins = append(ins, strings.Replace(p, "(17)", "(17)99", 1)[:0]+mutateCheck(p))
		case 1:
			ins = append(ins, strings.Replace(p, "(21)", "(21)a b", 1))
		case 2:
			ins = append(ins, strings.Replace(p, "(17)", "(17)2913", 1)[:strings.Index(p, "(17)")+4]+"291332"+p[strings.Index(p, "(17)")+10:])
		case 3:
			ins = append(ins, strings.Replace(p, "(10)", "(10)"+strings.Repeat("X", 20), 1))
		case 4:
			ins = append(ins, strings.Replace(p, "(21)", "(21)#", 1))
		}
	}
	dir := t.TempDir()
	var zin strings.Builder
	for _, in := range ins {
		elems, err := splitBracketed(in, '(', ')', true, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range elems {
			zin.WriteString("[" + e.AI + "]" + e.Value)
		}
		zin.WriteByte('\n')
	}
	f := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(f, []byte(zin.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(zint, "-b", "71", "--gs1", "--square", "--batch", "--dump", "-i", f)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil && stderr.Len() == 0 {
		t.Fatalf("zint: %v", err)
	}
	zintBad := map[int]string{}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if m := zintLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			zintBad[n] = l
		}
	}
	o := Options{SkipAssociations: true}
	valid, invalid := 0, 0
	for i, in := range ins {
		_, err := o.Parse(in)
		zmsg, zb := zintBad[i+1]
		if (err != nil) != zb {
			t.Errorf("%q: ours %v, zint %q", in, err, zmsg)
		}
		if err != nil {
			invalid++
		} else {
			valid++
		}
	}
	t.Logf("%d payloads: %d valid, %d invalid; zint agrees on all", len(ins), valid, invalid)
	if invalid < 100 || valid < 200 {
		t.Fatalf("corpus too one-sided: %d valid %d invalid", valid, invalid)
	}
}

// mutateCheck flips the GTIN check digit.
func mutateCheck(p string) string {
	i := strings.Index(p, "(01)") + 4 + 13
	d := p[i]
	return p[:i] + string(rune('0'+(d-'0'+1)%10)) + p[i+1:]
}

func FuzzParseBracketed(f *testing.F) {
	for _, s := range []string{"(01)09501101530003(21)A", `(10)A\(B`, "(", "()", "(01", "(21)\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseBracketed(s)
		if err == nil {
			if _, err := ParseBracketed(m.Bracketed()); err != nil {
				t.Fatalf("round trip of %q: %v", s, err)
			}
		}
	})
}

func FuzzParseRaw(f *testing.F) {
	for _, s := range []string{"]d20109501101530003", "\x1d21A\x1d", "]C1", "]d", "0109501101530003\x1d21A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseRaw(s)
		if err == nil {
			back, err := ParseRaw(m.ElementString())
			if err != nil || back.Bracketed() != m.Bracketed() {
				t.Fatalf("round trip of %q: %v", s, err)
			}
		}
	})
}

func FuzzParseDigitalLink(f *testing.F) {
	for _, s := range []string{"https://id.gs1.org/01/09501101530003/21/A?17=290331", "http://x/01/1/", "https://a/gtin/09501101530003?exp=290331&x=%zz", "https://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseDigitalLink(s)
		if err == nil {
			if _, err := m.DigitalLink(""); err != nil {
				t.Fatalf("%q parsed but DigitalLink: %v", s, err)
			}
		}
	})
}

func BenchmarkParseBracketed(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBracketed("(01)09501101530003(17)290331(10)ABC123(21)XYZ987654321"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDigitalLink(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDigitalLink("https://id.gs1.org/01/09501101530003/10/ABC123/21/XYZ987654321?17=290331"); err != nil {
			b.Fatal(err)
		}
	}
}
