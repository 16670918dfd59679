package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
	"github.com/pruefplatz/pruefplatz/inspector/station"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/backbones"
	stationui "github.com/pruefplatz/pruefplatz/station-ui"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// defaultFeed is the demo video `make demo-data` writes; serve plays it when
// no source is named, so the station runs with no camera attached.
const defaultFeed = "datasets/demo-feed/feed.avi"

// serveConfig is the YAML config file of `pruefplatz serve`. Every key is
// optional; a flag given on the command line overrides the file.
type serveConfig struct {
	Source   string  `yaml:"source"`  // "0", rtsp://…, file, pattern frames/%04d.jpg, or folder
	Loop     *bool   `yaml:"loop"`    // rewind file sources at their end (default true)
	FPS      float64 `yaml:"fps"`     // pace file sources (0: the demo feed's fps, else 15)
	Models   string  `yaml:"models"`  // registry root (default models)
	Model    string  `yaml:"model"`   // NAME or NAME/VERSION (default: active, then defaultModel)
	ROI      string  `yaml:"roi"`     // "x,y,w,h" in frame pixels (default: whole frame)
	Accept   float32 `yaml:"accept"`  // accept threshold (default: the card's)
	Reject   float32 `yaml:"reject"`  // reject threshold for defect models (default: the card's)
	Trigger  string  `yaml:"trigger"` // continuous | manual | auto
	Stable   int     `yaml:"stable_frames"`
	StillMS  int     `yaml:"still_ms"`
	Motion   float64 `yaml:"motion_level"`
	Presence float64 `yaml:"presence_share"`
	Store    string  `yaml:"store"`          // verdict store file (default station-data/verdicts.db)
	MaxSide  int     `yaml:"image_max_side"` // stored frame size, 0 = full
	Quality  int     `yaml:"jpeg_quality"`
	Listen   string  `yaml:"listen"`   // default 127.0.0.1:8080
	Operator string  `yaml:"operator"` // name in reviews
	// Reference is the catalogue folder (<class>/<image>) the sales page shows
	// pictures from; default: the active model's training dataset.
	Reference string `yaml:"reference"`
	Threads   int    `yaml:"threads"` // ONNX Runtime threads (default 1)
	// ReconnectMax caps the wait between attempts to reopen a lost source.
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// AuthStore is the users/sessions/tokens/audit file (default: auth.db beside the verdict store).
	AuthStore string `yaml:"auth_store"`
	// KioskRole are the roles the station's own screen gets without a login
	// ("operator" by default; "none" turns it off). Only on a loopback listen address.
	KioskRole string `yaml:"kiosk_role"`
	// Catalogue is the spare-part catalogue file the sales page searches
	// (default: catalogue.db beside the verdict store).
	Catalogue string `yaml:"catalogue"`
	// CaptureOut is the dataset folder the capture page's sessions write
	// into (default datasets/captured).
	CaptureOut string `yaml:"capture_out"`
	TLSCert    string `yaml:"tls_cert"` // PEM certificate; with TLSKey the UI serves HTTPS
	TLSKey     string `yaml:"tls_key"`
	// Station names this station in MQTT topics and notices (default: the host name).
	Station string `yaml:"station"`
	// BaseURL is the UI's address as other systems reach it, for image links in notices.
	BaseURL string `yaml:"base_url"`
	// Outbox is the durable queue file of MQTT and webhooks (default: outbox.db beside the store).
	Outbox string     `yaml:"outbox"`
	MQTT   mqttConfig `yaml:"mqtt"`
	// Webhooks receive verdicts by HTTP POST (config file only).
	Webhooks []webhookConfig `yaml:"webhooks"`
	PLC      plcConfig       `yaml:"plc"`
	// Shifts are the statistics' shifts, "06:00-14:00,14:00-22:00,22:00-06:00",
	// in the zone TZ (an IANA name; default the machine's).
	Shifts string `yaml:"shifts"`
	TZ     string `yaml:"tz"`
}

func newServeCmd() *cobra.Command { return newServeCmdWith(runServe) }

