package onnx

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
	ort "github.com/yalue/onnxruntime_go"
)

// Backbone runs a pretrained backbone (embed's ONNX contract) with a
// dynamic batch size: an embed.Runner. It keeps one ONNX Runtime session per
// set of requested outputs (the embedding alone needs no feature-map
// copies) and one set of input/output tensors per batch size, reused.
//
// The file may also be a backbone pruned to its feature maps (Prune with
// FeatureOutputs): then Run returns no embedding and refuses FeatS32.
type Backbone struct {
	mu      sync.Mutex
	b       embed.Backbone
	threads int
	noSpin  bool
	// full is whether the file has the embedding and feat_s32 (not pruned).
	full bool
	sess map[embed.Features]*ort.DynamicAdvancedSession
	bufs map[bufKey]*ioTensors
}

type bufKey struct {
	n    int
	want embed.Features
}

type ioTensors struct {
	in   *ort.Tensor[float32]
	outs []*ort.Tensor[float32] // embedding (not when pruned), then the wanted maps in S8, S16, S32 order
	vals []ort.Value
}

func (t *ioTensors) destroy() {
	if t.in != nil {
		t.in.Destroy()
	}
	for _, o := range t.outs {
		o.Destroy()
	}
}

var _ embed.Runner = (*Backbone)(nil)

// FeatureOutputs are the outputs a backbone pruned for patch features
// keeps (see Prune): the graph up to stride 16.
var FeatureOutputs = []string{embed.OutFeatS8, embed.OutFeatS16}

// OpenBackbone verifies b's file against its sha256 (an error wrapping
// embed.ErrBackboneMismatch when it differs) and checks that it has the
// input and outputs of embed's contract, or only FeatureOutputs for a
// pruned backbone. Init must have been called. opt.Threads is ONNX
// Runtime's intra-op thread count (0: 1).
func OpenBackbone(b embed.Backbone, opt Options) (*Backbone, error) {
	if !ort.IsInitialized() {
		return nil, errors.New("onnx: runtime not initialised (call onnx.Init)")
	}
	if err := b.Verify(); err != nil {
		return nil, err
	}
	info, err := Inspect(b.File)
	if err != nil {
		return nil, err
	}
	if len(info.Inputs) != 1 || info.Inputs[0].Name != embed.InputName {
		return nil, fmt.Errorf("onnx: backbone %s: want one input %q, have %v", b.Name, embed.InputName, info.Inputs)
	}
	have := map[string]bool{}
	for _, o := range info.Outputs {
		have[o.Name] = true
	}
	want := FeatureOutputs
	full := have[embed.OutEmbedding] || have[embed.OutFeatS32]
	if full {
		want = []string{embed.OutEmbedding, embed.OutFeatS8, embed.OutFeatS16, embed.OutFeatS32}
	}
	for _, w := range want {
		if !have[w] {
			return nil, fmt.Errorf("onnx: backbone %s has no output %q", b.Name, w)
		}
	}
	return &Backbone{b: b, full: full, threads: max(opt.Threads, 1), noSpin: opt.NoSpin, sess: map[embed.Features]*ort.DynamicAdvancedSession{}, bufs: map[bufKey]*ioTensors{}}, nil
}

// Info returns the backbone the session runs.
func (s *Backbone) Info() embed.Backbone { return s.b }

// Pruned reports whether the file is a backbone pruned to FeatureOutputs.
func (s *Backbone) Pruned() bool { return !s.full }

func outputNames(full bool, want embed.Features) []string {
	var names []string
	if full {
		names = append(names, embed.OutEmbedding)
	}
	for _, f := range []struct {
		bit  embed.Features
		name string
	}{{embed.FeatS8, embed.OutFeatS8}, {embed.FeatS16, embed.OutFeatS16}, {embed.FeatS32, embed.OutFeatS32}} {
		if want&f.bit != 0 {
			names = append(names, f.name)
		}
	}
	return names
}

