package stationui

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// sseReader reads server-sent events (name, data) and comments.
type sseReader struct{ r *bufio.Reader }

func (s sseReader) next(t *testing.T) (event, data, comment string) {
	t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("sse read: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if event != "" || comment != "" {
				return
			}
		case strings.HasPrefix(line, ":"):
			comment = line
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventsStream(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.heartbeat = 100 * time.Millisecond
	ts := httptest.NewServer(f.h)
	defer ts.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sse := sseReader{bufio.NewReader(res.Body)}
	if ev, data, _ := sse.next(t); ev != "status" || !strings.Contains(data, `"source_state":"live"`) {
		t.Fatalf("first event %q %s", ev, data)
	}
	waitFor(t, "subscription", func() bool { return f.st.subscribers() == 1 })

	v, _ := f.st.record(ctx, "crack", 0.95)
	ev, data, _ := sse.next(t)
	var got inspector.Event
	if err := json.Unmarshal([]byte(data), &got); err != nil || ev != "verdict" || got.Verdict == nil || got.Verdict.ID != v.ID {
		t.Fatalf("verdict event %q %s (%v)", ev, data, err)
	}

	if rec := f.do("POST", fmt.Sprintf("/api/verdicts/%d/review", v.ID), "application/json", []byte(`{"label":"ok"}`)); rec.Code != 200 {
		t.Fatalf("review %d", rec.Code)
	}
	ev, data, _ = sse.next(t)
	if ev != "review" || !strings.Contains(data, `"review":{"label":"ok"`) {
		t.Fatalf("review event %q %s", ev, data)
	}
	if _, _, c := sse.next(t); !strings.HasPrefix(c, ": heartbeat") {
		t.Fatalf("want heartbeat comment, got %q", c)
	}

	// Leaving ends the handler and its subscription to the broker.
	cancel()
	waitFor(t, "unsubscribe", func() bool { return f.st.subscribers() == 0 })
}

func TestMJPEGStream(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.frameInterval = 5 * time.Millisecond
	ts := httptest.NewServer(f.h)
	defer ts.Close()
	frames := [][]byte{testJPEG(16, 16, color.RGBA{255, 0, 0, 255}), testJPEG(16, 16, color.RGBA{0, 0, 255, 255})}
	f.st.setFrame(frames[0])

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/stream.mjpg", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	mr := mjpegReader(t, res)
	part := func() (string, []byte) {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		b, _ := io.ReadAll(p)
		return p.Header.Get("Content-Type"), b
	}
	ct, b := part()
	if ct != "image/jpeg" || string(b) != string(frames[0]) {
		t.Fatalf("first part %s, %d bytes", ct, len(b))
	}
	// The same frame is not sent again: after several poll intervals the next
	// part is the new frame.
	time.Sleep(50 * time.Millisecond)
	f.st.setFrame(frames[1])
	if _, b = part(); string(b) != string(frames[1]) {
		t.Fatalf("second part is not the new frame (a repeated frame was sent?)")
	}
	waitFor(t, "client gauge", func() bool { return gaugeValue(t, f, "pruefplatz_mjpeg_clients") == 1 })
	cancel()
	waitFor(t, "stream end", func() bool { return gaugeValue(t, f, "pruefplatz_mjpeg_clients") == 0 })
}

// gaugeValue reads a metric line from /metrics.
func gaugeValue(t *testing.T, f *fixture, name string) float64 {
	rec := f.do("GET", "/metrics", "", nil)
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, name+" ") {
			var v float64
			fmt.Sscanf(l[len(name)+1:], "%g", &v)
			return v
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// mjpegReader reads the parts of an MJPEG response, failing the test when
// the response is not a multipart stream.
func mjpegReader(t *testing.T, res *http.Response) *multipart.Reader {
	t.Helper()
	mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("content type %q", res.Header.Get("Content-Type"))
	}
	return multipart.NewReader(res.Body, params["boundary"])
}
