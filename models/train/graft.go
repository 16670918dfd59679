package train

import (
	"errors"
	"fmt"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/internal/onnxwire"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto used by graftHead.
const (
	modelGraph = 7 // ModelProto.graph

	graphNode        = 1  // GraphProto.node
	graphInitializer = 5  // GraphProto.initializer
	graphInput       = 11 // GraphProto.input
	graphOutput      = 12 // GraphProto.output
	graphValueInfo   = 13 // GraphProto.value_info

	nodeInput  = 1 // NodeProto.input
	nodeOutput = 2 // NodeProto.output

	tensorName    = 8 // TensorProto.name
	valueInfoName = 1 // ValueInfoProto.name

	onnxFloat = 1 // TensorProto.DataType.FLOAT
)

// headLayer is one dense layer of a head: y = x·W + b, W [In, Out] row-major.
type headLayer struct {
	W       []float32
	B       []float32
	In, Out int
}

// graftHead returns the backbone ModelProto with a head attached to the
// vector blocks it reads (embed.Blocks, in the order given): each block is
// its backbone output, pooled over the positions for a feature map
// (GlobalMaxPool or GlobalAveragePool, then Flatten), then L2-normalised
// (LpNormalization, as the embedder normalises); the blocks are
// concatenated, then one Gemm per layer with a Relu between them, ending in
// output "logits" [N, classes]. Everything the blocks do not need (the
// ImageNet classifier, unused feature maps) is dropped with its weights, so
// the file is one self-contained model with one input and one output, which
// the station, eval and `models import` take like any other.
//
// It edits the protobuf at the wire level: fields it does not touch are
// copied byte for byte. It returns an error for a file that is not an ONNX
// model with a graph producing the blocks' outputs.
func graftHead(model []byte, blocks []embed.Block, patch *patchBranch, layers []headLayer) ([]byte, error) {
	if len(layers) == 0 {
		return nil, errors.New("graft: no head layers")
	}
	if len(blocks) == 0 {
		return nil, errors.New("graft: no input blocks")
	}
	in := 0
	for _, b := range blocks {
		in += b.Len
	}
	if patch != nil {
		in += patch.C
		if len(patch.W) != embed.S16Ch*patch.C || len(patch.B) != patch.C {
			return nil, fmt.Errorf("graft: patch branch: %d weights and %d biases for %d filters", len(patch.W), len(patch.B), patch.C)
		}
	}
	if layers[0].In != in {
		return nil, fmt.Errorf("graft: the head takes %d values, the blocks give %d", layers[0].In, in)
	}
	for i, l := range layers {
		if len(l.W) != l.In*l.Out || len(l.B) != l.Out || (i > 0 && layers[i-1].Out != l.In) {
			return nil, fmt.Errorf("graft: layer %d: %d weights and %d biases for %d→%d", i, len(l.W), len(l.B), l.In, l.Out)
		}
	}
	var out []byte
	var graph []byte
	found := false
	err := onnxwire.EachField(model, func(num protowire.Number, typ protowire.Type, raw []byte, val []byte) {
		if num == modelGraph && typ == protowire.BytesType && !found {
			graph, found = val, true
			return
		}
		out = append(out, raw...)
	})
	if err != nil {
		return nil, fmt.Errorf("graft: model: %w", err)
	}
	if !found {
		return nil, errors.New("graft: the model has no graph")
	}
	g, err := graftGraph(graph, blocks, patch, layers)
	if err != nil {
		return nil, err
	}
	out = protowire.AppendTag(out, modelGraph, protowire.BytesType)
	return protowire.AppendBytes(out, g), nil
}

type rawNode struct {
	raw      []byte
	inputs   []string
	outputs  []string
	needed   bool
	position int
}

func graftGraph(graph []byte, blocks []embed.Block, patch *patchBranch, layers []headLayer) ([]byte, error) {
	type field struct {
		num protowire.Number
		raw []byte
		val []byte
	}
	var fields []field
	var nodes []*rawNode
	producer := map[string]*rawNode{}
	err := onnxwire.EachField(graph, func(num protowire.Number, typ protowire.Type, raw, val []byte) {
		fields = append(fields, field{num, raw, val})
		if num == graphNode && typ == protowire.BytesType {
			n := &rawNode{raw: raw, position: len(fields) - 1}
			_ = onnxwire.EachField(val, func(num protowire.Number, typ protowire.Type, _, v []byte) {
				switch {
				case num == nodeInput && typ == protowire.BytesType:
					n.inputs = append(n.inputs, string(v))
				case num == nodeOutput && typ == protowire.BytesType:
					n.outputs = append(n.outputs, string(v))
				}
			})
			nodes = append(nodes, n)
			for _, o := range n.outputs {
				producer[o] = n
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("graft: graph: %w", err)
	}
	var stack []string
	outs := []string{}
	for _, b := range blocks {
		outs = append(outs, b.Output)
	}
	if patch != nil {
		outs = append(outs, embed.OutFeatS16)
	}
	for _, o := range outs {
		if producer[o] == nil {
			return nil, fmt.Errorf("graft: no node produces %q", o)
		}
		stack = append(stack, o)
	}
	// Walk back from the blocks' outputs: the nodes and tensors they need.
	usedTensor := map[string]bool{}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if usedTensor[t] {
			continue
		}
		usedTensor[t] = true
		if n := producer[t]; n != nil && !n.needed {
			n.needed = true
			for _, in := range n.inputs {
				if in != "" {
					stack = append(stack, in)
				}
			}
		}
	}
	var g []byte
	for i, f := range fields {
		switch f.num {
		case graphNode:
			keep := false
			for _, n := range nodes {
				if n.position == i {
					keep = n.needed
				}
			}
			if !keep {
				continue
			}
		case graphInitializer:
			if !usedTensor[onnxwire.String(f.val, tensorName)] {
				continue
			}
		case graphInput, graphValueInfo:
			if !usedTensor[onnxwire.String(f.val, valueInfoName)] {
				continue
			}
		case graphOutput:
			continue
		}
		g = append(g, f.raw...)
	}

	// The head.
	node := func(op, out string, attrs []byte, in ...string) {
		var n []byte
		for _, s := range in {
			n = onnxwire.AppendString(n, nodeInput, s)
		}
		n = onnxwire.AppendString(n, nodeOutput, out)
		n = onnxwire.AppendString(n, 3, "head/"+op+"/"+out) // name
		n = onnxwire.AppendString(n, 4, op)                 // op_type
		n = append(n, attrs...)
		g = onnxwire.AppendMessage(g, graphNode, n)
	}
	intAttr := func(name string, v int64) []byte {
		var a []byte
		a = onnxwire.AppendString(a, 1, name) // AttributeProto.name
		a = protowire.AppendTag(a, 3, protowire.VarintType)
		a = protowire.AppendVarint(a, uint64(v)) // i
		a = protowire.AppendTag(a, 20, protowire.VarintType)
		a = protowire.AppendVarint(a, 2) // type INT
		return onnxwire.AppendMessage(nil, 5, a)
	}
	var parts []string
	for _, b := range blocks {
		src := b.Output
		if b.Output != embed.OutEmbedding {
			op := "GlobalAveragePool"
			if b.Max {
				op = "GlobalMaxPool"
			}
			node(op, "head/"+b.Name+"/pool", nil, src)
			node("Flatten", "head/"+b.Name+"/flat", intAttr("axis", 1), "head/"+b.Name+"/pool")
			src = "head/" + b.Name + "/flat"
		}
		node("LpNormalization", "head/"+b.Name, append(intAttr("axis", 1), intAttr("p", 2)...), src)
		parts = append(parts, "head/"+b.Name)
	}
	if patch != nil {
		// Conv weights [C, 96, 1, 1]: the branch's W [96, C] transposed.
		w := make([]float32, len(patch.W))
		for k := 0; k < embed.S16Ch; k++ {
			for c := 0; c < patch.C; c++ {
				w[c*embed.S16Ch+k] = patch.W[k*patch.C+c]
			}
		}
		g = onnxwire.AppendMessage(g, graphInitializer, onnxwire.FloatTensor("head/patch/w", []int64{int64(patch.C), embed.S16Ch, 1, 1}, w))
		g = onnxwire.AppendMessage(g, graphInitializer, onnxwire.FloatTensor("head/patch/b", []int64{int64(patch.C)}, patch.B))
		node("Conv", "head/patch/conv", nil, embed.OutFeatS16, "head/patch/w", "head/patch/b")
		node("Relu", "head/patch/relu", nil, "head/patch/conv")
		node("GlobalMaxPool", "head/patch/pool", nil, "head/patch/relu")
		node("Flatten", "head/patch", intAttr("axis", 1), "head/patch/pool")
		parts = append(parts, "head/patch")
	}
	x := parts[0]
	if len(parts) > 1 {
		x = "head/features"
		node("Concat", x, intAttr("axis", 1), parts...)
	}
	for i, l := range layers {
		w, b := fmt.Sprintf("head/w%d", i), fmt.Sprintf("head/b%d", i)
		g = onnxwire.AppendMessage(g, graphInitializer, onnxwire.FloatTensor(w, []int64{int64(l.In), int64(l.Out)}, l.W))
		g = onnxwire.AppendMessage(g, graphInitializer, onnxwire.FloatTensor(b, []int64{int64(l.Out)}, l.B))
		y := fmt.Sprintf("head/dense%d", i)
		if i == len(layers)-1 {
			y = "logits"
		}
		node("Gemm", y, nil, x, w, b)
		x = y
		if i < len(layers)-1 {
			node("Relu", y+"/relu", nil, y)
			x = y + "/relu"
		}
	}
	// output logits: float [N, classes], N symbolic like the backbone's batch.
	var dimN, dimC, shape, tensorType, typ, vi []byte
	dimN = onnxwire.AppendString(nil, 2, "N") // Dimension.dim_param
	dimC = protowire.AppendTag(nil, 1, protowire.VarintType)
	dimC = protowire.AppendVarint(dimC, uint64(layers[len(layers)-1].Out)) // Dimension.dim_value
	shape = onnxwire.AppendMessage(onnxwire.AppendMessage(nil, 1, dimN), 1, dimC)
	tensorType = protowire.AppendTag(nil, 1, protowire.VarintType)
	tensorType = protowire.AppendVarint(tensorType, onnxFloat)
	tensorType = onnxwire.AppendMessage(tensorType, 2, shape)
	typ = onnxwire.AppendMessage(nil, 1, tensorType) // TypeProto.tensor_type
	vi = onnxwire.AppendMessage(onnxwire.AppendString(nil, 1, "logits"), 2, typ)
	g = onnxwire.AppendMessage(g, graphOutput, vi)
	return g, nil
}
