package main

import (
	"bytes"
	"fmt"
	"net"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/serialine/serialine/configs"
)

// packTagsConfig is the `packtags` section of the `serialine run` config:
// the read-only OPC UA PackTags server (PackML state and counters) for the
// plant's SCADA. Off by default: gopcua's server offers security policy
// None only, so put it on the control network.
//
//	packtags:
//	  enabled: true
//	  listen: 10.0.10.5:4841
//	  interval: 1s
//
// The section is taken out of the file before the rest is decoded strictly
// by line/config (its lines are blanked, so positions in error messages
// stay right).
type packTagsConfig struct {
	// Enabled switches the PackTags server on (default off).
	Enabled bool `yaml:"enabled"`
	// Listen is the server's host:port; required when enabled (port 0
	// picks a free port).
	Listen string `yaml:"listen"`
	// Interval is how often the line status is read into the tags and
	// subscribers notified (default 1s).
	Interval time.Duration `yaml:"interval"`
}

// Validate reports every problem with its dotted path.
func (p packTagsConfig) Validate() configs.Problems {
	var pr configs.Problems
	if p.Interval < 0 {
		pr.Add("packtags.interval", "must be >= 0")
	}
	if !p.Enabled {
		return pr
	}
	if p.Listen == "" {
		pr.Add("packtags.listen", "must be set when enabled (host:port)")
	} else if _, _, err := net.SplitHostPort(p.Listen); err != nil {
		pr.Add("packtags.listen", "%q is not host:port: %v", p.Listen, err)
	}
	return pr
}

// splitPackTags takes the top-level `packtags` section out of a config
// file: it returns the file without it (same line numbers) and the section
// decoded strictly. A file that is not a YAML mapping is returned as is
// (line/config reports it).
func splitPackTags(name string, data []byte) ([]byte, packTagsConfig, error) {
	var pt packTagsConfig
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return data, pt, nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		if key.Value != "packtags" {
			continue
		}
		if val.Kind != yaml.MappingNode {
			if val.Tag == "!!null" {
				return blankSection(data, root, i), pt, nil
			}
			return nil, pt, fmt.Errorf("%s: line %d: packtags: must be a mapping (enabled, listen, interval)", name, key.Line)
		}
		sec, err := yaml.Marshal(val)
		if err != nil {
			return nil, pt, fmt.Errorf("%s: packtags: %w", name, err)
		}
		if err := configs.DecodeStrictBytes(fmt.Sprintf("%s: packtags section (line %d)", name, key.Line), sec, &pt); err != nil {
			return nil, pt, err
		}
		return blankSection(data, root, i), pt, nil
	}
	return data, pt, nil
}

// blankSection returns data without the top-level pair at root.Content[i]:
// its lines are emptied when it is in block style on lines of its own,
// otherwise the mapping is re-encoded without it.
func blankSection(data []byte, root *yaml.Node, i int) []byte {
	key := root.Content[i]
	from := key.Line
	to := -1 // exclusive; -1 = to the end of the file
	if i+2 < len(root.Content) {
		to = root.Content[i+2].Line
	}
	if root.Style&yaml.FlowStyle != 0 || to == from || key.Column != 1 {
		root.Content = append(root.Content[:i:i], root.Content[i+2:]...)
		out, err := yaml.Marshal(root)
		if err != nil {
			return data
		}
		return out
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	for n := from; n <= len(lines) && (to < 0 || n < to); n++ {
		l := lines[n-1]
		if bytes.HasSuffix(l, []byte("\n")) {
			lines[n-1] = []byte("\n")
		} else {
			lines[n-1] = nil
		}
	}
	return bytes.Join(lines, nil)
}
