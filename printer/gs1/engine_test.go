package gs1

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestSyntaxEngineRules runs testdata/syntax-engine.tsv: each row an
// input, the rule the GS1 Barcode Syntax Engine applies to it and what we
// must answer (ok, or the Rule that fails and the AI it names). printer/
// README.md lists the rules with their rows.
func TestSyntaxEngineRules(t *testing.T) {
	f, err := os.Open("testdata/syntax-engine.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	n := 0
	for line := 1; sc.Scan(); line++ {
		if strings.HasPrefix(sc.Text(), "#") || sc.Text() == "" {
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 6 {
			t.Fatalf("line %d: %d columns, want 6", line, len(c))
		}
		kind, in, want, ai, check := c[0], strings.ReplaceAll(c[1], "<gs>", "\x1d"), c[2], c[3], c[4]
		var o Options
		var parse func(string) (Message, error)
		switch kind {
		case "bracketed":
			parse = o.ParseBracketed
		case "noassoc":
			o.SkipAssociations = true
			parse = o.ParseBracketed
		case "raw":
			parse = o.ParseRaw
		case "dl":
			parse = o.ParseDigitalLink
		case "dl-alphas":
			o.PermitConvenienceAlphas = true
			parse = o.ParseDigitalLink
		case "dl-zerosuppressed":
			o.PermitZeroSuppressedGTIN = true
			parse = o.ParseDigitalLink
		default:
			t.Fatalf("line %d: unknown kind %q", line, kind)
		}
		n++
		_, err := parse(in)
		if want == "ok" {
			if err != nil {
				t.Errorf("line %d (%s) %q: %v, want ok", line, c[5], c[1], err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("line %d (%s, engine %s) %q: %v, want rule %s", line, c[5], check, c[1], err, want)
			continue
		}
		if e.Rule != want || (ai != "-" && e.AI != ai) {
			t.Errorf("line %d (%s, engine %s) %q: %v; want rule %s AI %s", line, c[5], check, c[1], err, want, ai)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("only %d cases", n)
	}
}
