// Package configs holds the example and demo configurations (embedded in the
// binary) and the two helpers every config struct in Serialine uses: strict
// YAML decoding (unknown keys are errors) and Problems, which collects every
// validation mistake with its path so Validate can report them all at once.
package configs

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Files are the example and demo configs shipped in this folder.
//
//go:embed *.yaml
var Files embed.FS

// Problem is one validation mistake: the dotted path of the offending key
// (devices.plc.reject.confirm_timeout) and what is wrong with it.
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string { return p.Path + ": " + p.Msg }

// Problems collects validation mistakes. The zero value is ready to use.
type Problems []Problem

// Add records one mistake at path.
func (p *Problems) Add(path, format string, args ...any) {
	*p = append(*p, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Merge appends the problems of a nested config, prefixing their paths.
func (p *Problems) Merge(prefix string, other Problems) {
	for _, q := range other {
		if prefix != "" {
			q.Path = prefix + "." + q.Path
		}
		*p = append(*p, q)
	}
}

// Err returns nil when there are no problems, or an *Error listing them all.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Problems: append(Problems(nil), p...)}
}

// Error is returned by Validate methods: every problem, one per line.
type Error struct{ Problems Problems }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid config (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// ErrInvalid matches any *Error with errors.Is.
var ErrInvalid = errors.New("invalid config")

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// DecodeStrict decodes one YAML document from r into v; unknown keys are
// errors. name (a file name) prefixes the message. Every decoding problem is
// reported at once, each with its line and the dotted path of the key
// (`line 97: packtags.port: unknown key "port" (did you mean "ports"?)`,
// `line 12: cycle.decision_deadline: want a duration such as 500ms, 30s, 5m
// or 6h, got "6 hours"`).
func DecodeStrict(name string, r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty config", name)
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return &DecodeError{Name: name, Errors: withPaths(data, reflect.TypeOf(v), te.Errors)}
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// DecodeError lists every problem strict decoding found, each as
// "line N: dotted.path: what".
type DecodeError struct {
	Name   string
	Errors []string
}

func (e *DecodeError) Error() string {
	return e.Name + ": " + strings.Join(e.Errors, "; ")
}

// Is reports whether target is ErrInvalid.
func (e *DecodeError) Is(target error) bool { return target == ErrInvalid }

// withPaths adds the dotted key path to yaml.v3's "line N: …" messages and
// says what is wrong in words (plainMessage; root is the type decoded into).
func withPaths(data []byte, root reflect.Type, msgs []string) []string {
	paths := map[int]string{} // line -> path of the first key on that line
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) == nil {
		var walk func(n *yaml.Node, prefix string)
		walk = func(n *yaml.Node, prefix string) {
			switch n.Kind {
			case yaml.DocumentNode:
				for _, c := range n.Content {
					walk(c, prefix)
				}
			case yaml.MappingNode:
				for i := 0; i+1 < len(n.Content); i += 2 {
					k, val := n.Content[i], n.Content[i+1]
					path := k.Value
					if prefix != "" {
						path = prefix + "." + k.Value
					}
					if _, ok := paths[k.Line]; !ok {
						paths[k.Line] = path
					}
					walk(val, path)
				}
			case yaml.SequenceNode:
				for i, c := range n.Content {
					walk(c, fmt.Sprintf("%s[%d]", prefix, i))
				}
			}
		}
		walk(&doc, "")
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m
		var line int
		if _, err := fmt.Sscanf(m, "line %d:", &line); err != nil {
			continue
		}
		rest := strings.TrimSpace(m[strings.Index(m, ":")+1:])
		if p, ok := paths[line]; ok {
			out[i] = fmt.Sprintf("line %d: %s: %s", line, p, plainMessage(root, p, rest))
		} else {
			out[i] = fmt.Sprintf("line %d: %s", line, plainMessage(nil, "", rest))
		}
	}
	return out
}

// DecodeStrictBytes is DecodeStrict over a byte slice.
func DecodeStrictBytes(name string, data []byte, v any) error {
	return DecodeStrict(name, bytes.NewReader(data), v)
}
