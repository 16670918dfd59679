package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/outbox"
)

const secret = "shared-secret"

// receiver is an httptest server on loopback whose behaviour the test
// changes while it runs: answer with a status, stall, or accept.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	status   int           // answer; 0 means 200
	stall    chan struct{} // when set, requests wait on it
	got      []inspector.Notice
	requests atomic.Int32
	bad      atomic.Int32 // requests whose signature did not verify
	seen     map[string]bool
	arrived  chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{seen: map[string]bool{}, arrived: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		stall, status := r.stall, r.status
		r.mu.Unlock()
		if stall != nil {
			select {
			case <-stall:
			case <-req.Context().Done():
				return
			}
		}
		if err := Verify(secret, req.Header, body); err != nil {
			r.bad.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if status != 0 {
			http.Error(w, "down", status)
			return
		}
		var n inspector.Notice
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		r.mu.Lock()
		if id := req.Header.Get(HeaderDelivery); !r.seen[id] { // dedupe, as receivers must
			r.seen[id] = true
			r.got = append(r.got, n)
		}
		r.mu.Unlock()
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) set(status int, stall chan struct{}) {
	r.mu.Lock()
	r.status, r.stall = status, stall
	r.mu.Unlock()
}

func (r *receiver) notices() []inspector.Notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]inspector.Notice(nil), r.got...)
}

func (r *receiver) waitFor(t *testing.T, n int) []inspector.Notice {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := r.notices(); len(got) >= n {
			return got
		}
		select {
		case <-r.arrived:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("receiver got %d of %d", len(r.notices()), n)
		}
	}
}

