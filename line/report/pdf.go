// Package report writes the batch record as a PDF, produced by the
// controller (not the browser) with codeberg.org/go-pdf/fpdf: product, lot,
// expiry, line, start and end, the PackML state history with actors, holds,
// alarms, counts per reason, samples, deviations and close-outs, line
// clearance, and every signature with its full name, role, meaning, reason
// and time in the line's time zone (named); a header and "page n of m" on
// every page. Texts come from the message catalogues (line/i18n) in the
// reader's language. The same record gives the same bytes (creation date =
// Generated), so a PDF can be compared with a later one.
package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/serialine/serialine/line/i18n"
	"github.com/serialine/serialine/line/reconcile"
)

// Record is everything the batch record shows.
type Record struct {
	Line      string
	Product   string
	Lang      string         // catalogue language ("en", "de")
	Location  *time.Location // the line's time zone (nil = UTC)
	Generated time.Time
	Report    reconcile.Report
	History   []StateChange
	Alarms    []Alarm
	Samples   []UnitAction // units sampled or rejected by a person
	Closeouts []Closeout
	Clearance *Clearance
	Signs     []Signature
	// Changed: the record changed after a signature (it needs new ones).
	Changed  bool
	Released bool
	// AggregationOpen names the batch's aggregation parents still open
	// ("" = none): no signature until they are closed.
	AggregationOpen string
}

// StateChange is one PackML transition.
type StateChange struct {
	From, To, By, Role, Reason string
	At                         time.Time
}

// Alarm is one alarm raised during the batch.
type Alarm struct {
	Code, Severity, Text string
	Raised               time.Time
	RaisedBy             string
	AckedBy              string
	AckedAt              time.Time
	ClearedBy            string
	Cleared              time.Time
}

// UnitAction is a unit a person took out or rejected.
type UnitAction struct {
	Serial, State, Reason, By string
	At                        time.Time
}

// Closeout is a close-out of a reject the gate did not confirm.
type Closeout struct {
	Serial, Outcome, Note string
	Signer                Signer
}

// Clearance is the line clearance before the start.
type Clearance struct {
	Items  []string
	Signer Signer
}

// Signer is who signed.
type Signer struct {
	User, FullName, Role, Meaning, Reason string
	At                                    time.Time
}

// Name is "Full Name (user)" or the user.
func (s Signer) Name() string {
	if s.FullName != "" && s.FullName != s.User {
		return s.FullName + " (" + s.User + ")"
	}
	return s.User
}

// Signature is one batch record signature.
type Signature struct {
	Step  string // "production" or "qa"
	Valid bool
	Signer
}

// A4 page layout (mm): the bottom margin (automatic page break) and where
// it starts.
const (
	marginLeft = 15.0
	marginTop  = 24.0
	pageBottom = 18.0
	pageEnd    = 297 - pageBottom
)

