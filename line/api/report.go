package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/serialine/serialine/line/reconcile"
	"github.com/serialine/serialine/line/report"
)

// Reporter is optionally implemented by the Controller (*line.Controller
// does): the full reconciliation report of a batch, written as JSON, CSV,
// a printable HTML page or the PDF batch record by
// GET /api/v1/batches/{id}/report?format=….
type Reporter interface {
	ReconcileReport(ctx context.Context, id string) (reconcile.Report, error)
}

func (s *Server) report(c *call) error {
	rp, ok := s.o.Controller.(Reporter)
	if !ok {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this controller does not produce printable reports"}
	}
	format := c.r.URL.Query().Get("format")
	if format == "" {
		format = "html"
	}
	id := c.r.PathValue("id")
	var ctype string
	var write func(r reconcile.Report, b *bytes.Buffer) error
	switch format {
	case "json":
		ctype, write = "application/json", func(r reconcile.Report, b *bytes.Buffer) error { return r.WriteJSON(b) }
	case "csv":
		ctype, write = "text/csv; charset=utf-8", func(r reconcile.Report, b *bytes.Buffer) error { return r.WriteCSV(b) }
	case "html":
		ctype, write = "text/html; charset=utf-8", func(r reconcile.Report, b *bytes.Buffer) error { return r.WriteHTML(b) }
	case "pdf":
		ctype, write = "application/pdf", func(r reconcile.Report, b *bytes.Buffer) error {
			rec, err := s.batchRecord(c, id, r)
			if err != nil {
				return err
			}
			return report.WritePDF(b, rec)
		}
	default:
		return badRequest("format %q: want pdf, json, csv or html", format)
	}
	r, err := rp.ReconcileReport(c.r.Context(), id)
	if err != nil {
		return err
	}
	if s.o.Records != nil {
		r.Signatures = nil
		for _, sg := range s.o.Records.Signatures(id) {
			r.Signatures = append(r.Signatures, reconcile.Signature{User: sg.User, FullName: sg.FullName, Step: sg.Step, Role: sg.Role,
				Meaning: sg.Meaning, Reason: sg.Reason, At: sg.At, Digest: sg.Digest})
		}
	}
	var b bytes.Buffer
	if err := write(r, &b); err != nil {
		return fmt.Errorf("writing the %s report of batch %s: %w", format, id, err)
	}
	h := c.w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	if format == "html" { // the report's own <style>, no script
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
	}
	switch format {
	case "csv":
		h.Set("Content-Disposition", `attachment; filename="reconciliation-`+safeName(id)+`.csv"`)
	case "pdf":
		h.Set("Content-Disposition", `inline; filename="batch-record-`+safeName(id)+`.pdf"`)
	}
	c.w.WriteHeader(http.StatusOK)
	_, err = c.w.Write(b.Bytes())
	return err
}

// batchRecord gathers the PDF batch record of batch id.
func (s *Server) batchRecord(c *call, id string, rep reconcile.Report) (report.Record, error) {
	ctx := c.r.Context()
	rec := report.Record{Lang: c.lang(), Location: s.o.Location, Generated: s.o.Now(), Report: rep, Product: rep.Batch.ID}
	if st, err := s.o.Controller.Status(ctx); err == nil {
		rec.Line = st.Line
	}
	b, err := s.o.Controller.Batch(ctx, id)
	if err != nil {
		return rec, err
	}
	b = s.decorateBatch(b)
	rec.Product = b.Product
	for _, h := range b.History {
		rec.History = append(rec.History, report.StateChange{From: h.From, To: h.To, By: h.By.User, Role: h.By.Role, Reason: h.Reason, At: h.At})
	}
	if al, ok := s.o.Controller.(AlarmLister); ok {
		as, err := al.AlarmView(ctx, AlarmQuery{View: ViewHistory, Batch: id})
		if err != nil {
			return rec, err
		}
		for _, a := range slices.Backward(as) {
			a = a.Localize(rec.Lang)
			rec.Alarms = append(rec.Alarms, report.Alarm{Code: a.Code, Severity: a.Severity, Text: a.Text, Raised: a.Raised, RaisedBy: a.RaisedBy,
				AckedBy: a.AckedBy, AckedAt: a.AckedAt, ClearedBy: a.ClearedBy, Cleared: a.Cleared})
		}
	}
	us, err := s.o.Controller.Units(ctx, id, UnitQuery{States: []string{"sampled", "rejected"}})
	if err != nil {
		return rec, err
	}
	for _, u := range slices.Backward(us) {
		if len(u.History) == 0 {
			continue
		}
		last := u.History[len(u.History)-1]
		if u.State == "rejected" && !strings.HasPrefix(u.Reason, "manual") {
			continue // camera and device rejects are counted by reason
		}
		rec.Samples = append(rec.Samples, report.UnitAction{Serial: u.Serial, State: u.State, Reason: last.Reason, By: last.By, At: last.At})
	}
	rv, err := s.reviewed(ctx, id)
	if err != nil {
		return rec, err
	}
	rec.AggregationOpen = rv.AggregationOpen
	if rv.Review != nil {
		rec.Changed, rec.Released = rv.Review.ChangedAfterSigning, rv.Review.Released
		for _, sg := range rv.Review.History {
			rec.Signs = append(rec.Signs, report.Signature{Step: sg.Step, Valid: sg.Valid, Signer: report.Signer{User: sg.User, FullName: sg.FullName,
				Role: sg.Role, Meaning: sg.Meaning, Reason: sg.Reason, At: sg.At}})
		}
	}
	for _, co := range rv.Closeouts {
		rec.Closeouts = append(rec.Closeouts, report.Closeout{Serial: co.Serial, Outcome: co.Outcome, Note: co.Note,
			Signer: report.Signer{User: co.Signed.User, FullName: co.Signed.FullName, Role: co.Signed.Role, Meaning: co.Signed.Meaning, At: co.Signed.At}})
	}
	if ck, ok := s.o.Controller.(ClearanceKeeper); ok {
		if cl, ok := ck.Clearance(id); ok {
			rc := &report.Clearance{Signer: report.Signer{User: cl.Signer.User, FullName: cl.Signer.FullName, Role: cl.Signer.Role,
				Meaning: cl.Signer.Meaning, Reason: cl.Signer.Reason, At: cl.Signer.At}}
			for _, it := range cl.Items {
				rc.Items = append(rc.Items, it.Text)
			}
			rec.Clearance = rc
		}
	}
	return rec, nil
}

func safeName(s string) string {
	out := []byte(s)
	for i, ch := range out {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			out[i] = '_'
		}
	}
	return string(out)
}
