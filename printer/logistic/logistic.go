// Package logistic builds the GS1 logistic label a case or pallet carries
// (GS1 General Specifications §6, logistic label): the SSCC as GS1-128
// (AI 00, FNC1 in first position) with its human-readable interpretation,
// optionally a GS1 DataMatrix of the same element string, and a header with
// the batch's GTIN, lot, expiry and count. It is a ZPL II stored format
// (printer/zpl downloads it at Connect and recalls it per label with the
// fields below), so any Zebra-compatible print-and-apply labeller prints it.
package logistic

import (
	"fmt"
	"strings"

	"github.com/serialine/serialine/printer/gs1"
)

// Field numbers (^FN) of the stored format.
const (
	FieldCode128 = 1 // GS1-128 data, bracketed for ^BC mode D: "(00)306141411234567891"
	FieldHRI     = 2 // human-readable: "(00) 3 0614141 123456789 1"
	FieldMatrix  = 3 // GS1 DataMatrix data with _1 for FNC1 ("_100306…")
	FieldTitle   = 4 // "CASE 40 x GTIN 09501101530003"
	FieldLotExp  = 5 // "LOT L1  EXP 2028-12-31"
	FieldID      = 6 // the journal code (not printed; the record ID)
	FieldTrack   = 7 // the product the label is meant for (case line product id; not printed)
)

// Record field names (printer.Record.Fields) mapped to the ^FN numbers.
var Fields = map[string]int{"code128": FieldCode128, "hri": FieldHRI, "matrix": FieldMatrix, "title": FieldTitle, "lotexp": FieldLotExp, "track": FieldTrack}

// Options shape the label.
type Options struct {
	// DataMatrix adds a GS1 DataMatrix of the element string.
	DataMatrix bool
	// Width and Length of the label in dots (default 812 × 1218: 4" × 6" at 203 dpi).
	Width, Length int
	// ModuleWidth is the narrowest bar in dots (default 3: 0.375 mm at 203 dpi,
	// within GS1's X-dimension range for logistic labels).
	ModuleWidth int
	// BarHeight in dots (default 250: 31 mm).
	BarHeight int
}

func (o Options) withDefaults() Options {
	if o.Width <= 0 {
		o.Width = 812
	}
	if o.Length <= 0 {
		o.Length = 1218
	}
	if o.ModuleWidth <= 0 {
		o.ModuleWidth = 3
	}
	if o.BarHeight <= 0 {
		o.BarHeight = 250
	}
	return o
}

// Format is the stored format's body (between ^DF…^FS and ^XZ).
func Format(o Options) string {
	o = o.withDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "^PW%d^LL%d^CI28", o.Width, o.Length)
	fmt.Fprintf(&b, "^FO40,40^A0N,40,40^FN%d^FS", FieldTitle)
	fmt.Fprintf(&b, "^FO40,100^A0N,34,34^FN%d^FS", FieldLotExp)
	fmt.Fprintf(&b, "^FO40,170^GB%d,4,4^FS", o.Width-80)
	if o.DataMatrix {
		fmt.Fprintf(&b, "^FO560,210^BXN,8,200,,,,_^FN%d^FS", FieldMatrix)
	}
	fmt.Fprintf(&b, "^FO40,%d^A0N,34,34^FDSSCC^FS", o.Length-520)
	fmt.Fprintf(&b, "^FO60,%d^BY%d^BCN,%d,N,N,N,D^FN%d^FS", o.Length-470, o.ModuleWidth, o.BarHeight, FieldCode128)
	fmt.Fprintf(&b, "^FO60,%d^A0N,44,44^FN%d^FS", o.Length-200, FieldHRI)
	return b.String()
}

// Label is one label's data.
type Label struct {
	SSCC   string // 18 digits
	Title  string // e.g. "CASE 40 x GTIN 09501101530003"
	LotExp string // e.g. "LOT L1  EXP 281231"
}

// RecordFields returns the record fields (printer.Record.Fields) of a label.
func RecordFields(l Label) (map[string]string, error) {
	m, err := gs1.New(gs1.Element{AI: "00", Value: l.SSCC})
	if err != nil {
		return nil, fmt.Errorf("logistic: SSCC %q: %w", l.SSCC, err)
	}
	return map[string]string{
		"code128": m.Bracketed(),
		"hri":     HRI(l.SSCC),
		"matrix":  "_1" + m.ElementString(),
		"title":   l.Title,
		"lotexp":  l.LotExp,
	}, nil
}

// HRI is the SSCC's human-readable interpretation as logistic labels print
// it: "(00) " then extension digit, company prefix and serial reference
// grouped, check digit apart. Without knowing the prefix length the digits
// are grouped 1 + 16 + 1.
func HRI(sscc string) string {
	if len(sscc) != 18 {
		return "(00) " + sscc
	}
	return "(00) " + sscc[:1] + " " + sscc[1:17] + " " + sscc[17:]
}