// WritePDF writes r as a PDF to w.
func WritePDF(w io.Writer, r Record) error {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	lang := r.Lang
	if lang == "" {
		lang = i18n.Default
	}
	t := func(key string, args ...string) string { return i18n.T(lang, key, args...) }
	ustate := func(s string) string { return i18n.Word(lang, "ustate.", s) }
	ts := func(x time.Time) string {
		if x.IsZero() {
			return ""
		}
		return x.In(loc).Format("2006-01-02 15:04:05 MST")
	}
	b := r.Report.Batch
	pdf := fpdf.New("P", "mm", "A4", "")
	tr := pdf.UnicodeTranslatorFromDescriptor("") // cp1252: German umlauts, dashes
	pdf.SetTitle(tr(t("pdf.title")+" "+b.ID), false)
	pdf.SetAuthor("Serialine "+r.Line, false)
	pdf.SetCreator("Serialine", false)
	pdf.SetProducer("Serialine", false)
	pdf.SetCreationDate(r.Generated)
	pdf.SetModificationDate(r.Generated)
	pdf.SetCatalogSort(true)
	pdf.SetMargins(marginLeft, marginTop, 15)
	pdf.SetAutoPageBreak(true, pageBottom)
	pdf.AliasNbPages("{nb}")
	pdf.SetHeaderFunc(func() {
		pdf.SetFont("Helvetica", "B", 10)
		pdf.SetXY(15, 10)
		pdf.CellFormat(120, 5, tr(t("pdf.title")+" "+b.ID+" · "+r.Product), "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 9)
		pdf.CellFormat(60, 5, tr(t("pdf.line")+" "+r.Line), "", 1, "R", false, 0, "")
		pdf.Line(15, 16, 195, 16)
	})
	pdf.SetFooterFunc(func() {
		pdf.SetY(-13)
		pdf.SetFont("Helvetica", "", 8)
		pdf.CellFormat(120, 5, tr(t("pdf.generated", "time", ts(r.Generated), "zone", loc.String())), "", 0, "L", false, 0, "")
		pdf.CellFormat(60, 5, tr(t("pdf.page", "n", strconv.Itoa(pdf.PageNo()), "m", "{nb}")), "", 0, "R", false, 0, "")
	})
	pdf.AddPage()

	h1 := func(s string) {
		pdf.Ln(2)
		pdf.SetFont("Helvetica", "B", 12)
		pdf.CellFormat(0, 7, tr(s), "B", 1, "L", false, 0, "")
		pdf.Ln(1)
		pdf.SetFont("Helvetica", "", 9)
	}
	kv := func(k, v string) {
		pdf.SetFont("Helvetica", "B", 9)
		pdf.CellFormat(50, 5, tr(k), "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 9)
		pdf.MultiCell(0, 5, tr(v), "", "L", false)
	}
	// wrap splits s into the lines MultiCell would make of it in a cell w
	// wide (cell margins off): at "\n" and between words, a word wider
	// than the cell cut; widths measured on the text as printed (cp1252).
	wrap := func(s string, w float64) []string {
		w -= 2 * pdf.GetCellMargin()
		fits := func(x string) bool { return pdf.GetStringWidth(tr(x)) <= w }
		var out []string
		for _, para := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			line := ""
			for _, word := range strings.Fields(para) {
				if line != "" && fits(line+" "+word) {
					line += " " + word
					continue
				}
				if line != "" {
					out = append(out, line)
				}
				line = word
				for !fits(line) {
					rs := []rune(line)
					n := len(rs) - 1
					for n > 1 && !fits(string(rs[:n])) {
						n--
					}
					out = append(out, string(rs[:n]))
					line = string(rs[n:])
				}
			}
			out = append(out, line)
		}
		return out
	}
	// table draws a table whose rows stay whole: a row that does not fit
	// on the page starts the next one (the column heads repeated), drawn
	// with the automatic page break off so that its cells stay side by
	// side; only a row taller than a whole page goes on over pages, as
	// many of its lines on each as fit.
	table := func(widths []float64, head []string, rows [][]string) {
		const lineH, headH = 4.0, 6.0
		heads := func() {
			pdf.SetFont("Helvetica", "B", 8)
			pdf.SetFillColor(225, 230, 235)
			for i, h := range head {
				pdf.CellFormat(widths[i], headH, tr(h), "1", 0, "L", true, 0, "")
			}
			pdf.Ln(-1)
			pdf.SetFont("Helvetica", "", 8)
		}
		newPage := func() {
			pdf.AddPage()
			heads()
		}
		pdf.SetFont("Helvetica", "", 8)
		cells := make([][][]string, len(rows))
		height := make([]int, len(rows)) // lines
		for r, row := range rows {
			cells[r] = make([][]string, len(row))
			height[r] = 1
			for i, c := range row {
				cells[r][i] = wrap(c, widths[i]-2)
				height[r] = max(height[r], len(cells[r][i]))
			}
		}
		pdf.SetAutoPageBreak(false, pageBottom)
		defer pdf.SetAutoPageBreak(true, pageBottom)
		top := marginTop + headH // where rows start on a page of their own
		fits := func(r int) bool { return pdf.GetY()+float64(height[r])*lineH+1 <= pageEnd || pdf.GetY() <= top }
		if len(rows) > 0 && pdf.GetY()+headH+min(float64(height[0])*lineH+1, pageEnd-top) > pageEnd {
			pdf.AddPage() // the heads go with the first row
		}
		heads()
		for r := range rows {
			n := height[r]
			if !fits(r) {
				newPage()
			}
			for from := 0; from < n; {
				if from > 0 {
					newPage() // the rest of a row taller than a page
				}
				x, y := pdf.GetXY()
				k := min(n-from, max(1, int((pageEnd-y-1)/lineH)))
				hgt := float64(k)*lineH + 1
				for i, lines := range cells[r] {
					pdf.Rect(x, y, widths[i], hgt, "D")
					for l := from; l < min(from+k, len(lines)); l++ {
						pdf.SetXY(x+1, y+0.5+float64(l-from)*lineH)
						pdf.CellFormat(widths[i]-2, lineH, tr(lines[l]), "", 0, "L", false, 0, "")
					}
					x += widths[i]
				}
				pdf.SetXY(marginLeft, y+hgt)
				from += k
			}
		}
		pdf.Ln(2)
	}

	h1(t("pdf.batch"))
	kv(t("pdf.product"), r.Product+" · GTIN "+b.GTIN)
	kv(t("pdf.lot"), b.Lot)
	kv(t("pdf.expiry"), b.Expiry)
	kv(t("pdf.profile"), b.Profile+nhrn(b.NHRN))
	kv(t("pdf.target"), strconv.Itoa(b.Target))
	kv(t("pdf.line"), r.Line)
	start, end := startEnd(r.History)
	kv(t("pdf.start"), ts(start))
	kv(t("pdf.end"), ts(end))
	kv(t("pdf.state"), t("state."+r.Report.State))
	kv(t("pdf.zone"), loc.String())

	h1(t("pdf.reconciliation"))
	c := r.Report.Counts
	bal := t("rec.balanced")
	if !r.Report.Balanced {
		bal = t("rec.notbalanced")
	}
	kv(t("rec.balance"), fmt.Sprintf("%s: %s %d = %s %d + %s %d + %s %d + %s %d + %s %d", bal, t("rec.drawn"), c.Drawn,
		t("rec.commissioned"), c.Commissioned, t("rec.rejected"), c.Rejected, t("rec.sampled"), c.Sampled,
		t("rec.returned"), c.Returned, t("rec.uncertain"), c.Uncertain))
	if c.InFlight > 0 {
		kv(t("rec.inflight"), strconv.Itoa(c.InFlight))
	}
	if len(r.Report.RejectsByReason) > 0 {
		var rows [][]string
		keys := make([]string, 0, len(r.Report.RejectsByReason))
		for k := range r.Report.RejectsByReason {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			rows = append(rows, []string{k, strconv.Itoa(r.Report.RejectsByReason[k])})
		}
		table([]float64{90, 30}, []string{t("pdf.reason"), t("pdf.units")}, rows)
	}
	if len(r.Report.Shifts) > 0 {
		var rows [][]string
		for _, s := range r.Report.Shifts {
			k := s.Counts
			rows = append(rows, []string{s.Start.In(loc).Format("2006-01-02 15:04 MST"), strconv.Itoa(k.Drawn), strconv.Itoa(k.Commissioned),
				strconv.Itoa(k.Rejected), strconv.Itoa(k.Sampled), strconv.Itoa(k.Returned), strconv.Itoa(k.Uncertain)})
		}
		table([]float64{45, 22, 27, 22, 22, 22, 20}, []string{t("pdf.shift"), t("rec.drawn"), t("rec.commissioned"), t("rec.rejected"),
			t("rec.sampled"), t("rec.returned"), t("rec.uncertain")}, rows)
	}

	h1(t("pdf.history"))
	var hist, holds [][]string
	for _, h := range r.History {
		by := h.By
		if h.Role != "" {
			by += " (" + h.Role + ")"
		}
		hist = append(hist, []string{ts(h.At), h.From + " -> " + h.To, by, h.Reason})
		if h.To == "Holding" || h.To == "Held" && h.From != "Holding" {
			holds = append(holds, []string{ts(h.At), by, h.Reason})
		}
	}
	table([]float64{38, 40, 35, 67}, []string{t("rec.time"), t("pdf.transition"), t("pdf.by"), t("pdf.reason")}, hist)
	h1(t("pdf.holds"))
	if len(holds) == 0 {
		pdf.MultiCell(0, 5, tr(t("pdf.none")), "", "L", false)
	} else {
		table([]float64{38, 45, 97}, []string{t("rec.time"), t("pdf.by"), t("pdf.reason")}, holds)
	}

	h1(t("pdf.alarms"))
	if len(r.Alarms) == 0 {
		pdf.MultiCell(0, 5, tr(t("pdf.none")), "", "L", false)
	} else {
		var rows [][]string
		for _, a := range r.Alarms {
			ack := ""
			if a.AckedBy != "" {
				ack = a.AckedBy + " " + ts(a.AckedAt)
			}
			clr := t("alarm.active")
			if !a.Cleared.IsZero() {
				clr = a.ClearedBy + " " + ts(a.Cleared)
			}
			rows = append(rows, []string{a.Code + "\n" + a.Severity, a.Text, ts(a.Raised), ack, clr})
		}
		table([]float64{26, 66, 30, 29, 29}, []string{t("pdf.code"), t("alarm.text"), t("alarm.raised"), t("alarm.acked"), t("alarm.cleared")}, rows)
	}

	h1(t("pdf.samples"))
	if len(r.Samples) == 0 {
		pdf.MultiCell(0, 5, tr(t("pdf.none")), "", "L", false)
	} else {
		var rows [][]string
		for _, s := range r.Samples {
			rows = append(rows, []string{s.Serial, ustate(s.State), s.Reason, s.By, ts(s.At)})
		}
		table([]float64{32, 24, 60, 30, 34}, []string{t("unit.serial"), t("unit.state"), t("pdf.reason"), t("pdf.by"), t("rec.time")}, rows)
	}

	h1(t("pdf.deviations"))
	var devs [][]string
	for _, d := range r.Report.Differences {
		devs = append(devs, []string{d.Serial, ustate(d.State), d.Problem})
	}
	for _, co := range r.Closeouts {
		devs = append(devs, []string{co.Serial, t("closeout." + co.Outcome), co.Note + " — " + co.Signer.Name() + ", " + ts(co.Signer.At)})
	}
	if len(devs) == 0 {
		pdf.MultiCell(0, 5, tr(t("pdf.none")), "", "L", false)
	} else {
		table([]float64{35, 40, 105}, []string{t("unit.serial"), t("unit.state"), t("pdf.problem")}, devs)
	}

	h1(t("page.clearance"))
	if r.Clearance == nil {
		pdf.MultiCell(0, 5, tr(t("pdf.none")), "", "L", false)
	} else {
		for _, it := range r.Clearance.Items {
			pdf.MultiCell(0, 5, tr("[x] "+it), "", "L", false)
		}
		s := r.Clearance.Signer
		kv(t("pdf.signedby"), s.Name()+" · "+s.Role+" · "+s.Meaning+" · "+ts(s.At))
	}

	h1(t("rec.review"))
	if r.AggregationOpen != "" {
		pdf.SetTextColor(170, 0, 0)
		pdf.MultiCell(0, 5, tr(t("rec.aggopen")+" "+r.AggregationOpen), "", "L", false)
		pdf.SetTextColor(0, 0, 0)
	}
	switch {
	case r.Released:
		pdf.MultiCell(0, 5, tr(t("rec.released")), "", "L", false)
	case r.Changed:
		pdf.SetTextColor(170, 0, 0)
		pdf.MultiCell(0, 5, tr(t("rec.resign")), "", "L", false)
		pdf.SetTextColor(0, 0, 0)
	}
	if len(r.Signs) == 0 {
		pdf.MultiCell(0, 5, tr(t("rec.nosig")), "", "L", false)
	} else {
		var rows [][]string
		for _, s := range r.Signs {
			v := t("rec.valid")
			if !s.Valid {
				v = t("rec.void")
			}
			rows = append(rows, []string{t("rec.step." + s.Step), s.Name(), s.Role, t("meaning."+s.Meaning) + "\n" + s.Reason, ts(s.At), v})
		}
		table([]float64{34, 38, 18, 36, 28, 26}, []string{t("rec.step"), t("rec.signer"), t("users.role"), t("rec.meaning"), t("rec.time"), ""}, rows)
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("report: pdf: %w", err)
	}
	return nil
}

func nhrn(v string) string {
	if v == "" {
		return ""
	}
	return " · NHRN " + v
}

// startEnd: the first transition into Execute and the transition into a
// final state.
func startEnd(h []StateChange) (start, end time.Time) {
	for _, x := range h {
		if x.To == "Execute" && start.IsZero() {
			start = x.At
		}
		if strings.Contains(" Complete Stopped Aborted ", " "+x.To+" ") {
			end = x.At
		}
	}
	return start, end
}
