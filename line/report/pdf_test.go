package report_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	r := record("de", 120)
	r.AggregationOpen = "Karton 00095011010000000049 (3 von 20)"
	if err := report.WritePDF(&a, r); err != nil {
		t.Fatal(err)
	}
	if err := report.WritePDF(&b, r); err != nil {
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
		"LÖT1", "Schmerztabletten 500 mg", "15:03:00 CET", "Europe/Berlin", "Produktionsfreigabe", "printer: fault",
		"Aggregation noch offen", "00095011010000000049 (3 von 20)"} {
		if !strings.Contains(txt, want) {
			t.Errorf("PDF lacks %q", want)
		}
	}
	if n := strings.Count(txt, "Chargenprotokoll B-1"); n != pages {
		t.Errorf("header on %d of %d pages", n, pages)
	}
}

// TestWritePDFWholeRows: a table row that does not fit on the page
// starts the next page whole (every cell of it there, the column heads
// repeated), pages are filled, and a row taller than a page goes on over
// the next with all its lines in order.
func TestWritePDFWholeRows(t *testing.T) {
	pdftotext := reference.Tool(t, "pdftotext")
	r := record("en", 0)
	const rows, lines = 30, 9
	for i := range rows {
		var text []string
		for l := range lines {
			text = append(text, fmt.Sprintf("row%02dline%d", i, l))
		}
		r.Alarms = append(r.Alarms, report.Alarm{Code: "PRN-INK-LOW", Severity: "warning", Text: strings.Join(text, "\n"),
			Raised: r.Generated, AckedBy: fmt.Sprintf("ack%02d", i), AckedAt: r.Generated})
	}
	var long []string
	for l := range 100 {
		long = append(long, fmt.Sprintf("tall%03d", l))
	}
	r.Alarms = append(r.Alarms, report.Alarm{Code: "PRN-INK-LOW", Severity: "warning", Text: strings.Join(long, "\n"),
		Raised: r.Generated, AckedBy: "acktall", AckedAt: r.Generated})
	var buf bytes.Buffer
	if err := report.WritePDF(&buf, r); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "r.pdf")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, p, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pages := strings.Split(strings.TrimSuffix(string(out), "\f"), "\f")
	on := func(s string) []int {
		var ps []int
		for i, pg := range pages {
			if strings.Contains(pg, s) {
				ps = append(ps, i+1)
			}
		}
		return ps
	}
	perPage := map[int]int{}
	for i := range rows {
		cells := []string{fmt.Sprintf("row%02dline0", i), fmt.Sprintf("row%02dline%d", i, lines-1), fmt.Sprintf("ack%02d", i)}
		var where []int
		for _, c := range cells {
			ps := on(c)
			if len(ps) != 1 {
				t.Fatalf("%s on pages %v, want one page", c, ps)
			}
			where = append(where, ps[0])
		}
		if where[0] != where[1] || where[0] != where[2] {
			t.Errorf("row %d split over pages: %v on %v", i, cells, where)
		}
		perPage[where[0]]++
	}
	// 9 lines = 37 mm a row; a page holds 255 mm less 6 mm of column heads
	first, last := on("row00line0")[0], on(fmt.Sprintf("row%02dline0", rows-1))[0]
	for pg := first + 1; pg < last; pg++ {
		if perPage[pg] != 6 {
			t.Errorf("page %d holds %d rows, want 6 (rows per page: %v)", pg, perPage[pg], perPage)
		}
		if !strings.Contains(pages[pg-1], "Acknowledged") {
			t.Errorf("page %d lacks the column heads:\n%s", pg, pages[pg-1])
		}
	}
	if want := first + (rows-perPage[first]+5)/6; last != want {
		t.Errorf("last row on page %d, want %d", last, want)
	}
	// the tall row (100 lines, 401 mm): starts on a new page with its
	// other cells, goes on over the next, every line once and in order
	start := on("tall000")
	if len(start) != 1 || !slices.Equal(on("acktall"), start) || start[0] <= last {
		t.Fatalf("tall row starts on %v, its ack cell on %v, the last short row on page %d", start, on("acktall"), last)
	}
	prev, at := start[0], 0
	for l := range 100 {
		ps := on(fmt.Sprintf("tall%03d", l))
		if len(ps) != 1 || ps[0] < prev {
			t.Fatalf("tall%03d on pages %v (the line before on %d)", l, ps, prev)
		}
		i := strings.Index(pages[ps[0]-1], fmt.Sprintf("tall%03d", l))
		if ps[0] == prev && i < at {
			t.Errorf("tall%03d out of order", l)
		}
		prev, at = ps[0], i
	}
	if prev != start[0]+1 {
		t.Errorf("tall row over pages %d–%d, want two", start[0], prev)
	}
}
