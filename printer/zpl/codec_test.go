package zpl

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/serialine/serialine/printer"
)

// testdata/hoststatus/<case>/input is a printer's ~HS answer; expected.json
// the parsed HostStatus, or error a substring of the expected error.
func TestParseHostStatusCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/hoststatus/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, "input"))
			if err != nil {
				t.Fatal(err)
			}
			got, perr := ParseHostStatus(in)
			if want, err := os.ReadFile(filepath.Join(dir, "error")); err == nil {
				if perr == nil || !errors.Is(perr, printer.ErrProtocol) || !strings.Contains(perr.Error(), strings.TrimSpace(string(want))) {
					t.Fatalf("error %v, want ErrProtocol containing %q", perr, strings.TrimSpace(string(want)))
				}
				return
			}
			if perr != nil {
				t.Fatal(perr)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want HostStatus
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&want); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			// The simulator's encoder answers what the parser reads back.
			back, err := ParseHostStatus(EncodeHostStatus(got))
			if err != nil || back != got {
				t.Errorf("encode round trip: %+v %v", back, err)
			}
		})
	}
}

// Every ZPL the driver sends.
func TestEncoders(t *testing.T) {
	if got := string(StoredFormat("R:SERIAL.ZPL", "^FO50,50^BXN,6,200,,,,_^FN2^FS")); got != "^XA^DFR:SERIAL.ZPL^FS^FO50,50^BXN,6,200,,,,_^FN2^FS^XZ\n" {
		t.Errorf("StoredFormat: %q", got)
	}
	got := string(Recall("R:SERIAL.ZPL", map[int]string{2: "0109501101530003\x1d21A^B~C\\D", 1: "SN1"}))
	want := "^XA^XFR:SERIAL.ZPL^FS^FN1^FH\\^FDSN1^FS^FN2^FH\\^FD0109501101530003\\1D21A\\5EB\\7EC\\5CD^FS^XZ\n"
	if got != want {
		t.Errorf("Recall:\n got %q\nwant %q", got, want)
	}
	bm := printer.NewBitmap(10, 2)
	bm.Set(0, 0, true)
	bm.Set(9, 1, true)
	if got := string(GraphicField(bm, 5, 6)); got != "^FO5,6^GFA,4,4,2,80000040^FS" {
		t.Errorf("GraphicField: %q", got)
	}
	if got := EscapeFH("plain"); got != "plain" {
		t.Errorf("EscapeFH: %q", got)
	}
}

func TestTokenizeAndDecode(t *testing.T) {
	cmds, err := Tokenize([]byte("^XA^XFR:SERIAL.ZPL^FS^FN1^FH\\^FDa~b^FS^FO5,6^GFA,4,4,2,80000040^FS~HS^XZ"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cmds {
		names = append(names, string(c.Prefix)+c.Name)
	}
	if want := []string{"^XA", "^XF", "^FS", "^FN", "^FH", "^FD", "^FS", "^FO", "^GF", "^FS", "~HS", "^XZ"}; !reflect.DeepEqual(names, want) {
		t.Errorf("tokens %v", names)
	}
	if cmds[5].Params != "a~b" {
		t.Errorf("^FD with ~ inside: %q", cmds[5].Params)
	}
	bm, err := ParseGraphicField(cmds[8].Params)
	if err != nil || bm.Width != 16 || bm.Height != 2 || !bm.Dot(0, 0) || !bm.Dot(9, 1) || bm.Dot(1, 0) {
		t.Errorf("ParseGraphicField: %+v %v", bm, err)
	}
	v, err := UnescapeFH("0109501101530003\\1D21A\\5EB", '\\')
	if err != nil || v != "0109501101530003\x1d21A^B" {
		t.Errorf("UnescapeFH: %q %v", v, err)
	}
	bad := []struct{ in, err string }{
		{"junk^XA", "before the first command"},
		{"^X", "truncated"},
		{"^X!", "bad command name"},
	}
	for _, b := range bad {
		if _, err := Tokenize([]byte(b.in)); err == nil || !strings.Contains(err.Error(), b.err) {
			t.Errorf("Tokenize(%q): %v", b.in, err)
		}
	}
	for _, p := range []string{"B,4,4,2,00", "A,4,4,2,0000", "A,x,4,2,00000000", "A,4,4,3,00000000", "A,4,4,2"} {
		if _, err := ParseGraphicField(p); !errors.Is(err, printer.ErrProtocol) {
			t.Errorf("ParseGraphicField(%q): %v", p, err)
		}
	}
	for _, p := range []string{"\\1", "\\ZZ"} {
		if _, err := UnescapeFH(p, '\\'); !errors.Is(err, printer.ErrProtocol) {
			t.Errorf("UnescapeFH(%q): %v", p, err)
		}
	}
}

func FuzzParseHostStatus(f *testing.F) {
	dirs, _ := filepath.Glob("testdata/hoststatus/*/input")
	for _, d := range dirs {
		b, _ := os.ReadFile(d)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHostStatus(b)
		if err != nil {
			if !errors.Is(err, printer.ErrProtocol) {
				t.Fatalf("%v not ErrProtocol", err)
			}
			return
		}
		if h.FormatsInBuffer < 0 || h.LabelsRemaining < 0 {
			t.Fatalf("negative counts %+v", h)
		}
	})
}

func FuzzTokenize(f *testing.F) {
	// Seeds: what every encoder of the codec table sends, and the bad inputs.
	bm := printer.NewBitmap(10, 2)
	bm.Set(0, 0, true)
	for _, b := range [][]byte{
		[]byte("^XA^XFR:SERIAL.ZPL^FS^FN1^FH\\^FDa~b^FS^XZ"),
		[]byte("^XA^FO5,6^GFA,4,4,2,80000040^FS^XZ~HS"),
		StoredFormat("R:SERIAL.ZPL", "^FO50,50^BXN,6,200,,,,_^FN2^FS"),
		Recall("R:SERIAL.ZPL", map[int]string{1: "SN1", 2: "0109501101530003\x1d21A^B~C\\D"}),
		append(append([]byte("^XA"), GraphicField(bm, 5, 6)...), "^FX\\1D^FS^XZ~JA"...),
		[]byte("junk^XA"), []byte("^X"), []byte("^X!"), []byte("^XA^GFB,4,4,2,00^FS"), []byte("^FH\\^FD\\ZZ^FS"),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, err := Tokenize(b)
		if err != nil {
			if !errors.Is(err, printer.ErrProtocol) {
				t.Fatalf("%v not ErrProtocol", err)
			}
			return
		}
		for _, c := range cmds {
			switch c.Name {
			case "GF":
				_, _ = ParseGraphicField(c.Params)
			case "FD":
				_, _ = UnescapeFH(c.Params, '\\')
			}
		}
	})
}
