package stationui

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
)

// exportColumns are the CSV columns of the fallback export.
var exportColumns = []string{"id", "time", "source", "trigger", "model", "version", "model_sha256", "dataset_hash",
	"outcome", "label", "score", "review_label", "review_outcome", "review_by", "review_at", "review_comment", "confirmed"}

// exportFallback writes verdicts from List when the store has no Export.
func (s *Server) exportFallback(c *gin.Context, w io.Writer, format string, q inspector.VerdictQuery) error {
	vs, err := s.store.List(c.Request.Context(), q)
	if err != nil {
		return err
	}
	if format == "json" {
		if vs == nil {
			vs = []inspector.Verdict{}
		}
		return json.NewEncoder(w).Encode(vs)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(exportColumns); err != nil {
		return err
	}
	for _, v := range vs {
		score := ""
		if len(v.TopK) > 0 {
			score = strconv.FormatFloat(float64(v.TopK[0].Score), 'f', 4, 32)
		}
		row := []string{strconv.FormatUint(v.ID, 10), v.Time.UTC().Format(time.RFC3339Nano), v.Source, v.Trigger,
			v.Model.Name, v.Model.Version, v.Model.SHA256, v.Model.DatasetHash, string(v.Outcome), v.Label, score,
			"", "", "", "", "", ""}
		if r := v.Review; r != nil {
			copy(row[11:], []string{r.Label, string(r.Outcome), r.By, r.At.UTC().Format(time.RFC3339Nano),
				r.Comment, strconv.FormatBool(r.Confirmed)})
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeAuditCSV writes audit events as CSV, one row per event.
func writeAuditCSV(w io.Writer, evs []auth.Event) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "time", "actor", "via", "addr", "action", "target", "detail", "ok"})
	for _, e := range evs {
		cw.Write([]string{strconv.FormatUint(e.ID, 10), e.Time.UTC().Format(time.RFC3339Nano), e.Actor, string(e.Via),
			e.Addr, string(e.Action), e.Target, e.Detail, strconv.FormatBool(e.OK)})
	}
	cw.Flush()
	return cw.Error()
}
