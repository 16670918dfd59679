package stationui

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/pruefplatz/pruefplatz/internal/verdictcsv"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
)

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
	cw, err := verdictcsv.NewWriter(w)
	if err != nil {
		return err
	}
	for i := range vs {
		if err := cw.Write(&vs[i]); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return cw.Flush()
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
