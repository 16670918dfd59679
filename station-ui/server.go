package stationui

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
	"github.com/pruefplatz/pruefplatz/models"
)

//go:embed web
var webFS embed.FS

// Config configures the web application. Zero values take the defaults named
// on each field.
type Config struct {
	// Operator is the name the kiosk acts under: reviews made at the
	// station's own screen without a login record it.
	Operator string
	// Auth checks logins, sessions and tokens and keeps the audit log.
	// Without it nobody can log in, and only the kiosk (if any) gets in.
	Auth *auth.Service
	// KioskRoles are granted without a login to requests from the loopback
	// interface that name a loopback host (the station's own screen). Empty
	// turns the kiosk off; cmd/pruefplatz sets it only when the UI listens
	// on loopback alone.
	KioskRoles []auth.Role
	// SecureCookies marks the session cookie Secure (serve over TLS).
	SecureCookies bool
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
	// Catalogue is the spare-part catalogue the sales page searches; nil
	// answers the catalogue API with 501.
	Catalogue *catalogue.Service
	// Capture runs capture sessions for the capture page (nil: the page
	// says capture is not configured).
	Capture *capture.Manager
	// MaxPartUpload bounds one add-part request, all photos together
	// (default DefaultMaxPartUpload).
	MaxPartUpload int64
	// Logger receives request errors (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Collectors are extra Prometheus collectors served on /metrics (the
	// integrations' queue depths).
	Collectors []prometheus.Collector
	// Shifts is the shift schedule of the statistics (default
	// shiftstats.DefaultShifts in local time).
	Shifts shiftstats.Schedule
	// Monitor, if set, is the model monitoring shown on the pages, in
	// /api/monitor and on /metrics.
	Monitor Monitor
	// PLC, if set, returns the PLC handshake's state and register map
	// (plc.Snapshot) for GET /api/plc; nil means no PLC is configured.
	PLC func() any
	// Monitoring supplies the model report's live monitoring figures; nil
	// until a monitor is wired in.
	Monitoring MonitoringFigures
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
//	StatCounts(ctx context.Context, from, to time.Time) (shiftstats.Counts, error)
//
// Without them counts and exports are computed from List, images come from
// Get, and /api/backup and the statistics answer 501.
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
	text   *translations

	// heartbeat is the SSE comment interval; tests shorten it.
	heartbeat time.Duration
	// frameInterval bounds the MJPEG rate (about 15 fps).
	frameInterval time.Duration

	mu         sync.Mutex
	shiftStart time.Time

	metrics *metrics

	// routeAccess holds every route's declared access, "METHOD /path".
	routeAccess map[string]routeInfo
	// kioskCSRF is the CSRF token of the kiosk's pages (it has no session).
	kioskCSRF string
}

// New builds the web application around a running station, its verdict
// store and the model registry. reg may be nil; then cfg.Registry is opened
// as a models.Registry (and with neither, the model list is empty).
func New(cfg Config, st inspector.Station, store Store, reg Models) *Server {
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.MaxPartUpload <= 0 {
		cfg.MaxPartUpload = DefaultMaxPartUpload
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
		routeAccess:   map[string]routeInfo{},
		kioskCSRF:     newKioskToken(),
	}
	s.metrics = newMetrics(s)
	s.tmpl = template.Must(template.New("").Funcs(templateFuncs).ParseFS(webFS, "web/*.html"))
	text, err := loadTranslations(webFS)
	if err != nil {
		panic(err) // the catalogues are compiled in; TestCataloguesComplete checks them
	}
	s.text = text
	s.engine = s.routes()
	return s
}

// Handler returns the HTTP handler serving pages, API, streams and metrics.
func (s *Server) Handler() http.Handler { return s.engine }

