package stationui

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/models"
)

//go:embed web
var webFS embed.FS

// Config configures the web application. Zero values take the defaults named
// on each field.
type Config struct {
	// Operator is the name recorded in reviews when a request names nobody.
	Operator string
	// MaxUpload bounds an uploaded image in bytes (default 16 MiB).
	MaxUpload int64
	// MaxPixels bounds an upload's claimed width×height, checked from the
	// header before the station decodes it (default 40 megapixels, the
	// decoder's own default; negative leaves the check to the decoder).
	MaxPixels int64
	// Registry is the models root; used when New is given no Models.
	Registry string
	// ReferenceImages is an optional catalogue folder <class>/*.jpg; the
	// first image of a class illustrates it on the sales page.
	ReferenceImages string
	// Logger receives request errors (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Upload limits when Config leaves them 0.
const (
	DefaultMaxUpload = 16 << 20
	DefaultMaxPixels = 40_000_000
)

// Store is what the UI needs from the verdict store. Beyond
// inspector.VerdictStore the UI uses these optional methods when the store
// has them (inspector/bolt does):
//
//	Counts(ctx context.Context, from time.Time) (map[inspector.Outcome]int, error)
//	Export(ctx context.Context, w io.Writer, format string, q inspector.VerdictQuery) error
//	Backup(w io.Writer) (int64, error)
//	Image(id uint64, thumb bool) ([]byte, error)
//	Stats() (inspector.StoreStats, error)
//
// Without them counts and exports are computed from List, images come from
// Get, and /api/backup answers 501.
type Store interface {
	inspector.VerdictStore
}

// Counter counts verdicts by effective outcome since a time.
type Counter interface {
	Counts(ctx context.Context, from time.Time) (map[inspector.Outcome]int, error)
}

// Exporter writes matching verdicts as "csv" or "json".
type Exporter interface {
	Export(ctx context.Context, w io.Writer, format string, q inspector.VerdictQuery) error
}

// Backuper writes a consistent copy of the whole store and returns its size.
type Backuper interface {
	Backup(w io.Writer) (int64, error)
}

// Imager reads a verdict's frame (or thumbnail) without decoding the record.
type Imager interface {
	Image(id uint64, thumb bool) ([]byte, error)
}

// Statser describes the store (count, size, time range).
type Statser interface {
	Stats() (inspector.StoreStats, error)
}

// Models is the part of models.Registry the engineer page uses. Activate
// and Rollback are given a check that swaps the model into the running
// station (st.ActivateModel: load, validate, warm up); the registry records
// the new active model only when that succeeded, so the running model and
// active.json never disagree.
type Models interface {
	List() ([]*models.Card, []error)
	ReadActive() (*models.Active, error)
	Activate(name, version string, check func(c *models.Card, modelPath string) error) (*models.Card, error)
	Rollback(check func(c *models.Card, modelPath string) error) (*models.Card, error)
}

var _ Models = models.Registry{}

// Server is the web application. Create it with New; it holds no background
// goroutines of its own, so it needs no Close: every stream ends with its
// request.
type Server struct {
	cfg   Config
	st    inspector.Station
	store Store
	reg   Models
	log   *slog.Logger

	engine *gin.Engine
	tmpl   *template.Template

	// heartbeat is the SSE comment interval; tests shorten it.
	heartbeat time.Duration
	// frameInterval bounds the MJPEG rate (about 15 fps).
	frameInterval time.Duration

	mu         sync.Mutex
	shiftStart time.Time
	subs       map[chan inspector.Event]struct{}

	metrics *metrics
}

// New builds the web application around a running station, its verdict
// store and the model registry. reg may be nil; then cfg.Registry is opened
// as a models.Registry (and with neither, the model list is empty).
func New(cfg Config, st inspector.Station, store Store, reg Models) *Server {
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.MaxPixels == 0 {
		cfg.MaxPixels = DefaultMaxPixels
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Operator == "" {
		cfg.Operator = "operator"
	}
	if reg == nil && cfg.Registry != "" {
		reg = models.Registry{Root: cfg.Registry}
	}
	s := &Server{
		cfg: cfg, st: st, store: store, reg: reg,
		log:           cfg.Logger.With("component", "station-ui"),
		heartbeat:     15 * time.Second,
		frameInterval: time.Second / 15,
		shiftStart:    cfg.Now(),
		subs:          map[chan inspector.Event]struct{}{},
	}
	s.metrics = newMetrics(s)
	s.tmpl = template.Must(template.ParseFS(webFS, "web/*.html"))
	s.engine = s.routes()
	return s
}

// Handler returns the HTTP handler serving pages, API, streams and metrics.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.Use(s.recover(), s.metrics.middleware())
	r.SetHTMLTemplate(s.tmpl)
	r.NoRoute(func(c *gin.Context) {
		s.fail(c, fmt.Errorf("%w: %s %s", inspector.ErrNotFound, c.Request.Method, c.Request.URL.Path))
	})

	static, _ := fs.Sub(webFS, "web/static")
	r.StaticFS("/static", http.FS(static))

	r.GET("/", s.page("operator.html"))
	r.GET("/sales", s.page("sales.html"))
	r.GET("/engineer", s.page("engineer.html"))
	r.GET("/healthz", s.healthz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))

	api := r.Group("/api")
	api.GET("/openapi.json", s.openapi)
	api.GET("/status", s.status)
	api.GET("/labels", s.labels)
	api.GET("/counts", s.counts)
	api.POST("/shift", s.newShift)
	api.GET("/events", s.events)
	api.GET("/stream.mjpg", s.stream)
	api.POST("/trigger", s.trigger)
	api.POST("/classify", s.classify)
	api.GET("/verdicts", s.listVerdicts)
	api.GET("/verdicts/:id", s.getVerdict)
	api.GET("/verdicts/:id/image", s.verdictImage(false))
	api.GET("/verdicts/:id/thumb", s.verdictImage(true))
	api.POST("/verdicts/:id/review", s.review)
	api.GET("/export", s.export)
	api.GET("/backup", s.backup)
	api.GET("/models", s.listModels)
	api.POST("/models/activate", s.activateModel)
	api.POST("/models/rollback", s.rollbackModel)
	api.GET("/reference", s.referenceList)
	api.GET("/reference/:class", s.referenceImage)
	return r
}

func (s *Server) page(name string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.HTML(http.StatusOK, name, gin.H{"Operator": s.cfg.Operator})
	}
}

// recover turns a handler panic into a logged 500 instead of a dead connection.
func (s *Server) recover() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("handler panic", "path", c.Request.URL.Path, "panic", p)
				if !c.Writer.Written() {
					c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal error"})
				}
			}
		}()
		c.Next()
	}
}

// publish pushes an event that did not come from the station (a review made
// through this server) to every SSE subscriber, dropping it for a slow one.
func (s *Server) publish(ev inspector.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (s *Server) subscribeLocal() (chan inspector.Event, func()) {
	ch := make(chan inspector.Event, 16)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

func (s *Server) shift() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shiftStart
}
