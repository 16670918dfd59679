package stationui

import (
	"bufio"
	"context"
	"fmt"
	"image/color"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Load-test bounds: growth of the live Go heap and of the process's RSS from
// before to after the run (after GC), and goroutines back to the baseline.
const (
	loadClients        = 50
	loadDuration       = 10 * time.Second
	maxHeapGrowth      = 8 << 20
	maxRSSGrowth       = 64 << 20
	maxGoroutineGrowth = 3
)

func vmRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("VmRSS not found")
	return 0
}

func heapAfterGC() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestLoadMemoryFlat runs 50 loopback clients against the pages, the MJPEG
// and SSE streams and the API for 10 s, then checks that heap, RSS and
// goroutines return close to where they started: streams end with their
// clients and nothing accumulates per request.
func TestLoadMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("load test runs 10 s; skipped with -short")
	}
	f := newFixture(t, nil)
	f.srv.heartbeat = 200 * time.Millisecond
	ctx := context.Background()
	for i := range 200 {
		if _, err := f.st.record(ctx, f.st.labels[i%len(f.st.labels)], 0.9); err != nil {
			t.Fatal(err)
		}
	}
	frames := [][]byte{testJPEG(320, 240, color.RGBA{200, 40, 40, 255}), testJPEG(320, 240, color.RGBA{40, 200, 40, 255})}
	upload := testJPEG(64, 48, color.RGBA{1, 2, 3, 255})
	base := startServer(t, f.h)

	// The camera: new frames at 15 fps and live events at 10 Hz.
	stopCam := make(chan struct{})
	var camWG sync.WaitGroup
	camWG.Add(1)
	go func() {
		defer camWG.Done()
		tick := time.NewTicker(time.Second / 15)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopCam:
				return
			case <-tick.C:
			}
			f.st.setFrame(frames[i%2])
			if i%3 == 0 {
				d := inspector.Decision{Outcome: inspector.OutcomeOK, Label: "ok", TopK: []inspector.Prediction{{Label: "ok", Score: 0.97}}}
				f.st.emit(inspector.Event{Kind: inspector.EventLive, Time: time.Now(), Live: &d})
			}
		}
	}()

	var requests, failures, frameParts, sseEvents atomic.Int64
	// Every client is Anna's logged-in browser.
	client := func() *http.Client {
		return &http.Client{Transport: &sessionTransport{f: f, rt: &http.Transport{MaxIdleConnsPerHost: 4}}, Timeout: 5 * time.Second}
	}
	get := func(c *http.Client, path string) {
		requests.Add(1)
		res, err := c.Get(base + path)
		if err != nil {
			failures.Add(1)
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 || res.StatusCode == 404 {
			failures.Add(1)
		}
	}
	// stream reads a streaming endpoint for d and counts what arrives.
	stream := func(c *http.Client, path string, d time.Duration, count func(line string)) {
		requests.Add(1)
		sctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		req, _ := http.NewRequestWithContext(sctx, "GET", base+path, nil)
		res, err := c.Do(req)
		if err != nil {
			failures.Add(1)
			return
		}
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			count(sc.Text())
		}
	}
	streamClient := func() *http.Client { return &http.Client{Transport: &sessionTransport{f: f, rt: &http.Transport{}}} }

	run := func(d time.Duration) {
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for i := range loadClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := client()
				sc := streamClient()
				defer c.CloseIdleConnections()
				defer sc.CloseIdleConnections()
				for n := 0; time.Now().Before(deadline); n++ {
					switch i % 3 {
					case 0: // the operator page and what it loads
						for _, p := range []string{"/", "/static/app.css", "/static/operator.js", "/api/labels",
							"/api/verdicts?limit=12", "/api/status", "/api/counts", fmt.Sprintf("/api/verdicts/%d/thumb", 1+n%200)} {
							get(c, p)
						}
					case 1: // the live view and the event stream, reconnecting
						stream(sc, "/api/stream.mjpg", 1500*time.Millisecond, func(l string) {
							if strings.HasPrefix(l, "Content-Type: image/jpeg") {
								frameParts.Add(1)
							}
						})
						stream(sc, "/api/events", 700*time.Millisecond, func(l string) {
							if strings.HasPrefix(l, "event: ") {
								sseEvents.Add(1)
							}
						})
					case 2: // the API
						requests.Add(1)
						res, err := c.Post(base+"/api/classify", "image/jpeg", strings.NewReader(string(upload)))
						if err != nil || res.StatusCode != 200 {
							failures.Add(1)
						}
						if err == nil {
							io.Copy(io.Discard, res.Body)
							res.Body.Close()
						}
						requests.Add(1)
						res, err = c.Post(base+fmt.Sprintf("/api/verdicts/%d/review", 1+n%200), "application/json",
							strings.NewReader(`{"label":"ok"}`))
						if err != nil || res.StatusCode != 200 {
							failures.Add(1)
						}
						if err == nil {
							io.Copy(io.Discard, res.Body)
							res.Body.Close()
						}
						get(c, "/api/verdicts?limit=50&outcome=nok")
						get(c, "/api/export?format=csv&limit=100")
						get(c, "/metrics")
					}
				}
			}()
		}
		wg.Wait()
	}

	// Warm up so that lazily built state (templates, pools, metric series)
	// is in the baseline.
	run(time.Second)
	settle := func(floor int) int {
		var g int
		for range 50 {
			if g = runtime.NumGoroutine(); g <= floor {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return g
	}
	time.Sleep(500 * time.Millisecond)
	g0 := runtime.NumGoroutine()
	h0, r0 := heapAfterGC(), vmRSS(t)
	requests.Store(0)
	failures.Store(0)
	frameParts.Store(0)
	sseEvents.Store(0)

	start := time.Now()
	run(loadDuration)
	elapsed := time.Since(start)

	g1 := settle(g0)
	h1, r1 := heapAfterGC(), vmRSS(t)
	close(stopCam)
	camWG.Wait()

	t.Logf("load: %d clients for %v: %d requests (%.0f/s), %d failures, %d MJPEG parts, %d SSE events",
		loadClients, elapsed.Round(time.Millisecond), requests.Load(), float64(requests.Load())/elapsed.Seconds(),
		failures.Load(), frameParts.Load(), sseEvents.Load())
	t.Logf("heap after GC: %.1f MiB → %.1f MiB (%+.1f MiB, bound %d MiB)", mib(h0), mib(h1), mib(h1)-mib(h0), maxHeapGrowth>>20)
	t.Logf("RSS: %.1f MiB → %.1f MiB (%+.1f MiB, bound %d MiB)", mib(r0), mib(r1), mib(r1)-mib(r0), maxRSSGrowth>>20)
	t.Logf("goroutines: %d → %d (bound +%d)", g0, g1, maxGoroutineGrowth)

	if failures.Load() > 0 {
		t.Errorf("%d of %d requests failed", failures.Load(), requests.Load())
	}
	if frameParts.Load() == 0 || sseEvents.Load() == 0 {
		t.Errorf("streams delivered nothing: %d frames, %d events", frameParts.Load(), sseEvents.Load())
	}
	if int64(h1)-int64(h0) > maxHeapGrowth {
		t.Errorf("heap grew by %.1f MiB (bound %d MiB)", mib(h1)-mib(h0), maxHeapGrowth>>20)
	}
	if r1-r0 > maxRSSGrowth {
		t.Errorf("RSS grew by %.1f MiB (bound %d MiB)", mib(r1)-mib(r0), maxRSSGrowth>>20)
	}
	if g1-g0 > maxGoroutineGrowth {
		t.Errorf("goroutines %d → %d: streams or subscriptions leaked", g0, g1)
	}
	if n := f.st.subscribers(); n != 0 {
		t.Errorf("%d station subscriptions left open", n)
	}
}

func mib[T int64 | uint64](v T) float64 { return float64(v) / (1 << 20) }

// sessionTransport sends a fixture's session cookie and CSRF token with
// every request, like a logged-in browser.
type sessionTransport struct {
	f  *fixture
	rt *http.Transport
}

func (s *sessionTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: s.f.cookie})
	r.Header.Set(CSRFHeader, s.f.csrf)
	return s.rt.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the transport.
func (s *sessionTransport) CloseIdleConnections() { s.rt.CloseIdleConnections() }