// Route access. Pages and the API a page uses share a rule, so a role
// that sees a page can use it.
var (
	liveView = auth.Require(auth.RoleOperator, auth.RoleEngineer)
	operator = auth.Require(auth.RoleOperator)
	sales    = auth.Require(auth.RoleSales)
	engineer = auth.Require(auth.RoleEngineer)
	admin    = auth.Require(auth.RoleAdmin)
	engOrAdm = auth.Require(auth.RoleEngineer, auth.RoleAdmin)
	anyone   = auth.Public
	loggedIn = auth.Authenticated
)

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	// The client address (audit log, login limits) is the connection's:
	// no proxy is trusted to rewrite it with X-Forwarded-For.
	r.SetTrustedProxies(nil)
	r.Use(s.recover(), s.metrics.middleware())
	r.SetHTMLTemplate(s.tmpl)
	r.NoRoute(func(c *gin.Context) {
		s.fail(c, fmt.Errorf("%w: %s %s", inspector.ErrNotFound, c.Request.Method, c.Request.URL.Path))
	})

	static, _ := fs.Sub(webFS, "web/static")
	s.declare(http.MethodGet, "/static/*filepath", routeInfo{access: anyone})
	s.declare(http.MethodHead, "/static/*filepath", routeInfo{access: anyone})
	r.Group("/static", s.guard(routeInfo{access: anyone})).StaticFS("/", http.FS(static))

	s.handlePage(r, "/", operator, s.page("operator.html"))
	s.handlePage(r, "/sales", sales, s.page("sales.html"))
	s.handlePage(r, "/engineer", engOrAdm, s.page("engineer.html"))
	s.handlePage(r, "/login", anyone, s.loginPage)
	s.handle(r, "GET", "/healthz", anyone, s.healthz)
	s.handle(r, "GET", "/metrics", engineer, gin.WrapH(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))

	s.handle(r, "GET", "/api/openapi.json", anyone, s.openapi)
	s.handle(r, "POST", "/api/login", anyone, s.login)
	s.handle(r, "POST", "/api/logout", loggedIn, s.logout)
	s.handle(r, "GET", "/api/session", loggedIn, s.session)
	s.handle(r, "GET", "/api/status", liveView, s.status)
	s.handle(r, "GET", "/api/labels", liveView, s.labels)
	s.handle(r, "GET", "/api/counts", liveView, s.counts)
	s.handle(r, "POST", "/api/shift", operator, s.newShift)
	s.handle(r, "GET", "/api/events", liveView, s.events)
	s.handle(r, "GET", "/api/stream.mjpg", liveView, s.stream)
	s.handle(r, "POST", "/api/trigger", operator, s.trigger)
	s.handle(r, "POST", "/api/classify", sales, s.classify)
	s.handle(r, "GET", "/api/verdicts", liveView, s.listVerdicts)
	s.handle(r, "GET", "/api/verdicts/:id", liveView, s.getVerdict)
	s.handle(r, "GET", "/api/verdicts/:id/image", liveView, s.verdictImage(false))
	s.handle(r, "GET", "/api/verdicts/:id/thumb", liveView, s.verdictImage(true))
	s.handle(r, "POST", "/api/verdicts/:id/review", operator, s.review)
	s.handle(r, "GET", "/api/export", engineer, s.export)
	s.handle(r, "GET", "/api/backup", engineer, s.backup)
	s.handle(r, "GET", "/api/models", engineer, s.listModels)
	s.handle(r, "GET", "/api/plc", engineer, s.plcStatus)
	s.handle(r, "POST", "/api/models/activate", engineer, s.activateModel)
	s.handle(r, "POST", "/api/models/rollback", engineer, s.rollbackModel)
	s.handle(r, "GET", "/api/reference", sales, s.referenceList)
	s.handle(r, "GET", "/api/reference/:class", sales, s.referenceImage)
	s.handle(r, "GET", "/api/users", admin, s.listUsers)
	s.handle(r, "GET", "/api/audit", admin, s.listAudit)
	s.handle(r, "GET", "/api/audit/export", admin, s.exportAudit)
	s.catalogueRoutes(r)
	s.statsRoutes(r)
	s.reportRoutes(r)
	s.captureRoutes(r)
	return r
}

func (s *Server) page(name string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.HTML(http.StatusOK, name, s.pageData(c, "", ""))
	}
}

// newKioskToken is the kiosk pages' CSRF token, new at every start.
func newKioskToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("no randomness for the kiosk token: %v", err)) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// recover turns a handler panic into a logged 500 instead of a dead connection.
func (s *Server) recover() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("handler panic", "path", c.Request.URL.Path, "panic", p)
				if !c.Writer.Written() {
					c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal error", "code": "internal"})
				}
			}
		}()
		c.Next()
	}
}

func (s *Server) shift() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shiftStart
}