func outputShapes(n int, full bool, want embed.Features) []ort.Shape {
	var shapes []ort.Shape
	if full {
		shapes = append(shapes, ort.NewShape(int64(n), embed.Dim))
	}
	if want&embed.FeatS8 != 0 {
		shapes = append(shapes, ort.NewShape(int64(n), 32, 28, 28))
	}
	if want&embed.FeatS16 != 0 {
		shapes = append(shapes, ort.NewShape(int64(n), 96, 14, 14))
	}
	if want&embed.FeatS32 != 0 {
		shapes = append(shapes, ort.NewShape(int64(n), 1280, 7, 7))
	}
	return shapes
}

func (s *Backbone) session(want embed.Features) (*ort.DynamicAdvancedSession, error) {
	if sess := s.sess[want]; sess != nil {
		return sess, nil
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if err := (Options{Threads: s.threads, NoSpin: s.noSpin}).apply(so); err != nil {
		return nil, err
	}
	sess, err := ort.NewDynamicAdvancedSession(s.b.File, []string{embed.InputName}, outputNames(s.full, want), so)
	if err != nil {
		return nil, fmt.Errorf("onnx: backbone %s: %w", s.b.Name, err)
	}
	s.sess[want] = sess
	return sess, nil
}

func (s *Backbone) tensors(n int, want embed.Features) (*ioTensors, error) {
	k := bufKey{n, want}
	if t := s.bufs[k]; t != nil {
		return t, nil
	}
	t := &ioTensors{}
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), 3, embed.Size, embed.Size))
	if err != nil {
		return nil, err
	}
	t.in = in
	for _, sh := range outputShapes(n, s.full, want) {
		o, err := ort.NewEmptyTensor[float32](sh)
		if err != nil {
			t.destroy()
			return nil, err
		}
		t.outs = append(t.outs, o)
		t.vals = append(t.vals, o)
	}
	// A few batch sizes are the normal case (full batches and one last
	// partial one); bound the buffers anyway.
	dropAllAt(s.bufs, 8, (*ioTensors).destroy)
	s.bufs[k] = t
	return t, nil
}

// Run implements embed.Runner. A pruned backbone returns no embedding (a
// nil Batch.Embedding). It returns an error for x of the wrong length,
// FeatS32 from a pruned backbone, a closed session, ctx's error, or ONNX
// Runtime's.
func (s *Backbone) Run(ctx context.Context, x []float32, n int, want embed.Features) (b embed.Batch, err error) {
	if err := ctx.Err(); err != nil {
		return b, err
	}
	tl := 3 * embed.Size * embed.Size
	if n <= 0 || len(x) != n*tl {
		return b, fmt.Errorf("%w: %d values for %d images of %d", embed.ErrBatch, len(x), n, tl)
	}
	if !s.full && want&embed.FeatS32 != 0 {
		return b, fmt.Errorf("onnx: backbone %s is pruned to %v: no feat_s32", s.b.Name, FeatureOutputs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return b, errors.New("onnx: backbone session closed")
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = embed.Batch{}, fmt.Errorf("onnx: backbone run panicked: %v", r)
		}
	}()
	sess, err := s.session(want)
	if err != nil {
		return b, err
	}
	t, err := s.tensors(n, want)
	if err != nil {
		return b, err
	}
	copy(t.in.GetData(), x)
	if err := sess.Run([]ort.Value{t.in}, t.vals); err != nil {
		return b, fmt.Errorf("onnx: backbone %s: %w", s.b.Name, err)
	}
	b.N = n
	i := 0
	if s.full {
		b.Embedding = append([]float32(nil), t.outs[0].GetData()...)
		i = 1
	}
	for _, f := range []struct {
		bit embed.Features
		dst *[]float32
	}{{embed.FeatS8, &b.S8}, {embed.FeatS16, &b.S16}, {embed.FeatS32, &b.S32}} {
		if want&f.bit != 0 {
			*f.dst = append([]float32(nil), t.outs[i].GetData()...)
			i++
		}
	}
	return b, nil
}

// Close frees every session and tensor; it is safe to call twice.
func (s *Backbone) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, sess := range s.sess {
		errs = append(errs, sess.Destroy())
	}
	for _, t := range s.bufs {
		t.destroy()
	}
	s.sess, s.bufs = nil, nil
	return errors.Join(errs...)
}
