package train

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/images"
	"github.com/gomlx/gomlx/ml/model"
)

// conv3x3 is a 3×3, stride-1, zero-padded ("same") convolution of NCHW x
// with an [out, in, 3, 3] kernel, named as layers.Convolution names it
// (scope/conv/weights, scope/conv/biases). Inference and the export use a
// plain Conv. Training computes the same values but its own gradients:
// GoMLX writes the kernel gradient as a convolution whose "kernel" is the
// whole output gradient (64×64 in the first block), which ONNX Runtime ran
// 5–6× slower than the forward convolution, over half of a training step.
// Here it is a matrix product of the nine shifted inputs with the output
// gradient, and the input gradient, which needX false skips for the first
// block (nothing upstream learns), is the usual convolution with the
// flipped kernel.
func conv3x3(scope *model.Scope, x *graph.Node, out int, bias, needX bool) *graph.Node {
	g := x.Graph()
	s := scope.In("conv")
	in := x.Shape().Dimensions[1]
	w := s.VariableWithShape("weights", shapes.Make(x.DType(), out, in, 3, 3)).NodeValue(g)
	var y *graph.Node
	if !scope.IsTraining(g) {
		y = convSame(x, w)
	} else {
		y = trainingConv(x, w, needX)
	}
	if bias {
		b := s.VariableWithShape("biases", shapes.Make(x.DType(), out)).NodeValue(g)
		y = graph.Add(y, graph.Reshape(b, 1, out, 1, 1))
	}
	return y
}

// trainingConv returns Conv(x, w) with hand-written gradients: the
// kernel gradient, and the input gradient unless needX is false.
func trainingConv(x, w *graph.Node, needX bool) *graph.Node {
	var gx gradFn
	if needX {
		gx = func(in []*graph.Node, _, dy *graph.Node) *graph.Node { return inputGradient(dy, in[1]) }
	}
	gw := func(in []*graph.Node, _, dy *graph.Node) *graph.Node { return kernelGradient(in[0], dy) }
	return stitch([]*graph.Node{x, w}, func(in []*graph.Node) *graph.Node { return convSame(in[0], in[1]) }, gx, gw)
}

// gradFn gives one input's gradient from the inputs (held out of the
// gradient), the layer's output y and the output gradient dy.
type gradFn func(in []*graph.Node, y, dy *graph.Node) *graph.Node

// stitch returns forward(ins) with the gradients grads (one per input; nil
// for none) instead of GoMLX's. GoMLX only lets an identity node carry a
// custom gradient, so the layer is stitched: each input with a gradient
// passes through an identity whose gradient is its gradFn; forward sees
// the inputs through stop-gradients; a zero built from the identities is
// added to its output, which ties them into the backward pass after the
// output's own identity has captured the output gradient (GoMLX walks the
// nodes backwards in the order they were made, so the identities made
// first come last). Tying in one element would be cheaper, but Slice's
// gradient is a Pad, which the ONNX Runtime backend lacks.
func stitch(ins []*graph.Node, forward func(in []*graph.Node) *graph.Node, grads ...gradFn) *graph.Node {
	held := make([]*graph.Node, len(ins))
	for i, in := range ins {
		held[i] = graph.StopGradient(in)
	}
	var y, dy *graph.Node // dy is captured on the way back
	var zero *graph.Node
	for i, in := range ins {
		grad := grads[i]
		if grad == nil {
			continue
		}
		c := graph.ReduceAllSum(graph.IdentityWithCustomGradient(in, func(_, _ *graph.Node) *graph.Node {
			return grad(held, y, dy)
		}))
		if zero == nil {
			zero = c
		} else {
			zero = graph.Add(zero, c)
		}
	}
	y = forward(held)
	out := y
	if zero != nil {
		out = graph.Add(y, graph.MulScalar(zero, 0))
	}
	return graph.IdentityWithCustomGradient(out, func(_, v *graph.Node) *graph.Node {
		dy = v
		return v
	})
}

// kernelGradient is ∂L/∂w[o,i,kh,kw] = Σ x[n,i,y+kh-1,x+kw-1]·dy[n,o,y,x].
// A convolution with a fixed one-hot kernel lays out the nine shifted
// copies of every input plane ([n, in·9, h·w], zero borders included), and
// per image a matrix product with dy ([h·w, out]) sums over the positions.
// Building those copies from nine slices and concatenations instead cost
// more than the products: ONNX Runtime slices an NCHW tensor row by row, a
// few dozen floats per copy, and a reference-net step spent about a third
// of its time there; MLAS's own im2col inside the one-hot convolution
// trained the reference net 8 % faster.
func kernelGradient(x, dy *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	n, in, h, w := d[0], d[1], d[2], d[3]
	out := dy.Shape().Dimensions[1]
	cols := convSame(graph.Reshape(x, n*in, 1, h, w), shiftKernel(x.Graph(), x.DType())) // [n·in, 9, h, w]
	cols = graph.Reshape(cols, n, in*9, h*w)                                             // row i·9+kh·3+kw
	dyt := graph.TransposeAllAxes(graph.Reshape(dy, n, out, h*w), 0, 2, 1)               // [n, h·w, out]
	gw := graph.ReduceSum(graph.MatMul(cols, dyt), 0)                                    // [in·9, out]
	return graph.TransposeAllAxes(graph.Reshape(gw, in, 3, 3, out), 3, 0, 1, 2)          // [out, in, kh, kw]
}

// shiftKernel is the [9, 1, 3, 3] kernel whose output channel kh·3+kw is
// the input shifted by (kh-1, kw-1).
func shiftKernel(g *graph.Graph, dt dtypes.DType) *graph.Node {
	k := make([]float32, 81)
	for j := range 9 {
		k[j*9+j] = 1
	}
	return graph.ConvertDType(graph.Const(g, tensors.FromFlatDataAndDimensions(k, 9, 1, 3, 3)), dt)
}

// inputGradient is the convolution of dy with the kernel flipped in space
// and with in and out swapped.
func inputGradient(dy, w *graph.Node) *graph.Node {
	wf := graph.Reverse(graph.TransposeAllAxes(w, 1, 0, 2, 3), 2, 3)
	return convSame(dy, wf)
}

// convSame is a stride-1, zero-padded NCHW convolution with an
// [out, in, kh, kw] kernel: ONNX Conv's own layout, so the export needs no
// transposes.
func convSame(x, w *graph.Node) *graph.Node {
	return graph.Convolve(x, w).ChannelsAxis(images.ChannelsFirst).PadSame().Done()
}
