package pattern

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/vision"
	"github.com/serialine/serialine/vision/grade"
	"github.com/serialine/serialine/vision/internal/codectest"
)

func TestCodecTable(t *testing.T) {
	codectest.Run(t, "testdata", func(t *testing.T, dir string, input []byte) (vision.Result, error) {
		pat, err := os.ReadFile(filepath.Join(dir, "pattern"))
		if err != nil {
			t.Fatal(err)
		}
		nr, _ := os.ReadFile(filepath.Join(dir, "noread"))
		f, err := Compile(Options{Pattern: string(pat), NoRead: string(nr)})
		if err != nil {
			t.Fatal(err)
		}
		return f.Parse(string(input))
	})
}

func TestCompileErrors(t *testing.T) {
	for pat, want := range map[string]string{
		"":                     "needs a {data} field",
		"{SC}":                 "needs a {data} field",
		"{data}{_}":            "ambiguous",
		"{data}:{nope}":        "unknown field {nope}",
		"{data}:{SC}{SC}":      "appears twice",
		"{data":                "unclosed {",
		"{data}}":              "unmatched }",
		"{data}\t{grades}{_}x": "", // valid
	} {
		_, err := Compile(Options{Pattern: pat})
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", pat, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%q) = %v, want error containing %q", pat, err, want)
		}
	}
}

func TestRenderParseRoundTrip(t *testing.T) {
	data := "0109501101530003" + "10AB:C\x1d" + "21XYZ"
	rep := grade.FromScans(grade.Scan{grade.DEC: 4, grade.SC: 3, grade.MOD: 2, grade.UEC: 4})
	rep.Aperture, rep.Wavelength = 8, 660
	for _, pat := range []string{"{symid}{data}\t{overall}\t{grades}", "{data}:{grades}", "{data};{ALL};{SC};{MOD};{UEC};{DEC}"} {
		for _, numeric := range []bool{false, true} {
			f, err := Compile(Options{Pattern: pat, NoRead: "NOREAD", Numeric: numeric})
			if err != nil {
				t.Fatal(err)
			}
			in := vision.Result{Data: data, SymbologyID: "]d2", Grade: rep}
			line := f.Render(in)
			out, err := f.Parse(line)
			if err != nil {
				t.Fatalf("%q numeric=%v: parse(render) %q: %v", pat, numeric, line, err)
			}
			if out.Data != data || out.SymbologyID != "]d2" || out.Grade.Overall != rep.Overall {
				t.Errorf("%q: round trip %q -> %+v", pat, line, out)
			}
			for _, p := range []grade.Param{grade.SC, grade.MOD, grade.UEC} {
				if out.Grade.Params[p] != rep.Params[p] {
					t.Errorf("%q: %s = %v, want %v", pat, p, out.Grade.Params[p], rep.Params[p])
				}
			}
			nr, err := f.Parse(f.Render(vision.Result{NoRead: true}))
			if err != nil || !nr.NoRead {
				t.Errorf("no-read round trip: %+v %v", nr, err)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", e.Name(), "input"))
		if err == nil {
			f.Add(string(b))
		}
	}
	formats := []*Format{}
	for _, p := range []string{"{symid}{data}\t{overall}\t{grades}", "{data}:{grades}", "{data}:{ALL}/{SC}/{MOD}"} {
		fm, err := Compile(Options{Pattern: p, NoRead: "NOREAD"})
		if err != nil {
			f.Fatal(err)
		}
		formats = append(formats, fm)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, fm := range formats {
			r, err := fm.Parse(line)
			if err != nil {
				if !errors.Is(err, vision.ErrGarbled) {
					t.Fatalf("error %v is not ErrGarbled", err)
				}
				var le *vision.LineError
				if !errors.As(err, &le) || le.Pos < 0 || le.Pos > len(line)+1 {
					t.Fatalf("bad LineError %v", err)
				}
				continue
			}
			if !r.NoRead && r.Data == "" {
				t.Fatalf("accepted empty data: %q", line)
			}
			if r.Grade.Overall < 0 || r.Grade.Overall > 4 {
				t.Fatalf("overall out of range: %v", r.Grade.Overall)
			}
		}
	})
}

func TestClientConfig(t *testing.T) {
	msg := ClientConfig{}.Validate().Err().Error()
	for _, w := range []string{"address: must be set", "format: must be set"} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q lacks %q", msg, w)
		}
	}
	if err := (ClientConfig{Address: "h:1", Format: "{x}"}).Validate().Err(); err == nil || !strings.Contains(err.Error(), "unknown field {x}") {
		t.Errorf("bad format: %v", err)
	}
	o, err := ClientConfig{Address: "127.0.0.1:9", Format: "{data}", NoRead: "NR"}.Options()
	if err != nil || o.Addr != "127.0.0.1:9" || o.Format.String() != "{data}" {
		t.Errorf("%+v %v", o, err)
	}
}

func TestCompileDefaultAndMustCompile(t *testing.T) {
	f, err := CompileDefault(Options{}, "{data}", "NR")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.Parse("NR"); err != nil || !r.NoRead {
		t.Fatalf("default no-read: %+v, %v", r, err)
	}
	if r, err := f.Parse("ABC"); err != nil || r.Data != "ABC" {
		t.Fatalf("default pattern: %+v, %v", r, err)
	}
	g, err := CompileDefault(Options{Pattern: "<{data}>", NoRead: "X"}, "{data}", "NR")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := g.Parse("X"); err != nil || !r.NoRead {
		t.Fatalf("configured no-read: %+v, %v", r, err)
	}
	if r, err := g.Parse("<ABC>"); err != nil || r.Data != "ABC" {
		t.Fatalf("configured pattern: %+v, %v", r, err)
	}
	if MustCompile(Options{Pattern: "{data}"}) == nil {
		t.Fatal("MustCompile returned nil")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustCompile of a bad pattern did not panic")
		}
	}()
	MustCompile(Options{Pattern: "{nope}"})
}
