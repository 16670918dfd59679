package station

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"gocv.io/x/gocv"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// runFeed plays the demo feed once, in lockstep, through a station in the
// given mode, and returns the recorded verdicts. during, if set, runs while
// the feed plays (with the classifier so it can read the current frame).
func runFeed(t *testing.T, mode inspector.TriggerMode, during func(st *Station, c *timelineClassifier)) ([]*inspector.Verdict, *demo.Timeline) {
	t.Helper()
	feed, tl := demoFeed(t)
	card := fakeCard("fake", "v1")
	var ls *lockstep
	c := &timelineClassifier{tl: tl, labels: card.Labels}
	open := func() (FrameSource, error) {
		src, err := opencv.OpenSource(feed, opencv.SourceOptions{})
		if err != nil {
			return nil, err
		}
		ls = newLockstep(src)
		c.ls = ls
		return ls, nil
	}
	store := &memStore{}
	st := New(Config{Trigger: mode, Now: frameClock(tl.FPS, &c.frame), Logger: quietLog()},
		"feed", open, &Model{Card: card, Classifier: c}, nil, store)
	st.Start(context.Background())
	done := make(chan struct{})
	if during != nil {
		go func() { defer close(done); during(st, c) }()
	} else {
		close(done)
	}
	waitFor(t, "the feed to end", 120*time.Second, func() bool { return st.Status().SourceState == inspector.SourceEnded })
	<-done
	st.Close()
	if got := st.Status().Frames; got != uint64(tl.Frames) {
		t.Errorf("read %d frames, the feed has %d", got, tl.Frames)
	}
	return store.all(), tl
}

func TestTriggersOnDemoFeed(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a demo feed")
	}
	for _, mode := range []inspector.TriggerMode{inspector.TriggerContinuous, inspector.TriggerAuto} {
		t.Run(string(mode), func(t *testing.T) {
			vs, tl := runFeed(t, mode, nil)
			if len(vs) != len(tl.Events) {
				for _, v := range vs {
					t.Logf("verdict at frame %d: %s", frameOf(v.Time, tl.FPS), v.Label)
				}
				t.Fatalf("%d verdicts for %d parts", len(vs), len(tl.Events))
			}
			for i, e := range tl.Events {
				v := vs[i]
				f := frameOf(v.Time, tl.FPS)
				if f < e.Settle || f > e.Leave {
					t.Errorf("part %d (%s, settle %d, leave %d): recorded at frame %d", i, e.Class, e.Settle, e.Leave, f)
				}
				if v.Label != e.Class {
					t.Errorf("part %d: label %q, want %q", i, v.Label, e.Class)
				}
				want := inspector.OutcomeNOK
				if e.Class == "ok" {
					want = inspector.OutcomeOK
				}
				if v.Outcome != want || v.Trigger != string(mode) {
					t.Errorf("part %d: outcome %s trigger %s, want %s %s", i, v.Outcome, v.Trigger, want, mode)
				}
				if v.Model.Name != "fake" || v.Model.SHA256 == "" || v.Model.DatasetHash != "manifest-hash" || v.Thresholds.Accept != 0.8 {
					t.Errorf("part %d: model %+v thresholds %+v", i, v.Model, v.Thresholds)
				}
				if len(v.Image) == 0 || len(v.Thumb) == 0 || len(v.Thumb) >= len(v.Image) {
					t.Errorf("part %d: image %d bytes, thumb %d", i, len(v.Image), len(v.Thumb))
				}
			}
		})
	}
}

