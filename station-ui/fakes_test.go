package stationui

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/events"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/models"
)

// memStore is an in-memory inspector.VerdictStore with Counts.
type memStore struct {
	// failList, when set, is returned by List.
	failList error
	mu       sync.Mutex
	vs       []inspector.Verdict // ascending by id
	next     uint64
}

var _ Store = (*memStore)(nil)
var _ Counter = (*memStore)(nil)

func (m *memStore) Add(_ context.Context, v *inspector.Verdict) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	v.ID = m.next
	m.vs = append(m.vs, *v)
	return nil
}

func (m *memStore) Get(_ context.Context, id uint64) (*inspector.Verdict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.vs {
		if v.ID == id {
			c := v
			return &c, nil
		}
	}
	return nil, fmt.Errorf("verdict %d: %w", id, inspector.ErrNotFound)
}

func (m *memStore) List(_ context.Context, q inspector.VerdictQuery) ([]inspector.Verdict, error) {
	if m.failList != nil {
		return nil, m.failList
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []inspector.Verdict
	for i := len(m.vs) - 1; i >= 0; i-- {
		v := m.vs[i]
		switch {
		case q.Before != 0 && v.ID >= q.Before,
			!q.From.IsZero() && v.Time.Before(q.From),
			!q.To.IsZero() && !v.Time.Before(q.To),
			q.Label != "" && v.Label != q.Label,
			q.Outcome != "" && v.Outcome != q.Outcome:
			continue
		}
		v.Image, v.Thumb = nil, nil
		out = append(out, v)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func (m *memStore) SetReview(_ context.Context, id uint64, r inspector.Review) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.vs {
		if m.vs[i].ID == id {
			m.vs[i].AddReview(r)
			return nil
		}
	}
	return fmt.Errorf("verdict %d: %w", id, inspector.ErrNotFound)
}

func (m *memStore) Counts(_ context.Context, from time.Time) (map[inspector.Outcome]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := map[inspector.Outcome]int{}
	for _, v := range m.vs {
		if !v.Time.Before(from) {
			o, _ := v.Effective()
			c[o]++
		}
	}
	return c, nil
}

func (m *memStore) Close() error { return nil }

// backupStore adds Backup to memStore.
type backupStore struct{ *memStore }

func (b backupStore) Backup(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, "BOLTDB-COPY")
	return int64(n), err
}

// fakeStation implements inspector.Station over a memStore. decode checks an
// upload like the real station would (Go's decoders by default).
type fakeStation struct {
	mu          sync.Mutex
	labels, ok  []string
	store       inspector.VerdictStore
	events      *events.Broker
	jpg         []byte
	seq         uint64
	model       inspector.ModelRef
	activateErr error
	activated   []string
	decode      func([]byte) error
	now         func() time.Time
	// images, when set, gives the frame and thumbnail recorded for a label.
	images func(label string) (frame, thumb []byte)
	// classified counts ClassifyImage calls: the sales page must not make any.
	classified atomic.Int64
}

var _ inspector.Station = (*fakeStation)(nil)

func newFakeStation(store inspector.VerdictStore) *fakeStation {
	return &fakeStation{
		labels: []string{"ok", "scratch", "dent", "crack"}, ok: []string{"ok"}, store: store,
		events: events.New(16),
		model:  inspector.ModelRef{Name: "flange", Version: "v2", SHA256: "abc123", DatasetHash: "d41d8"},
		decode: func(b []byte) error {
			if _, _, err := image.DecodeConfig(bytes.NewReader(b)); err != nil {
				return fmt.Errorf("%w: %v", inspector.ErrBadImage, err)
			}
			if _, _, err := image.Decode(bytes.NewReader(b)); err != nil {
				return fmt.Errorf("%w: %v", inspector.ErrBadImage, err)
			}
			return nil
		},
		now: time.Now,
	}
}

func (f *fakeStation) Status() inspector.StationStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return inspector.StationStatus{Source: "fake", SourceState: inspector.SourceLive, FPS: 15, Frames: f.seq,
		Trigger: inspector.TriggerContinuous, Model: f.model, Started: time.Unix(0, 0)}
}

// The fake publishes on the real broker, as the station does.
func (f *fakeStation) Subscribe(ctx context.Context) <-chan inspector.Event {
	return f.events.Subscribe(ctx)
}

func (f *fakeStation) Publish(ev inspector.Event) { f.events.Publish(ev) }

func (f *fakeStation) subscribers() int { return f.events.Subscribers() }

func (f *fakeStation) emit(ev inspector.Event) { f.events.Publish(ev) }

// setFrame publishes a new frame (seq advances).
func (f *fakeStation) setFrame(jpg []byte) {
	f.mu.Lock()
	f.jpg = jpg
	f.seq++
	f.mu.Unlock()
}

