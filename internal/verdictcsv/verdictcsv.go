// Package verdictcsv is the one CSV encoding of verdicts: the store's
// streaming export and the web UI's fallback write the same columns, in
// the same time format (RFC 3339 with nanoseconds, UTC).
package verdictcsv

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Columns is the header row.
var Columns = []string{"id", "time", "source", "trigger", "model", "version", "model_sha256", "dataset_hash",
	"outcome", "label", "top1_score", "top_k", "effective_outcome", "effective_label",
	"review_label", "review_outcome", "review_by", "review_at", "review_comment", "review_confirmed", "reviews"}

// Writer writes verdicts as CSV rows under the header.
type Writer struct{ cw *csv.Writer }

// NewWriter writes the header row to w and returns a Writer for the rows.
func NewWriter(w io.Writer) (*Writer, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return nil, err
	}
	return &Writer{cw: cw}, nil
}

// Write writes one verdict. Its last review fills the review columns, and
// "reviews" lists every review, oldest first.
func (w *Writer) Write(v *inspector.Verdict) error {
	var topk []string
	top1 := ""
	for i, p := range v.TopK {
		topk = append(topk, fmt.Sprintf("%s:%.4f", p.Label, p.Score))
		if i == 0 {
			top1 = strconv.FormatFloat(float64(p.Score), 'f', 4, 32)
		}
	}
	eo, el := v.Effective()
	row := []string{strconv.FormatUint(v.ID, 10), stamp(v.Time), v.Source, v.Trigger, v.Model.Name,
		v.Model.Version, v.Model.SHA256, v.Model.DatasetHash, string(v.Outcome), v.Label, top1, strings.Join(topk, " "),
		string(eo), el, "", "", "", "", "", "", ""}
	if r := v.Review; r != nil {
		copy(row[14:], []string{r.Label, string(r.Outcome), r.By, stamp(r.At), r.Comment,
			strconv.FormatBool(r.Confirmed), trail(v.Reviews())})
	}
	return w.cw.Write(row)
}

// Flush writes buffered rows and returns the first write error.
func (w *Writer) Flush() error {
	w.cw.Flush()
	return w.cw.Error()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// trail writes every review, oldest first, for one cell:
// "2025-03-01T06:00:00Z anna ok; 2025-03-01T06:05:00Z ben dent (comment)".
func trail(rs []inspector.Review) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = stamp(r.At) + " " + r.By + " " + r.Label
		if r.Comment != "" {
			parts[i] += " (" + r.Comment + ")"
		}
	}
	return strings.Join(parts, "; ")
}
