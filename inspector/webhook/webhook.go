// Package webhook POSTs verdict notices (inspector.Notice) to an HTTP
// receiver, signed with HMAC-SHA256, through a durable outbox queue: the
// station only writes the message to disk, and one goroutine per webhook
// delivers in order, retrying with backoff, so a slow or failing receiver
// never slows the station. After MaxFailures consecutive failed attempts the
// webhook disables itself and raises an alarm (log, metric, OnDisabled);
// its queue is kept, and a restart resumes delivery.
//
// # Signature
//
// Each request carries
//
//	X-Pruefplatz-Timestamp: <unix seconds when this attempt was sent>
//	X-Pruefplatz-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//	X-Pruefplatz-Delivery:  <kind>-<verdict id>, the same on every retry
//
// A receiver recomputes the HMAC over the timestamp, a dot and the raw body
// with the shared secret, compares in constant time, rejects old timestamps
// (replays) and dedupes by X-Pruefplatz-Delivery (delivery is at least once).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/outbox"
)

// Header names of a delivery.
const (
	HeaderSignature = "X-Pruefplatz-Signature"
	HeaderTimestamp = "X-Pruefplatz-Timestamp"
	HeaderDelivery  = "X-Pruefplatz-Delivery"
)

// State says whether a webhook delivers.
type State string

const (
	StateActive   State = "active"
	StateFailing  State = "failing" // the last attempt failed; retrying with backoff
	StateDisabled State = "disabled"
)

// Config configures one webhook. Name, URL and Station are required.
type Config struct {
	Name string
	URL  string
	// Secret keys the HMAC signature; never logged. Empty sends no signature.
	Secret string
	// Outcomes, if not empty, selects the verdicts sent by their effective
	// outcome (e.g. nok and uncertain); empty sends every verdict.
	Outcomes []inspector.Outcome
	// MaxFailures is how many consecutive failed attempts disable the
	// webhook (default 10).
	MaxFailures int
	// Timeout bounds one request (default 5s).
	Timeout time.Duration
	// Backoff is the first wait after a failure (default 1s), doubling up
	// to MaxBackoff (default 5 min).
	Backoff    time.Duration
	MaxBackoff time.Duration
	Station    string
	BaseURL    string // for the notice's image link
	// OnDisabled, if set, is called once when the webhook disables itself.
	OnDisabled func(name string, lastErr error)
	Client     *http.Client // default: a client with no overall timeout (Timeout applies)
	Logger     *slog.Logger
	Now        func() time.Time
}

// Status is a snapshot of a webhook.
type Status struct {
	Name      string `json:"name"`
	State     State  `json:"state"`
	Failures  int    `json:"consecutive_failures"`
	LastError string `json:"last_error,omitempty"`
	Queued    int    `json:"queued"`
	Delivered uint64 `json:"delivered"`
}

// Webhook delivers one receiver's queue. Create it with New, then Start.
type Webhook struct {
	cfg Config
	q   *outbox.Queue
	log *slog.Logger

	mu        sync.Mutex
	state     State
	failures  int
	lastErr   string
	delivered uint64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks cfg and makes a webhook sending through q. It returns an
// error for a missing name or station, or a URL that is not http(s).
func New(cfg Config, q *outbox.Queue) (*Webhook, error) {
	if cfg.Name == "" || cfg.Station == "" {
		return nil, errors.New("webhook: name and station required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %s: url %q: want http:// or https://", cfg.Name, cfg.URL)
	}
	for _, o := range cfg.Outcomes {
		switch o {
		case inspector.OutcomeOK, inspector.OutcomeNOK, inspector.OutcomeClass, inspector.OutcomeUncertain:
		default:
			return nil, fmt.Errorf("webhook %s: outcome %q: want ok, nok, class or uncertain", cfg.Name, o)
		}
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 10
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Webhook{cfg: cfg, q: q, log: cfg.Logger.With("webhook", cfg.Name), state: StateActive}, nil
}

// Name is the webhook's name.
func (w *Webhook) Name() string { return w.cfg.Name }

// Status returns the webhook's state.
func (w *Webhook) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Status{Name: w.cfg.Name, State: w.state, Failures: w.failures, LastError: w.lastErr, Queued: w.q.Len(), Delivered: w.delivered}
}

// Notify queues a recorded verdict whose effective outcome is selected;
// other events are ignored. It writes to disk and returns; a failure is
// logged, never passed to the station. A disabled webhook keeps queueing
// (up to the outbox bound), so a restart after the receiver is fixed
// delivers what it missed.
func (w *Webhook) Notify(e inspector.Event) {
	b, ok := w.Encode(e)
	if !ok {
		return
	}
	if err := w.q.Put(b); err != nil {
		w.log.Error("webhook message not queued", "verdict", e.Verdict.ID, "err", err)
	}
}

// Queue is the outbox queue the webhook delivers from.
func (w *Webhook) Queue() *outbox.Queue { return w.q }

// Encode returns the queue record for e, false when the webhook does not
// send it (not a verdict, or an outcome not selected). Callers feeding
// several integrations put the records with one outbox.DB.Put.
func (w *Webhook) Encode(e inspector.Event) ([]byte, bool) {
	if e.Kind != inspector.EventVerdict || e.Verdict == nil {
		return nil, false
	}
	if o, _ := e.Verdict.Effective(); len(w.cfg.Outcomes) > 0 && !slices.Contains(w.cfg.Outcomes, o) {
		return nil, false
	}
	b, err := json.Marshal(inspector.NewNotice(e.Kind, e.Verdict, w.cfg.Station, w.cfg.BaseURL))
	if err != nil {
		w.log.Error("webhook message not encoded", "verdict", e.Verdict.ID, "err", err)
		return nil, false
	}
	return b, true
}

// Start begins delivering. Call it once.
func (w *Webhook) Start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		err := w.q.Run(ctx, w.deliver, outbox.RunOptions{Backoff: w.cfg.Backoff, MaxBackoff: w.cfg.MaxBackoff,
			OnFailure: w.failed, OnSuccess: w.succeeded})
		if err != nil && !errors.Is(err, outbox.ErrStopped) && !errors.Is(err, outbox.ErrClosed) {
			w.log.Error("webhook queue stopped", "err", err)
		}
	}()
}

