package journal

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// CSVHeader is the header row Export writes for FormatCSV.
var csvHeader = []string{"index", "serial", "gtin", "batch", "pool", "state", "seq", "reason", "detail",
	"grade", "grade_param", "grade_param_value", "read_data", "drawn_at", "last_at", "last_actor", "history"}

// Export writes the batch's units in draw order as JSON lines (one Unit per
// line) or CSV (header row, one unit per row, history as
// "state@RFC3339;…").
func (j *Journal) Export(ctx context.Context, w io.Writer, batchID, format string) error {
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		return j.Units(batchID, func(u Unit) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return enc.Encode(u)
		})
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return err
		}
		err := j.Units(batchID, func(u Unit) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return cw.Write(csvRow(u))
		})
		if err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("%w: export format %q (want jsonl or csv)", ErrInvalid, format)
}

func csvRow(u Unit) []string {
	var g, gp, gpv string
	if u.Grade != nil {
		g = strconv.FormatFloat(float64(u.Grade.Overall), 'f', 1, 32)
		gp = u.Grade.Param
		if gp != "" {
			gpv = strconv.FormatFloat(float64(u.Grade.ParamGrade), 'f', 1, 32)
		}
	}
	var hist []string
	for _, s := range u.History {
		hist = append(hist, s.State.String()+"@"+s.At.Format(time.RFC3339Nano))
	}
	first, last := u.History[0], u.History[len(u.History)-1]
	seq := ""
	if u.Seq != 0 {
		seq = strconv.FormatUint(u.Seq, 10)
	}
	return []string{strconv.Itoa(u.Index), u.Serial, u.GTIN, u.Batch, u.Pool, u.State.String(), seq,
		u.Reason.String(), u.Detail, g, gp, gpv, u.ReadData,
		first.At.Format(time.RFC3339Nano), last.At.Format(time.RFC3339Nano), last.Actor.String(), strings.Join(hist, ";")}
}
