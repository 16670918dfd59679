package train

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/images"
	"github.com/gomlx/gomlx/ml/model"
)

// maxPool2 is 2×2, stride-2 max-pooling of NCHW x. Inference and the
// export use GoMLX's MaxPool (ONNX MaxPool). Training computes the same
// values with its own gradient: GoMLX's select-and-scatter becomes, in the
// ONNX Runtime backend, a second MaxPool that also returns indices, a Mod
// and a ScatterElements, which ONNX Runtime's profile put at 30 % of a
// reference-net step (the indexed MaxPool of the first block alone took 9×
// the plain one). Here the gradient is the output gradient, upsampled,
// through a mask of each window's maximum.
func maxPool2(scope *model.Scope, x *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	if !scope.IsTraining(x.Graph()) || d[2]%2 != 0 || d[3]%2 != 0 {
		return pool2(x)
	}
	return trainingMaxPool2(x)
}

func pool2(x *graph.Node) *graph.Node {
	return graph.MaxPool(x).ChannelsAxis(images.ChannelsFirst).Window(2).Done()
}

// trainingMaxPool2 is maxPool2 with the hand-written gradient (see
// stitch). A window whose maximum appears more than once (flat image
// regions give exactly equal activations) shares its gradient equally
// among them, so every window passes on exactly its output gradient, as
// with a single maximum.
func trainingMaxPool2(x *graph.Node) *graph.Node {
	return stitch([]*graph.Node{x}, func(in []*graph.Node) *graph.Node { return pool2(in[0]) },
		func(in []*graph.Node, y, dy *graph.Node) *graph.Node {
			mask := graph.ConvertDType(graph.Equal(in[0], upsample2(y)), x.DType())
			count := graph.SumPool(mask).ChannelsAxis(images.ChannelsFirst).Window(2).Done()
			return graph.Mul(mask, upsample2(graph.Div(dy, count)))
		})
}

// upsample2 repeats every value of NCHW v in a 2×2 block. Each step keeps
// ONNX Runtime on contiguous runs (a broadcast of a size-2 innermost axis
// runs it element by element): along the width a product with a 0/1
// matrix, along the height a concatenation of whole rows.
func upsample2(v *graph.Node) *graph.Node {
	d := v.Shape().Dimensions
	n, c, h, w := d[0], d[1], d[2], d[3]
	u := make([]float32, w*2*w)
	for j := range w {
		u[j*2*w+2*j], u[j*2*w+2*j+1] = 1, 1
	}
	uw := graph.ConvertDType(graph.Const(v.Graph(), tensors.FromFlatDataAndDimensions(u, w, 2*w)), v.DType())
	t := graph.Reshape(graph.MatMul(v, uw), n, c, h, 1, 2*w)
	return graph.Reshape(graph.Concatenate([]*graph.Node{t, t}, 3), n, c, 2*h, 2*w)
}