// Close stops delivery; queued messages stay on disk.
func (w *Webhook) Close() error {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
	return nil
}

func (w *Webhook) succeeded() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failures > 0 {
		w.log.Info("webhook delivers again", "after_failures", w.failures)
	}
	w.state, w.failures, w.lastErr = StateActive, 0, ""
	w.delivered++
}

func (w *Webhook) failed(err error, consecutive int) bool {
	w.mu.Lock()
	w.failures, w.lastErr = consecutive, err.Error()
	disable := consecutive >= w.cfg.MaxFailures
	if disable {
		w.state = StateDisabled
	} else {
		w.state = StateFailing
	}
	w.mu.Unlock()
	if !disable {
		if consecutive == 1 {
			w.log.Warn("webhook delivery failed; retrying with backoff", "err", err)
		}
		return true
	}
	w.log.Error("ALARM: webhook disabled after consecutive failures; its messages stay queued until a restart",
		"failures", consecutive, "queued", w.q.Len(), "err", err)
	if w.cfg.OnDisabled != nil {
		w.cfg.OnDisabled(w.cfg.Name, err)
	}
	return false
}

// Sign returns the signature header value for body sent at ts.
func Sign(secret string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request's signature headers against body, as a receiver
// should; it does not check the timestamp's age. It returns ErrBadSignature
// when they do not match.
func Verify(secret string, h http.Header, body []byte) error {
	sec, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrBadSignature)
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	if !hmac.Equal([]byte(want), []byte(h.Get(HeaderSignature))) {
		return ErrBadSignature
	}
	return nil
}

// ErrBadSignature is returned by Verify for a missing or wrong signature.
var ErrBadSignature = errors.New("webhook: signature does not match")

func (w *Webhook) deliver(ctx context.Context, msgs []outbox.Message) (int, error) {
	body := msgs[0].Data
	var id struct {
		Kind string `json:"kind"`
		ID   uint64 `json:"id"`
	}
	json.Unmarshal(body, &id)
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	now := w.cfg.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pruefplatz-webhook")
	req.Header.Set(HeaderDelivery, id.Kind+"-"+strconv.FormatUint(id.ID, 10))
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	if w.cfg.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, now, body))
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return 1, nil
}

var (
	descDisabled  = prometheus.NewDesc("pruefplatz_webhook_disabled", "1 when a webhook disabled itself after consecutive failures (an alarm).", []string{"webhook"}, nil)
	descFailures  = prometheus.NewDesc("pruefplatz_webhook_consecutive_failures", "Failed attempts in a row.", []string{"webhook"}, nil)
	descDelivered = prometheus.NewDesc("pruefplatz_webhook_delivered_total", "Deliveries the receiver accepted.", []string{"webhook"}, nil)
)

// Collector reports the webhooks' state on /metrics (queue depths are the
// outbox's).
type Collector struct{ Webhooks []*Webhook }

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDisabled
	ch <- descFailures
	ch <- descDelivered
}

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	for _, w := range c.Webhooks {
		s := w.Status()
		d := 0.0
		if s.State == StateDisabled {
			d = 1
		}
		ch <- prometheus.MustNewConstMetric(descDisabled, prometheus.GaugeValue, d, s.Name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(s.Failures), s.Name)
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(s.Delivered), s.Name)
	}
}
