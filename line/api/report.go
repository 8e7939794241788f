package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/serialine/serialine/line/reconcile"
)

// Reporter is optionally implemented by the Controller (*line.Controller
// does): the full reconciliation report of a batch, written as JSON, CSV or
// a printable HTML page by GET /api/v1/batches/{id}/report?format=….
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
	var ctype string
	var write func(r reconcile.Report, b *bytes.Buffer) error
	switch format {
	case "json":
		ctype, write = "application/json", func(r reconcile.Report, b *bytes.Buffer) error { return r.WriteJSON(b) }
	case "csv":
		ctype, write = "text/csv; charset=utf-8", func(r reconcile.Report, b *bytes.Buffer) error { return r.WriteCSV(b) }
	case "html":
		ctype, write = "text/html; charset=utf-8", func(r reconcile.Report, b *bytes.Buffer) error { return r.WriteHTML(b) }
	default:
		return badRequest("format %q: want json, csv or html", format)
	}
	id := c.r.PathValue("id")
	r, err := rp.ReconcileReport(c.r.Context(), id)
	if err != nil {
		return err
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
	if format == "csv" {
		h.Set("Content-Disposition", `attachment; filename="reconciliation-`+safeName(id)+`.csv"`)
	}
	c.w.WriteHeader(http.StatusOK)
	_, err = c.w.Write(b.Bytes())
	return err
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