func TestManualTriggerOnDemoFeed(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a demo feed")
	}
	var triggered []int
	var errs []error
	vs, tl := runFeed(t, inspector.TriggerManual, func(st *Station, c *timelineClassifier) {
		// Trigger while the second and third parts rest.
		for _, k := range []int{1, 2} {
			e := feedTL.Events[k]
			for c.frame.Load() < int64(e.Settle+5) {
				time.Sleep(time.Millisecond)
			}
			v, err := st.Trigger(context.Background())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			triggered = append(triggered, frameOf(v.Time, feedTL.FPS))
		}
	})
	for _, err := range errs {
		t.Error("trigger:", err)
	}
	if len(vs) != 2 || len(triggered) != 2 {
		t.Fatalf("%d verdicts for 2 triggers", len(vs))
	}
	for i, k := range []int{1, 2} {
		e := tl.Events[k]
		if vs[i].Trigger != "manual" || vs[i].Label != e.Class {
			t.Errorf("verdict %d: trigger %s label %s, want manual %s", i, vs[i].Trigger, vs[i].Label, e.Class)
		}
		if f := triggered[i]; f < e.Settle+5 || f > e.Leave {
			t.Errorf("verdict %d at frame %d, want in [%d, %d]", i, f, e.Settle+5, e.Leave)
		}
	}
}

func newSynthStation(t *testing.T, cfg Config, open func() (FrameSource, error), c inspector.Classifier, loader Loader, store Store) *Station {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLog()
	}
	if open == nil {
		open = func() (FrameSource, error) { return &synthSource{}, nil }
	}
	st := New(cfg, "synth", open, &Model{Card: fakeCard("fake", "v1"), Classifier: c}, loader, store)
	st.Start(context.Background())
	t.Cleanup(func() { st.Close() })
	return st
}

func TestReconnectsWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var opens, closes atomic.Int64
		var statesMu sync.Mutex
		var states []inspector.SourceState
		open := func() (FrameSource, error) {
			n := opens.Add(1)
			if n == 2 || n == 3 {
				return nil, errors.New("no such device")
			}
			return &synthSource{failAfter: 5, closed: &closes}, nil
		}
		st := newSynthStation(t, Config{Backoff: 5 * time.Millisecond, Trigger: inspector.TriggerManual}, open,
			&constClassifier{n: 5, idx: 3}, nil, &memStore{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		events := st.Subscribe(ctx)
		go func() {
			for e := range events {
				if e.Kind == inspector.EventStatus {
					statesMu.Lock()
					states = append(states, e.Status.SourceState)
					statesMu.Unlock()
				}
			}
		}()
		waitFor(t, "four reconnects", 10*time.Second, func() bool { return opens.Load() >= 6 })
		s := st.Status()
		if s.Frames < 10 {
			t.Errorf("%d frames after %d opens", s.Frames, opens.Load())
		}
		st.Close()
		if got, want := closes.Load(), opens.Load()-2; got != want {
			t.Errorf("closed %d sources, opened %d", got, want)
		}
		cancel()
		synctest.Wait() // the collector has taken every event
		sawDisconnected := false
		statesMu.Lock()
		defer statesMu.Unlock()
		for _, s := range states {
			sawDisconnected = sawDisconnected || s == inspector.SourceDisconnected
		}
		if !sawDisconnected {
			t.Errorf("status events %v never said disconnected", states)
		}
	})
}

// TestDisconnectedStatusAndBackoffGrows runs in a synctest bubble: the
// station's timers run on the bubble's fake clock, so the waits between
// attempts are exact, however loaded the machine is.
func TestDisconnectedStatusAndBackoffGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var times []time.Time
		open := func() (FrameSource, error) {
			times = append(times, time.Now())
			return nil, errors.New("camera 0: cannot open device")
		}
		st := newSynthStation(t, Config{Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, open, &constClassifier{n: 5}, nil, nil)
		time.Sleep(time.Second)
		synctest.Wait()
		s := st.Status()
		if s.SourceState != inspector.SourceDisconnected || s.SourceError == "" {
			t.Errorf("state %q, error %q; want disconnected with the reason", s.SourceState, s.SourceError)
		}
		st.Close()
		// 10, 20, 40 ms, then capped at 50 ms.
		want := []time.Duration{10, 20, 40, 50, 50, 50}
		if len(times) < len(want)+1 {
			t.Fatalf("%d attempts in a second", len(times))
		}
		for i, w := range want {
			if got := times[i+1].Sub(times[i]); got != w*time.Millisecond {
				t.Errorf("wait %d: %v, want %v", i+1, got, w*time.Millisecond)
			}
		}
	})
}

