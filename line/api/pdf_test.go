package api_test

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/config"
)

func artifacts(t *testing.T) string {
	if d := os.Getenv("SERIALINE_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBatchRecordPDF: the controller produces the batch record as PDF
// (GET …/report?format=pdf); rendered to text by pdftotext it holds the
// product, lot, expiry, line, start and end, the state history with
// actors, the hold with its reason, the alarm, counts per reason, the
// sample, the line clearance and both signatures with full names, roles
// and times in the named time zone, and "page n of m"; in German for a
// German reader. Its first page rendered by pdftoppm (1024 px wide) goes to
// the artefacts.
func TestBatchRecordPDF(t *testing.T) {
	pdftotext := reference.Tool(t, "pdftotext")
	pdftoppm := reference.Tool(t, "pdftoppm")
	e := apitest.NewEnv(t, apitest.EnvOptions{Shift: &config.Shift{}, Wrap: func(f *apitest.Fake) api.Controller { return apitest.ReportingFake{Fake: f} }})
	op, sam, quinn := e.Tokens["otto"], e.Tokens["sam"], e.Tokens["quinn"]
	e.MustDo(t, op, "POST", "/api/v1/batches", map[string]any{"id": "PDF-1", "gtin": apitest.GTIN, "lot": "LOT-PDF", "expiry": "291231", "target": 40}, 201, nil)
	clearAndStart(t, e, "PDF-1")
	serials, err := e.Fake.Produce(20, 5)
	if err != nil {
		t.Fatal(err)
	}
	e.MustDo(t, op, "POST", "/api/v1/batches/PDF-1/hold", map[string]any{"reason_code": "material", "reason": "leaflets out"}, 200, nil)
	e.Fake.Raise(api.SeverityFault, "printer", "fault alarm=hold: INKOUT ink out", "system")
	e.MustDo(t, op, "POST", "/api/v1/alarms/ack-all", nil, 200, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/PDF-1/unhold", nil, 200, nil)
	e.MustDo(t, op, "POST", "/api/v1/units/"+serials[0]+"/action", map[string]any{"action": "sample", "reason": "retain sample"}, 200, nil)
	e.MustDo(t, op, "POST", "/api/v1/batches/PDF-1/complete", map[string]any{"reason_code": "order-short"}, 200, nil)
	e.MustDo(t, sam, "POST", "/api/v1/batches/PDF-1/reconciliation/sign", map[string]any{"password": apitest.SupervisorPassword, "meaning": "approved", "reason": "shift end"}, 200, nil)
	e.MustDo(t, quinn, "POST", "/api/v1/batches/PDF-1/reconciliation/sign", map[string]any{"step": "qa", "password": apitest.QAPassword, "meaning": "released", "reason": "QA release"}, 200, nil)

	pdfText := func(token string) (string, []byte) {
		t.Helper()
		code, b := e.Do(t, token, "GET", "/api/v1/batches/PDF-1/report?format=pdf", nil)
		if code != 200 || !bytes.HasPrefix(b, []byte("%PDF-")) {
			t.Fatalf("pdf: %d %.100s", code, b)
		}
		dir := t.TempDir()
		in := filepath.Join(dir, "record.pdf")
		os.WriteFile(in, b, 0o644)
		out, err := exec.Command(pdftotext, "-layout", in, "-").Output()
		if err != nil {
			t.Fatalf("pdftotext: %v", err)
		}
		return string(out), b
	}
	txt, raw := pdfText(op)
	for _, want := range []string{"Batch record PDF-1", "Paracetamol 500 mg 20 tablets", "LOT-PDF", "291231", "Line line-1", "Page 1 of",
		"Idle -> Execute", "otto (operator)", "material (Material missing", "leaflets out", "PRN-INK-OUT", "Printer ink cartridge empty",
		"low-grade", "retain sample", "Packs, labels and leaflets", "Otto Keller", "Samuel Brandt (sam)", "Quinn Adler (quinn)",
		"Production sign-off", "QA release", "UTC", "RELEASED"} {
		if !strings.Contains(txt, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("PDF text:\n%s", txt)
	}
	art := artifacts(t)
	os.WriteFile(filepath.Join(art, "batch-record-PDF-1.pdf"), raw, 0o644)
	in := filepath.Join(t.TempDir(), "r.pdf")
	os.WriteFile(in, raw, 0o644)
	prefix := filepath.Join(art, "pdf-record-1024")
	if out, err := exec.Command(pdftoppm, "-png", "-f", "1", "-l", "1", "-scale-to-x", "1024", "-scale-to-y", "-1", "-singlefile", in, prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	f, err := os.Open(prefix + ".png")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 1024 || img.Bounds().Dy() < 1400 {
		t.Fatalf("rendered page: %v %v", img.Bounds(), err)
	}
	t.Logf("PDF page image: %s.png", prefix)

	// German for a German reader
	e.MustDo(t, quinn, "PATCH", "/api/v1/session", map[string]any{"lang": "de"}, 200, nil)
	de, _ := pdfText(quinn)
	for _, want := range []string{"Chargenprotokoll PDF-1", "Seite 1 von", "Zustandsverlauf", "Produktionsfreigabe", "QS-Freigabe", "FREIGEGEBEN"} {
		if !strings.Contains(de, want) {
			t.Errorf("German PDF lacks %q", want)
		}
	}
}
