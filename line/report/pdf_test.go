package report_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/line/reconcile"
	"github.com/serialine/serialine/line/report"
	"github.com/serialine/serialine/store/journal"
)

func record(lang string, alarms int) report.Record {
	at := time.Date(2026, 12, 7, 14, 3, 0, 0, time.UTC)
	loc, _ := time.LoadLocation("Europe/Berlin")
	b := journal.Batch{BatchDef: journal.BatchDef{ID: "B-1", GTIN: "09501101530003", Lot: "LÖT1", Expiry: "291231", Profile: "eu-fmd", Target: 10}, State: "Complete"}
	r := report.Record{Line: "line-1", Product: "Schmerztabletten 500 mg", Lang: lang, Location: loc, Generated: at,
		Report: reconcile.Build(b, nil, reconcile.Shifts{}, at),
		History: []report.StateChange{{To: "Idle", By: "otto", Role: "operator", At: at}, {From: "Idle", To: "Execute", By: "otto", Role: "operator", At: at},
			{From: "Execute", To: "Holding", By: "printer", Role: "system", Reason: "printer: fault", At: at}, {From: "Execute", To: "Complete", By: "otto", At: at}},
		Signs: []report.Signature{{Step: "production", Valid: true, Signer: report.Signer{User: "sam", FullName: "Jürgen Groß", Role: "supervisor", Meaning: "approved", Reason: "Schichtende", At: at}}}}
	for i := range alarms {
		r.Alarms = append(r.Alarms, report.Alarm{Code: "PRN-INK-OUT", Severity: "fault", Text: "alarm " + strconv.Itoa(i), Raised: at})
	}
	return r
}

// TestWritePDF: the same record gives the same bytes; every page has its
// header and "page n of m"; German text and names with umlauts survive;
// times are in the line's zone.
func TestWritePDF(t *testing.T) {
	pdftotext := reference.Tool(t, "pdftotext")
	var a, b bytes.Buffer
	if err := report.WritePDF(&a, record("de", 120)); err != nil {
		t.Fatal(err)
	}
	if err := report.WritePDF(&b, record("de", 120)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same record gave different PDFs")
	}
	p := filepath.Join(t.TempDir(), "r.pdf")
	os.WriteFile(p, a.Bytes(), 0o644)
	out, err := exec.Command(pdftotext, p, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	txt := string(out)
	pages := strings.Count(txt, "\f")
	if pages < 3 {
		t.Fatalf("%d pages for 120 alarms", pages)
	}
	for _, want := range []string{"Seite 1 von " + strconv.Itoa(pages), "Seite " + strconv.Itoa(pages) + " von " + strconv.Itoa(pages), "Jürgen Groß (sam)",
		"LÖT1", "Schmerztabletten 500 mg", "15:03:00 CET", "Europe/Berlin", "Produktionsfreigabe", "printer: fault"} {
		if !strings.Contains(txt, want) {
			t.Errorf("PDF lacks %q", want)
		}
	}
	if n := strings.Count(txt, "Chargenprotokoll B-1"); n != pages {
		t.Errorf("header on %d of %d pages", n, pages)
	}
}
