package train

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
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
