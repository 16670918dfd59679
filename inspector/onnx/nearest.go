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
	// the session that also finds each patch's nearest word (built on
	// the first NearestWords call, for nw words), its output tensors
	opts  Options
	wsess *ort.DynamicAdvancedSession
	nw    int
	wout  map[int]*ort.Tensor[int64]
}

var _ ia.WordSearcher = (*Nearest)(nil)

// NewNearest builds the search session for bank. Init must have been
// called; opt.Threads is ONNX Runtime's intra-op thread count (0: 1).
func NewNearest(bank *ia.Bank, opt Options) (*Nearest, error) {
	if !ort.IsInitialized() {
		return nil, errors.New("onnx: runtime not initialised (call onnx.Init)")
	}
	sess, err := newSession(nearestModel(bank, 0), []string{"d"}, opt)
	if err != nil {
		return nil, fmt.Errorf("onnx: nearest-neighbour graph: %w", err)
	}
	return &Nearest{bank: bank, sess: sess, in: map[int][2]*ort.Tensor[float32]{}, opts: opt}, nil
}

// newSession builds a session of graph model with input q and outputs.
func newSession(model []byte, outputs []string, opt Options) (*ort.DynamicAdvancedSession, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if err := opt.apply(so); err != nil {
		return nil, err
	}
	return ort.NewDynamicAdvancedSessionWithONNXData(model, []string{"q"}, outputs, so)
}

// Nearest implements anomaly.Searcher.
func (n *Nearest) Nearest(ctx context.Context, q, dst []float32) error {
	return n.search(ctx, q, dst, nil, 0)
}

// NearestWords implements anomaly.WordSearcher: the word search is a
// second, small matrix product in the same run, so the global part costs
// no Go loop over the words. The first call for a word count builds its
// session.
func (n *Nearest) NearestWords(ctx context.Context, q, dst []float32, nearest []int32, words int) error {
	if len(nearest) != len(dst) {
		return fmt.Errorf("onnx: nearest words: %d slots for %d patches", len(nearest), len(dst))
	}
	if words <= 0 || words > n.bank.Len() {
		return fmt.Errorf("onnx: nearest words: %d words from a bank of %d patches", words, n.bank.Len())
	}
	return n.search(ctx, q, dst, nearest, words)
}