// newServeCmdWith builds the command around run, so tests can check how
// the config file and flags combine without starting a station.
func newServeCmdWith(run func(*cobra.Command, serveConfig) error) *cobra.Command {
	var cfgPath string
	var c serveConfig
	var loop bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the inspection station: camera loop, classifier, verdict store and web UI",
		Long: `serve runs the station: a reader keeps the camera's newest frame, the active
model classifies it, a trigger decides when a part is recorded, and the web UI
(operator, sales and engineer pages) is served on --listen.

With no flags it plays the demo feed (` + defaultFeed + `, looping at its
own frame rate) with the registry's active model, or ` + defaultModel + ` when none is
active: "make run" shows live verdicts without a camera.

The sales page searches the spare-part catalogue (--catalogue, default
catalogue.db beside --store; see "pruefplatz catalogue"), never the station's
model. Without --source an empty catalogue is filled with the demo catalogue
in the background (drawn first if missing), with its progress logged.

A camera or stream that cannot be opened, or is lost, does not stop the
station: it reports the source as disconnected (page, /api/status, /metrics,
log) and retries, waiting longer each time up to --reconnect-max.

Settings come from --config FILE (YAML; keys: source, loop, fps, models, model,
roi, accept, reject, trigger, stable_frames, still_ms, motion_level,
presence_share, store, image_max_side, jpeg_quality, listen, operator, threads,
reconnect_max, auth_store, kiosk_role, catalogue, tls_cert, tls_key, station, base_url,
outbox, shifts, tz, mqtt: {broker, client_id, username, password_file, topic_prefix,
ca_file, cert_file, key_file}, webhooks: [{name, url, secret_file, secret_env,
outcomes, max_failures, timeout}], plc: {mode, address, base, unit_id, timeout,
heartbeat, poll}); flags given on the command line
override the file.

Access: every page but the operator's live page needs a login (users are
managed with "pruefplatz users"). On the first start with no users, serve
creates the user admin (roles admin, engineer) and prints its generated
password once. The station's own screen (a browser on this machine at
http://127.0.0.1…) gets --kiosk-role without a login, so "make run" shows live
verdicts at once; that kiosk is off whenever --listen is not a loopback
address. With --tls-cert and --tls-key the UI serves HTTPS and the session
cookie is marked Secure.

Triggers: continuous records once per part when the same result held for
--stable-frames frames (a resting part whose answer keeps changing is recorded
as uncertain after three times as many); auto records when a placed part has not moved for
--still-ms; manual records only on request (UI button, POST /api/trigger).

Integration (docs/integration.md): with --mqtt-broker (or mqtt.broker) every
verdict, review and status change is published under pruefplatz/<station>/,
through a queue on disk (--outbox) that holds them while the broker is down;
the MQTT password comes from mqtt.password_file or $` + mqttPasswordEnv + `.
Each entry of webhooks gets the selected verdicts by signed HTTP POST, from
the same queue. With --plc-address the station does the part-ready/result
handshake with a PLC over Modbus/TCP, as server (the PLC connects) or as
client of the PLC (--plc-mode); the register map is served at /api/plc.

Statistics (/stats, /api/stats): yield, defects by class, uncertain and
override rates and throughput per --shifts shift (in --tz), day and week.
Without --source an empty store first gets a day of demo history: demo images
classified by the model, spread over the past 24 hours, marked with trigger
demo-history (the statistics can leave it out). The active model is watched
(score drift against its card, uncertain and override rates); an alarm shows
on the pages, in /api/monitor and /metrics, the log and the audit log.

Ctrl-C stops the web server, then the station, then closes the store.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfgPath != "" {
				fileCfg, err := loadServeConfig(cfgPath)
				if err != nil {
					return err
				}
				mergeServeConfig(cmd, &c, fileCfg)
			}
			if cmd.Flags().Changed("loop") || c.Loop == nil {
				c.Loop = &loop
			}
			return run(cmd, c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "YAML config file; flags override its keys")
	f.StringVar(&c.Source, "source", "", "frame source: device index (0), rtsp:// or http:// URL, video file, image pattern (frames/%04d.jpg) or folder (default: "+defaultFeed+")")
	f.BoolVar(&loop, "loop", true, "rewind file, folder and pattern sources at their end")
	f.Float64Var(&c.FPS, "fps", 0, "pace file sources to this frame rate (0: the demo feed's own, else 15)")
	f.StringVar(&c.Models, "models", "models", "model registry root")
	f.StringVar(&c.Model, "model", "", "model NAME or NAME/VERSION, pinned (default: the registry's active model, else "+defaultModel+", following later activations)")
	f.StringVar(&c.ROI, "roi", "", "region of interest x,y,w,h in frame pixels (default: whole frame)")
	f.Float32Var(&c.Accept, "accept", 0, "accept threshold (default: the model card's)")
	f.Float32Var(&c.Reject, "reject", 0, "reject threshold for defect models (default: the model card's)")
	f.StringVar(&c.Trigger, "trigger", "continuous", "when to record: continuous, manual or auto")
	f.IntVar(&c.Stable, "stable-frames", 5, "continuous: frames the same result must hold while a part is present")
	f.IntVar(&c.StillMS, "still-ms", 500, "auto: milliseconds a placed part must be still")
	f.Float64Var(&c.Motion, "motion-level", 1.5, "mean absolute grey difference between frames that counts as motion")
	f.Float64Var(&c.Presence, "presence-share", 0.02, "share of pixels differing from the empty table that means a part is present")
	f.StringVar(&c.Store, "store", "station-data/verdicts.db", "verdict store file (its folder is created)")
	f.IntVar(&c.MaxSide, "image-max-side", 0, "longest side of stored frames in pixels (0: full size)")
	f.IntVar(&c.Quality, "jpeg-quality", 90, "JPEG quality of stored frames")
	f.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "web UI address; anything but localhost exposes the station to the network")
	f.StringVar(&c.Operator, "operator", "operator", "operator name recorded in reviews")
	f.StringVar(&c.Reference, "reference", "", "catalogue folder <class>/<image> for the sales page's reference pictures (default: the model's training dataset)")
	f.IntVar(&c.Threads, "threads", 1, "ONNX Runtime threads for inference")
	f.DurationVar(&c.ReconnectMax, "reconnect-max", 10*time.Second, "longest wait between attempts to reopen a camera or stream that is lost or cannot be opened")
	f.StringVar(&c.AuthStore, "auth-store", "", "users, sessions, API tokens and audit log, a bbolt file (default: auth.db beside --store)")
	f.StringVar(&c.KioskRole, "kiosk-role", string(auth.RoleOperator), `roles the station's own screen gets without login, comma-separated, "none" for no kiosk; only when --listen is loopback`)
	f.StringVar(&c.Catalogue, "catalogue", "", "spare-part catalogue for the sales page, a bbolt file (default: catalogue.db beside --store)")
	f.StringVar(&c.CaptureOut, "capture-out", "datasets/captured", "dataset folder the capture page's sessions write into")
	f.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) for HTTPS; needs --tls-key")
	f.StringVar(&c.TLSKey, "tls-key", "", "PEM private key for HTTPS; needs --tls-cert")
	f.StringVar(&c.Station, "station", "", "station name in MQTT topics and notices (default: the host name)")
	f.StringVar(&c.BaseURL, "base-url", "", "the UI's address as other systems reach it (image links in MQTT and webhook messages)")
	f.StringVar(&c.Outbox, "outbox", "", "durable queue of MQTT and webhook messages, a bbolt file (default: outbox.db beside --store)")
	f.StringVar(&c.MQTT.Broker, "mqtt-broker", "", "MQTT broker URL, tcp://host:1883 or ssl://host:8883 (default: no MQTT)")
	f.StringVar(&c.PLC.Mode, "plc-mode", "server", "PLC handshake over Modbus/TCP: server (the PLC connects to --plc-address) or client (the station connects to the PLC there)")
	f.StringVar(&c.Shifts, "shifts", shiftstats.DefaultShifts, "shifts of the statistics, local start-end, comma-separated; a shift past midnight belongs to the day it started")
	f.StringVar(&c.TZ, "tz", "", "time zone of --shifts, an IANA name such as Europe/Berlin (default: the machine's)")
	f.StringVar(&c.PLC.Address, "plc-address", "", "Modbus/TCP host:port to listen on (server) or of the PLC (client); empty: no PLC")
	return cmd
}

