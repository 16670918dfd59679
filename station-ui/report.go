package stationui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/report"
)

// The technical-documentation report of a model version (models/report),
// as PDF or HTML, with the running station's record of the version.

// reportRegistry is what the report needs from the registry beyond Models;
// models.Registry has it.
type reportRegistry interface {
	Get(name, version string) (*models.Card, error)
	Dir(name, version string) string
}

var _ reportRegistry = models.Registry{}

// MonitoringFigures supplies the live monitoring figures of a model version
// (drift score, uncertain and override rate over the rolling window, class
// mix, each with its threshold) for its report. The monitoring component
// provides it; without one the report says none were supplied.
type MonitoringFigures func(ctx context.Context, name, version string) []report.MonitoringFigure

func (s *Server) reportRoutes(r *gin.Engine) {
	s.handle(r, "GET", "/api/models/:name/:version/report", engineer, s.modelReport)
}

func (s *Server) modelReport(c *gin.Context) {
	reg, ok := s.reg.(reportRegistry)
	if !ok || s.reg == nil {
		s.fail(c, fmt.Errorf("%w: no model registry configured", errUnavailable))
		return
	}
	format, lang := c.DefaultQuery("format", "pdf"), c.DefaultQuery("lang", "de")
	if format != "pdf" && format != "html" {
		s.fail(c, badRequest("format %q: want pdf or html", format))
		return
	}
	name, version := c.Param("name"), c.Param("version")
	card, err := reg.Get(name, version)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	live, err := s.reportLive(ctx, card)
	if err != nil {
		s.fail(c, err)
		return
	}
	dir := reg.Dir(card.Name, card.Version)
	in := report.Input{Card: card, Dir: dir, Lang: lang, Live: live, Now: s.cfg.Now()}
	var dataDirs []string
	if card.Dataset != nil {
		dataDirs = append(dataDirs, card.Dataset.Path)
	}
	in.ContactSheet, in.ContactSheetSource = report.FindContactSheet(dir, dataDirs,
		[]string{filepath.Join("datasets", "contact-sheets", card.Name+".png")})
	rep, err := report.Build(in)
	switch {
	case errors.Is(err, report.ErrLang):
		err = fmt.Errorf("%w: %w", errBadRequest, err)
	case errors.Is(err, models.ErrTampered):
		err = fmt.Errorf("%w: %w", errConflict, err)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	var buf bytes.Buffer
	ctype := "text/html; charset=utf-8"
	if format == "pdf" {
		ctype = "application/pdf"
		err = rep.PDF(&buf, report.PDFOptions{})
	} else {
		err = rep.HTML(&buf)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-report-%s.%s"`, card.Name, card.Version, lang, format))
	c.Header("X-Content-SHA256", rep.SHA256)
	c.Data(http.StatusOK, ctype, buf.Bytes())
}

// reportLive is the station's record of a model version: whether it is
// active, its activations from the audit log, its verdicts and reviews
// from the store, and the monitoring figures when a monitor supplies them.
func (s *Server) reportLive(ctx context.Context, card *models.Card) (*report.Live, error) {
	l := &report.Live{}
	if a, err := s.reg.ReadActive(); err == nil {
		l.Active = a.Name == card.Name && a.Version == card.Version
	}
	if s.cfg.Auth != nil && s.cfg.Auth.Store != nil {
		acts, err := report.Activations(ctx, s.cfg.Auth.Store, card.Name, card.Version)
		if err != nil {
			return nil, err
		}
		l.Activations = acts
	}
	if s.store != nil {
		rs, err := report.Reviews(ctx, s.store, card.Name, card.Version)
		if err != nil {
			return nil, err
		}
		l.Reviews = rs
	}
	switch {
	case s.cfg.Monitoring != nil:
		l.Monitoring = s.cfg.Monitoring(ctx, card.Name, card.Version)
	case s.cfg.Monitor != nil:
		l.Monitoring = monitorFigures(s.cfg.Monitor.Latest(), card.Name+"/"+card.Version)
	}
	return l, nil
}

// monitorFigures turns the station's latest monitor status into the
// report's figures when it is about the reported model; nil (the report
// says none were supplied) for any other model or before the first check.
func monitorFigures(st *monitor.Status, model string) []report.MonitoringFigure {
	if st == nil || st.Model != model {
		return nil
	}
	out := make([]report.MonitoringFigure, 0, len(st.Readings))
	for _, r := range st.Readings {
		f := report.MonitoringFigure{Name: r.Monitor, Value: r.State, Alarm: r.Alarm()}
		if r.N > 0 {
			f.Value = fmt.Sprintf("%.3f (n = %d, %s)", r.Value, r.N, r.State)
		}
		if r.Threshold > 0 {
			f.Threshold = fmt.Sprintf("%.3f", r.Threshold)
		}
		out = append(out, f)
	}
	return out
}
