package stationui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
)

// StatCounter reads the statistics counters of a time range
// (inspector/bolt keeps them). Without it the statistics answer 501.
type StatCounter interface {
	StatCounts(ctx context.Context, from, to time.Time) (shiftstats.Counts, error)
}

// Monitor is the model monitoring's latest state (inspector/monitor.Watcher).
type Monitor interface {
	Latest() *monitor.Status
}

// statsRoutes registers the statistics page, its API and the monitoring API.
func (s *Server) statsRoutes(r *gin.Engine) {
	s.handlePage(r, "/stats", engOrAdm, s.statsPage)
	s.handle(r, "GET", "/api/stats", engOrAdm, s.statsJSON)
	s.handle(r, "GET", "/api/stats/export", engOrAdm, s.statsCSV)
	s.handle(r, "GET", "/api/stats/chart/:kind", engOrAdm, s.statsChart)
	s.handle(r, "GET", "/api/monitor", liveView, s.monitorJSON)
	s.handle(r, "GET", "/api/monitor/chart/:kind", engOrAdm, s.monitorChart)
	if err := s.metrics.reg.Register(&monitorCollector{s: s}); err != nil {
		s.log.Warn("monitor metrics not registered", "err", err)
	}
}

func (s *Server) schedule() shiftstats.Schedule {
	if len(s.cfg.Shifts.Shifts) > 0 {
		return s.cfg.Shifts
	}
	sc, err := shiftstats.ParseSchedule(shiftstats.DefaultShifts, time.Local)
	if err != nil {
		panic(err) // the default parses; TestParseSchedule checks it
	}
	return sc
}

// statsQuery reads view, date (YYYY-MM-DD, local to the schedule; default
// today), shift (1-based; default the current one) and demo=exclude.
func (s *Server) statsQuery(c *gin.Context) (shiftstats.Schedule, shiftstats.Query, error) {
	sc := s.schedule()
	now := s.cfg.Now()
	q := shiftstats.Query{View: shiftstats.View(c.DefaultQuery("view", "day")), Now: now, At: now,
		ExcludeDemo: c.Query("demo") == "exclude"}
	curDay, curShift, inShift := sc.ShiftAt(now)
	if inShift && q.View != shiftstats.ViewWeek {
		q.At = curDay // the running night shift's day, not the calendar's
	}
	if d := c.Query("date"); d != "" {
		t, err := time.ParseInLocation("2006-01-02", d, sc.Loc)
		if err != nil {
			return sc, q, badRequest("date %q: want YYYY-MM-DD", d)
		}
		q.At = t.Add(12 * time.Hour)
	}
	q.Shift = curShift
	if v := c.Query("shift"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(sc.Shifts) {
			return sc, q, badRequest("shift %q: want 1 to %d", v, len(sc.Shifts))
		}
		q.Shift = n - 1
	}
	return sc, q, nil
}

func (s *Server) statsReport(c *gin.Context) (*shiftstats.Report, error) {
	sc, q, err := s.statsQuery(c)
	if err != nil {
		return nil, err
	}
	sr, ok := s.store.(StatCounter)
	if !ok {
		return nil, fmt.Errorf("%w: this verdict store keeps no statistics counters", errUnavailable)
	}
	span, _, err := sc.Span(q)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	counts, err := sr.StatCounts(c.Request.Context(), span.Start, span.End)
	if err != nil {
		return nil, err
	}
	r, err := sc.Build(q, counts)
	if errors.Is(err, shiftstats.ErrSchedule) {
		return nil, badRequest("%v", err)
	}
	return r, err
}

