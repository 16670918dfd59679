// Package station runs the inspection loop: a reader goroutine keeps only
// the newest camera frame, a worker classifies it with the active model,
// decides when a part is there and at rest, records one verdict per part and
// tells the UI. Models can be swapped while it runs.
package station

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/events"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"gocv.io/x/gocv"
)

// FrameSource delivers frames (opencv.Source implements it).
type FrameSource interface {
	Read(dst *gocv.Mat) error
	Close() error
	Name() string
}

// Store records verdicts (inspector/bolt implements it).
type Store interface {
	Add(ctx context.Context, v *inspector.Verdict) error
}

// Model is a loaded, validated model ready to classify.
type Model struct {
	Card       *models.Card
	Path       string
	Classifier inspector.Classifier
}

// Loader loads name/version ("" for the registry's active model).
type Loader func(ctx context.Context, name, version string) (*Model, error)

// Config tunes the station. Zero values take the defaults.
type Config struct {
	Trigger      inspector.TriggerMode // default continuous
	StableFrames int                   // continuous: frames the same result must hold (3× that at rest without it: uncertain); default 5
	StillFor     time.Duration         // auto: how long a part must rest; default 500ms
	// MotionLevel is the mean absolute difference (grey levels, on a small
	// copy of the frame) between consecutive frames above which the scene moves.
	MotionLevel float64 // default 1.5
	// PresenceShare is the share of pixels that must differ from the empty
	// table for a part to count as present.
	PresenceShare float64 // default 0.02
	ROI           *inspector.Rect
	Thresholds    *inspector.Thresholds // default: the card's
	TopK          int                   // default 3
	ImageMaxSide  int                   // stored frame size; 0 = full size
	JPEGQuality   int                   // default 90
	ThumbSide     int                   // default 200
	Backoff       time.Duration         // first reconnect wait; default 500ms, doubling up to MaxBackoff
	// MaxBackoff caps the reconnect wait, so a camera plugged back in is
	// seen within that time; default 10s.
	MaxBackoff time.Duration
	// ActiveFile is the registry's active.json; when set, the station polls
	// its mtime every ActivePoll (default 2s) and activates the model that
	// ReadActive names, so `pruefplatz models activate` reaches it.
	ActiveFile string
	ActivePoll time.Duration
	ReadActive func() (*models.Active, error)
	// Notify, if set, is called with every event but the live ones (a
	// verdict after it is stored, a status change, a review published
	// through Publish), on the goroutine that made it and before
	// subscribers see it. Unlike Subscribe it loses nothing, so
	// integrations that must deliver every verdict (MQTT, webhooks) persist
	// from it; it must return quickly (a disk write, no network) because it
	// runs on the camera loop.
	Notify func(inspector.Event)
	Now    func() time.Time
	Logger *slog.Logger
	// Events is the broker the station publishes on (the web UI and
	// integrations subscribe to it); nil makes one of its own.
	Events *events.Broker
}

func (c *Config) defaults() {
	if c.Trigger == "" {
		c.Trigger = inspector.TriggerContinuous
	}
	if c.StableFrames <= 0 {
		c.StableFrames = 5
	}
	if c.StillFor <= 0 {
		c.StillFor = 500 * time.Millisecond
	}
	if c.MotionLevel <= 0 {
		c.MotionLevel = 1.5
	}
	if c.PresenceShare <= 0 {
		c.PresenceShare = inspector.PresenceShare
	}
	if c.TopK <= 0 {
		c.TopK = 3
	}
	if c.JPEGQuality <= 0 {
		c.JPEGQuality = 90
	}
	if c.ThumbSide <= 0 {
		c.ThumbSide = 200
	}
	if c.Backoff <= 0 {
		c.Backoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = c.Backoff
	}
	if c.ActivePoll <= 0 {
		c.ActivePoll = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Events == nil {
		c.Events = events.New(32)
	}
}

// Station is the running inspection loop. It implements inspector.Station.
type Station struct {
	cfg    Config
	open   func() (FrameSource, error)
	name   string
	store  Store
	loader Loader
	log    *slog.Logger

	model atomic.Pointer[Model]
	// inferMu is held for reading around every inference, so a swapped-out
	// model is closed only after its last call returns.
	inferMu sync.RWMutex

	mu        sync.Mutex // guards the fields below
	latest    gocv.Mat
	seq       uint64
	state     inspector.SourceState
	sourceErr string
	modelErr  string
	storeErr  string
	fps       float64
	frames    uint64
	dropped   uint64
	processed uint64
	live      *inspector.Decision
	present   bool
	started   time.Time
	events    *events.Broker

	jpegMu  sync.Mutex // guards the live-view cache
	overlay gocv.Mat
	jpeg    []byte
	jpegSeq uint64
	jpegAt  time.Time

	logMu  sync.Mutex
	logged map[string]time.Time

	newFrame chan struct{}
	triggers chan chan triggerResult

	uploadMu  sync.Mutex
	uploadPre map[*Model]*opencv.Preprocessor

	cancel context.CancelFunc
	done   <-chan struct{} // closed when the loops stop; nil before Start
	wg     sync.WaitGroup
}

type triggerResult struct {
	v   *inspector.Verdict
	err error
}

var _ inspector.Station = (*Station)(nil)

// New makes a station; nothing runs until Start. open opens the frame
// source (it is called again to reconnect after a failure); name is the
// source's name for status and verdicts; m is the model to serve first;
// loader loads others for ActivateModel (nil: no swaps); store may be nil
// (verdicts are then made but not kept).
func New(cfg Config, name string, open func() (FrameSource, error), m *Model, loader Loader, store Store) *Station {
	cfg.defaults()
	s := &Station{
		cfg: cfg, open: open, name: name, store: store, loader: loader, log: cfg.Logger,
		latest: gocv.NewMat(), overlay: gocv.NewMat(), logged: map[string]time.Time{}, state: inspector.SourceConnecting, events: cfg.Events,
		newFrame: make(chan struct{}, 1), triggers: make(chan chan triggerResult), uploadPre: map[*Model]*opencv.Preprocessor{},
	}
	s.model.Store(m)
	return s
}

// Start runs the reader, the worker and (with Config.ActiveFile) the
// active.json watcher until ctx ends or Close is called. Call it once.
func (s *Station) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = ctx.Done()
	s.started = s.cfg.Now()
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.readLoop(ctx) }()
	go func() { defer s.wg.Done(); s.work(ctx) }()
	if s.cfg.ActiveFile != "" && s.cfg.ReadActive != nil && s.loader != nil {
		var mtime time.Time
		if fi, err := os.Stat(s.cfg.ActiveFile); err == nil {
			mtime = fi.ModTime()
		}
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.watchActive(ctx, mtime) }()
	}
}