func TestStoreFailureKeepsClassifying(t *testing.T) {
	store := &memStore{fail: errors.New("write verdicts.db: no space left on device")}
	st := newSynthStation(t, Config{Trigger: inspector.TriggerManual}, nil, &constClassifier{n: 5, idx: 3}, nil, store)
	waitFor(t, "a frame", 5*time.Second, func() bool { return st.Status().Live != nil })
	if _, err := st.Trigger(context.Background()); err == nil || !errors.Is(err, store.fail) {
		t.Fatalf("trigger with a full disk: %v", err)
	}
	s := st.Status()
	if s.StoreErr == "" {
		t.Error("status has no store error")
	}
	before := s.Frames
	waitFor(t, "more frames", 5*time.Second, func() bool { return st.Status().Frames > before+3 })
	if b, _ := st.LatestJPEG(); len(b) == 0 {
		t.Error("no live view while the store fails")
	}
	store.setFail(nil)
	v, err := st.Trigger(context.Background())
	if err != nil || v.ID == 0 {
		t.Fatalf("trigger after the disk was freed: %v %+v", err, v)
	}
	if s := st.Status(); s.StoreErr != "" {
		t.Errorf("store error %q stays after a good write", s.StoreErr)
	}
}

func TestLatestJPEGCachesPerFrame(t *testing.T) {
	st := newSynthStation(t, Config{Trigger: inspector.TriggerManual, ROI: &inspector.Rect{X: 4, Y: 4, W: 30, H: 20}},
		nil, &constClassifier{n: 5, idx: 3}, nil, nil)
	waitFor(t, "a frame", 5*time.Second, func() bool { b, _ := st.LatestJPEG(); return b != nil })
	b1, s1 := st.LatestJPEG()
	b2, s2 := st.LatestJPEG()
	if s1 == 0 || s2 < s1 {
		t.Fatalf("sequence %d then %d", s1, s2)
	}
	if s1 == s2 && &b1[0] != &b2[0] {
		t.Error("same frame encoded twice")
	}
	m, err := gocv.IMDecode(b1, gocv.IMReadColor)
	if err != nil || m.Empty() {
		t.Fatalf("live view is not a JPEG: %v", err)
	}
	defer m.Close()
	if m.Cols() != 64 || m.Rows() != 48 {
		t.Errorf("live view %dx%d, want the frame's 64x48", m.Cols(), m.Rows())
	}
}