func newHook(t *testing.T, cfg Config) (*Webhook, *outbox.Queue) {
	t.Helper()
	d, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if cfg.Name == "" {
		cfg.Name = "mes"
	}
	q, err := d.Queue("webhook/"+cfg.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Station, cfg.Secret = "test", secret
	if cfg.Backoff == 0 {
		cfg.Backoff, cfg.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := New(cfg, q)
	if err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	t.Cleanup(func() { w.Close() })
	return w, q
}

func verdictEvent(id uint64, o inspector.Outcome) inspector.Event {
	v := &inspector.Verdict{ID: id, Time: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
		Model: inspector.ModelRef{Name: "m", Version: "v1", SHA256: "abc"}, Decision: inspector.Decision{Outcome: o, Label: string(o)}}
	return inspector.Event{Kind: inspector.EventVerdict, Verdict: v}
}

func TestSelectedOutcomesSignedInOrder(t *testing.T) {
	r := newReceiver(t)
	w, _ := newHook(t, Config{URL: r.srv.URL, Outcomes: []inspector.Outcome{inspector.OutcomeNOK, inspector.OutcomeUncertain}})
	outcomes := []inspector.Outcome{inspector.OutcomeOK, inspector.OutcomeNOK, inspector.OutcomeUncertain, inspector.OutcomeOK, inspector.OutcomeNOK}
	for i, o := range outcomes {
		w.Notify(verdictEvent(uint64(i+1), o))
	}
	w.Notify(inspector.Event{Kind: inspector.EventStatus, Status: &inspector.StationStatus{}}) // not a verdict
	// A reviewed verdict is selected by its effective outcome: NOK reviewed to OK is not sent.
	rv := verdictEvent(6, inspector.OutcomeNOK)
	rv.Verdict.AddReview(inspector.Review{Label: "ok", Outcome: inspector.OutcomeOK})
	w.Notify(rv)
	w.Notify(verdictEvent(7, inspector.OutcomeNOK))

	got := r.waitFor(t, 4)
	var ids []uint64
	for _, n := range got {
		ids = append(ids, n.ID)
	}
	if len(ids) != 4 || ids[0] != 2 || ids[1] != 3 || ids[2] != 5 || ids[3] != 7 {
		t.Fatalf("delivered %v, want [2 3 5 7]", ids)
	}
	if r.bad.Load() != 0 {
		t.Fatalf("%d requests failed signature verification", r.bad.Load())
	}
	if got[0].Station != "test" || got[0].Model.SHA256 != "abc" || got[0].Effective.Outcome != inspector.OutcomeNOK {
		t.Fatalf("notice %+v", got[0])
	}
}

func TestVerifyRejectsTampering(t *testing.T) {
	body := []byte(`{"id":1}`)
	ts := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	h.Set(HeaderTimestamp, "1800000000")
	h.Set(HeaderSignature, Sign(secret, ts, body))
	if err := Verify(secret, h, body); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func() (string, http.Header, []byte){
		"other secret": func() (string, http.Header, []byte) { return "guess", h, body },
		"changed body": func() (string, http.Header, []byte) { return secret, h, []byte(`{"id":2}`) },
		"changed time": func() (string, http.Header, []byte) {
			h2 := h.Clone()
			h2.Set(HeaderTimestamp, "1800000001")
			return secret, h2, body
		},
		"no signature": func() (string, http.Header, []byte) { return secret, http.Header{}, body },
	}
	for name, c := range cases {
		s, hh, b := c()
		if err := Verify(s, hh, b); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
}

// TestFailsStallsAndRecovers: the receiver answers 503, then stalls past the
// timeout, then recovers; every verdict arrives once, in order, and Notify
// never waits for the receiver.
func TestFailsStallsAndRecovers(t *testing.T) {
	r := newReceiver(t)
	r.set(http.StatusServiceUnavailable, nil)
	w, q := newHook(t, Config{URL: r.srv.URL, Timeout: 100 * time.Millisecond, MaxFailures: 1000})
	w.Notify(verdictEvent(1, inspector.OutcomeNOK))
	deadline := time.Now().Add(5 * time.Second)
	for r.requests.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := w.Status(); s.State != StateFailing || s.Failures < 2 || s.LastError == "" {
		t.Fatalf("status while the receiver fails: %+v", s)
	}

	stall := make(chan struct{})
	r.set(0, stall)
	// While every request hangs, the station's side still returns at once.
	notified := make(chan struct{})
	go func() {
		for i := uint64(2); i <= 20; i++ {
			w.Notify(verdictEvent(i, inspector.OutcomeNOK))
		}
		close(notified)
	}()
	select {
	case <-notified:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify waited for a stalled receiver")
	}
	if q.Len() != 20 {
		t.Fatalf("queued %d, want 20", q.Len())
	}
	before := r.requests.Load()
	for r.requests.Load() < before+2 && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(5 * time.Millisecond) // at least one stalled attempt timed out and was retried
	}
	close(stall)
	r.set(0, nil)

	got := r.waitFor(t, 20)
	for i, n := range got {
		if n.ID != uint64(i+1) {
			t.Fatalf("position %d has verdict %d", i, n.ID)
		}
	}
	if len(got) != 20 {
		t.Fatalf("%d delivered", len(got))
	}
	deadline = time.Now().Add(5 * time.Second)
	for (q.Len() != 0 || w.Status().State != StateActive) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := w.Status(); s.State != StateActive || s.Failures != 0 || s.Queued != 0 {
		t.Fatalf("after recovery: %+v", s)
	}
}

func TestDisabledAfterConsecutiveFailuresRaisesAlarm(t *testing.T) {
	r := newReceiver(t)
	r.set(http.StatusInternalServerError, nil)
	alarms := make(chan string, 2)
	w, q := newHook(t, Config{URL: r.srv.URL, MaxFailures: 3, OnDisabled: func(name string, err error) { alarms <- name }})
	w.Notify(verdictEvent(1, inspector.OutcomeNOK))
	select {
	case name := <-alarms:
		if name != "mes" {
			t.Fatalf("alarm for %q", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no alarm after repeated failures")
	}
	time.Sleep(50 * time.Millisecond) // a disabled webhook sends nothing more
	if n := r.requests.Load(); n != 3 {
		t.Fatalf("%d attempts, want exactly 3", n)
	}
	if s := w.Status(); s.State != StateDisabled || s.Failures != 3 {
		t.Fatalf("status %+v", s)
	}
	if q.Len() != 1 {
		t.Fatal("the undelivered verdict was dropped")
	}
	want := `
# HELP pruefplatz_webhook_disabled 1 when a webhook disabled itself after consecutive failures (an alarm).
# TYPE pruefplatz_webhook_disabled gauge
pruefplatz_webhook_disabled{webhook="mes"} 1
`
	if err := testutil.CollectAndCompare(Collector{Webhooks: []*Webhook{w}}, strings.NewReader(want), "pruefplatz_webhook_disabled"); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, c := range map[string]Config{
		"no name":     {URL: "http://x/", Station: "s"},
		"ftp url":     {Name: "a", URL: "ftp://x/", Station: "s"},
		"bad outcome": {Name: "a", URL: "http://x/", Station: "s", Outcomes: []inspector.Outcome{"bad"}},
	} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
