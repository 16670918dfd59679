package stationui

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

func (s *Server) export(c *gin.Context) {
	format := c.DefaultQuery("format", "csv")
	if format != "csv" && format != "json" {
		s.fail(c, badRequest("format=%q (want csv or json)", format))
		return
	}
	q, err := parseQuery(c, 0)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctype := map[string]string{"csv": "text/csv; charset=utf-8", "json": "application/json"}[format]
	name := fmt.Sprintf("pruefplatz-verdicts-%s.%s", s.cfg.Now().UTC().Format("20060102-150405"), format)
	c.Header("Content-Type", ctype)
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	// Streamed: headers go out with the first byte, so an error before it
	// still becomes a proper status, and one after it can only be logged.
	w := &lazyWriter{c: c}
	if ex, ok := s.store.(Exporter); ok {
		err = ex.Export(c.Request.Context(), w, format, q)
	} else {
		err = s.exportFallback(c, w, format, q)
	}
	s.audit(c, auth.ActionExport, c.Request.URL.RawQuery, format, err == nil)
	switch {
	case err != nil && !w.started:
		c.Writer.Header().Del("Content-Disposition")
		s.fail(c, err)
	case err != nil:
		s.log.Error("export interrupted", "err", err)
	case !w.started:
		c.Status(http.StatusOK)
	}
}

// lazyWriter commits the 200 status on the first write.
type lazyWriter struct {
	c       *gin.Context
	started bool
}

func (w *lazyWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		w.c.Status(http.StatusOK)
	}
	return w.c.Writer.Write(p)
}

func (s *Server) backup(c *gin.Context) {
	b, ok := s.store.(Backuper)
	if !ok {
		s.fail(c, fmt.Errorf("%w: this store cannot make backups", errUnavailable))
		return
	}
	name := fmt.Sprintf("pruefplatz-%s.db", s.cfg.Now().UTC().Format("20060102-150405"))
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	// Streamed: a multi-gigabyte store must not be buffered. A failure after
	// the first byte can only cut the download short, so it is logged.
	w := &lazyWriter{c: c}
	n, err := b.Backup(w)
	s.audit(c, auth.ActionBackup, name, fmt.Sprintf("%d bytes", n), err == nil)
	switch {
	case err != nil && !w.started:
		c.Writer.Header().Del("Content-Disposition")
		s.fail(c, err)
	case err != nil:
		s.log.Error("backup interrupted", "err", err, "bytes", n)
	default:
		s.log.Info("backup served", "bytes", n)
	}
}