func loadServeConfig(path string) (serveConfig, error) {
	var c serveConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// mergeServeConfig takes each file value whose flag was not given.
func mergeServeConfig(cmd *cobra.Command, c *serveConfig, file serveConfig) {
	ch := cmd.Flags().Changed
	set := func(flag string, apply func()) {
		if !ch(flag) {
			apply()
		}
	}
	if file.Source != "" {
		set("source", func() { c.Source = file.Source })
	}
	if file.Loop != nil && !ch("loop") {
		c.Loop = file.Loop
	}
	if file.ReconnectMax != 0 {
		set("reconnect-max", func() { c.ReconnectMax = file.ReconnectMax })
	}
	if file.FPS != 0 {
		set("fps", func() { c.FPS = file.FPS })
	}
	if file.Models != "" {
		set("models", func() { c.Models = file.Models })
	}
	if file.Model != "" {
		set("model", func() { c.Model = file.Model })
	}
	if file.ROI != "" {
		set("roi", func() { c.ROI = file.ROI })
	}
	if file.Accept != 0 {
		set("accept", func() { c.Accept = file.Accept })
	}
	if file.Reject != 0 {
		set("reject", func() { c.Reject = file.Reject })
	}
	if file.Trigger != "" {
		set("trigger", func() { c.Trigger = file.Trigger })
	}
	if file.Stable != 0 {
		set("stable-frames", func() { c.Stable = file.Stable })
	}
	if file.StillMS != 0 {
		set("still-ms", func() { c.StillMS = file.StillMS })
	}
	if file.Motion != 0 {
		set("motion-level", func() { c.Motion = file.Motion })
	}
	if file.Presence != 0 {
		set("presence-share", func() { c.Presence = file.Presence })
	}
	if file.Store != "" {
		set("store", func() { c.Store = file.Store })
	}
	if file.MaxSide != 0 {
		set("image-max-side", func() { c.MaxSide = file.MaxSide })
	}
	if file.Quality != 0 {
		set("jpeg-quality", func() { c.Quality = file.Quality })
	}
	if file.Listen != "" {
		set("listen", func() { c.Listen = file.Listen })
	}
	if file.Reference != "" {
		set("reference", func() { c.Reference = file.Reference })
	}
	if file.Operator != "" {
		set("operator", func() { c.Operator = file.Operator })
	}
	if file.Threads != 0 {
		set("threads", func() { c.Threads = file.Threads })
	}
	if file.AuthStore != "" {
		set("auth-store", func() { c.AuthStore = file.AuthStore })
	}
	if file.KioskRole != "" {
		set("kiosk-role", func() { c.KioskRole = file.KioskRole })
	}
	if file.Catalogue != "" {
		set("catalogue", func() { c.Catalogue = file.Catalogue })
	}
	if file.CaptureOut != "" {
		set("capture-out", func() { c.CaptureOut = file.CaptureOut })
	}
	if file.TLSCert != "" {
		set("tls-cert", func() { c.TLSCert = file.TLSCert })
	}
	if file.TLSKey != "" {
		set("tls-key", func() { c.TLSKey = file.TLSKey })
	}
	if file.Station != "" {
		set("station", func() { c.Station = file.Station })
	}
	if file.BaseURL != "" {
		set("base-url", func() { c.BaseURL = file.BaseURL })
	}
	if file.Outbox != "" {
		set("outbox", func() { c.Outbox = file.Outbox })
	}
	if file.Shifts != "" {
		set("shifts", func() { c.Shifts = file.Shifts })
	}
	if file.TZ != "" {
		set("tz", func() { c.TZ = file.TZ })
	}
	c.Webhooks = file.Webhooks
	mode, addr := c.PLC.Mode, c.PLC.Address
	c.PLC = file.PLC
	if ch("plc-mode") || file.PLC.Mode == "" {
		c.PLC.Mode = mode
	}
	if ch("plc-address") || file.PLC.Address == "" {
		c.PLC.Address = addr
	}
	broker := c.MQTT.Broker
	c.MQTT = file.MQTT
	if ch("mqtt-broker") || file.MQTT.Broker == "" {
		c.MQTT.Broker = broker
	}
}

// kioskRoles are the roles the loopback kiosk gets: none unless the UI
// listens on loopback only, where nobody but this machine can connect.
func kioskRoles(spec, listen string) ([]auth.Role, error) {
	if spec == "" || spec == "none" {
		return nil, nil
	}
	rs, err := auth.ParseRoles(spec)
	if err != nil {
		return nil, fmt.Errorf("--kiosk-role: %w", err)
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil || !isLoopback(host) {
		return nil, nil
	}
	return rs, nil
}

func parseROI(s string) (*inspector.Rect, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, fmt.Errorf("roi %q: want x,y,w,h", s)
	}
	var v [4]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("roi %q: %q is not a pixel count", s, p)
		}
		v[i] = n
	}
	r := &inspector.Rect{X: v[0], Y: v[1], W: v[2], H: v[3]}
	if r.Empty() {
		return nil, fmt.Errorf("roi %q: width and height must be positive", s)
	}
	return r, nil
}

