package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/images"
)

// TestConvTrainingGradients checks the training convolution's values and
// hand-written gradients against GoMLX's own Convolve and its autodiff, on
// both backends: a wrong tap order, flip or transpose gives other numbers.
func TestConvTrainingGradients(t *testing.T) {
	const n, in, out, h, w = 2, 3, 4, 5, 6
	rng := rand.New(rand.NewPCG(1, 2))
	xv, kv, rv := normals(rng, n*in*h*w), normals(rng, out*in*9), normals(rng, n*out*h*w)
	for backend, be := range bothBackends(t) {
		for _, needX := range []bool{true, false} {
			x := tensors.FromFlatDataAndDimensions(xv, n, in, h, w)
			k := tensors.FromFlatDataAndDimensions(kv, out, in, 3, 3)
			r := tensors.FromFlatDataAndDimensions(rv, n, out, h, w)
			outs, err := graph.CallOnceN(be, func(x, k, r *graph.Node) []*graph.Node {
				ours := trainingConv(x, k, needX)
				theirs := graph.Convolve(x, k).ChannelsAxis(images.ChannelsFirst).PadSame().Done()
				gOurs := graph.Gradient(graph.ReduceAllSum(graph.Mul(ours, r)), x, k)
				gTheirs := graph.Gradient(graph.ReduceAllSum(graph.Mul(theirs, r)), x, k)
				return []*graph.Node{ours, theirs, gOurs[0], gTheirs[0], gOurs[1], gTheirs[1]}
			}, x, k, r)
			if err != nil {
				t.Fatal(err)
			}
			for i, what := range []string{"output", "input gradient", "kernel gradient"} {
				if what == "input gradient" && !needX {
					continue
				}
				a, b := tensors.MustCopyFlatData[float32](outs[2*i]), tensors.MustCopyFlatData[float32](outs[2*i+1])
				worst := 0.0
				for j := range a {
					worst = max(worst, math.Abs(float64(a[j]-b[j])))
				}
				if worst > 1e-4 {
					t.Errorf("%s, needX %v: %s differs from GoMLX's by up to %g", backend, needX, what, worst)
				}
			}
		}
	}
}

// TestSpaceToDepthSlices checks the training fold against the export's.
func TestSpaceToDepthSlices(t *testing.T) {
	be, err := newBackend(Options{Backend: BackendONNX, ORTLib: ortLib(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	v := make([]float32, 2*3*8*6)
	for i := range v {
		v[i] = float32(i)
	}
	outs, err := graph.CallOnceN(be, func(x *graph.Node) []*graph.Node {
		return []*graph.Node{spaceToDepthSlices(x, 2), spaceToDepth(x, 2)}
	}, tensors.FromFlatDataAndDimensions(v, 2, 3, 8, 6))
	if err != nil {
		t.Fatal(err)
	}
	a, b := tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
	if !slices.Equal(a, b) || outs[0].Shape().String() != outs[1].Shape().String() {
		t.Errorf("slices give %v %v, transpose %v %v", outs[0].Shape(), a[:16], outs[1].Shape(), b[:16])
	}
}

// TestMaxPoolTrainingGradients checks the training max-pool's values and
// gradient against GoMLX's MaxPool and its autodiff on random data (one
// maximum per window), on both backends, and that a window of equal values
// shares its output gradient: each of the four gets a quarter.
func TestMaxPoolTrainingGradients(t *testing.T) {
	const n, c, h, w = 2, 3, 6, 8
	rng := rand.New(rand.NewPCG(3, 4))
	xv, rv := normals(rng, n*c*h*w), normals(rng, n*c*h/2*w/2)
	for backend, be := range bothBackends(t) {
		x := tensors.FromFlatDataAndDimensions(xv, n, c, h, w)
		r := tensors.FromFlatDataAndDimensions(rv, n, c, h/2, w/2)
		outs, err := graph.CallOnceN(be, func(x, r *graph.Node) []*graph.Node {
			ours := trainingMaxPool2(x)
			theirs := graph.MaxPool(x).ChannelsAxis(images.ChannelsFirst).Window(2).Done()
			gOurs := graph.Gradient(graph.ReduceAllSum(graph.Mul(ours, r)), x)
			gTheirs := graph.Gradient(graph.ReduceAllSum(graph.Mul(theirs, r)), x)
			// Ties: a constant input; every window's gradient must sum to r.
			flat := graph.ZerosLike(x)
			gFlat := graph.Gradient(graph.ReduceAllSum(graph.Mul(trainingMaxPool2(flat), r)), flat)
			return []*graph.Node{ours, theirs, gOurs[0], gTheirs[0], gFlat[0]}
		}, x, r)
		if err != nil {
			t.Fatal(err)
		}
		for i, what := range []string{"output", "gradient"} {
			a, b := tensors.MustCopyFlatData[float32](outs[2*i]), tensors.MustCopyFlatData[float32](outs[2*i+1])
			if !slices.Equal(a, b) {
				t.Errorf("%s: %s differs from GoMLX's: %v… against %v…", backend, what, a[:8], b[:8])
			}
		}
		flat := tensors.MustCopyFlatData[float32](outs[4])
		for i, g := range flat {
			ni, ci, yi, xi := i/(c*h*w), i/(h*w)%c, i/w%h, i%w
			want := rv[((ni*c+ci)*h/2+yi/2)*w/2+xi/2] / 4
			if math.Abs(float64(g-want)) > 1e-6 {
				t.Fatalf("%s: tied window gradient at %d is %g, want %g (a quarter of the output's)", backend, i, g, want)
			}
		}
	}
}

// bothBackends opens the pure-Go and the ONNX Runtime training backends,
// by name; they are finalized when the test ends.
func bothBackends(t *testing.T) map[string]compute.Backend {
	bes := map[string]compute.Backend{}
	for _, name := range []string{BackendGo, BackendONNX} {
		opt := Options{Backend: name}
		if name == BackendONNX {
			opt.ORTLib = ortLib(t)
		}
		be, err := newBackend(opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(be.Finalize)
		bes[name] = be
	}
	return bes
}

func normals(rng *rand.Rand, k int) []float32 {
	v := make([]float32, k)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}
