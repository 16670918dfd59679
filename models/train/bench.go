package train

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
)

//go:embed bench_peer.py
var benchPeer []byte

// ReferenceArch is the benchmark's reference net, the same in GoMLX and
// PyTorch: 3× (conv3×3 + ReLU + MaxPool2) with 16/32/64 channels, flatten,
// dense 64 + ReLU, dense 5.
func ReferenceArch() Arch {
	return Arch{Channels: []int{16, 32, 64}, NoBatchNorm: true, Flatten: true, Hidden: 64, Classes: 5}
}

// BenchConfig says what `pruefplatz bench train` measures.
type BenchConfig struct {
	ORTLib  string // ONNX Runtime library (training backend and inference)
	Python  string // interpreter that imports torch; default /usr/bin/python3
	Threads int    // PyTorch threads; default 2 (the station PC's cores)
	Images  int    // synthetic 64×64×3 images, default 512
	Steps   int    // timed training steps per case, default 60
	Warmup  int    // untimed steps first (graph compilation), default 5
	Rounds  int    // alternating rounds of ours and PyTorch, each keeps its best; default 3
	Seed    uint64
	Out     io.Writer // progress; nil for none
}

// BenchResult holds images per second.
type BenchResult struct {
	DefaultTrain   float64 `json:"default_train"`   // default net, GoMLX on ONNX Runtime
	ReferenceTrain float64 `json:"reference_train"` // reference net, GoMLX on ONNX Runtime
	TorchTrain     float64 `json:"torch_train"`     // reference net, PyTorch
	TorchVersion   string  `json:"torch_version"`
	Ratio          float64 `json:"ratio"`     // ReferenceTrain / TorchTrain
	Inference      float64 `json:"inference"` // exported default net, onnxruntime_go, batch 1
	InferenceNet   string  `json:"inference_net"`
}

const benchBatch, benchSize = 32, 64

// Bench measures training throughput of the default and the reference net
// with GoMLX on ONNX Runtime, the reference net in PyTorch on the same
// synthetic data (a subprocess), and batch-1 inference of the exported
// default net through onnxruntime_go. It returns an error when a backend or
// the Python peer fails; the message says how to install the peer.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchResult, error) {
	if cfg.Python == "" {
		cfg.Python = "/usr/bin/python3"
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 2
	}
	if cfg.Images < benchBatch {
		cfg.Images = 512
	}
	if cfg.Steps <= 0 {
		cfg.Steps = 60
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = 5
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 3
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	// Random pixels: throughput does not depend on what the images show.
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	n := benchSize * benchSize * 3
	xs := make([]float32, cfg.Images*n)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	labels := make([]int32, cfg.Images)
	for i := range labels {
		labels[i] = int32(rng.IntN(5))
	}
	dir, err := os.MkdirTemp("", "pruefplatz-bench-train-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := writeBenchData(dir, xs, labels); err != nil {
		return nil, err
	}

	backend, err := newBackend(Options{Backend: BackendONNX, ORTLib: cfg.ORTLib})
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	res := &BenchResult{}
	def := DefaultArch(5)
	ref := ReferenceArch()
	var defStore *model.Store
	for round := 1; round <= cfg.Rounds; round++ {
		ips, store, err := benchTrain(ctx, backend, def, xs, labels, cfg)
		if err != nil {
			return nil, fmt.Errorf("default net: %w", err)
		}
		res.DefaultTrain, defStore = math.Max(res.DefaultTrain, ips), store
		fmt.Fprintf(cfg.Out, "round %d: default net (GoMLX, ONNX Runtime)    %6.0f img/s\n", round, ips)
		ips, _, err = benchTrain(ctx, backend, ref, xs, labels, cfg)
		if err != nil {
			return nil, fmt.Errorf("reference net: %w", err)
		}
		res.ReferenceTrain = math.Max(res.ReferenceTrain, ips)
		fmt.Fprintf(cfg.Out, "round %d: reference net (GoMLX, ONNX Runtime)  %6.0f img/s\n", round, ips)
		ips, ver, err := benchTorch(ctx, dir, cfg)
		if err != nil {
			return nil, err
		}
		res.TorchTrain, res.TorchVersion = math.Max(res.TorchTrain, ips), ver
		fmt.Fprintf(cfg.Out, "round %d: reference net (PyTorch %s, %d threads) %6.0f img/s\n", round, ver, cfg.Threads, ips)
	}
	res.Ratio = res.ReferenceTrain / res.TorchTrain

	spec := inspector.InputSpec{Width: benchSize, Height: benchSize, Channels: 3, Resize: inspector.ResizeStretch,
		Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}}
	path := filepath.Join(dir, "default.onnx")
	opt := Options{Backend: BackendONNX, ORTLib: cfg.ORTLib}
	opt.defaults()
	if err := export(ctx, opt, backend, defStore, def.build(), spec, path); err != nil {
		return nil, err
	}
	ips, err := benchInference(ctx, cfg.ORTLib, path, spec, xs[:n])
	if err != nil {
		return nil, err
	}
	res.Inference, res.InferenceNet = ips, def.String()
	return res, nil
}

