// Package reference locates the outside reference material (GS1 syntax
// dictionary, EPCIS schema, oracle test tables) that tests read from
// ../shared/reference/ beside the repository root. The project commits no
// copies of those files.
package reference

import (
	"encoding/hex"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// ZXingRead decodes img with zxing-cpp's ZXingReader (Tool's skip/fail
// rule; args go before the image file, e.g. "-format", "DataMatrix") and
// returns the symbology identifier and content bytes it reports, and its
// whole output for failure messages.
func ZXingRead(t testing.TB, img image.Image, args ...string) (ident string, data []byte, out string) {
	t.Helper()
	tool := Tool(t, "ZXingReader")
	path := filepath.Join(t.TempDir(), "symbol.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(tool, append(args[:len(args):len(args)], path)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ZXingReader: %v\n%s", err, b)
	}
	var bytesHex string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Bytes":
			bytesHex = strings.ReplaceAll(strings.TrimSpace(v), " ", "")
		case "Identifier":
			ident = strings.TrimSpace(v)
		}
	}
	data, err = hex.DecodeString(bytesHex)
	if err != nil {
		t.Fatalf("ZXingReader output %q: %v", b, err)
	}
	return ident, data, string(b)
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: required)")
	}
	t.Skip(msg)
}
