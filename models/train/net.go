package train

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// Arch describes the compact CNN: Blocks of conv3×3 → BatchNorm → ReLU →
// MaxPool 2×2 with the given channel counts, then global average pooling,
// dropout and one dense layer to the classes. It is small on purpose: a few
// dozen images per class cannot feed a big net, and the station runs it on a
// small PC's CPU.
type Arch struct {
	Channels []int   `json:"channels"`
	Dropout  float64 `json:"dropout"`
	Classes  int     `json:"classes"`
	// BatchNorm off gives the plain reference net of the benchmark.
	NoBatchNorm bool `json:"no_batch_norm,omitempty"`
	// Hidden adds a dense ReLU layer of this width before the output
	// (the benchmark's reference net); 0 means none.
	Hidden int `json:"hidden,omitempty"`
	// Flatten replaces global average pooling with flattening (reference net).
	Flatten bool `json:"flatten,omitempty"`
	// StemStride > 1 folds each StemStride² block of input pixels into
	// channels before the first convolution (space-to-depth).
	StemStride int `json:"stem_stride,omitempty"`
}

// DefaultArch is the default network for n classes.
func DefaultArch(n int) Arch {
	return Arch{Channels: []int{16, 32, 64, 96}, Dropout: 0.3, Classes: n}
}

// String describes the architecture for the model card.
func (a Arch) String() string {
	var b strings.Builder
	for i, c := range a.Channels {
		if i > 0 {
			b.WriteString(" → ")
		}
		bn := "BatchNorm+"
		if a.NoBatchNorm {
			bn = ""
		}
		if i == 0 && a.StemStride > 1 {
			fmt.Fprintf(&b, "space-to-depth %d×%d → ", a.StemStride, a.StemStride)
		}
		fmt.Fprintf(&b, "conv3x3(%d)+%sReLU+MaxPool2", c, bn)
	}
	if a.Flatten {
		b.WriteString(" → flatten")
	} else {
		b.WriteString(" → global average+max pool")
	}
	if a.Hidden > 0 {
		fmt.Fprintf(&b, " → dense(%d)+ReLU", a.Hidden)
	}
	if a.Dropout > 0 {
		fmt.Fprintf(&b, " → dropout(%.2f)", a.Dropout)
	}
	fmt.Fprintf(&b, " → dense(%d) logits; input NCHW float32", a.Classes)
	return b.String()
}

// build returns the model graph function: NCHW images in, logits out.
func (a Arch) build() func(scope *model.Scope, x *graph.Node) *graph.Node {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		// The tensor comes NCHW from the shared preprocessing, and NCHW is
		// ONNX Conv's own layout: channels-last convolutions made the ONNX
		// Runtime backend transpose every activation around every Conv (and
		// more in the gradients); the default net trained 10–25 % slower.
		for i, c := range a.Channels {
			s := scope.In("block%d", i)
			conv := s.WithInitializer(heChannelsFirst(s))
			if i == 0 && a.StemStride > 1 {
				if scope.IsTraining(x.Graph()) {
					x = spaceToDepthSlices(x, a.StemStride)
				} else {
					x = spaceToDepth(x, a.StemStride)
				}
			}
			x = conv3x3(conv, x, c, a.NoBatchNorm, i > 0)
			if !a.NoBatchNorm {
				x = batchNorm(s, x)
			}
			// Max-pooling before the ReLU gives the same values as after it
			// (both are monotone), with the ReLU on a quarter of the values.
			x = maxPool2(scope, x)
			x = relu(scope, x)
		}
		if a.Flatten {
			x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
		} else {
			// Average and max pooling side by side: a small part or a
			// small defect lights up a few positions of the last map; the
			// average alone would drown it in table texture.
			x = graph.Concatenate([]*graph.Node{graph.ReduceMean(x, 2, 3), graph.ReduceMax(x, 2, 3)}, -1)
		}
		if a.Hidden > 0 {
			x = relu(scope, layers.Dense(scope.In("hidden"), x, true, a.Hidden))
		}
		if a.Dropout > 0 {
			x = layers.DropoutStatic(scope, x, a.Dropout)
		}
		// The output layer starts at zero, so every class starts equally
		// likely (loss ln n): He-initialised, its logits start in the
		// thousands of percent wrong and the first epochs only undo that,
		// which on small defects left training at chance for most of its
		// time budget.
		return layers.Dense(scope.In("logits").WithInitializer(initializer.Zero), x, true, a.Classes)
	}
}

// relu is max(x, 0). While training it is x times a 0/1 mask kept out of
// the gradient: GoMLX differentiates Max through five elementwise ops on
// the whole activation, two of them Sign, which ONNX Runtime does not
// vectorise (Sign alone was 9.7 % of a reference-net training step); the
// mask form needs one Mul. The values and gradients are the same (a
// negative input gives -0 instead of 0). Inference and the export keep Max.
func relu(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	if !scope.IsTraining(g) {
		return activation.Relu(x)
	}
	mask := graph.ConvertDType(graph.GreaterOrEqual(x, graph.ZerosLike(x)), x.DType())
	return graph.Mul(x, graph.StopGradient(mask))
}

// heChannelsFirst is He initialisation (normal, stddev √(2/fan-in)) for
// [out, in, kh, kw] kernels, zeros for biases. GoMLX's default initializer
// reads the fan-in of a channels-last [kh, kw, in, out] kernel; on this
// layout it took out·in·kh instead of in·kh·kw, which made the kernels up
// to 3.3× too small.
func heChannelsFirst(scope *model.Scope) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		if shape.Rank() <= 1 {
			return graph.Zeros(g, shape)
		}
		fanIn := 1
		for _, d := range shape.Dimensions[1:] {
			fanIn *= d
		}
		return graph.MulScalar(scope.RandomNormal(g, shape), math.Sqrt(2/float64(fanIn)))
	}
}

// spaceToDepth folds each s×s block of pixels into the channels:
// [N, C, H, W] → [N, C·s·s, H/s, W/s]. A strided convolution would do the
// same job, but its gradient needs input dilation, which the ONNX Runtime
// backend lacks; a reshape and a transpose are plain ops everywhere.
func spaceToDepth(x *graph.Node, s int) *graph.Node {
	d := x.Shape().Dimensions
	n, c, h, w := d[0], d[1], d[2], d[3]
	x = graph.Reshape(x, n, c, h/s, s, w/s, s)
	x = graph.TransposeAllAxes(x, 0, 1, 3, 5, 2, 4)
	return graph.Reshape(x, n, c*s*s, h/s, w/s)
}

// spaceToDepthSlices is spaceToDepth made of strided slices, one per output
// channel: ONNX Runtime ran the six-axis transpose at about 6 % of a whole
// training step (as long as the first convolution). It is used in training
// only, where the input needs no gradient; the export keeps the transpose.
func spaceToDepthSlices(x *graph.Node, s int) *graph.Node {
	c := x.Shape().Dimensions[1]
	parts := make([]*graph.Node, 0, c*s*s)
	for ch := 0; ch < c; ch++ {
		for dy := 0; dy < s; dy++ {
			for dx := 0; dx < s; dx++ {
				parts = append(parts, graph.Slice(x, graph.AxisRange(), graph.AxisRange(ch, ch+1),
					graph.AxisRangeToEnd(dy).Stride(s), graph.AxisRangeToEnd(dx).Stride(s)))
			}
		}
	}
	return graph.Concatenate(parts, 1)
}
