package multiread

import (
	"errors"
	"strings"
	"testing"

	"github.com/serialine/serialine/vision"
)

func TestParseRender(t *testing.T) {
	codes := []Code{{Data: "010950110153000321A\x1d10L1", SymbologyID: "]d2"}, {Data: "0109501101530003212,B", SymbologyID: "]d2"}}
	for _, c := range []Config{{}, {Separator: "\t", Count: true, CountSeparator: "#"}, {Separator: "~", NoRead: "ERROR"}} {
		f := New(c)
		line := f.Render(codes)
		r, err := f.Parse(line)
		if err != nil || len(r.Codes) != 2 || r.Codes[0] != codes[0] || r.Codes[1] != codes[1] {
			t.Fatalf("%+v: %q -> %+v %v", c, line, r, err)
		}
		nr, err := f.Parse(f.NoReadLine())
		if err != nil || !nr.NoRead || len(nr.Codes) != 0 {
			t.Fatalf("%+v: no-read %q -> %+v %v", c, f.NoReadLine(), nr, err)
		}
	}
	// A leading GS (FNC1 transmitted) is dropped.
	if r, _ := New(Config{}).Parse("]d2\x1d0109501101530003" + "21X"); r.Codes[0].Data != "0109501101530003"+"21X" {
		t.Fatalf("leading GS kept: %q", r.Codes[0].Data)
	}
}

func TestParseGarbled(t *testing.T) {
	f := New(Config{Count: true})
	for _, line := range []string{"3:a|b", "x:a", "2:a||b", "2:]d2|b"} {
		_, err := f.Parse(line)
		var le *vision.LineError
		if !errors.As(err, &le) || !errors.Is(err, vision.ErrGarbled) {
			t.Errorf("%q: %v, want a LineError", line, err)
		}
	}
}

func TestConfigRefusesSeparatorsInCodes(t *testing.T) {
	p := Config{Separator: ",", CountSeparator: "1"}.Validate()
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "separator") || !strings.Contains(err.Error(), "count_separator") {
		t.Fatalf("problems: %v", err)
	}
	if err := (Config{}).Validate().Err(); err != nil {
		t.Fatal(err)
	}
}
