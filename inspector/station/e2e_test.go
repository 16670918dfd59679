package station

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
)

var (
	modelsRoot = flag.String("models", "../../models", "model registry for the end-to-end test and benchmarks")
	modelName  = flag.String("model", defaultModel, "model the end-to-end test and benchmarks run (newest version)")
	ortLib     = flag.String("ort-lib", "../../.deps/onnxruntime/libonnxruntime.so.1", "ONNX Runtime library")
)

// defaultModel is the shipped model the end-to-end tests run.
const defaultModel = "demo-defects"

// registryLoader loads cards and ONNX sessions from reg, as the station's
// wiring in cmd/pruefplatz does.
func registryLoader(reg models.Registry) Loader {
	return func(_ context.Context, name, version string) (*Model, error) {
		card, err := reg.Get(name, version)
		if err != nil {
			return nil, err
		}
		if err := reg.Verify(card); err != nil {
			return nil, err
		}
		sess, err := onnx.Open(reg.ModelPath(card), card.Input, len(card.Labels), onnx.Options{})
		if err != nil {
			return nil, err
		}
		return &Model{Card: card, Path: reg.ModelPath(card), Classifier: sess}, nil
	}
}

// realModel loads the shipped default model.
func realModel(t testing.TB) (*Model, models.Registry) {
	t.Helper()
	reg := models.Registry{Root: *modelsRoot}
	if _, err := os.Stat(*ortLib); err != nil {
		t.Fatalf("no ONNX Runtime at %s: run `make setup`", *ortLib)
	}
	if err := onnx.Init(*ortLib); err != nil {
		t.Fatal(err)
	}
	m, err := registryLoader(reg)(context.Background(), *modelName, "")
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// stepClassifier runs a real model in lockstep with the feed.
type stepClassifier struct {
	inspector.Classifier
	ls    *lockstep
	frame atomic.Int64
}

func (c *stepClassifier) Classify(ctx context.Context, in []float32) ([]float32, error) {
	c.frame.Store(c.ls.delivered.Load() - 1)
	out, err := c.Classifier.Classify(ctx, in)
	select {
	case c.ls.release <- struct{}{}:
	default:
	}
	return out, err
}

// TestEndToEndWithDefaultModel plays the demo feed through the shipped
// default model in continuous mode.
func TestEndToEndWithDefaultModel(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a demo feed and runs the real model")
	}
	m, _ := realModel(t)
	feed, tl := demoFeed(t)
	if len(m.Card.OKLabels) == 0 { // a parts model watches parts
		dir := t.TempDir()
		var err error
		if tl, err = demo.GenerateFeed(context.Background(), demo.FeedOptions{Seed: 7, Set: "parts", Parts: 4, FPS: 15, Out: dir, Workers: 2}); err != nil {
			t.Fatal(err)
		}
		feed = filepath.Join(dir, "feed.avi")
	}
	c := &stepClassifier{Classifier: m.Classifier}
	m.Classifier = c
	open := func() (FrameSource, error) {
		src, err := opencv.OpenSource(feed, opencv.SourceOptions{})
		if err != nil {
			return nil, err
		}
		c.ls = newLockstep(src)
		return c.ls, nil
	}
	store := &memStore{}
	st := New(Config{Now: frameClock(tl.FPS, &c.frame), Logger: quietLog()}, "feed", open, m, nil, store)
	st.Start(context.Background())
	waitFor(t, "the feed to end", 120*time.Second, func() bool { return st.Status().SourceState == inspector.SourceEnded })
	st.Close()
	vs := store.all()
	perEvent := make([]int, len(tl.Events))
	right := 0
	for _, v := range vs {
		f := frameOf(v.Time, tl.FPS)
		k := -1
		for i, e := range tl.Events {
			if f >= e.Settle && f <= e.Leave {
				k = i
			}
		}
		if k < 0 {
			t.Errorf("verdict %s at frame %d, outside every part's rest", v.Label, f)
			continue
		}
		perEvent[k]++
		if v.Label == tl.Events[k].Class {
			right++
		}
		t.Logf("part %d (%s): %s %s top %s %.2f at frame %d", k, tl.Events[k].Class, v.Outcome, v.Label, v.TopK[0].Label, v.TopK[0].Score, f)
		if v.Model != m.Card.Ref() || v.Model.SHA256 == "" {
			t.Errorf("verdict model %+v, want %+v", v.Model, m.Card.Ref())
		}
	}
	for i, n := range perEvent {
		if n > 1 {
			t.Errorf("part %d recorded %d times", i, n)
		}
	}
	if len(vs) < len(tl.Events)/2 {
		t.Errorf("%d verdicts for %d parts", len(vs), len(tl.Events))
	}
	t.Logf("%s/%s: %d verdicts for %d parts, %d with the right label", m.Card.Name, m.Card.Version, len(vs), len(tl.Events), right)
}

// TestDeletedModelKeepsServing deletes the model file under a running
// station: the loaded session keeps classifying, and the next reload
// attempt reports the missing file.
func TestDeletedModelKeepsServing(t *testing.T) {
	m, reg := realModel(t)
	m.Classifier.Close()
	tmp := models.Registry{Root: t.TempDir()}
	dir := tmp.Dir(m.Card.Name, m.Card.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{models.CardFile, models.ModelFile} {
		b, err := os.ReadFile(filepath.Join(reg.Dir(m.Card.Name, m.Card.Version), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loader := registryLoader(tmp)
	m2, err := loader(context.Background(), m.Card.Name, m.Card.Version)
	if err != nil {
		t.Fatal(err)
	}
	st := New(Config{Trigger: inspector.TriggerManual, Logger: quietLog()}, "synth",
		// Camera-sized frames: the default model's ROI lies inside 640×480.
		func() (FrameSource, error) { return &synthSource{w: 640, h: 480}, nil }, m2, loader, &memStore{})
	st.Start(context.Background())
	t.Cleanup(func() { st.Close() })
	if err := os.Remove(filepath.Join(dir, models.ModelFile)); err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateModel(context.Background(), m.Card.Name, m.Card.Version); err == nil {
		t.Fatal("a deleted model file was activated")
	}
	if s := st.Status(); s.ModelError == "" || s.Model.Name != m.Card.Name {
		t.Errorf("status after the failed reload: model %+v error %q", s.Model, s.ModelError)
	}
	waitFor(t, "a frame", 5*time.Second, func() bool { return st.Status().Live != nil })
	if _, err := st.Trigger(context.Background()); err != nil {
		t.Errorf("the loaded model stopped serving: %v", err)
	}
}
