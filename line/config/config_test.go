package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/line/config"
)

// The shipped configs decode strictly and validate.
func TestShippedConfigs(t *testing.T) {
	for _, name := range []string{"demo.yaml", "example.yaml", "line-pc.yaml"} {
		data, err := configs.Files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse(name, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// testdata/<case>/config.yaml must fail with every line of error.txt in
// the message (one problem per line, each with its dotted path).
func TestBadConfigs(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "error.txt"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = config.Parse("config.yaml", data)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := config.Defaults()
	p := c.Validate()
	if len(p) < 5 {
		t.Fatalf("defaults without devices should have many problems, got %v", p)
	}
	if err := p.Err(); !errors.Is(err, configs.ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	data, _ := configs.Files.ReadFile("demo.yaml")
	f.Add(data)
	f.Add([]byte("line: {name: x}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = config.Parse("fuzz.yaml", b) // must not panic
	})
}
