package stationui

import (
	"bytes"
	"context"
	"encoding/json"
	"image/color"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"github.com/pruefplatz/pruefplatz/inspector/capture/capturetest"
)

// turntable is a rig whose camera photographs the pure-Go test part at
// the angle it stands at.
type turntable struct {
	mu    sync.Mutex
	angle float64
	shot  uint64
}

func (r *turntable) Name() string                     { return "test" }
func (r *turntable) Ready(ctx context.Context) error  { return nil }
func (r *turntable) Settle(ctx context.Context) error { return nil }
func (r *turntable) MoveTo(ctx context.Context, a float64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.angle = a
	return nil
}
func (r *turntable) Grab(ctx context.Context) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shot++
	return capturetest.Table(r.angle, false, 0, 1, r.shot), nil
}

func captureFixture(t *testing.T) (*fixture, *capture.Manager) {
	t.Helper()
	rig := &turntable{}
	m := &capture.Manager{Store: &capture.Store{Root: t.TempDir()}, Open: func(ctx context.Context, s *capture.Session) (capture.Setup, error) {
		return capture.Setup{Rig: rig, Camera: rig}, nil
	}}
	t.Cleanup(m.Close)
	return newFixture(t, func(c *Config) { c.Capture = m }), m
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return v
}

func TestCaptureAPI(t *testing.T) {
	f, _ := captureFixture(t)
	rec := f.do("POST", "/api/capture/sessions", "application/json", []byte(`{"class":"bracket","mode":"turntable","angles":4}`))
	if rec.Code != http.StatusCreated {
		t.Fatalf("start: %d %s", rec.Code, rec.Body)
	}
	s := decode[capture.Session](t, rec.Body.Bytes())
	var p capture.Progress
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec = f.do("GET", "/api/capture/sessions/"+s.ID, "", nil)
		p = decode[capture.Progress](t, rec.Body.Bytes())
		if !p.Running || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Session.State != capture.Done || len(p.Session.Frames) != 4 || p.Session.By != "Anna" {
		t.Fatalf("progress %+v", p)
	}
	for path, ctype := range map[string]string{
		"/api/capture/sessions/" + s.ID + "/contact.png": "image/png",
		"/api/capture/sessions/" + s.ID + "/frames/3":    "image/jpeg",
	} {
		if rec := f.do("GET", path, "", nil); rec.Code != 200 || rec.Header().Get("Content-Type") != ctype {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	if rec := f.do("DELETE", "/api/capture/sessions/"+s.ID+"/frames/0", "", nil); rec.Code != 200 {
		t.Fatalf("drop: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("POST", "/api/capture/sessions/"+s.ID+"/frames/0/move", "application/json", []byte(`{"to":"other"}`)); rec.Code != 200 {
		t.Fatalf("move: %d %s", rec.Code, rec.Body)
	}
	rec = f.do("GET", "/api/capture/sessions", "", nil)
	list := decode[struct{ Sessions []capture.Session }](t, rec.Body.Bytes())
	if len(list.Sessions) != 1 || len(list.Sessions[0].Frames) != 3 || !strings.HasPrefix(list.Sessions[0].Frames[0].File, "other/") {
		t.Fatalf("sessions after drop and move: %s", rec.Body)
	}
	rec = f.do("GET", "/api/capture/dataset", "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"class":"bracket","images":2,"sessions":1`) || !strings.Contains(rec.Body.String(), "one capture session") {
		t.Fatalf("dataset: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/capture/sessions", `{"mode":"turntable"}`, 400},
		{"POST", "/api/capture/sessions", `{"class":"a","mode":"robot"}`, 400},
		{"GET", "/api/capture/sessions/20261203-170000-abcdef", "", 404},
		{"GET", "/api/capture/sessions/..%2f..%2fetc", "", 404},
		{"POST", "/api/capture/sessions/" + s.ID + "/press", "", 404},
		{"POST", "/api/capture/sessions/" + s.ID + "/resume", "", 400},
		{"GET", "/api/capture/sessions/" + s.ID + "/frames/9", "", 404},
		{"POST", "/api/capture/sessions/" + s.ID + "/frames/0/move", `{"to":"../x"}`, 400},
	} {
		ctype := ""
		if c.body != "" {
			ctype = "application/json"
		}
		if rec := f.do(c.method, c.path, ctype, []byte(c.body)); rec.Code != c.want {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.path, rec.Code, c.want, rec.Body)
		}
	}
}

// The capture preview streams what a session would take (Manager.Preview:
// the plain frame cut to the ROI), not the live view with its verdict
// overlay.
func TestCapturePreview(t *testing.T) {
	f, m := captureFixture(t)
	f.srv.frameInterval = 5 * time.Millisecond
	if rec := f.do("GET", "/api/capture/preview.mjpg", "", nil); rec.Code != http.StatusNotImplemented {
		t.Fatalf("no preview camera: %d %s", rec.Code, rec.Body)
	}
	plain := testJPEG(16, 16, color.RGBA{0, 200, 0, 255})
	f.st.setFrame(testJPEG(16, 16, color.RGBA{255, 0, 0, 255})) // the annotated live view
	m.Preview = func() ([]byte, uint64, error) { return plain, 7, nil }
	ts := httptest.NewServer(f.h)
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/capture/preview.mjpg", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: f.cookie})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p, err := mjpegReader(t, res).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(p)
	if !bytes.Equal(b, plain) {
		t.Fatalf("the preview sent %d bytes, not the plain frame", len(b))
	}
}