func (n *Nearest) search(ctx context.Context, q, dst []float32, nearest []int32, words int) (err error) {
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
		dropAllAt(n.in, 4, func(old [2]*ort.Tensor[float32]) {
			old[0].Destroy()
			old[1].Destroy()
		})
		t = [2]*ort.Tensor[float32]{in, out}
		n.in[p] = t
	}
	copy(t[0].GetData(), q)
	if nearest == nil {
		if err := n.sess.Run([]ort.Value{t[0]}, []ort.Value{t[1]}); err != nil {
			return fmt.Errorf("onnx: nearest: %w", err)
		}
	} else {
		a, err := n.wordTensor(p, words)
		if err != nil {
			return err
		}
		if err := n.wsess.Run([]ort.Value{t[0]}, []ort.Value{t[1], a}); err != nil {
			return fmt.Errorf("onnx: nearest words: %w", err)
		}
		for i, w := range a.GetData() {
			nearest[i] = int32(w)
		}
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

// wordTensor returns the word output for p patches, building the word
// session for words first where needed. n.mu is held.
func (n *Nearest) wordTensor(p, words int) (*ort.Tensor[int64], error) {
	if n.wsess == nil || n.nw != words {
		n.closeWords()
		ws, err := newSession(nearestModel(n.bank, words), []string{"d", "a"}, n.opts)
		if err != nil {
			return nil, fmt.Errorf("onnx: nearest-word graph: %w", err)
		}
		n.wsess, n.nw, n.wout = ws, words, map[int]*ort.Tensor[int64]{}
	}
	if a, ok := n.wout[p]; ok {
		return a, nil
	}
	a, err := ort.NewEmptyTensor[int64](ort.NewShape(int64(p)))
	if err != nil {
		return nil, err
	}
	dropAllAt(n.wout, 4, func(a *ort.Tensor[int64]) { a.Destroy() })
	n.wout[p] = a
	return a, nil
}

// closeWords frees the word session and its tensors. n.mu is held.
func (n *Nearest) closeWords() {
	for _, a := range n.wout {
		a.Destroy()
	}
	if n.wsess != nil {
		n.wsess.Destroy()
	}
	n.wsess, n.wout, n.nw = nil, nil, 0
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
	n.closeWords()
	err := n.sess.Destroy()
	n.sess, n.in = nil, nil
	return err
}

// nearestModel is the ONNX model d[p] = min_j (‖b_j‖² − 2 q_p·b_j) for
// input q [P, D] and the bank as constants (opset 13); with words > 0 also
// a[p] = argmin_j<words of the same (int64), the nearest of the bank's
// first words patches.
func nearestModel(b *ia.Bank, words int) []byte {
	m, d := b.Len(), b.Dim
	w, norms := minusTwoT(b.Data, m, d)
	var g []byte
	g = onnxwire.AppendMessage(g, 1, node("MatMul", []string{"q", "w"}, "s", nil))
	g = onnxwire.AppendMessage(g, 1, node("Add", []string{"s", "n"}, "t", nil))
	axes := intAttr("axes", 8, 7, 1) // ints, INTS
	keep := intAttr("keepdims", 3, 2, 0)
	g = onnxwire.AppendMessage(g, 1, node("ReduceMin", []string{"t"}, "d", [][]byte{axes, keep}))
	if words > 0 {
		g = onnxwire.AppendMessage(g, 1, node("MatMul", []string{"q", "ww"}, "sw", nil))
		g = onnxwire.AppendMessage(g, 1, node("Add", []string{"sw", "nw"}, "tw", nil))
		g = onnxwire.AppendMessage(g, 1, node("ArgMin", []string{"tw"}, "a", [][]byte{intAttr("axis", 3, 2, 1), keep}))
	}
	g = protowire.AppendTag(g, 2, protowire.BytesType)
	g = protowire.AppendString(g, "patchcore_nearest")
	g = onnxwire.AppendMessage(g, 5, onnxwire.FloatTensor("w", []int64{int64(d), int64(m)}, w))
	g = onnxwire.AppendMessage(g, 5, onnxwire.FloatTensor("n", []int64{int64(m)}, norms))
	if words > 0 {
		ww, nw := minusTwoT(b.Data[:words*d], words, d)
		g = onnxwire.AppendMessage(g, 5, onnxwire.FloatTensor("ww", []int64{int64(d), int64(words)}, ww))
		g = onnxwire.AppendMessage(g, 5, onnxwire.FloatTensor("nw", []int64{int64(words)}, nw))
	}
	g = onnxwire.AppendMessage(g, 11, valueInfo("q", "P", int64(d)))
	g = onnxwire.AppendMessage(g, 12, valueInfo("d", "P"))
	if words > 0 {
		g = onnxwire.AppendMessage(g, 12, valueInfoOf("a", 7, "P"))
	}

	var out []byte
	out = protowire.AppendTag(out, 1, protowire.VarintType) // ir_version
	out = protowire.AppendVarint(out, 7)
	op := protowire.AppendTag(nil, 2, protowire.VarintType)
	op = protowire.AppendVarint(op, 13)
	out = onnxwire.AppendMessage(out, 8, op) // opset_import
	return onnxwire.AppendMessage(out, 7, g)
}

// minusTwoT returns −2·Xᵀ [d, m] and the rows' squared norms of the m×d
// matrix x.
func minusTwoT(x []float32, m, d int) (w, norms []float32) {
	w = make([]float32, d*m)
	norms = make([]float32, m)
	for j := 0; j < m; j++ {
		row := x[j*d : (j+1)*d]
		var s float32
		for c, v := range row {
			w[c*m+j] = -2 * v
			s += v * v
		}
		norms[j] = s
	}
	return w, norms
}

// intAttr is an AttributeProto named name holding the integer v in field
// (3: i, 8: ints) with the attribute type typ (2: INT, 7: INTS).
func intAttr(name string, field protowire.Number, typ, v uint64) []byte {
	a := protowire.AppendTag(nil, 1, protowire.BytesType)
	a = protowire.AppendString(a, name)
	a = protowire.AppendTag(a, field, protowire.VarintType)
	a = protowire.AppendVarint(a, v)
	a = protowire.AppendTag(a, 20, protowire.VarintType)
	return protowire.AppendVarint(a, typ)
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
func valueInfo(name string, dims ...any) []byte { return valueInfoOf(name, 1, dims...) }

// valueInfoOf is valueInfo for element type elem (ONNX's
// TensorProto.DataType: 1 float, 7 int64).
func valueInfoOf(name string, elem uint64, dims ...any) []byte {
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
	tt = protowire.AppendVarint(tt, elem)
	tt = onnxwire.AppendMessage(tt, 2, shape)
	typ := onnxwire.AppendMessage(nil, 1, tt)
	v := protowire.AppendTag(nil, 1, protowire.BytesType)
	v = protowire.AppendString(v, name)
	return onnxwire.AppendMessage(v, 2, typ)
}
