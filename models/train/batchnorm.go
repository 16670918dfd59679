package train

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// batchNorm normalises channels-first (NCHW) x over batch and space. GoMLX's own
// BatchNorm uses an op the ONNX Runtime backend lacks in training, so it is
// written here with plain ops: batch statistics while training (and moving
// averages updated with momentum), the moving averages at inference, which
// is also what the ONNX export contains.
func batchNorm(scope *model.Scope, x *graph.Node) *graph.Node {
	const momentum, eps = 0.9, 1e-3
	scope = scope.In("batch_norm")
	g := x.Graph()
	c := x.Shape().Dimensions[1]
	ones, zeros := make([]float32, c), make([]float32, c)
	for i := range ones {
		ones[i] = 1
	}
	gamma := scope.VariableWithValue("gamma", ones).NodeValue(g)
	beta := scope.VariableWithValue("beta", zeros).NodeValue(g)
	meanVar := scope.VariableWithValue("moving_mean", zeros).SetTrainable(false)
	varVar := scope.VariableWithValue("moving_variance", ones).SetTrainable(false)
	axes := []int{0}
	for i := 2; i < x.Rank(); i++ {
		axes = append(axes, i)
	}
	var mean, variance *graph.Node
	if scope.IsTraining(g) {
		mean = graph.ReduceMean(x, axes...)
		variance = graph.Sub(graph.ReduceMean(graph.Square(x), axes...), graph.Square(mean))
		m := graph.Scalar(g, x.DType(), momentum)
		one := graph.Scalar(g, x.DType(), 1.0)
		meanVar.SetNodeValue(graph.Add(graph.Mul(meanVar.NodeValue(g), m), graph.Mul(graph.StopGradient(mean), graph.Sub(one, m))))
		varVar.SetNodeValue(graph.Add(graph.Mul(varVar.NodeValue(g), m), graph.Mul(graph.StopGradient(variance), graph.Sub(one, m))))
	} else {
		mean = meanVar.NodeValue(g)
		variance = varVar.NodeValue(g)
	}
	// Per-channel values broadcast as [1, c, 1, …].
	bshape := make([]int, x.Rank())
	for i := range bshape {
		bshape[i] = 1
	}
	bshape[1] = c
	inv := graph.Mul(graph.Reciprocal(graph.Sqrt(graph.Add(variance, graph.Scalar(g, x.DType(), eps)))), gamma)
	shift := graph.Sub(beta, graph.Mul(mean, inv))
	return graph.Add(graph.Mul(x, graph.Reshape(inv, bshape...)), graph.Reshape(shift, bshape...))
}
