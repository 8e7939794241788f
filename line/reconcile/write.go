package reconcile

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("reconcile: write json: %w", err)
	}
	return nil
}

// Digest is the SHA-256 (hex) of the report's JSON without signatures and
// without its generation time: what a signature signs. The same journal
// content gives the same digest whenever the report is rebuilt, so a signed
// reconciliation can be checked later; any change of a unit changes it.
func (r Report) Digest() string {
	r.Signatures = nil
	r.Generated = time.Time{}
	data, _ := json.Marshal(r) // plain data: cannot fail
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// WriteCSV writes the report as CSV rows "section,key,value[,extra]":
// the batch, the counts, per-shift counts, rejects by reason, signatures and
// every difference.
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(v ...string) {
		for i := range v {
			v[i] = csvCell(v[i])
		}
		_ = cw.Write(v)
	}
	row("section", "key", "value", "extra")
	b := r.Batch
	row("batch", "id", b.ID, "")
	row("batch", "gtin", b.GTIN, "")
	row("batch", "lot", b.Lot, "")
	row("batch", "expiry", b.Expiry, "")
	row("batch", "profile", b.Profile, "")
	row("batch", "target", strconv.Itoa(b.Target), "")
	row("batch", "state", r.State, "")
	row("batch", "balanced", strconv.FormatBool(r.Balanced), "")
	counts := func(section, extra string, c Counts) {
		row(section, "drawn", strconv.Itoa(c.Drawn), extra)
		row(section, "commissioned", strconv.Itoa(c.Commissioned), extra)
		row(section, "rejected", strconv.Itoa(c.Rejected), extra)
		row(section, "sampled", strconv.Itoa(c.Sampled), extra)
		row(section, "returned", strconv.Itoa(c.Returned), extra)
		row(section, "uncertain", strconv.Itoa(c.Uncertain), extra)
		row(section, "in_flight", strconv.Itoa(c.InFlight), extra)
	}
	counts("counts", "", r.Counts)
	for _, s := range r.Shifts {
		counts("shift", s.Name, s.Counts)
	}
	byReason := func(section string, m map[string]int) {
		reasons := make([]string, 0, len(m))
		for k := range m {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		for _, k := range reasons {
			row(section, k, strconv.Itoa(m[k]), "")
		}
	}
	byReason("reason", r.RejectsByReason)
	byReason("uncertain_reason", r.UncertainByReason)
	for _, d := range r.Differences {
		row("difference", d.Serial, d.State, d.Problem)
	}
	for _, s := range r.Signatures {
		row("signature", s.User, s.Meaning, s.At.UTC().Format("2006-01-02T15:04:05Z")+" "+s.Role+" "+s.Reason)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("reconcile: write csv: %w", err)
	}
	return nil
}

// csvCell defuses spreadsheet formulas: GS1 serials and lots may start with
// "=", "+" or "-" (character set 82), and a supervisor opens the CSV in a
// spreadsheet, which would evaluate "=HYPERLINK(…)" from a site server's
// pool. Such a cell gets a leading apostrophe (OWASP CSV injection).
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

var page = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reconciliation {{.Batch.ID}}</title>
<style>
body{font:14px/1.4 sans-serif;margin:2em;color:#000}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #444;padding:3px 8px;text-align:left}
.ok{color:#060}.bad{color:#a00;font-weight:bold}.sig{margin-top:3em;border-top:1px solid #000;width:22em}
@media print{.noprint{display:none}}
</style></head><body>
<h1>Batch reconciliation {{.Batch.ID}}</h1>
<p>GTIN {{.Batch.GTIN}} · lot {{.Batch.Lot}} · expiry {{.Batch.Expiry}} · profile {{.Batch.Profile}} ·
target {{.Batch.Target}} · state {{.State}} · generated {{.Generated.Format "2006-01-02 15:04:05 MST"}}</p>
<p class="{{if .Balanced}}ok{{else}}bad{{end}}">{{if .Balanced}}BALANCED{{else}}NOT BALANCED{{end}}:
drawn {{.Counts.Drawn}} = commissioned {{.Counts.Commissioned}} + rejected {{.Counts.Rejected}} +
sampled {{.Counts.Sampled}} + returned {{.Counts.Returned}} + uncertain {{.Counts.Uncertain}}
{{if .Counts.InFlight}}(in flight {{.Counts.InFlight}}){{end}}</p>
<h2>Per shift</h2>
<table><tr><th>Shift</th><th>Drawn</th><th>Commissioned</th><th>Rejected</th><th>Sampled</th><th>Returned</th><th>Uncertain</th><th>In flight</th></tr>
{{range .Shifts}}<tr><td>{{.Name}}</td><td>{{.Counts.Drawn}}</td><td>{{.Counts.Commissioned}}</td><td>{{.Counts.Rejected}}</td><td>{{.Counts.Sampled}}</td><td>{{.Counts.Returned}}</td><td>{{.Counts.Uncertain}}</td><td>{{.Counts.InFlight}}</td></tr>
{{end}}</table>
<h2>Rejected by reason</h2>
<table><tr><th>Reason</th><th>Units</th></tr>
{{range $k, $v := .RejectsByReason}}<tr><td>{{$k}}</td><td>{{$v}}</td></tr>
{{end}}</table>
<h2>Uncertain by reason</h2>
<table><tr><th>Reason</th><th>Units</th></tr>
{{range $k, $v := .UncertainByReason}}<tr><td>{{$k}}</td><td>{{$v}}</td></tr>
{{end}}</table>
<h2>Differences</h2>
{{if .Differences}}<table><tr><th>Serial</th><th>State</th><th>Problem</th></tr>
{{range .Differences}}<tr><td>{{.Serial}}</td><td>{{.State}}</td><td>{{.Problem}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2>Signatures</h2>
{{range .Signatures}}<p>Signed by <b>{{if .FullName}}{{.FullName}} ({{.User}}){{else}}{{.User}}{{end}}</b> ({{.Role}}{{if .Step}}, {{.Step}}{{end}}) — {{.Meaning}}{{if .Reason}}: {{.Reason}}{{end}} —
{{.At.Format "2006-01-02 15:04:05 MST"}}<br><small>report digest {{.Digest}}</small></p>
{{else}}<div class="sig">Supervisor signature, date</div>{{end}}
<p class="noprint"><small>Print this page with the browser (Ctrl+P), or download the batch record as PDF (format=pdf).</small></p>
</body></html>
`))

// WriteHTML writes a printable HTML page.
func (r Report) WriteHTML(w io.Writer) error {
	if err := page.Execute(w, r); err != nil {
		return fmt.Errorf("reconcile: write html: %w", err)
	}
	return nil
}
