package configs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/configs"
)

type inner struct {
	Timeout time.Duration `yaml:"timeout"`
	Name    string        `yaml:"name"`
}

type outer struct {
	Inner inner    `yaml:"inner"`
	Rate  int      `yaml:"rate"`
	On    bool     `yaml:"on"`
	Tags  []string `yaml:"tags"`
}

func TestDecodeStrict(t *testing.T) {
	var v outer
	if err := configs.DecodeStrictBytes("ok.yaml", []byte("inner:\n  timeout: 250ms\n  name: x\nrate: 5\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.Inner.Timeout != 250*time.Millisecond || v.Inner.Name != "x" || v.Rate != 5 {
		t.Fatalf("decoded %+v", v)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown.yaml", "inner:\n  timout: 1s\n", `unknown.yaml: line 2: inner.timout: unknown key "timout" (did you mean "timeout"?)`},
		{"unknown-far.yaml", "inner:\n  colour: red\n", `unknown-far.yaml: line 2: inner.colour: unknown key "colour" (known here: name, timeout)`},
		{"type.yaml", "rate: fast\n", `type.yaml: line 1: rate: want a whole number, got "fast"`},
		{"duration.yaml", "inner:\n  timeout: 6 hours\n", `duration.yaml: line 2: inner.timeout: want a duration such as 500ms, 30s, 5m or 6h, got "6 hours"`},
		{"bool.yaml", "on: sometimes\n", `bool.yaml: line 1: on: want true or false, got "sometimes"`},
		{"list.yaml", "tags: {a: 1}\n", `list.yaml: line 1: tags: want a list (lines starting with "- ", or [a, b]), got a mapping`},
		{"mapping.yaml", "inner: 5\n", `mapping.yaml: line 1: inner: want a mapping (indented "key: value" lines, or {key: value}), got "5"`},
		{"empty.yaml", "", "empty.yaml: empty config"},
	} {
		err := configs.DecodeStrictBytes(tc.name, []byte(tc.doc), &outer{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want prefix %q", tc.name, err, tc.want)
		}
	}
}

func TestProblems(t *testing.T) {
	var p configs.Problems
	if p.Err() != nil {
		t.Fatal("no problems must be nil")
	}
	var in configs.Problems
	in.Add("confirm_timeout", "must be > %d", 0)
	in.Add("light", "bad value %q", "pink")
	p.Add("rate", "must be >= 0")
	p.Merge("devices.plc.reject", in)
	p.Merge("", configs.Problems{{Path: "top", Msg: "kept as is"}})
	err := p.Err()
	if !errors.Is(err, configs.ErrInvalid) {
		t.Fatalf("%v does not match ErrInvalid", err)
	}
	want := "invalid config (4 problems):\n" +
		"  rate: must be >= 0\n" +
		"  devices.plc.reject.confirm_timeout: must be > 0\n" +
		"  devices.plc.reject.light: bad value \"pink\"\n" +
		"  top: kept as is"
	if err.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", err, want)
	}
	var ce *configs.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 4 {
		t.Fatalf("errors.As: %v", err)
	}
	// the error keeps its own copy
	p[0].Msg = "changed"
	if ce.Problems[0].Msg != "must be >= 0" {
		t.Fatal("Err must copy the problems")
	}
	one := configs.Problems{{Path: "a", Msg: "b"}}
	if got := one.Err().Error(); got != "invalid config (1 problem):\n  a: b" {
		t.Fatalf("singular: %q", got)
	}
}

func TestCheckHostPort(t *testing.T) {
	for addr, want := range map[string]string{
		"10.0.0.5:502":   "",
		"plc.local:1502": "",
		"[::1]:4840":     "",
		"nowhere":        `"nowhere" is not host:port`,
		":502":           `":502" is not host:port`,
		"host:":          `"host:" is not host:port`,
		"host:0":         `bad port "0"`,
		"host:65536":     `bad port "65536"`,
		"host:http":      `bad port "http"`,
	} {
		err := configs.CheckHostPort(addr)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", addr, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: got %v, want %q", addr, err, want)
		}
	}
}

func TestDecodeStrictNamesEveryUnknownKeyWithItsPath(t *testing.T) {
	type inner struct {
		Port int `yaml:"port"`
	}
	type cfg struct {
		Devices struct {
			PLC inner `yaml:"plc"`
		} `yaml:"devices"`
		Name string `yaml:"name"`
	}
	in := "name: x\ndevices:\n  plc:\n    port: 1\n    colour: red\ncycle_typo: 1\n"
	var c cfg
	err := configs.DecodeStrictBytes("line.yaml", []byte(in), &c)
	if !errors.Is(err, configs.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, want := range []string{
		"line.yaml: ",
		`line 5: devices.plc.colour: unknown key "colour" (known here: port)`,
		`line 6: cycle_typo: unknown key "cycle_typo" (known here: devices, name)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
