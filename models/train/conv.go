package train

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
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
// Here it is one matrix product of the nine shifted inputs with the output
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

// trainingConv returns Conv(x, w) with hand-written gradients. GoMLX only
// lets an identity node carry a custom gradient, so the layer is stitched
// from three: x and w pass through identities whose gradients are the
// input and kernel gradients; the convolution itself sees both through a
// stop-gradient; a zero built from the two identities is added to its
// output, which ties them into the backward pass after the output's own
// identity has captured the output gradient (GoMLX walks the nodes
// backwards in the order they were made, so the identities made first
// come last).
func trainingConv(x, w *graph.Node, needX bool) *graph.Node {
	xs, ws := graph.StopGradient(x), graph.StopGradient(w)
	var dy *graph.Node // the output gradient, captured on the way back
	wc := graph.IdentityWithCustomGradient(w, func(_, _ *graph.Node) *graph.Node {
		return kernelGradient(xs, dy)
	})
	zero := graph.ReduceAllSum(wc)
	if needX {
		xc := graph.IdentityWithCustomGradient(x, func(_, _ *graph.Node) *graph.Node {
			return inputGradient(dy, ws)
		})
		// (Tying in one element would be cheaper, but Slice's gradient is
		// a Pad, which the ONNX Runtime backend lacks.)
		zero = graph.Add(zero, graph.ReduceAllSum(xc))
	}
	zero = graph.MulScalar(zero, 0)
	y := convSame(xs, ws)
	return graph.IdentityWithCustomGradient(graph.Add(y, zero), func(_, v *graph.Node) *graph.Node {
		dy = v
		return v
	})
}

// kernelGradient is ∂L/∂w[o,i,kh,kw] = Σ x[n,i,y+kh-1,x+kw-1]·dy[n,o,y,x]:
// the nine shifted copies of x, stacked as a [9·in, n·h·w] matrix, times
// dy as an [n·h·w, out] matrix. One product streams both once, where a
// convolution with dy as its kernel walks dy again for every input channel.
func kernelGradient(x, dy *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	n, in, h, w := d[0], d[1], d[2], d[3]
	out := dy.Shape().Dimensions[1]
	// Zero borders by concatenation: the ONNX Runtime backend has no Pad.
	xp := graph.TransposeAllAxes(x, 1, 0, 2, 3) // [in, n, h, w]
	g, dt := x.Graph(), x.DType()
	row := graph.Zeros(g, shapes.Make(dt, in, n, 1, w))
	xp = graph.Concatenate([]*graph.Node{row, xp, row}, 2)
	col := graph.Zeros(g, shapes.Make(dt, in, n, h+2, 1))
	xp = graph.Concatenate([]*graph.Node{col, xp, col}, 3) // [in, n, h+2, w+2]
	taps := make([]*graph.Node, 0, 9)
	for kh := 0; kh < 3; kh++ {
		for kw := 0; kw < 3; kw++ {
			t := graph.Slice(xp, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(kh, kh+h), graph.AxisRange(kw, kw+w))
			taps = append(taps, graph.Reshape(t, in, n*h*w))
		}
	}
	cols := graph.Concatenate(taps, 0)                                       // [9·in, n·h·w], row (kh·3+kw)·in+i
	dyt := graph.Reshape(graph.TransposeAllAxes(dy, 0, 2, 3, 1), n*h*w, out) // [n·h·w, out]
	gw := graph.Reshape(graph.MatMul(cols, dyt), 3, 3, in, out)              // [kh, kw, in, out]
	return graph.TransposeAllAxes(gw, 3, 2, 0, 1)                            // [out, in, kh, kw]
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
