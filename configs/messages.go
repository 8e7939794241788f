package configs

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
)

// yaml.v3's decoding messages (after "line N: "), rewritten for the plant
// engineer who edits the file: no Go type names.
var (
	reUnknownField = regexp.MustCompile("^field (\\S+) not found in type \\S+$")
	reCannotDecode = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// plainMessage rewrites one decoding message about the key at path (dotted,
// with [i] for list items) of root (the type decoded into).
func plainMessage(root reflect.Type, path, msg string) string {
	if m := reUnknownField.FindStringSubmatch(msg); m != nil {
		out := fmt.Sprintf("unknown key %q", m[1])
		parent, _ := splitPath(path)
		if keys := keysAt(root, parent); len(keys) > 0 {
			if near := nearest(m[1], keys); near != "" {
				return out + fmt.Sprintf(" (did you mean %q?)", near)
			}
			return out + " (known here: " + strings.Join(keys, ", ") + ")"
		}
		return out
	}
	if m := reCannotDecode.FindStringSubmatch(msg); m != nil {
		got := m[2]
		if m[1] == "map" || m[1] == "seq" {
			got = map[string]string{"map": "a mapping", "seq": "a list"}[m[1]]
		} else {
			got = fmt.Sprintf("%q", got)
		}
		want := "a value of type " + m[3]
		if t := typeAt(root, path); t != nil {
			want = describe(t)
		}
		return fmt.Sprintf("want %s, got %s", want, got)
	}
	return msg
}

// splitPath splits "a.b[2].c" into "a.b[2]" and "c".
func splitPath(path string) (parent, key string) {
	i := strings.LastIndex(path, ".")
	if i < 0 {
		return "", path
	}
	return path[:i], path[i+1:]
}

// typeAt is the Go type the key at path decodes into: root itself for ""
// (nil: unknown, or no root).
func typeAt(root reflect.Type, path string) reflect.Type {
	t := root
	if root == nil || path == "" {
		return deref(t)
	}
	for _, seg := range strings.Split(path, ".") {
		name, idx := seg, 0
		if i := strings.IndexByte(seg, '['); i >= 0 {
			name, idx = seg[:i], strings.Count(seg[i:], "[")
		}
		if t = field(deref(t), name); t == nil {
			return nil
		}
		for range idx {
			switch t = deref(t); t.Kind() {
			case reflect.Slice, reflect.Array, reflect.Map:
				t = t.Elem()
			default:
				return nil
			}
		}
	}
	return deref(t)
}

// keysAt lists the keys a mapping at path accepts (nil for a map with free
// keys or an unknown path), sorted.
func keysAt(root reflect.Type, path string) []string {
	t := typeAt(root, path)
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	var add func(reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, inline := yamlName(f)
			switch {
			case inline:
				add(deref(f.Type))
			case name != "" && f.IsExported():
				keys = append(keys, name)
			}
		}
	}
	add(t)
	sort.Strings(keys)
	return keys
}

// field is the type of t's field decoded from key name (nil: none; a map
// accepts any key).
func field(t reflect.Type, name string) reflect.Type {
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
	default:
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		n, inline := yamlName(f)
		if inline {
			if ft := field(deref(f.Type), name); ft != nil {
				return ft
			}
			continue
		}
		if n == name && f.IsExported() {
			return f.Type
		}
	}
	return nil
}

// yamlName is the key of a struct field as yaml.v3 decodes it ("" for a
// skipped field) and whether the field is inlined.
func yamlName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" {
		return "", false
	}
	if strings.Contains(","+opts+",", ",inline,") {
		return "", true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

var durationType = reflect.TypeFor[time.Duration]()

// describe says in words what a value of type t looks like in YAML.
func describe(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 500ms, 30s, 5m or 6h"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number >= 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "text"
	case reflect.Slice, reflect.Array:
		return "a list (lines starting with \"- \", or [a, b])"
	case reflect.Map, reflect.Struct:
		return "a mapping (indented \"key: value\" lines, or {key: value})"
	}
	return "a value of type " + t.String()
}

// nearest is the key of keys closest to s by edit distance, when close
// enough to be a typo ("" otherwise).
func nearest(s string, keys []string) string {
	best, bestD := "", len(s)/3+2
	for _, k := range keys {
		if d := editDistance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
