// Package onnx runs classification models with ONNX Runtime through
// onnxruntime_go: one session per model, its input and output tensors
// allocated once and reused for every frame.
package onnx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/pruefplatz/pruefplatz/inspector"
	ort "github.com/yalue/onnxruntime_go"
)

var (
	initMu  sync.Mutex
	initErr error
	libUsed string
)

// Init loads the ONNX Runtime library at libPath and creates the process's
// runtime environment. It is idempotent: later calls return the first
// result (a different path is an error, a process has one runtime).
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if ort.IsInitialized() {
		if libUsed != "" && libPath != libUsed {
			return fmt.Errorf("onnx runtime already loaded from %s", libUsed)
		}
		return initErr
	}
	if _, err := os.Stat(libPath); err != nil {
		return fmt.Errorf("onnx runtime library: %w", err)
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		initErr = fmt.Errorf("onnx runtime %s: %w", libPath, err)
		return initErr
	}
	libUsed = libPath
	return nil
}

// Destroy releases the process's runtime environment. Sessions must be
// closed first. Init may be called again afterwards. It returns
// onnxruntime's error, if any; without an environment it does nothing.
func Destroy() error {
	initMu.Lock()
	defer initMu.Unlock()
	if !ort.IsInitialized() {
		return nil
	}
	libUsed, initErr = "", nil
	return ort.DestroyEnvironment()
}

// TensorInfo is one input or output of a model file.
type TensorInfo struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
}

// Info lists a model file's inputs and outputs.
type Info struct {
	Inputs, Outputs []TensorInfo
}

// Inspect reads a model file's inputs and outputs without running it. A
// file that is not an ONNX model gives an error.
func Inspect(path string) (Info, error) {
	if _, err := os.Stat(path); err != nil {
		return Info{}, err
	}
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return Info{}, fmt.Errorf("%s is not a readable ONNX model: %w", path, err)
	}
	var info Info
	for _, i := range ins {
		info.Inputs = append(info.Inputs, TensorInfo{i.Name, append([]int64(nil), i.Dimensions...)})
	}
	for _, o := range outs {
		info.Outputs = append(info.Outputs, TensorInfo{o.Name, append([]int64(nil), o.Dimensions...)})
	}
	return info, nil
}

// CheckShapes verifies that a model takes one [1,C,H,W] input matching spec
// (a dynamic batch, -1, is accepted) and gives one [1,classes] output.
// Errors wrap inspector.ErrModelShape.
func (info Info) CheckShapes(spec inspector.InputSpec, classes int) error {
	if len(info.Inputs) != 1 || len(info.Outputs) != 1 {
		return fmt.Errorf("%w: model has %d inputs and %d outputs, want 1 and 1", inspector.ErrModelShape, len(info.Inputs), len(info.Outputs))
	}
	in, want := info.Inputs[0].Shape, spec.Shape()
	if len(in) != 4 || (in[0] != 1 && in[0] != -1) || in[1] != want[1] || in[2] != want[2] || in[3] != want[3] {
		return fmt.Errorf("%w: input %v, the card says %v", inspector.ErrModelShape, in, want)
	}
	out := info.Outputs[0].Shape
	if len(out) != 2 || (out[0] != 1 && out[0] != -1) || out[1] != int64(classes) {
		return fmt.Errorf("%w: output %v, the card has %d labels", inspector.ErrModelShape, out, classes)
	}
	return nil
}

// Options tune a session.
type Options struct {
	// Threads is ONNX Runtime's intra-op thread count; 0 means 1. A second
	// thread gains little for the small models (BenchmarkClassify), and one
	// thread leaves the other core to the camera and the web UI.
	Threads int
	// NoSpin stops ONNX Runtime's threads from spinning while they wait for
	// the next run: spinning threads hold the cores that Go code between
	// two runs needs (an anomaly model's patch features, pose, positional
	// and global parts run between the backbone and the bank search).
	NoSpin bool
}

// apply sets opt's threading on so.
func (opt Options) apply(so *ort.SessionOptions) error {
	if err := so.SetIntraOpNumThreads(max(opt.Threads, 1)); err != nil {
		return err
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return err
	}
	if opt.NoSpin {
		if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			return err
		}
	}
	return nil
}

// dropAllAt empties m, destroying its values, once it holds max entries:
// the tensor caches keyed by batch or patch count stay bounded.
func dropAllAt[K comparable, V any](m map[K]V, max int, destroy func(V)) {
	if len(m) < max {
		return
	}
	for k, v := range m {
		destroy(v)
		delete(m, k)
	}
}

// Session is one loaded model. Classify is safe for concurrent use; calls
// are serialised because the tensors are shared.
type Session struct {
	mu      sync.Mutex
	sess    *ort.AdvancedSession
	in      *ort.Tensor[float32]
	out     *ort.Tensor[float32]
	classes int
	path    string
}

var _ inspector.Classifier = (*Session)(nil)

// Open loads path after checking its shapes against spec and classes (see
// CheckShapes). Init must have been called.
func Open(path string, spec inspector.InputSpec, classes int, opt Options) (s *Session, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("onnx: loading %s: %v", path, r)
		}
	}()
	if !ort.IsInitialized() {
		return nil, errors.New("onnx: runtime not initialised (call onnx.Init)")
	}
	info, err := Inspect(path)
	if err != nil {
		return nil, err
	}
	if err := info.CheckShapes(spec, classes); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(spec.Shape()...))
	if err != nil {
		return nil, err
	}
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, int64(classes)))
	if err != nil {
		in.Destroy()
		return nil, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		in.Destroy()
		out.Destroy()
		return nil, err
	}
	defer so.Destroy()
	if err := opt.apply(so); err != nil {
		in.Destroy()
		out.Destroy()
		return nil, err
	}
	sess, err := ort.NewAdvancedSession(path, []string{info.Inputs[0].Name}, []string{info.Outputs[0].Name},
		[]ort.Value{in}, []ort.Value{out}, so)
	if err != nil {
		in.Destroy()
		out.Destroy()
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return &Session{sess: sess, in: in, out: out, classes: classes, path: path}, nil
}

// Classify runs the model on one input tensor and returns a fresh slice of
// its outputs (one per class).
func (s *Session) Classify(ctx context.Context, input []float32) (out []float32, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, errors.New("onnx: session closed")
	}
	dst := s.in.GetData()
	if len(input) != len(dst) {
		return nil, fmt.Errorf("onnx: input has %d values, the model takes %d", len(input), len(dst))
	}
	copy(dst, input)
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("onnx: run panicked: %v", r)
		}
	}()
	if err := s.sess.Run(); err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", s.path, err)
	}
	return append([]float32(nil), s.out.GetData()...), nil
}

// Close frees the session and its tensors; it is safe to call twice.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.in.Destroy()
	s.out.Destroy()
	s.sess = nil
	return err
}
