// Package reference locates the outside reference material (GS1 syntax
// dictionary, EPCIS schema, oracle test tables) that tests read from
// ../shared/reference/ beside the repository root. The project commits no
// copies of those files.
package reference

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Dir returns the reference folder. Where it is absent the test is skipped
// with a clear message, except under CI=true, where it fails.
func Dir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			ref := filepath.Join(d, "..", "shared", "reference")
			if _, err := os.Stat(filepath.Join(ref, "README.md")); err == nil {
				return ref
			}
			missing(t, "reference material not found at "+ref)
			return ""
		}
		if filepath.Dir(d) == d {
			missing(t, "reference: no go.mod above "+wd)
			return ""
		}
	}
}

// File returns the path of one reference file (relative to Dir), with the
// same skip/fail rule.
func File(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), rel)
	if _, err := os.Stat(p); err != nil {
		missing(t, "reference file missing: "+p)
	}
	return p
}

// Tool returns the path of an outside command-line tool (zint, ZXingReader,
// dmtxread, chromium…), with the same skip/fail rule: `make tools` installs
// them.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name+" not installed (run `make tools`)")
	}
	return p
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: required)")
	}
	t.Skip(msg)
}
