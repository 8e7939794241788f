package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/serialine/serialine/line/api"
)

// isParentCode reports whether a `serialine unit` argument is a case or
// pallet code (an SSCC, AI 00): its contents are shown instead of a unit.
func isParentCode(arg string) bool {
	a := strings.TrimPrefix(strings.TrimPrefix(arg, "]C1"), "]d2")
	switch {
	case strings.HasPrefix(a, "(00)"):
		return true
	case strings.HasPrefix(a, "00") && len(a) == 20 && clientAllDigits(a):
		return true
	}
	return false
}

// printParentLookup prints where a case or pallet is and everything in it
// down to the units (the recall question); false when the controller has
// no aggregation or does not know the code.
func printParentLookup(ctx context.Context, cl *apiClient, out io.Writer, arg string, asJSON bool) error {
	var lk api.AggLookup
	var raw []byte
	if err := cl.do(ctx, "GET", "/api/v1/aggregation/lookup?code="+url.QueryEscape(arg), nil, &lk, &raw); err != nil {
		return err
	}
	if asJSON {
		printJSON(out, raw)
		return nil
	}
	if lk.Parent != nil {
		p := lk.Parent
		fmt.Fprintf(out, "%s %s  batch %s  %s%s  %d of %d  (%d units)\n", p.Level, p.HRI, p.Batch, p.State, map[bool]string{true: " partial"}[p.Partial], p.Count, p.Capacity, lk.Units)
		if p.Archive != "" {
			fmt.Fprintf(out, "  archived in %s\n", p.Archive)
		}
	}
	printChain(out, lk.Chain)
	if lk.Contents != nil {
		printTree(out, *lk.Contents, "  ")
	}
	return nil
}

func printChain(out io.Writer, chain []api.AggParent) {
	for _, p := range chain {
		fmt.Fprintf(out, "  in %s %s (%s, %d of %d)\n", p.Level, p.HRI, p.State, p.Count, p.Capacity)
	}
}

func printTree(out io.Writer, t api.AggTree, indent string) {
	for _, c := range t.Parents {
		fmt.Fprintf(out, "%s%s %s (%d)\n", indent, c.Level, c.HRI, len(c.Units)+len(c.Parents))
		printTree(out, c, indent+"  ")
	}
	for _, u := range t.Units {
		fmt.Fprintf(out, "%s%s %s\n", indent, u.Serial, u.State)
	}
}

// printUnitChain prints the cases and pallets holding a unit (nothing when
// the controller has no aggregation).
func printUnitChain(ctx context.Context, cl *apiClient, out io.Writer, serial string) {
	var lk api.AggLookup
	if err := cl.do(ctx, "GET", "/api/v1/aggregation/lookup?code="+url.QueryEscape(serial), nil, &lk, nil); err != nil {
		return
	}
	if len(lk.Chain) == 0 {
		fmt.Fprintln(out, "  in no case")
		return
	}
	printChain(out, lk.Chain)
}