// Close stops the loops (cancel, then wait), then frees the frames, the
// preprocessors and the active model's session. It always returns nil; the
// store is the caller's to close, after the station.
func (s *Station) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest.Close()
	// A reader outside the loops (the capture's camera, the live view)
	// may still ask for a frame: with no sequence it finds none instead
	// of touching the freed Mat.
	s.seq = 0
	s.jpegMu.Lock()
	s.overlay.Close()
	s.jpegMu.Unlock()
	s.uploadMu.Lock()
	for _, p := range s.uploadPre {
		p.Close()
	}
	s.uploadMu.Unlock()
	if m := s.model.Load(); m != nil && m.Classifier != nil {
		m.Classifier.Close()
	}
	return nil
}

// Status returns a snapshot for /api/status.
func (s *Station) Status() inspector.StationStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := inspector.StationStatus{
		Source: s.name, SourceState: s.state, SourceError: s.sourceErr, FPS: s.fps, Frames: s.frames,
		Dropped: s.dropped, Trigger: s.cfg.Trigger, ModelError: s.modelErr, PartPresent: s.present,
		Live: s.live, StoreErr: s.storeErr, Started: s.started,
	}
	if m := s.model.Load(); m != nil {
		st.Model = m.Card.Ref()
	}
	return st
}

// Subscribe returns events until ctx ends; a full channel drops events.
func (s *Station) Subscribe(ctx context.Context) <-chan inspector.Event {
	return s.events.Subscribe(ctx)
}

// Publish tells subscribers (and Notify) about an event from outside the
// loop, such as a review made through the web UI, on the station's broker.
func (s *Station) Publish(e inspector.Event) { s.publish(e) }

func (s *Station) publish(e inspector.Event) {
	if s.cfg.Notify != nil && e.Kind != inspector.EventLive {
		s.cfg.Notify(e)
	}
	s.events.Publish(e)
}

// Labels returns the active model's labels.
func (s *Station) Labels() []string {
	if m := s.model.Load(); m != nil {
		return m.Card.Labels
	}
	return nil
}

// OKLabels returns the active model's OK labels.
func (s *Station) OKLabels() []string {
	if m := s.model.Load(); m != nil {
		return m.Card.OKLabels
	}
	return nil
}

// Model returns the active model.
func (s *Station) Model() *Model { return s.model.Load() }

// ErrStopped is returned by Trigger when the station is not running.
var ErrStopped = errors.New("station is not running")

// ErrBusy is returned by Trigger when the worker did not take the request
// within five seconds (a classification that hangs).
var ErrBusy = errors.New("station is not processing frames")

// Trigger records a verdict on the newest frame now, in any trigger mode
// (verdicts made so have trigger "manual"). It returns ErrStopped before
// Start or after Close, ErrBusy, ctx's error, an error when no frame has
// arrived yet or the model fails, and the store's error (wrapped) when the
// verdict could not be stored.
func (s *Station) Trigger(ctx context.Context) (*inspector.Verdict, error) {
	if s.done == nil {
		return nil, ErrStopped
	}
	reply := make(chan triggerResult, 1)
	select {
	case s.triggers <- reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, ErrStopped
	case <-time.After(5 * time.Second):
		return nil, ErrBusy
	}
	select {
	case r := <-reply:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// limited logs a warning at most once per logEvery for each key, so a
// dead camera or a full disk does not flood the log.
func (s *Station) limited(key, msg string, args ...any) {
	now := time.Now()
	s.logMu.Lock()
	last, seen := s.logged[key]
	if seen && now.Sub(last) < logEvery {
		s.logMu.Unlock()
		return
	}
	s.logged[key] = now
	s.logMu.Unlock()
	s.log.Warn(msg, args...)
}

const logEvery = 30 * time.Second