func (s *Server) statsJSON(c *gin.Context) {
	r, err := s.statsReport(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (s *Server) statsCSV(c *gin.Context) {
	r, err := s.statsReport(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var buf bytes.Buffer
	if err := shiftstats.WriteCSV(&buf, r); err != nil {
		s.fail(c, err)
		return
	}
	name := fmt.Sprintf("pruefplatz-stats-%s-%s.csv", r.View, r.Period.Start.In(s.schedule().Loc).Format("2006-01-02"))
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Data(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func (s *Server) statsChart(c *gin.Context) {
	r, err := s.statsReport(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	lang := s.text.lang(c)
	svg, err := renderChart(c.Param("kind"), r, s.text.page(lang))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "image/svg+xml", svg)
}

// statsPageData is the statistics page: the report rendered on the server,
// so it prints and reads without script.
type statsPageData struct {
	pageData
	R     *shiftstats.Report
	Err   string
	View  string
	Date  string
	Shift int
	Demo  bool
	// Query is the page's query, re-encoded, for the chart and export links.
	Query   template.URL
	Monitor *monitor.Status
}

func (s *Server) statsPage(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	d := statsPageData{pageData: s.pageData(c, "", ""), View: c.DefaultQuery("view", "day"), Demo: c.Query("demo") == "exclude"}
	sc, q, err := s.statsQuery(c)
	if err == nil {
		d.Date = sc.Day(q.At).Format("2006-01-02")
		d.Shift = q.Shift + 1
		d.R, err = s.statsReport(c)
	}
	if err != nil {
		d.Err = err.Error()
	}
	// Encode escapes every value, so the links carry nothing but the query.
	d.Query = template.URL(c.Request.URL.Query().Encode())
	if s.cfg.Monitor != nil {
		d.Monitor = s.cfg.Monitor.Latest()
	}
	c.HTML(http.StatusOK, "stats.html", d)
}

// monitorResponse is GET /api/monitor.
type monitorResponse struct {
	// Status is nil before the first evaluation or without an active model.
	Status *monitor.Status   `json:"status"`
	Alarms []monitor.Reading `json:"alarms"`
}

func (s *Server) monitorJSON(c *gin.Context) {
	res := monitorResponse{Alarms: []monitor.Reading{}}
	if s.cfg.Monitor != nil {
		if st := s.cfg.Monitor.Latest(); st != nil {
			res.Status = st
			res.Alarms = append(res.Alarms, st.Alarms()...)
		}
	}
	c.JSON(http.StatusOK, res)
}

func (s *Server) monitorChart(c *gin.Context) {
	var st *monitor.Status
	if s.cfg.Monitor != nil {
		st = s.cfg.Monitor.Latest()
	}
	if st == nil {
		s.fail(c, fmt.Errorf("%w: no monitoring data yet", inspector.ErrNotFound))
		return
	}
	svg, err := renderMonitorChart(c.Param("kind"), st, s.text.page(s.text.lang(c)))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "image/svg+xml", svg)
}

// monitorCollector exports each monitor's value, threshold and alarm
// state of the active model, so existing alerting can use them.
type monitorCollector struct{ s *Server }

var (
	monValueDesc = prometheus.NewDesc("pruefplatz_monitor_value", "Model monitor value over the rolling window (PSI for score_drift and class_mix, a share for the rates).",
		[]string{"model", "monitor"}, nil)
	monThresholdDesc = prometheus.NewDesc("pruefplatz_monitor_threshold", "Model monitor threshold (0: reported, never alarms).",
		[]string{"model", "monitor"}, nil)
	monAlarmDesc = prometheus.NewDesc("pruefplatz_monitor_alarm", "1 while the model monitor is over its threshold.",
		[]string{"model", "monitor"}, nil)
)

func (m *monitorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- monValueDesc
	ch <- monThresholdDesc
	ch <- monAlarmDesc
}

func (m *monitorCollector) Collect(ch chan<- prometheus.Metric) {
	if m.s.cfg.Monitor == nil {
		return
	}
	st := m.s.cfg.Monitor.Latest()
	if st == nil {
		return
	}
	for _, r := range st.Readings {
		if r.State == monitor.StateNoBaseline {
			continue
		}
		alarm := 0.0
		if r.Alarm() {
			alarm = 1
		}
		ch <- prometheus.MustNewConstMetric(monValueDesc, prometheus.GaugeValue, r.Value, st.Model, r.Monitor)
		ch <- prometheus.MustNewConstMetric(monThresholdDesc, prometheus.GaugeValue, r.Threshold, st.Model, r.Monitor)
		ch <- prometheus.MustNewConstMetric(monAlarmDesc, prometheus.GaugeValue, alarm, st.Model, r.Monitor)
	}
}

// templateFuncs are the helpers the page templates may call.
var templateFuncs = template.FuncMap{
	// percent formats a share as "93.4 %".
	"percent": func(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + " %" },
}
