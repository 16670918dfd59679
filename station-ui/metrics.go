package stationui

import (
	"context"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// metrics are the server's Prometheus collectors, in a registry of its own
// so that two servers in one process (tests) do not collide.
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	verdicts      *prometheus.CounterVec
	classified    *prometheus.CounterVec
	reviews       *prometheus.CounterVec
	sseClients    prometheus.Gauge
	streamClients prometheus.Gauge
	streamFrames  prometheus.Counter
}

// CollectorProvider is implemented by a station that exposes its own
// metrics (frames, inference latency); the UI registers them on /metrics.
type CollectorProvider interface {
	Collectors() []prometheus.Collector
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pruefplatz_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pruefplatz_http_request_duration_seconds", Help: "HTTP request latency by route (streams excluded).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pruefplatz_ui_triggered_verdicts_total", Help: "Verdicts recorded through POST /api/trigger, by outcome.",
		}, []string{"outcome"}),
		classified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pruefplatz_classify_requests_total", Help: "Uploads classified through POST /api/classify, by outcome.",
		}, []string{"outcome"}),
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pruefplatz_reviews_total", Help: "Reviews stored, by whether they confirmed the machine's label.",
		}, []string{"confirmed"}),
		sseClients:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "pruefplatz_sse_clients", Help: "Open server-sent event streams."}),
		streamClients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pruefplatz_mjpeg_clients", Help: "Open MJPEG streams."}),
		streamFrames:  prometheus.NewCounter(prometheus.CounterOpts{Name: "pruefplatz_mjpeg_frames_sent_total", Help: "JPEG parts sent to MJPEG clients."}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.verdicts, m.classified, m.reviews, m.sseClients, m.streamClients, m.streamFrames,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stationCollector{s: s})
	for _, c := range s.cfg.Collectors {
		if err := m.reg.Register(c); err != nil {
			s.log.Warn("integration metric not registered", "err", err)
		}
	}
	if p, ok := s.st.(CollectorProvider); ok {
		for _, c := range p.Collectors() {
			if err := m.reg.Register(c); err != nil {
				s.log.Warn("station metric not registered", "err", err)
			}
		}
	}
	return m
}

// middleware counts every request and times the ones that are not streams.
func (m *metrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		if route != "/api/events" && route != "/api/stream.mjpg" {
			m.latency.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
		}
	}
}

// stationCollector reads the station's status and the store's counts at
// scrape time, so the figures are never stale and nothing runs in between.
type stationCollector struct{ s *Server }

var (
	descFrames   = prometheus.NewDesc("pruefplatz_frames_total", "Frames read from the source.", nil, nil)
	descDropped  = prometheus.NewDesc("pruefplatz_frames_dropped_total", "Frames dropped because a consumer was busy.", nil, nil)
	descFPS      = prometheus.NewDesc("pruefplatz_fps", "Frames per second from the source.", nil, nil)
	descLive     = prometheus.NewDesc("pruefplatz_source_live", "1 when the source delivers frames.", nil, nil)
	descState    = prometheus.NewDesc("pruefplatz_source_state", "1 for the source's current state (connecting, live, disconnected, ended), 0 for the others.", []string{"state"}, nil)
	descStore    = prometheus.NewDesc("pruefplatz_store_size_bytes", "Size of the verdict store.", nil, nil)
	descVerdicts = prometheus.NewDesc("pruefplatz_verdicts", "Stored verdicts by effective outcome (reviews replace the machine's outcome).", []string{"outcome"}, nil)
	descModel    = prometheus.NewDesc("pruefplatz_model_info", "The model serving now.", []string{"name", "version", "sha256"}, nil)
)

func (sc *stationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFrames, descDropped, descFPS, descLive, descState, descStore, descVerdicts, descModel} {
		ch <- d
	}
}

func (sc *stationCollector) Collect(ch chan<- prometheus.Metric) {
	st := sc.s.st.Status()
	live := 0.0
	if st.SourceState == inspector.SourceLive {
		live = 1
	}
	ch <- prometheus.MustNewConstMetric(descFrames, prometheus.CounterValue, float64(st.Frames))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(descFPS, prometheus.GaugeValue, st.FPS)
	ch <- prometheus.MustNewConstMetric(descLive, prometheus.GaugeValue, live)
	for _, state := range inspector.SourceStates() {
		v := 0.0
		if st.SourceState == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, string(state))
	}
	if ss, ok := sc.s.storeStats(); ok {
		ch <- prometheus.MustNewConstMetric(descStore, prometheus.GaugeValue, float64(ss.SizeBytes))
	}
	ch <- prometheus.MustNewConstMetric(descModel, prometheus.GaugeValue, 1, st.Model.Name, st.Model.Version, st.Model.SHA256)
	// Counting needs a cheap store method; scanning every record per scrape would not scale.
	if ct, ok := sc.s.store.(Counter); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if m, err := ct.Counts(ctx, time.Time{}); err == nil {
			for _, o := range outcomes {
				ch <- prometheus.MustNewConstMetric(descVerdicts, prometheus.GaugeValue, float64(m[o]), string(o))
			}
		}
	}
}
