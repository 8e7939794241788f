// Package epcistest validates EPCIS documents against GS1's published EPCIS
// 2.0 JSON schema (read from the shared reference folder) in tests.
package epcistest

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/serialine/serialine/configs/reference"
)

// Schema compiles the EPCIS 2.0 JSON schema, with format assertions on.
// It skips (or fails under CI=true) when the reference folder is absent.
func Schema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	path := reference.File(t, "epcis-2.0-json-schema.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.UseRegexpEngine(compileRegexp)
	const url = "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Validate fails t unless data is a valid EPCIS document.
func Validate(t testing.TB, s *jsonschema.Schema, data []byte) {
	t.Helper()
	if err := Check(s, data); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
}

// Check returns why data is not a valid EPCIS document, or nil.
func Check(s *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("epcis document is not JSON: %w", err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("epcis document does not validate: %w", err)
	}
	return nil
}

// compileRegexp is Go's regexp plus the one ECMA construct the schema uses
// that RE2 lacks: a whole pattern "^(?!(X))" (does not start with X).
type notPrefix struct {
	src string
	re  *regexp.Regexp
}

func (n notPrefix) String() string            { return n.src }
func (n notPrefix) MatchString(s string) bool { return !n.re.MatchString(s) }

func compileRegexp(src string) (jsonschema.Regexp, error) {
	if inner, ok := strings.CutPrefix(src, "^(?!"); ok && strings.HasSuffix(inner, ")") {
		re, err := regexp.Compile("^(?:" + strings.TrimSuffix(inner, ")") + ")")
		if err != nil {
			return nil, err
		}
		return notPrefix{src, re}, nil
	}
	return regexp.Compile(src)
}
