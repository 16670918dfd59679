package onnx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	ia "github.com/pruefplatz/pruefplatz/inspector/anomaly"
	"github.com/pruefplatz/pruefplatz/internal/onnxwire"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"
)

// Nearest is an anomaly.Searcher on ONNX Runtime: the distances from a
// frame's patches to a memory bank are one matrix product (‖q‖² + ‖b‖² −
// 2 q·b), which ONNX Runtime's GEMM computes many times faster than Go
// loops. The graph is built in memory from the bank at load time; the bank
// file on disk stays the audited artefact.
type Nearest struct {
	mu   sync.Mutex
	bank *ia.Bank
	sess *ort.DynamicAdvancedSession
	in   map[int][2]*ort.Tensor[float32] // input and output tensors by patch count
}

var _ ia.Searcher = (*Nearest)(nil)

// NewNearest builds the search session for bank. Init must have been
// called; opt.Threads is ONNX Runtime's intra-op thread count (0: 1).
func NewNearest(bank *ia.Bank, opt Options) (*Nearest, error) {
	if !ort.IsInitialized() {
		return nil, errors.New("onnx: runtime not initialised (call onnx.Init)")
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if err := opt.apply(so); err != nil {
		return nil, err
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(nearestModel(bank), []string{"q"}, []string{"d"}, so)
	if err != nil {
		return nil, fmt.Errorf("onnx: nearest-neighbour graph: %w", err)
	}
	return &Nearest{bank: bank, sess: sess, in: map[int][2]*ort.Tensor[float32]{}}, nil
}

// Nearest implements anomaly.Searcher.
func (n *Nearest) Nearest(ctx context.Context, q, dst []float32) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := n.bank.Dim
	p := len(dst)
	if len(q) != p*d || p == 0 {
		return fmt.Errorf("onnx: nearest: %d values for %d patches of %d", len(q), p, d)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess == nil {
		return errors.New("onnx: nearest-neighbour session closed")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx: nearest-neighbour run panicked: %v", r)
		}
	}()
	t, ok := n.in[p]
	if !ok {
		in, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(p), int64(d)))
		if err != nil {
			return err
		}
		out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(p)))
		if err != nil {
			in.Destroy()
			return err
		}
		if len(n.in) >= 4 {
			for k, old := range n.in {
				old[0].Destroy()
				old[1].Destroy()
				delete(n.in, k)
			}
		}
		t = [2]*ort.Tensor[float32]{in, out}
		n.in[p] = t
	}
	copy(t[0].GetData(), q)
	if err := n.sess.Run([]ort.Value{t[0]}, []ort.Value{t[1]}); err != nil {
		return fmt.Errorf("onnx: nearest: %w", err)
	}
	for i, v := range t[1].GetData() {
		row := q[i*d : (i+1)*d]
		var s float32
		for _, x := range row {
			s += x * x
		}
		dst[i] = float32(math.Sqrt(float64(max(0, v+s))))
	}
	return nil
}

// Close frees the session and tensors; it is safe to call twice.
func (n *Nearest) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess == nil {
		return nil
	}
	for _, t := range n.in {
		t[0].Destroy()
		t[1].Destroy()
	}
	err := n.sess.Destroy()
	n.sess, n.in = nil, nil
	return err
}

// nearestModel is the ONNX model d[p] = min_j (‖b_j‖² − 2 q_p·b_j) for
// input q [P, D] and the bank as constants (opset 13).
func nearestModel(b *ia.Bank) []byte {
	m, d := b.Len(), b.Dim
	w := make([]float32, d*m) // −2·Bᵀ, [D, M]
	norms := make([]float32, m)
	for j := 0; j < m; j++ {
		row := b.Data[j*d : (j+1)*d]
		var s float32
		for c, v := range row {
			w[c*m+j] = -2 * v
			s += v * v
		}
		norms[j] = s
	}
	var g []byte
	g = onnxwire.AppendMessage(g, 1, node("MatMul", []string{"q", "w"}, "s", nil))
	g = onnxwire.AppendMessage(g, 1, node("Add", []string{"s", "n"}, "t", nil))
	axes := protowire.AppendTag(nil, 1, protowire.BytesType)
	axes = protowire.AppendString(axes, "axes")
	axes = protowire.AppendTag(axes, 8, protowire.VarintType)
	axes = protowire.AppendVarint(axes, 1)
	axes = protowire.AppendTag(axes, 20, protowire.VarintType)
	axes = protowire.AppendVarint(axes, 7) // INTS
	keep := protowire.AppendTag(nil, 1, protowire.BytesType)
	keep = protowire.AppendString(keep, "keepdims")
	keep = protowire.AppendTag(keep, 3, protowire.VarintType)
	keep = protowire.AppendVarint(keep, 0)
	keep = protowire.AppendTag(keep, 20, protowire.VarintType)
	keep = protowire.AppendVarint(keep, 2) // INT
	g = onnxwire.AppendMessage(g, 1, node("ReduceMin", []string{"t"}, "d", [][]byte{axes, keep}))
	g = protowire.AppendTag(g, 2, protowire.BytesType)
	g = protowire.AppendString(g, "patchcore_nearest")
	g = onnxwire.AppendMessage(g, 5, onnxwire.FloatTensor("w", []int64{int64(d), int64(m)}, w))
	g = onnxwire.AppendMessage(g, 5, onnxwire.FloatTensor("n", []int64{int64(m)}, norms))
	g = onnxwire.AppendMessage(g, 11, valueInfo("q", "P", int64(d)))
	g = onnxwire.AppendMessage(g, 12, valueInfo("d", "P"))

	var out []byte
	out = protowire.AppendTag(out, 1, protowire.VarintType) // ir_version
	out = protowire.AppendVarint(out, 7)
	op := protowire.AppendTag(nil, 2, protowire.VarintType)
	op = protowire.AppendVarint(op, 13)
	out = onnxwire.AppendMessage(out, 8, op) // opset_import
	return onnxwire.AppendMessage(out, 7, g)
}

func node(op string, inputs []string, output string, attrs [][]byte) []byte {
	var n []byte
	for _, in := range inputs {
		n = protowire.AppendTag(n, 1, protowire.BytesType)
		n = protowire.AppendString(n, in)
	}
	n = protowire.AppendTag(n, 2, protowire.BytesType)
	n = protowire.AppendString(n, output)
	n = protowire.AppendTag(n, 4, protowire.BytesType)
	n = protowire.AppendString(n, op)
	for _, a := range attrs {
		n = onnxwire.AppendMessage(n, 5, a)
	}
	return n
}

// valueInfo is a float tensor's ValueInfoProto; a dim is a symbolic name
// (string) or a size (int64).
func valueInfo(name string, dims ...any) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		switch v := d.(type) {
		case string:
			dim = protowire.AppendTag(dim, 2, protowire.BytesType)
			dim = protowire.AppendString(dim, v)
		case int64:
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(v))
		}
		shape = onnxwire.AppendMessage(shape, 1, dim)
	}
	tt := protowire.AppendTag(nil, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, 1) // FLOAT
	tt = onnxwire.AppendMessage(tt, 2, shape)
	typ := onnxwire.AppendMessage(nil, 1, tt)
	v := protowire.AppendTag(nil, 1, protowire.BytesType)
	v = protowire.AppendString(v, name)
	return onnxwire.AppendMessage(v, 2, typ)
}
