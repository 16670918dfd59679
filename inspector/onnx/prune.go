package onnx

import (
	"errors"
	"fmt"
	"slices"

	"github.com/pruefplatz/pruefplatz/internal/onnxwire"
	"google.golang.org/protobuf/encoding/protowire"
)

// ErrPrune is returned by Prune for a file that is not an ONNX model or
// whose graph does not produce the outputs asked for.
var ErrPrune = errors.New("onnx: cannot prune the model")

// Field numbers of onnx.proto that Prune reads.
const (
	pbModelGraph       = 7  // ModelProto.graph
	pbGraphNode        = 1  // GraphProto.node
	pbGraphInitializer = 5  // GraphProto.initializer
	pbGraphInput       = 11 // GraphProto.input
	pbGraphOutput      = 12 // GraphProto.output
	pbGraphValueInfo   = 13 // GraphProto.value_info
	pbNodeInput        = 1  // NodeProto.input
	pbNodeOutput       = 2  // NodeProto.output
	pbTensorName       = 8  // TensorProto.name
	pbValueInfoName    = 1  // ValueInfoProto.name
)

// Prune returns the ONNX model with only the nodes, weights and graph
// outputs that the named outputs need: a backbone cut after its stride-16
// stage computes about half of the full network's work. Every field it
// keeps is copied byte for byte (the opset, the nodes, the weights), so
// the pruned graph computes the kept outputs exactly as the full one does,
// and the same input gives the same pruned bytes (its sha256 can be
// recorded and checked). Graph inputs the kept nodes do not read (none for
// a backbone) are dropped with the rest.
//
// It works on the protobuf wire format, so it needs no ONNX library. It
// returns an error wrapping ErrPrune for bytes that are not a model with a
// graph, or for an output no node of the graph produces.
func Prune(model []byte, outputs ...string) ([]byte, error) {
	if len(outputs) == 0 {
		return nil, fmt.Errorf("%w: no outputs named", ErrPrune)
	}
	var out, graph []byte
	found := false
	err := onnxwire.EachField(model, func(num protowire.Number, typ protowire.Type, raw, val []byte) {
		if num == pbModelGraph && typ == protowire.BytesType && !found {
			graph, found = val, true
			return
		}
		out = append(out, raw...)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPrune, err)
	}
	if !found {
		return nil, fmt.Errorf("%w: the file has no graph", ErrPrune)
	}
	g, err := pruneGraph(graph, outputs)
	if err != nil {
		return nil, err
	}
	out = protowire.AppendTag(out, pbModelGraph, protowire.BytesType)
	return protowire.AppendBytes(out, g), nil
}

type pbField struct {
	num protowire.Number
	typ protowire.Type
	raw []byte
	val []byte
}

func pruneGraph(graph []byte, outputs []string) ([]byte, error) {
	var fields []pbField
	if err := onnxwire.EachField(graph, func(num protowire.Number, typ protowire.Type, raw, val []byte) {
		fields = append(fields, pbField{num, typ, raw, val})
	}); err != nil {
		return nil, fmt.Errorf("%w: graph: %w", ErrPrune, err)
	}
	type node struct{ inputs []string }
	nodes := map[int]*node{} // by field index
	producer := map[string]int{}
	for i, f := range fields {
		if f.num != pbGraphNode || f.typ != protowire.BytesType {
			continue
		}
		n := &node{}
		var outs []string
		if err := onnxwire.EachField(f.val, func(num protowire.Number, typ protowire.Type, _, v []byte) {
			switch {
			case num == pbNodeInput && typ == protowire.BytesType:
				n.inputs = append(n.inputs, string(v))
			case num == pbNodeOutput && typ == protowire.BytesType:
				outs = append(outs, string(v))
			}
		}); err != nil {
			return nil, fmt.Errorf("%w: node: %w", ErrPrune, err)
		}
		nodes[i] = n
		for _, o := range outs {
			producer[o] = i
		}
	}
	graphOutputs := map[string]bool{}
	for _, f := range fields {
		if f.num == pbGraphOutput {
			graphOutputs[onnxwire.String(f.val, pbValueInfoName)] = true
		}
	}
	for _, o := range outputs {
		if _, ok := producer[o]; !ok {
			return nil, fmt.Errorf("%w: no node produces %q", ErrPrune, o)
		}
		if !graphOutputs[o] {
			return nil, fmt.Errorf("%w: %q is not an output of the graph", ErrPrune, o)
		}
	}
	// Walk back from the outputs: the tensors and nodes they need.
	used := map[string]bool{}
	keepNode := map[int]bool{}
	stack := slices.Clone(outputs)
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if used[t] {
			continue
		}
		used[t] = true
		if i, ok := producer[t]; ok && !keepNode[i] {
			keepNode[i] = true
			for _, in := range nodes[i].inputs {
				if in != "" {
					stack = append(stack, in)
				}
			}
		}
	}
	var g []byte
	for i, f := range fields {
		switch f.num {
		case pbGraphNode:
			if !keepNode[i] {
				continue
			}
		case pbGraphInitializer:
			if !used[onnxwire.String(f.val, pbTensorName)] {
				continue
			}
		case pbGraphInput, pbGraphValueInfo:
			if !used[onnxwire.String(f.val, pbValueInfoName)] {
				continue
			}
		case pbGraphOutput:
			if !slices.Contains(outputs, onnxwire.String(f.val, pbValueInfoName)) {
				continue
			}
		}
		g = append(g, f.raw...)
	}
	return g, nil
}
