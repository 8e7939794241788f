// Package gcp finds the length of the GS1 Company Prefix inside a GTIN,
// which an SGTIN EPC needs (urn:epc:id:sgtin:CompanyPrefix.ItemRef.Serial)
// and which cannot be derived from the GTIN itself. Lengths come from
// per-product master data (Products) or from GS1's GCP prefix format list
// (List, loaded from the file GS1 publishes), tried in that order (Chain).
// There is no default: a GTIN whose prefix is not known is an error that
// names it (ErrUnknown).
package gcp

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// ErrUnknown is wrapped when no source knows a GTIN's company prefix.
var ErrUnknown = errors.New("gcp: company prefix length unknown")

// ErrInvalid is wrapped for a malformed GTIN, length or list file.
var ErrInvalid = errors.New("gcp: invalid")

// Lookup gives the GS1 Company Prefix length (6..12) of a GTIN-14.
// The product master (engineer W's) plugs in here.
type Lookup interface {
	PrefixLength(gtin string) (int, error)
}

func checkGTIN(gtin string) error {
	if len(gtin) != 14 || strings.Trim(gtin, "0123456789") != "" {
		return fmt.Errorf("%w: gtin %q: want 14 digits", ErrInvalid, gtin)
	}
	return nil
}

// Products are per-product lengths: GTIN-14 -> company prefix length.
type Products map[string]int

// PrefixLength implements Lookup.
func (p Products) PrefixLength(gtin string) (int, error) {
	if err := checkGTIN(gtin); err != nil {
		return 0, err
	}
	n, ok := p[gtin]
	if !ok {
		return 0, fmt.Errorf("%w: GTIN %s is not in the product list", ErrUnknown, gtin)
	}
	if n < 6 || n > 12 {
		return 0, fmt.Errorf("%w: GTIN %s: company prefix length %d: want 6..12", ErrInvalid, gtin, n)
	}
	return n, nil
}

// Validate reports bad entries (GTIN not 14 digits, length not 6..12).
func (p Products) Validate() error {
	var bad []string
	for g, n := range p {
		if checkGTIN(g) != nil || n < 6 || n > 12 {
			bad = append(bad, fmt.Sprintf("%q: %d", g, n))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		return fmt.Errorf("%w: want GTIN-14: length 6..12, got %s", ErrInvalid, strings.Join(bad, ", "))
	}
	return nil
}

// Chain asks each Lookup in turn; the first that knows the GTIN answers.
type Chain []Lookup

// PrefixLength implements Lookup.
func (c Chain) PrefixLength(gtin string) (int, error) {
	if err := checkGTIN(gtin); err != nil {
		return 0, err
	}
	for _, l := range c {
		if l == nil {
			continue
		}
		n, err := l.PrefixLength(gtin)
		if err == nil || !errors.Is(err, ErrUnknown) {
			return n, err
		}
	}
	return 0, fmt.Errorf("%w: no company prefix length known for GTIN %s (product master gcp_length, line.company_prefixes, line.gcp_file or line.company_prefix_len)", ErrUnknown, gtin)
}

// List is GS1's GCP prefix format list: for each prefix (of the GTIN-13 /
// GS1 key without the GTIN-14 indicator digit), the length of the company
// prefixes starting with it; the longest matching prefix wins, and length
// 0 means no company prefix is assigned there.
type List struct {
	byPrefix map[string]int
	maxLen   int
}

// Entries returns how many prefixes the list holds.
func (l *List) Entries() int { return len(l.byPrefix) }

// PrefixLength implements Lookup.
func (l *List) PrefixLength(gtin string) (int, error) {
	if err := checkGTIN(gtin); err != nil {
		return 0, err
	}
	key := gtin[1:13]
	for n := min(l.maxLen, len(key)); n > 0; n-- {
		if v, ok := l.byPrefix[key[:n]]; ok {
			if v == 0 {
				return 0, fmt.Errorf("%w: GTIN %s: prefix %s has no GS1 Company Prefix assigned (GCP prefix format list)", ErrUnknown, gtin, key[:n])
			}
			if v < 6 || v > 12 {
				return 0, fmt.Errorf("%w: GTIN %s: prefix %s: length %d cannot build an SGTIN (6..12)", ErrUnknown, gtin, key[:n], v)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: GTIN %s matches no prefix of the GCP prefix format list", ErrUnknown, gtin)
}

type xmlList struct {
	Entries []struct {
		Prefix string `xml:"prefix,attr"`
		Length string `xml:"gcpLength,attr"`
	} `xml:"entry"`
}

type jsonList struct {
	List struct {
		Entries []struct {
			Prefix string          `json:"prefix"`
			Length json.RawMessage `json:"gcpLength"`
		} `json:"entry"`
	} `json:"GCPPrefixFormatList"`
}

// Parse reads a GCP prefix format list in GS1's XML form
// (<GCPPrefixFormatList><entry prefix="0614141" gcpLength="7"/>…) or its
// JSON form ({"GCPPrefixFormatList":{"entry":[{"prefix":"…","gcpLength":7}]}}).
// name is used in errors.
func Parse(r io.Reader, name string) (*List, error) {
	data, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("gcp: read %s: %w", name, err)
	}
	l := &List{byPrefix: map[string]int{}}
	add := func(i int, prefix, length string) error {
		length = strings.Trim(strings.TrimSpace(length), `"`)
		n := 0
		if _, err := fmt.Sscanf(length, "%d", &n); err != nil || prefix == "" || strings.Trim(prefix, "0123456789") != "" || n < 0 || n > 12 {
			return fmt.Errorf("%w: %s: entry %d: prefix %q gcpLength %q", ErrInvalid, name, i+1, prefix, length)
		}
		l.byPrefix[prefix] = n
		l.maxLen = max(l.maxLen, len(prefix))
		return nil
	}
	trim := strings.TrimSpace(string(data))
	if strings.HasPrefix(trim, "{") {
		var j jsonList
		if err := json.Unmarshal(data, &j); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
		}
		for i, e := range j.List.Entries {
			if err := add(i, e.Prefix, string(e.Length)); err != nil {
				return nil, err
			}
		}
	} else {
		var x xmlList
		if err := xml.Unmarshal(data, &x); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
		}
		for i, e := range x.Entries {
			if err := add(i, e.Prefix, e.Length); err != nil {
				return nil, err
			}
		}
	}
	if len(l.byPrefix) == 0 {
		return nil, fmt.Errorf("%w: %s: no entries (want GS1's GCP prefix format list)", ErrInvalid, name)
	}
	return l, nil
}

// Load reads a GCP prefix format list file.
func Load(path string) (*List, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}
