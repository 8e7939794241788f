package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func runEncode(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	code := cmdEncode(context.Background(), e, args)
	return out.String(), errb.String(), code
}

func TestEncodeFormats(t *testing.T) {
	in := "(01)09501101530003(17)290331(10)ABC(21)X1"
	cases := map[string]string{
		"element":   "0109501101530003172903311" + "0ABC\x1d21X1\n",
		"hri":       "(01) 09501101530003 (17) 290331 (10) ABC (21) X1\n",
		"dl":        "https://id.gs1.org/01/09501101530003/10/ABC/21/X1?17=290331\n",
		"epc":       "urn:epc:id:sgtin:9501101.053000.X1\n",
		"bracketed": in + "\n",
	}
	for f, want := range cases {
		args := []string{"--format", f, in}
		if f == "epc" {
			args = append([]string{"--company-prefix-length", "7"}, args...)
		}
		out, errs, code := runEncode(t, "", args...)
		if code != exitOK || out != want {
			t.Errorf("--format %s: code %d out %q err %q, want %q", f, code, out, errs, want)
		}
	}
	out, _, code := runEncode(t, "", "--format", "dump", in)
	if code != exitOK || !strings.HasPrefix(out, "1010101010") {
		t.Errorf("dump: %d %q", code, out)
	}
}

func TestEncodeBadInput(t *testing.T) {
	_, errs, code := runEncode(t, "", "(01)09501101530004(21)X")
	if code != exitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "AI (01)") || !strings.Contains(errs, "check-digit") {
		t.Fatalf("code %d stderr %q", code, errs)
	}
}

func TestEncodeBatch(t *testing.T) {
	in := "(01)09501101530003(21)A\n(01)09501101530003(21)B C\n(01)09501101530003(21)C\n"
	out, errs, code := runEncode(t, in, "--batch", "--format", "hri")
	if code != exitUsage || out != "(01) 09501101530003 (21) A\n\n(01) 09501101530003 (21) C\n" || !strings.Contains(errs, "line 2: ") {
		t.Fatalf("code %d out %q err %q", code, out, errs)
	}
	out, _, code = runEncode(t, "(01)09501101530003(21)A\n(01)09501101530003(21)B\n", "--batch", "--format", "dump")
	syms := strings.Split(out, "\n\n")
	if code != exitOK || len(syms) != 2 {
		t.Fatalf("dump batch: %d symbols", len(syms))
	}
	dir := t.TempDir()
	out, _, code = runEncode(t, "(01)09501101530003(21)A\n(01)09501101530003(21)B\n", "--batch", "--format", "png", "--out", dir)
	if code != exitOK || strings.Count(out, ".png\n") != 2 {
		t.Fatalf("png batch: %d %q", code, out)
	}
}

func BenchmarkEncodeBatchDump(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		sb.WriteString("(01)09501101530003(17)290331(10)LOT42A(21)SN")
		sb.WriteString(strings.Repeat("X", i%10))
		sb.WriteString("\n")
	}
	in := sb.String()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, code := runEncode(b, in, "--batch", "--format", "dump"); code != exitOK {
			b.Fatal(code)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "payloads/s")
}

// Rendering flags the library would quietly raise or default are refused,
// every bad one named at once.
func TestEncodeBadRenderFlags(t *testing.T) {
	in := "(01)09501101530003(21)A"
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--quiet-zone", "0"}, []string{"--quiet-zone 0: must be >= 1"}},
		{[]string{"--module-dots", "-2", "--dpi", "-1"}, []string{"--module-dots -2", "--dpi -1"}},
		{[]string{"--dpi", "600"}, []string{"--dpi and --module-mm must be given together"}},
		{[]string{"--module-mm", "0.5"}, []string{"--dpi and --module-mm must be given together"}},
	} {
		out, errs, code := runEncode(t, "", append(append([]string{"--format", "png"}, tc.args...), in)...)
		if code != exitUsage || out != "" {
			t.Errorf("%v: code %d, %d bytes out", tc.args, code, len(out))
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, errs, w)
			}
		}
	}
	if _, errs, code := runEncode(t, "", "--format", "png", "--dpi", "600", "--module-mm", "0.5", "--out", t.TempDir()+"/a.png", in); code != exitOK {
		t.Errorf("--dpi with --module-mm: code %d %s", code, errs)
	}
}

// --format epc never assumes a company prefix length: without one it is a
// usage error; with a GCP prefix format list the GTIN's prefix decides, and
// a GTIN the list does not know is an error naming it.
func TestEncodeEPCCompanyPrefix(t *testing.T) {
	in := "(01)09501101530003(21)X1"
	if _, errs, code := runEncode(t, "", "--format", "epc", in); code != exitUsage || !strings.Contains(errs, "--company-prefix-length") {
		t.Fatalf("no length: code %d err %q", code, errs)
	}
	list := "../../printer/gs1/gcp/testdata/gcpprefixformatlist.xml"
	out, errs, code := runEncode(t, "", "--format", "epc", "--gcp-file", list, in)
	if code != exitOK || out != "urn:epc:id:sgtin:950110153.0000.X1\n" {
		t.Fatalf("gcp file: code %d out %q err %q", code, out, errs)
	}
	_, errs, code = runEncode(t, "", "--format", "epc", "--gcp-file", list, "(01)04000000000013(21)X1")
	if code == exitOK || !strings.Contains(errs, "04000000000013") {
		t.Fatalf("unknown prefix: code %d err %q", code, errs)
	}
}

// TestEncodeExtraArgument names the unexpected argument.
func TestEncodeExtraArgument(t *testing.T) {
	code, _, errs := runClient(t, "encode", "(01)09501101530003(21)A", "B")
	if code != exitUsage || !strings.Contains(errs, `unexpected argument "B"`) || strings.Contains(errs, "usage:") {
		t.Errorf("encode A B: %d %q", code, errs)
	}
}