// TestFramesAfterClose: a capture session's camera or a live viewer that
// asks for a frame while the station closes gets none; before, it read
// the freed frame and crashed the process (seen in a capture test).
func TestFramesAfterClose(t *testing.T) {
	st := New(Config{Trigger: inspector.TriggerManual, Logger: quietLog()}, "synth",
		func() (FrameSource, error) { return &synthSource{}, nil },
		&Model{Card: fakeCard("fake", "v1"), Classifier: &constClassifier{n: 5, idx: 3}}, nil, nil)
	st.Start(context.Background())
	waitFor(t, "a frame", 5*time.Second, func() bool { b, _, _ := st.FrameJPEG(); return b != nil })
	st.Close()
	if b, seq, err := st.FrameJPEG(); b != nil || seq != 0 || err != nil {
		t.Errorf("FrameJPEG after Close: %d bytes, seq %d, %v; want none", len(b), seq, err)
	}
	if b, seq := st.LatestJPEG(); b != nil || seq != 0 {
		t.Errorf("LatestJPEG after Close: %d bytes, seq %d; want none", len(b), seq)
	}
	cam := &CaptureCamera{St: st, Timeout: 100 * time.Millisecond}
	if _, err := cam.Grab(context.Background()); !errors.Is(err, capture.ErrCameraLost) {
		t.Errorf("Grab after Close: %v, want ErrCameraLost", err)
	}
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	st := newSynthStation(t, Config{Trigger: inspector.TriggerManual}, nil, &constClassifier{n: 5, idx: 3}, nil, &memStore{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waitFor(t, "a frame", 5*time.Second, func() bool { return st.Status().Live != nil })
	slow := st.Subscribe(ctx) // never read
	fast := st.Subscribe(ctx)
	for i := 0; i < 60; i++ {
		if _, err := st.Trigger(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	verdicts := 0
	for len(fast) > 0 {
		if e := <-fast; e.Kind == inspector.EventVerdict {
			verdicts++
		}
	}
	if verdicts == 0 {
		t.Error("no verdict events")
	}
	if len(slow) != cap(slow) {
		t.Errorf("slow subscriber holds %d of %d", len(slow), cap(slow))
	}
	cancel()
	waitFor(t, "the channel to close", time.Second, func() bool {
		select {
		case _, ok := <-slow:
			return !ok
		default:
			return false
		}
	})
}

// TestLiveEventsThrottled counts live events over 1.2 s of the synctest
// bubble's fake clock while frames arrive every 2 ms: one per 200 ms.
func TestLiveEventsThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newSynthStation(t, Config{Trigger: inspector.TriggerManual}, nil, &constClassifier{n: 5, idx: 3}, nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
		defer cancel()
		live := 0
		for e := range st.Subscribe(ctx) {
			if e.Kind == inspector.EventLive {
				live++
			}
		}
		if frames := st.Status().Frames; live != 6 {
			t.Errorf("%d live events in 1.2 s (%d frames), want 6", live, frames)
		}
	})
}

func TestActivateModel(t *testing.T) {
	old := &constClassifier{n: 5, idx: 3}
	var loaded []*constClassifier
	loader := func(_ context.Context, name, version string) (*Model, error) {
		if name == "broken" {
			return nil, fmt.Errorf("%w: output [1 3], the card has 5 labels", inspector.ErrModelShape)
		}
		c := &constClassifier{n: 5, idx: 0}
		if name == "coldfail" {
			c.err = errors.New("run failed")
		}
		loaded = append(loaded, c)
		return &Model{Card: fakeCard(name, version), Classifier: c}, nil
	}
	st := newSynthStation(t, Config{Trigger: inspector.TriggerManual}, nil, old, loader, &memStore{})
	waitFor(t, "a frame", 5*time.Second, func() bool { return st.Status().Live != nil })

	for _, name := range []string{"broken", "coldfail"} {
		if err := st.ActivateModel(context.Background(), name, "v1"); err == nil {
			t.Fatalf("%s activated", name)
		}
		s := st.Status()
		if s.Model.Name != "fake" || s.ModelError == "" || old.closed.Load() {
			t.Fatalf("after %s: model %s, error %q, old closed %v", name, s.Model.Name, s.ModelError, old.closed.Load())
		}
	}
	if !loaded[0].closed.Load() {
		t.Error("the model whose warm-up failed was not closed")
	}
	if err := st.ActivateModel(context.Background(), "next", "v2"); err != nil {
		t.Fatal(err)
	}
	if n := loaded[1].calls.Load(); n < 1 {
		t.Error("new model not warmed up")
	}
	s := st.Status()
	if s.Model.Name != "next" || s.Model.Version != "v2" || s.ModelError != "" || !old.closed.Load() {
		t.Errorf("after swap: %+v, error %q, old closed %v", s.Model, s.ModelError, old.closed.Load())
	}
	v, err := st.Trigger(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Model.Name != "next" || v.Label != "crack" {
		t.Errorf("verdict after the swap: %s %s", v.Model.Name, v.Label)
	}
	if got := st.Labels(); len(got) != 5 || st.OKLabels()[0] != "ok" {
		t.Errorf("labels %v ok %v", got, st.OKLabels())
	}
}

func TestWatchesActiveFile(t *testing.T) {
	dir := t.TempDir()
	active := filepath.Join(dir, models.ActiveFile)
	reg := models.Registry{Root: dir}
	if err := os.WriteFile(active, []byte(`{"name":"fake","version":"v1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Value
	loader := func(_ context.Context, name, version string) (*Model, error) {
		asked.Store(name + "/" + version)
		if version == "v9" {
			return nil, errors.New("v9: model.onnx: no such file")
		}
		return &Model{Card: fakeCard(name, version), Classifier: &constClassifier{n: 5}}, nil
	}
	st := newSynthStation(t, Config{Trigger: inspector.TriggerManual, ActiveFile: active, ActivePoll: 10 * time.Millisecond,
		ReadActive: reg.ReadActive}, nil, &constClassifier{n: 5}, loader, nil)
	write := func(version string, at time.Time) {
		if err := os.WriteFile(active, []byte(`{"name":"fake","version":"`+version+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(active, at, at)
	}
	write("v2", time.Now().Add(time.Second))
	waitFor(t, "v2 to be active", 5*time.Second, func() bool { return st.Status().Model.Version == "v2" })
	write("v9", time.Now().Add(2*time.Second))
	waitFor(t, "the v9 error", 5*time.Second, func() bool { return st.Status().ModelError != "" })
	if s := st.Status(); s.Model.Version != "v2" {
		t.Errorf("a failed reload replaced the model: %+v", s.Model)
	}
}

func TestClassifyImage(t *testing.T) {
	store := &memStore{}
	st := newSynthStation(t, Config{Trigger: inspector.TriggerManual}, nil, &constClassifier{n: 5, idx: 1}, nil, store)
	for _, tc := range []struct {
		name  string
		data  []byte
		store bool
		want  error
	}{
		{"stored", jpegOf(t, 120, 90), true, nil},
		{"not stored", jpegOf(t, 120, 90), false, nil},
		{"garbage", []byte("not an image at all"), true, inspector.ErrBadImage},
		{"empty", nil, true, inspector.ErrBadImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(store.all())
			v, err := st.ClassifyImage(context.Background(), tc.data, tc.store)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Trigger != "upload" || v.Label != "dent" || v.Outcome != inspector.OutcomeNOK || len(v.Image) == 0 {
				t.Errorf("verdict %s %s %s image %d", v.Trigger, v.Label, v.Outcome, len(v.Image))
			}
			stored := len(store.all()) - before
			if (stored == 1) != tc.store {
				t.Errorf("store=%v stored %d", tc.store, stored)
			}
		})
	}
}

func TestUncertainBetweenThresholds(t *testing.T) {
	// P(ok) = 0.5 with accept 0.8 / reject 0.2 is for a human to decide.
	c := &halfClassifier{}
	st := newSynthStation(t, Config{Trigger: inspector.TriggerManual}, nil, c, nil, &memStore{})
	v, err := st.ClassifyImage(context.Background(), jpegOf(t, 50, 40), false)
	if err != nil {
		t.Fatal(err)
	}
	if v.Outcome != inspector.OutcomeUncertain || v.Label != "" || len(v.TopK) != 3 {
		t.Errorf("decision %+v", v.Decision)
	}
	th := inspector.Thresholds{Accept: 0.4, Reject: 0.1}
	st2 := newSynthStation(t, Config{Trigger: inspector.TriggerManual, Thresholds: &th}, nil, c, nil, nil)
	v, err = st2.ClassifyImage(context.Background(), jpegOf(t, 50, 40), false)
	if err != nil {
		t.Fatal(err)
	}
	if v.Outcome != inspector.OutcomeOK || v.Thresholds.Accept != 0.4 {
		t.Errorf("with accept 0.4: %s, thresholds %+v", v.Outcome, v.Thresholds)
	}
}

// halfClassifier gives ok and crack equal logits.
type halfClassifier struct{}

func (halfClassifier) Classify(context.Context, []float32) ([]float32, error) {
	return []float32{5, -20, -20, 5, -20}, nil
}
func (halfClassifier) Close() error { return nil }

func TestImageMaxSide(t *testing.T) {
	st := newSynthStation(t, Config{Trigger: inspector.TriggerManual, ImageMaxSide: 100}, nil, &constClassifier{n: 5}, nil, nil)
	v, err := st.ClassifyImage(context.Background(), jpegOf(t, 400, 300), false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := gocv.IMDecode(v.Image, gocv.IMReadColor)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := image.Pt(m.Cols(), m.Rows()); got != image.Pt(100, 75) {
		t.Errorf("stored image %v, want 100x75", got)
	}
}

func TestTriggerWhenStopped(t *testing.T) {
	st := New(Config{Logger: quietLog()}, "synth", func() (FrameSource, error) { return &synthSource{}, nil },
		&Model{Card: fakeCard("fake", "v1"), Classifier: &constClassifier{n: 5}}, nil, nil)
	if _, err := st.Trigger(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("before Start: %v", err)
	}
	st.Start(context.Background())
	st.Close()
	if _, err := st.Trigger(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("after Close: %v", err)
	}
}

func TestOverlayColours(t *testing.T) {
	for _, tc := range []struct {
		outcome inspector.Outcome
		word    string
		red     bool // red dominates (NOK) or green dominates (OK)
	}{
		{inspector.OutcomeNOK, "NOK", true},
		{inspector.OutcomeOK, "OK", false},
	} {
		d := &inspector.Decision{Outcome: tc.outcome, TopK: []inspector.Prediction{{Label: "x", Score: 0.9}}}
		text, c := overlayText(d, true)
		if !strings.HasPrefix(text, tc.word) {
			t.Errorf("%s: text %q", tc.outcome, text)
		}
		if (c.R > c.G && c.R > c.B) != tc.red || (c.G > c.R && c.G > c.B) == tc.red {
			t.Errorf("%s: colour %v", tc.outcome, c)
		}
		// On the empty table the model's answer is not shown as a verdict.
		if text, c := overlayText(d, false); text != "no part" || c.R != c.G || c.G != c.B {
			t.Errorf("%s without a part: %q in %v, want grey \"no part\"", tc.outcome, text, c)
		}
	}
}

// TestContinuousTriggerUnsettled feeds the continuous trigger a resting part
// whose answer flips every frame (a score sitting on a threshold): it must
// still get exactly one verdict, marked uncertain, after three times the
// stable-frame count; a steady answer is recorded as soon as it has held.
func TestContinuousTriggerUnsettled(t *testing.T) {
	st := New(Config{Logger: quietLog(), Trigger: inspector.TriggerContinuous, StableFrames: 5}, "t", nil, nil, nil, nil)
	ok := inspector.Decision{Outcome: inspector.OutcomeOK, Label: "ok"}
	unsure := inspector.Decision{Outcome: inspector.OutcomeUncertain, TopK: []inspector.Prediction{{Label: "ok"}}}
	now := time.Now()

	var ps partState
	recorded := []int{}
	for i := 1; i <= 40; i++ {
		d := ok
		if i%2 == 0 {
			d = unsure
		}
		rec, unsettled := st.shouldRecord(&ps, true, 0, d, now)
		if rec {
			if !unsettled {
				t.Fatalf("frame %d: flipping answers recorded as settled", i)
			}
			recorded = append(recorded, i)
		}
	}
	if len(recorded) != 1 || recorded[0] != 15 {
		t.Errorf("flipping answers recorded at frames %v, want once at frame 15", recorded)
	}

	// Motion resets the count: a part still sliding is not judged.
	ps = partState{}
	for i := 1; i <= 40; i++ {
		if rec, _ := st.shouldRecord(&ps, true, 10, ok, now); rec {
			t.Fatalf("frame %d: recorded a moving part", i)
		}
	}
	recorded = recorded[:0]
	for i := 1; i <= 40; i++ {
		rec, unsettled := st.shouldRecord(&ps, true, 0, ok, now)
		if rec {
			if unsettled {
				t.Fatalf("frame %d: a steady answer recorded as unsettled", i)
			}
			recorded = append(recorded, i)
		}
	}
	if len(recorded) != 1 || recorded[0] != 5 {
		t.Errorf("steady answer recorded at frames %v, want once at frame 5", recorded)
	}
	// The part leaves and the next one comes: it is judged afresh.
	st.shouldRecord(&ps, false, 0, ok, now)
	if ps != (partState{}) {
		t.Errorf("part state after the part left: %+v", ps)
	}
}

// TestNotifyGetsEveryVerdictWhereSubscribersDrop: the Notify hook sees every
// stored verdict in order, and the status changes, even when a subscriber
// that is never read has long lost events; it never sees live decisions.
func TestNotifyGetsEveryVerdictWhereSubscribersDrop(t *testing.T) {
	var mu sync.Mutex
	var kinds []inspector.EventKind
	var ids []uint64
	notify := func(e inspector.Event) {
		mu.Lock()
		defer mu.Unlock()
		kinds = append(kinds, e.Kind)
		if e.Kind == inspector.EventVerdict {
			ids = append(ids, e.Verdict.ID)
		}
	}
	store := &memStore{}
	st := newSynthStation(t, Config{Trigger: inspector.TriggerManual, Notify: notify}, nil, &constClassifier{n: 5, idx: 3}, nil, store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waitFor(t, "a frame", 5*time.Second, func() bool { return st.Status().Live != nil })
	slow := st.Subscribe(ctx) // never read
	const n = 60
	for range n {
		if _, err := st.Trigger(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(slow) != cap(slow) || cap(slow) >= n {
		t.Fatalf("the subscriber should have dropped events: holds %d of %d", len(slow), cap(slow))
	}
	mu.Lock()
	defer mu.Unlock()
	stored := store.all()
	if len(ids) != n || len(stored) != n {
		t.Fatalf("notified %d verdicts, stored %d, want %d", len(ids), len(stored), n)
	}
	for i, v := range stored {
		if ids[i] != v.ID {
			t.Fatalf("notification %d is verdict %d, store has %d there", i, ids[i], v.ID)
		}
	}
	sawStatus := false
	for _, k := range kinds {
		if k == inspector.EventLive {
			t.Fatal("Notify got a live decision")
		}
		sawStatus = sawStatus || k == inspector.EventStatus
	}
	if !sawStatus {
		t.Error("Notify got no status change (the source going live)")
	}
}

// TestPublishedReviewReachesNotify: a review the UI publishes through the
// station goes to Notify (the integrations' durable queue) and to
// subscribers; live decisions go only to subscribers.
func TestPublishedReviewReachesNotify(t *testing.T) {
	var mu sync.Mutex
	var notified []inspector.EventKind
	cfg := Config{Trigger: inspector.TriggerManual, Notify: func(e inspector.Event) {
		mu.Lock()
		notified = append(notified, e.Kind)
		mu.Unlock()
	}}
	st := newSynthStation(t, cfg, nil, &constClassifier{n: 5, idx: 3}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := st.Subscribe(ctx)
	st.Publish(inspector.Event{Kind: inspector.EventReview, Verdict: &inspector.Verdict{ID: 9}})
	for e := range sub {
		if e.Kind == inspector.EventReview {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	reviews := 0
	for _, k := range notified {
		if k == inspector.EventLive {
			t.Error("a live decision reached Notify")
		}
		if k == inspector.EventReview {
			reviews++
		}
	}
	if reviews != 1 {
		t.Errorf("Notify saw %d reviews (%v), want 1", reviews, notified)
	}
}