func runServe(cmd *cobra.Command, c serveConfig) error {
	ctx := cmd.Context()
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))

	trigger := inspector.TriggerMode(c.Trigger)
	switch trigger {
	case inspector.TriggerContinuous, inspector.TriggerManual, inspector.TriggerAuto:
	default:
		return fmt.Errorf("--trigger %q: want continuous, manual or auto", c.Trigger)
	}
	roi, err := parseROI(c.ROI)
	if err != nil {
		return err
	}
	kiosk, err := kioskRoles(c.KioskRole, c.Listen)
	if err != nil {
		return err
	}
	shifts, err := parseShifts(c.Shifts, c.TZ)
	if err != nil {
		return err
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var tlsCert tls.Certificate
	if c.TLSCert != "" {
		if tlsCert, err = tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
	}
	src := c.Source
	if src == "" {
		src = defaultFeed
	}
	// A source that cannot be opened now (an unplugged camera, a stream
	// that is down, a folder not mounted yet) is the station's to retry:
	// the operator page shows it, and frames arrive once it is back.
	if _, err := opencv.ParseSourceSpec(src); err != nil {
		return err
	}

	if err := initORT(cmd); err != nil {
		return err
	}
	reg := models.Registry{Root: c.Models}
	loader := registryLoader(reg, defaultModel, onnx.Options{Threads: c.Threads})
	var name, version string
	if c.Model != "" {
		if name, version, err = modelRef([]string{c.Model}); err != nil {
			return fmt.Errorf("--model: %w", err)
		}
	}
	model, err := loader(ctx, name, version)
	if err != nil {
		return err
	}
	// With no source named, the station plays the demo feed: drawn now if
	// it is missing (seconds), while the demo image sets, which only the
	// sales page's pictures and training need, follow in the background.
	demoSets := false
	if c.Source == "" {
		demoDir := filepath.Dir(filepath.Dir(defaultFeed))
		opt := demo.Options{Seed: 1, Out: demoDir, Progress: demoProgress(cmd.OutOrStdout())}
		if err := demo.GenerateFeedData(ctx, opt); err != nil {
			model.Classifier.Close()
			return fmt.Errorf("drawing the demo feed into %s: %w", demoDir, err)
		}
		demoSets = true
		genCtx, stopGen := context.WithCancel(ctx)
		genDone := make(chan struct{})
		defer func() { stopGen(); <-genDone }()
		go func() {
			defer close(genDone)
			// One worker: the station keeps a core to itself meanwhile.
			opt.Workers = 1
			opt.Progress = nil
			if err := demo.GenerateSets(genCtx, opt); err != nil && genCtx.Err() == nil {
				log.Warn("demo image sets not generated", "dir", demoDir, "err", err)
				return
			}
			log.Info("demo image sets ready", "dir", demoDir)
		}()
	}
	fps := c.FPS
	if fps == 0 {
		fps = 15
		if tl, err := demo.ReadTimeline(filepath.Dir(src)); err == nil && tl.FPS > 0 {
			fps = float64(tl.FPS)
		}
	}

	if err := os.MkdirAll(filepath.Dir(c.Store), 0o755); err != nil {
		model.Classifier.Close()
		return fmt.Errorf("store folder: %w", err)
	}
	store, err := bolt.Open(c.Store)
	if err != nil {
		model.Classifier.Close()
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing the store", "err", err)
		}
	}()
	authPath := c.AuthStore
	if authPath == "" {
		authPath = filepath.Join(filepath.Dir(c.Store), "auth.db")
	}
	users, err := bolt.OpenAuth(authPath)
	if err != nil {
		model.Classifier.Close()
		return err
	}
	authSvc := auth.NewService(users, 0, nil)
	authSvc.Log = log.With("component", "auth")
	if name, pw, err := authSvc.Bootstrap(ctx); err != nil {
		model.Classifier.Close()
		return fmt.Errorf("first user: %w", err)
	} else if pw != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "No users yet: created user %q (roles admin, engineer) with the password\n\n    %s\n\n"+
			"It is shown only now. Log in at /login, then add users with `pruefplatz users add` and change this\n"+
			"password with `pruefplatz users passwd %s`.\n", name, pw, name)
	}

	var th *inspector.Thresholds
	if c.Accept != 0 || c.Reject != 0 {
		t := model.Card.Thresholds
		if c.Accept != 0 {
			t.Accept = c.Accept
		}
		if c.Reject != 0 {
			t.Reject = c.Reject
		}
		th = &t
	}
	stationName := c.Station
	if stationName == "" {
		if stationName, err = os.Hostname(); err != nil || stationName == "" {
			stationName = "station"
		}
	}
	var st *station.Station
	integ, err := openIntegrations(c, stationName, func(ctx context.Context) error {
		_, err := st.Trigger(ctx)
		return err
	}, log)
	if err != nil {
		model.Classifier.Close()
		return err
	}
	defer func() {
		if err := integ.Close(); err != nil {
			log.Error("closing the integrations", "err", err)
		}
	}()
	cfg := station.Config{
		Trigger: trigger, StableFrames: c.Stable, StillFor: time.Duration(c.StillMS) * time.Millisecond,
		MotionLevel: c.Motion, PresenceShare: c.Presence, ROI: roi, Thresholds: th,
		ImageMaxSide: c.MaxSide, JPEGQuality: c.Quality, MaxBackoff: c.ReconnectMax, Logger: log.With("component", "station"),
		Notify: integ.Notify,
	}
	if c.Model == "" {
		// Follow `pruefplatz models activate` from other shells, unless the
		// user pinned a model with --model.
		cfg.ActiveFile, cfg.ReadActive = filepath.Join(c.Models, models.ActiveFile), reg.ReadActive
	}
	open := func() (station.FrameSource, error) {
		return opencv.OpenSource(src, opencv.SourceOptions{Loop: *c.Loop, FPS: fps})
	}
	st = station.New(cfg, src, open, model, loader, store)
	if c.Source == "" {
		if err := backfillDemoHistory(ctx, st, store, model, time.Now(), log); err != nil {
			log.Warn("no demo history", "err", err)
		}
	}
	st.Start(ctx)
	watcher := newModelWatcher(st, store, authSvc, log)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); watcher.Run(watchCtx, monitorInterval) }()
	defer func() { stopWatch(); <-watchDone }()
	integ.start(ctx)
	var plcInfo func() any
	if c.PLC.Address != "" {
		p, err := openPLC(c.PLC, st.Trigger, log)
		if err == nil {
			err = p.Start(ctx)
		}
		if err != nil {
			st.Close()
			return err
		}
		defer p.Close()
		plcInfo = func() any { return p.Snapshot() }
		log.Info("PLC handshake", "mode", c.PLC.Mode, "address", c.PLC.Address, "base", c.PLC.Base)
	}

	cat, catDone := serveCatalogue(ctx, cmd, c, log)
	defer catDone()
	capMgr := newCaptureManager(c.CaptureOut, st, cat)
	defer capMgr.Close()

	gin.SetMode(gin.ReleaseMode) // no route dump on every start
	ref := c.Reference
	if ref == "" && model.Card.Dataset != nil {
		if fi, err := os.Stat(model.Card.Dataset.Path); (err == nil && fi.IsDir()) || demoSets {
			ref = model.Card.Dataset.Path
		}
	}
	ui := stationui.New(stationui.Config{Operator: c.Operator, ReferenceImages: ref, Logger: log.With("component", "ui"),
		Auth: authSvc, KioskRoles: kiosk, SecureCookies: c.TLSCert != "", Collectors: integ.collectors, PLC: plcInfo,
		Catalogue: cat, Shifts: shifts, Monitor: watcher, Capture: capMgr}, st, store, reg)
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		st.Close()
		return fmt.Errorf("listen %s: %w", c.Listen, err)
	}
	if host, _, _ := net.SplitHostPort(c.Listen); !isLoopback(host) {
		log.Warn("the web UI is reachable from the network (chosen with --listen); every page needs a login, no kiosk",
			"addr", ln.Addr().String(), "tls", c.TLSCert != "")
	}
	srv := &http.Server{Handler: ui.Handler(), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12}
	}
	log.Info("station serving", "url", scheme+"://"+ln.Addr().String()+"/", "source", src, "model",
		model.Card.Name+"/"+model.Card.Version, "trigger", trigger, "store", c.Store, "auth_store", authPath,
		"kiosk", auth.JoinRoles(kiosk))
	fmt.Fprintf(cmd.OutOrStdout(), "Prüfplatz station on %s://%s/ (Ctrl-C stops)\n", scheme, ln.Addr())

	errc := make(chan error, 1)
	go func() {
		if c.TLSCert != "" {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	log.Info("shutting down")
	// Streams (SSE, MJPEG) end with the request context; give them a moment.
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		srv.Close()
	}
	st.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveCatalogue opens the spare-part catalogue for the sales page. It is
// independent of the station's model: its own backbone session, its own
// file. Without a source (the demo), an empty catalogue is filled with the
// demo catalogue in the background, generated first if missing. A
// catalogue that cannot be opened is logged and the sales page says so;
// the station runs on. done stops the background work and closes it all.
func serveCatalogue(ctx context.Context, cmd *cobra.Command, c serveConfig, log *slog.Logger) (*catalogue.Service, func()) {
	file := c.Catalogue
	if file == "" {
		file = filepath.Join(filepath.Dir(c.Store), "catalogue.db")
	}
	clog := log.With("component", "catalogue")
	o, err := openCatalogue(cmd, catalogueFlags{file: file, models: c.Models, backbone: backbones.MobileNetV2, threads: max(c.Threads, 1)}, false)
	if err != nil {
		clog.Error("catalogue not available; the sales page cannot search", "file", file, "err", err)
		return nil, func() {}
	}
	bg, stop := context.WithCancel(ctx)
	o.svc.Start(bg)
	var wg sync.WaitGroup
	if c.Source == "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if parts, err := o.svc.Parts(); err != nil || len(parts) > 0 {
				return
			}
			out := filepath.Dir(filepath.Dir(defaultFeed))
			last := -1
			err := demo.GenerateCatalogue(bg, demo.CatalogueOptions{Seed: 1, Out: out, Workers: 1, Progress: func(_ string, done, total int) {
				if tenth := 10 * done / max(total, 1); tenth != last {
					last = tenth
					clog.Info("drawing the demo catalogue", "photos", done, "of", total)
				}
			}})
			if err == nil {
				err = importDemoCatalogue(bg, o.svc, demo.CatalogueDir(out), clog.Info)
			}
			if err != nil && bg.Err() == nil {
				clog.Warn("demo catalogue not loaded", "err", err)
			}
		}()
	}
	clog.Info("catalogue open", "file", file, "parts", o.svc.Status().Parts, "backbone", o.emb.BackboneName())
	return o.svc, func() {
		stop()
		wg.Wait()
		if err := o.Close(); err != nil {
			clog.Error("closing the catalogue", "err", err)
		}
	}
}