func (f *fakeStation) LatestJPEG() ([]byte, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jpg, f.seq
}

// record stores a verdict for label with the given top score and emits it.
func (f *fakeStation) record(ctx context.Context, label string, score float32) (*inspector.Verdict, error) {
	probs := make([]float32, len(f.labels))
	idx := slices.Index(f.labels, label)
	for i := range probs {
		probs[i] = (1 - score) / float32(len(probs)-1)
	}
	probs[idx] = score
	d := inspector.Decide(probs, f.labels, inspector.Thresholds{Accept: 0.8, Reject: 0.2}, f.ok, 3)
	v := &inspector.Verdict{Time: f.now(), Source: "fake", Trigger: "manual", Model: f.model,
		Thresholds: inspector.Thresholds{Accept: 0.8, Reject: 0.2}, Decision: d,
		Image: testJPEG(64, 48, color.RGBA{200, 60, 60, 255}), Thumb: testJPEG(32, 24, color.RGBA{200, 60, 60, 255})}
	if f.images != nil {
		v.Image, v.Thumb = f.images(label)
	}
	if err := f.store.Add(ctx, v); err != nil {
		return nil, err
	}
	f.emit(inspector.Event{Kind: inspector.EventVerdict, Time: v.Time, Verdict: v})
	return v, nil
}

func (f *fakeStation) Trigger(ctx context.Context) (*inspector.Verdict, error) {
	return f.record(ctx, "scratch", 0.9)
}

func (f *fakeStation) ClassifyImage(ctx context.Context, data []byte, store bool) (*inspector.Verdict, error) {
	f.classified.Add(1)
	if err := f.decode(data); err != nil {
		return nil, err
	}
	if store {
		return f.record(ctx, "ok", 0.95)
	}
	// A fixed ranking: 70 % for the first label, 20 % for the second, the rest shared.
	probs := make([]float32, len(f.labels))
	probs[0], probs[1] = 0.7, 0.2
	for i := 2; i < len(probs); i++ {
		probs[i] = 0.1 / float32(len(probs)-2)
	}
	d := inspector.Decide(probs, f.labels, inspector.Thresholds{Accept: 0.8, Reject: 0.2}, f.ok, 3)
	return &inspector.Verdict{Time: f.now(), Source: "upload", Model: f.model, Decision: d}, nil
}

func (f *fakeStation) Labels() []string   { return f.labels }
func (f *fakeStation) OKLabels() []string { return f.ok }

func (f *fakeStation) ActivateModel(_ context.Context, name, version string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.activateErr != nil {
		return f.activateErr
	}
	f.activated = append(f.activated, name+"/"+version)
	f.model = inspector.ModelRef{Name: name, Version: version}
	return nil
}

// fakeModels is a Models over fixed cards that, like models.Registry, runs
// the check before recording an activation.
type fakeModels struct {
	mu     sync.Mutex
	cards  []*models.Card
	active *models.Active
}

func (m *fakeModels) List() ([]*models.Card, []error) { return m.cards, nil }

func (m *fakeModels) ReadActive() (*models.Active, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == nil {
		return nil, models.ErrNoModel
	}
	a := *m.active
	return &a, nil
}

func (m *fakeModels) get(name, version string) (*models.Card, error) {
	for _, c := range m.cards {
		if c.Name == name && c.Version == version {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: %s/%s", models.ErrNoModel, name, version)
}

func (m *fakeModels) Activate(name, version string, check func(*models.Card, string) error) (*models.Card, error) {
	c, err := m.get(name, version)
	if err != nil {
		return nil, err
	}
	if err := check(c, "model.onnx"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active != nil {
		m.active.History = append(m.active.History, models.ModelKey{Name: m.active.Name, Version: m.active.Version})
	} else {
		m.active = &models.Active{}
	}
	m.active.Name, m.active.Version = name, version
	return c, nil
}

func (m *fakeModels) Rollback(check func(*models.Card, string) error) (*models.Card, error) {
	a, err := m.ReadActive()
	if err != nil {
		return nil, err
	}
	if len(a.History) == 0 {
		return nil, models.ErrNoHistory
	}
	prev := a.History[len(a.History)-1]
	c, err := m.get(prev.Name, prev.Version)
	if err != nil {
		return nil, err
	}
	if err := check(c, "model.onnx"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active.History = m.active.History[:len(m.active.History)-1]
	m.active.Name, m.active.Version = prev.Name, prev.Version
	return c, nil
}

func testJPEG(w, h int, c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{c.R, uint8(int(c.G) + x%40), c.B, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func writeFile(p string, b []byte) error { return os.WriteFile(p, b, 0o600) }
