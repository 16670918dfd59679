package station

import (
	"context"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"gocv.io/x/gocv"
)

// memStore is an in-memory verdict store that can be told to fail.
type memStore struct {
	mu   sync.Mutex
	vs   []*inspector.Verdict
	fail error
}

func (m *memStore) Add(_ context.Context, v *inspector.Verdict) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	v.ID = uint64(len(m.vs) + 1)
	m.vs = append(m.vs, v)
	return nil
}

func (m *memStore) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

func (m *memStore) all() []*inspector.Verdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*inspector.Verdict(nil), m.vs...)
}

// fakeCard is a defect model card with the demo feed's classes.
func fakeCard(name, version string) *models.Card {
	return &models.Card{
		Name: name, Version: version, Labels: demo.DefectClasses, OKLabels: []string{"ok"},
		Input:      inspector.DefaultSpec(32),
		Thresholds: inspector.Thresholds{Accept: 0.8, Reject: 0.2},
		ONNXSHA256: "0123456789abcdef0123", Outputs: "logits",
		Dataset: &models.DatasetInfo{ManifestHash: "manifest-hash"},
	}
}

// constClassifier always answers label index idx.
type constClassifier struct {
	n, idx int
	calls  atomic.Int64
	closed atomic.Bool
	err    error
}

func (c *constClassifier) Classify(_ context.Context, in []float32) ([]float32, error) {
	c.calls.Add(1)
	if c.closed.Load() {
		return nil, errors.New("closed")
	}
	if c.err != nil {
		return nil, c.err
	}
	out := make([]float32, c.n)
	out[c.idx] = 10
	return out, nil
}

func (c *constClassifier) Close() error { c.closed.Store(true); return nil }

// synthSource produces grey frames; it fails after failAfter frames (when > 0).
type synthSource struct {
	n, failAfter int
	closed       *atomic.Int64
	w, h         int // frame size; default 64×48
}

func (s *synthSource) Read(dst *gocv.Mat) error {
	if s.failAfter > 0 && s.n >= s.failAfter {
		return errors.New("camera unplugged")
	}
	s.n++
	w, h := s.w, s.h
	if w == 0 {
		w, h = 64, 48
	}
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(100, 100, 100, 0), h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	m.CopyTo(dst)
	time.Sleep(2 * time.Millisecond)
	return nil
}

func (s *synthSource) Close() error {
	if s.closed != nil {
		s.closed.Add(1)
	}
	return nil
}

func (s *synthSource) Name() string { return "synth" }

// lockstep wraps a source so that frame k+1 is read only after frame k was
// classified: every frame is then processed exactly once, and the test
// knows the index of the frame behind every decision.
type lockstep struct {
	FrameSource
	delivered atomic.Int64 // frames read so far
	release   chan struct{}
}

func newLockstep(src FrameSource) *lockstep {
	return &lockstep{FrameSource: src, release: make(chan struct{}, 1)}
}

func (l *lockstep) Read(dst *gocv.Mat) error {
	if l.delivered.Load() > 0 {
		select {
		case <-l.release:
		case <-time.After(2 * time.Second): // never hang a test
		}
	}
	err := l.FrameSource.Read(dst)
	if err == nil {
		l.delivered.Add(1)
	}
	return err
}

// timelineClassifier answers from the demo timeline: the class of the part
// in view in the frame being classified, "ok" for the empty table. It
// records that frame's index, which the test clock turns into time.
type timelineClassifier struct {
	ls     *lockstep
	tl     *demo.Timeline
	labels []string
	frame  atomic.Int64
}

func (c *timelineClassifier) Classify(_ context.Context, _ []float32) ([]float32, error) {
	f := int(c.ls.delivered.Load()) - 1
	c.frame.Store(int64(f))
	class := "ok"
	for _, e := range c.tl.Events {
		if f > e.Enter && f < e.Gone {
			class = e.Class
		}
	}
	out := make([]float32, len(c.labels))
	for i, l := range c.labels {
		if l == class {
			out[i] = 10
		}
	}
	select {
	case c.ls.release <- struct{}{}:
	default:
	}
	return out, nil
}

func (c *timelineClassifier) Close() error { return nil }

// frameClock turns the classified frame's index into time at the feed's fps.
func frameClock(fps int, frame *atomic.Int64) func() time.Time {
	base := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	return func() time.Time {
		return base.Add(time.Duration(frame.Load()) * time.Second / time.Duration(fps))
	}
}

func frameOf(t time.Time, fps int) int {
	base := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	return int((t.Sub(base)*time.Duration(fps) + time.Second/2) / time.Second)
}

var (
	feedOnce sync.Once
	feedDir  string
	feedTL   *demo.Timeline
	feedErr  error
)

// demoFeed generates a short defect feed once per test binary.
func demoFeed(t testing.TB) (string, *demo.Timeline) {
	t.Helper()
	feedOnce.Do(func() {
		feedDir, feedErr = os.MkdirTemp("", "station-feed-")
		if feedErr != nil {
			return
		}
		feedTL, feedErr = demo.GenerateFeed(context.Background(), demo.FeedOptions{
			Seed: 7, Set: "defects", Parts: 4, FPS: 15, Out: feedDir, Workers: 2})
	})
	if feedErr != nil {
		t.Fatalf("demo feed: %v", feedErr)
	}
	return filepath.Join(feedDir, "feed.avi"), feedTL
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// jpegOf encodes a small test image.
func jpegOf(t testing.TB, w, h int) []byte {
	t.Helper()
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(30, 90, 200, 0), h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	gocv.Rectangle(&m, image.Rect(w/4, h/4, w/2, h/2), color.RGBA{255, 255, 255, 255}, -1)
	b, err := opencv.EncodeJPEG(m, 90)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMain removes the demo feed the tests share.
func TestMain(m *testing.M) {
	code := m.Run()
	if feedDir != "" {
		os.RemoveAll(feedDir)
	}
	os.Exit(code)
}