// benchTrain times Adam training steps of one net on the ONNX Runtime
// backend. It returns images/s and the trained variables (for the export).
func benchTrain(ctx context.Context, backend compute.Backend, arch Arch, xs []float32, labels []int32, cfg BenchConfig) (float64, *model.Store, error) {
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(cfg.Seed))
	fn := arch.build()
	trainer := gtrain.NewTrainer(backend, store, func(scope *model.Scope, spec any, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{fn(scope, inputs[0])}
	}, loss.SparseCategoricalCrossEntropyLogits, optimizer.Adam().LearningRate(1e-3).Done(), nil, nil)
	n := benchSize * benchSize * 3
	images := len(labels)
	step := func(k int) error {
		s := (k * benchBatch) % (images - benchBatch + 1)
		// Copies, as PyTorch's slicing gives the same work of moving a batch in.
		x := tensors.FromFlatDataAndDimensions(append([]float32(nil), xs[s*n:(s+benchBatch)*n]...), benchBatch, 3, benchSize, benchSize)
		y := tensors.FromFlatDataAndDimensions(append([]int32(nil), labels[s:s+benchBatch]...), benchBatch, 1)
		m, err := trainer.TrainStep(gtrain.Batch{Inputs: []*tensors.Tensor{x}, Labels: []*tensors.Tensor{y}})
		if err != nil {
			return err
		}
		for _, t := range m {
			t.FinalizeAll()
		}
		return ctx.Err()
	}
	for k := 0; k < cfg.Warmup; k++ {
		if err := step(k); err != nil {
			return 0, nil, err
		}
	}
	start := time.Now()
	for k := 0; k < cfg.Steps; k++ {
		if err := step(cfg.Warmup + k); err != nil {
			return 0, nil, err
		}
	}
	return float64(cfg.Steps*benchBatch) / time.Since(start).Seconds(), store, nil
}

func writeBenchData(dir string, xs []float32, labels []int32) error {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, xs); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "x.f32"), b.Bytes(), 0o644); err != nil {
		return err
	}
	b.Reset()
	for _, l := range labels {
		binary.Write(&b, binary.LittleEndian, int64(l))
	}
	if err := os.WriteFile(filepath.Join(dir, "y.i64"), b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "peer.py"), benchPeer, 0o644)
}

// benchTorch runs the PyTorch peer on the data in dir.
func benchTorch(ctx context.Context, dir string, cfg BenchConfig) (float64, string, error) {
	args := []string{filepath.Join(dir, "peer.py"), filepath.Join(dir, "x.f32"), filepath.Join(dir, "y.i64")}
	for _, v := range []int{cfg.Images, cfg.Steps, cfg.Warmup, cfg.Threads, benchBatch, int(cfg.Seed)} {
		args = append(args, strconv.Itoa(v))
	}
	cmd := exec.CommandContext(ctx, cfg.Python, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, "", fmt.Errorf("PyTorch peer %s (needs python3-torch; make setup-bench installs it): %w\n%s", cfg.Python, err, stderr.String())
	}
	var out struct {
		IPS   float64 `json:"images_per_second"`
		Torch string  `json:"torch"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &out); err != nil || out.IPS <= 0 {
		return 0, "", fmt.Errorf("PyTorch peer printed %q: %v", stdout.String(), err)
	}
	return out.IPS, out.Torch, nil
}

// benchInference times batch-1 classification through onnxruntime_go, as
// the station runs it.
func benchInference(ctx context.Context, lib, path string, spec inspector.InputSpec, x []float32) (float64, error) {
	if err := onnx.Init(lib); err != nil {
		return 0, err
	}
	sess, err := onnx.Open(path, spec, 5, onnx.Options{})
	if err != nil {
		return 0, err
	}
	defer sess.Close()
	for k := 0; k < 20; k++ {
		if _, err := sess.Classify(ctx, x); err != nil {
			return 0, err
		}
	}
	const window = 2 * time.Second
	start := time.Now()
	calls := 0
	for time.Since(start) < window {
		if _, err := sess.Classify(ctx, x); err != nil {
			return 0, err
		}
		calls++
	}
	if calls == 0 {
		return 0, errors.New("no inference finished")
	}
	return float64(calls) / time.Since(start).Seconds(), nil
}
