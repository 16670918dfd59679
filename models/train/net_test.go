package train

import (
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestHeChannelsFirst checks the kernels' spread against He's √(2/fan-in)
// with fan-in = in·3·3 for an [out, in, 3, 3] kernel (GoMLX's default
// would give √(2/(out·in·3)), 3.3× smaller here), and zero biases.
func TestHeChannelsFirst(t *testing.T) {
	be, err := newBackend(Options{Backend: BackendGo})
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	e, err := model.NewExec(be, store, func(scope *model.Scope, g *graph.Graph) []*graph.Node {
		init := heChannelsFirst(scope)
		return []*graph.Node{init(g, shapes.Make(dtypes.Float32, 32, 16, 3, 3)), init(g, shapes.Make(dtypes.Float32, 32))}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec()
	if err != nil {
		t.Fatal(err)
	}
	var sum, sq float64
	k := out[0].Value().([][][][]float32)
	n := 0
	for _, a := range k {
		for _, b := range a {
			for _, c := range b {
				for _, v := range c {
					sum += float64(v)
					sq += float64(v) * float64(v)
					n++
				}
			}
		}
	}
	mean := sum / float64(n)
	std := math.Sqrt(sq/float64(n) - mean*mean)
	if want := math.Sqrt(2.0 / (16 * 9)); math.Abs(std-want) > 0.1*want || math.Abs(mean) > 0.1*want {
		t.Errorf("kernel mean %.4f stddev %.4f, want 0 and %.4f", mean, std, want)
	}
	for _, v := range out[1].Value().([]float32) {
		if v != 0 {
			t.Fatalf("bias %v, want zeros", out[1].Value())
		}
	}
}

// TestSpaceToDepth checks the stem's rearrangement on a numbered input:
// output channel c·s²+dy·s+dx at (i, j) holds input pixel (i·s+dy, j·s+dx)
// of channel c, so no pixel is lost or repeated.
func TestSpaceToDepth(t *testing.T) {
	be, err := newBackend(Options{Backend: BackendGo})
	if err != nil {
		t.Fatal(err)
	}
	const n, c, h, w, s = 2, 3, 4, 6, 2
	x := make([]float32, n*c*h*w)
	for i := range x {
		x[i] = float32(i)
	}
	out, err := graph.CallOnce(be, func(x *graph.Node) *graph.Node { return spaceToDepth(x, s) },
		tensors.FromFlatDataAndDimensions(x, n, c, h, w))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Shape().Dimensions; !slices.Equal(got, []int{n, c * s * s, h / s, w / s}) {
		t.Fatalf("shape %v, want [%d %d %d %d]", got, n, c*s*s, h/s, w/s)
	}
	y := tensors.MustCopyFlatData[float32](out)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			for dy := 0; dy < s; dy++ {
				for dx := 0; dx < s; dx++ {
					for i := 0; i < h/s; i++ {
						for j := 0; j < w/s; j++ {
							got := y[((b*c*s*s+ch*s*s+dy*s+dx)*(h/s)+i)*(w/s)+j]
							want := x[((b*c+ch)*h+i*s+dy)*w+j*s+dx]
							if got != want {
								t.Fatalf("batch %d channel %d offset (%d,%d) at (%d,%d): %v, want %v", b, ch, dy, dx, i, j, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// TestReluTrainingForm checks that the mask form of the ReLU used while
// training gives GoMLX's Max(x, 0) and its gradient, zeros and negative
// inputs included, and that inference keeps Max.
func TestReluTrainingForm(t *testing.T) {
	be, err := newBackend(Options{Backend: BackendGo})
	if err != nil {
		t.Fatal(err)
	}
	xs := []float32{-3, -0.5, 0, 0.25, 2, -1e-7, 1e-7, 7}
	for _, training := range []bool{true, false} {
		store := model.NewStore()
		out, err := graph.CallOnce(be, func(x *graph.Node) *graph.Node {
			g := x.Graph()
			store.SetTraining(g, training)
			// A weight per position, so each gradient value is distinct.
			w := graph.AddScalar(graph.IotaFull(g, x.Shape()), 1)
			ours := relu(store.RootScope(), x)
			theirs := graph.Max(x, graph.ZerosLike(x))
			gOurs := graph.Gradient(graph.ReduceAllSum(graph.Mul(ours, w)), x)[0]
			gTheirs := graph.Gradient(graph.ReduceAllSum(graph.Mul(theirs, w)), x)[0]
			return graph.Stack([]*graph.Node{ours, theirs, gOurs, gTheirs}, 0)
		}, tensors.FromValue(xs))
		if err != nil {
			t.Fatal(err)
		}
		flat := tensors.MustCopyFlatData[float32](out)
		got := [][]float32{flat[:len(xs)], flat[len(xs) : 2*len(xs)], flat[2*len(xs) : 3*len(xs)], flat[3*len(xs):]}
		for i, x := range xs {
			if got[0][i] != got[1][i] {
				t.Errorf("training %v: relu(%v) = %v, Max gives %v", training, x, got[0][i], got[1][i])
			}
			if got[2][i] != got[3][i] {
				t.Errorf("training %v: gradient at %v = %v, Max's is %v", training, x, got[2][i], got[3][i])
			}
		}
	}
}
