// Package embed turns images into feature vectors with a frozen pretrained
// backbone (MobileNetV2 on ImageNet): L2-normalised [N,1280] embeddings and,
// for patch-level work, the stride-8 and stride-16 feature maps.
//
// It is the one embedding path of the project: training a head on frozen
// features, the catalogue search and the good-only anomaly model all call
// Embedder. The package is pure Go; the backbone runs behind the Runner
// interface (ONNX Runtime in inspector/onnx) and images become tensors
// through a fill function (the shared inspector/opencv Preprocessor), so
// cgo and gocv Mats stay in the adapters.
package embed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// The backbone's ONNX contract (see models/backbones/mobilenet-v2/README.md).
const (
	InputName    = "input"     // float32 [N,3,224,224], RGB, (p−128)/128
	OutEmbedding = "embedding" // [N,1280] global-average-pooled last feature map
	OutFeatS8    = "feat_s8"   // [N,32,28,28]
	OutFeatS16   = "feat_s16"  // [N,96,14,14]
	OutFeatS32   = "feat_s32"  // [N,1280,7,7]

	Dim    = 1280 // embedding length
	Size   = 224  // input width and height
	S8Len  = 32 * 28 * 28
	S16Len = 96 * 14 * 14
	S32Len = 1280 * 7 * 7
)

// Errors returned by the package.
var (
	// ErrBackboneMismatch is returned by Backbone.Verify when the file's
	// sha256 is not the one the project ships: a swapped or damaged backbone
	// would silently change every embedding and every model built on them.
	ErrBackboneMismatch = errors.New("backbone file does not match its recorded sha256")
	// ErrBatch is returned for a batch whose tensors do not fit the input.
	ErrBatch = errors.New("embed: bad batch")
)

// Backbone names a pretrained backbone file and what it must be.
type Backbone struct {
	Name    string `json:"name"`
	File    string `json:"-"` // path of the ONNX file
	SHA256  string `json:"sha256"`
	License string `json:"license"`
	Source  string `json:"source,omitempty"`
}

// Verify hashes the file and compares it with b.SHA256. It returns an error
// wrapping ErrBackboneMismatch for a different file, or the read error.
func (b Backbone) Verify() error {
	f, err := os.Open(b.File)
	if err != nil {
		return fmt.Errorf("backbone %s: %w", b.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("backbone %s: reading %s: %w", b.Name, b.File, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.SHA256 {
		return fmt.Errorf("%w: %s (%s) has sha256 %s, want %s; restore the file from the repository",
			ErrBackboneMismatch, b.Name, filepath.Clean(b.File), got, b.SHA256)
	}
	return nil
}

// Spec is the backbone's input spec: 224×224 RGB, x = (p − 128)/128 (mean =
// std = 128/255), with the caller's resize mode and ROI. An empty resize
// mode means stretch.
func Spec(resize inspector.ResizeMode, roi *inspector.Rect) inspector.InputSpec {
	if resize == "" {
		resize = inspector.ResizeStretch
	}
	const m = float32(128.0 / 255.0)
	return inspector.InputSpec{Width: Size, Height: Size, Channels: 3, Resize: resize, ROI: roi,
		Mean: []float32{m, m, m}, Std: []float32{m, m, m}, Interpolation: inspector.InterpLinear}
}

// Features selects the outputs a Runner returns besides the embedding.
type Features uint8

// Feature maps for patch-level features.
const (
	FeatS8 Features = 1 << iota
	FeatS16
	FeatS32
)

// Batch is the backbone's output for N images, flat and row-major.
type Batch struct {
	N         int
	Embedding []float32 // N×Dim
	S8        []float32 // N×S8Len, when asked for
	S16       []float32 // N×S16Len, when asked for
	S32       []float32 // N×S32Len, when asked for
}

// Vector returns image i's embedding (a view into b.Embedding).
func (b Batch) Vector(i int) []float32 { return b.Embedding[i*Dim : (i+1)*Dim : (i+1)*Dim] }

// Runner runs the backbone on n input tensors laid out one after the other
// in x ([n,3,224,224]). The returned slices are fresh (the caller owns
// them); the embedding is the backbone's raw output, not normalised.
// Implementations need not be safe for concurrent use.
type Runner interface {
	Run(ctx context.Context, x []float32, n int, want Features) (Batch, error)
}

// Embedder batches tensors through a Runner and L2-normalises the embeddings.
type Embedder struct {
	r      Runner
	spec   inspector.InputSpec
	batch  int
	x      []float32 // reused input buffer, batch×TensorLen
	pooled bool      // Cached computes pooled vectors
	s16map bool      // pooled vectors carry the raw feat_s16 map after the blocks
}

// SetPooled makes Cached compute pooled vectors (EmbedPooled) instead of
// embeddings; the caller's keys must then carry PooledFeatures.
func (e *Embedder) SetPooled(on bool) { e.pooled = on }

// SetS16Map makes EmbedPooled (and so Cached, with SetPooled) append the raw
// feat_s16 map (S16Len values, channel-major, not normalised) to each pooled
// vector, for a head that learns its own filters on the patches; keys must
// then carry PooledS16MapFeatures.
func (e *Embedder) SetS16Map(on bool) { e.s16map = on }

// New returns an Embedder running batches of up to batch images (default
// 16) of spec's tensors. spec must be a Spec(...) of this package.
func New(r Runner, spec inspector.InputSpec, batch int) (*Embedder, error) {
	if batch <= 0 {
		batch = 16
	}
	if spec.Width != Size || spec.Height != Size || spec.Channels != 3 {
		return nil, fmt.Errorf("%w: the backbone takes %dx%dx3, spec says %dx%dx%d", inspector.ErrBadSpec, Size, Size, spec.Width, spec.Height, spec.Channels)
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return &Embedder{r: r, spec: spec, batch: batch, x: make([]float32, batch*spec.TensorLen())}, nil
}

// Spec returns the input spec the embedder's tensors follow.
func (e *Embedder) Spec() inspector.InputSpec { return e.spec }

// BatchSize is the most images one Runner call gets.
func (e *Embedder) BatchSize() int { return e.batch }

// Fill writes the input tensor of image i into dst (spec.TensorLen() values),
// for example with inspector/opencv's Preprocessor.
type Fill func(i int, dst []float32) error

// Embed returns the L2-normalised embeddings of n images, whose tensors
// fill writes. It returns fill's error (wrapped, naming the image index),
// the Runner's error or ctx's error. It is not safe for concurrent use.
func (e *Embedder) Embed(ctx context.Context, n int, fill Fill) ([][]float32, error) {
	out := make([][]float32, 0, n)
	err := e.run(ctx, n, fill, 0, func(b Batch) {
		for i := 0; i < b.N; i++ {
			v := b.Vector(i)
			Normalize(v)
			out = append(out, v)
		}
	})
	return out, err
}

// EmbedFeatures is Embed with the wanted feature maps too: one Batch per
// Runner call, in order, embeddings normalised.
func (e *Embedder) EmbedFeatures(ctx context.Context, n int, fill Fill, want Features) ([]Batch, error) {
	var out []Batch
	err := e.run(ctx, n, fill, want, func(b Batch) {
		for i := 0; i < b.N; i++ {
			Normalize(b.Vector(i))
		}
		out = append(out, b)
	})
	return out, err
}

// EmbedTensors embeds ready tensors (each spec.TensorLen() values).
func (e *Embedder) EmbedTensors(ctx context.Context, xs [][]float32) ([][]float32, error) {
	return e.Embed(ctx, len(xs), func(i int, dst []float32) error {
		if len(xs[i]) != len(dst) {
			return fmt.Errorf("%w: tensor has %d values, want %d", ErrBatch, len(xs[i]), len(dst))
		}
		copy(dst, xs[i])
		return nil
	})
}

func (e *Embedder) run(ctx context.Context, n int, fill Fill, want Features, emit func(Batch)) error {
	tl := e.spec.TensorLen()
	for start := 0; start < n; start += e.batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(e.batch, n-start)
		for i := 0; i < k; i++ {
			if err := fill(start+i, e.x[i*tl:(i+1)*tl]); err != nil {
				return fmt.Errorf("embed: image %d: %w", start+i, err)
			}
		}
		b, err := e.r.Run(ctx, e.x[:k*tl], k, want)
		if err != nil {
			return err
		}
		if b.N != k || len(b.Embedding) != k*Dim {
			return fmt.Errorf("%w: runner returned %d embeddings of %d values for %d images", ErrBatch, b.N, len(b.Embedding), k)
		}
		if (want&FeatS8 != 0 && len(b.S8) != k*S8Len) || (want&FeatS16 != 0 && len(b.S16) != k*S16Len) {
			return fmt.Errorf("%w: runner returned feature maps of %d and %d values for %d images", ErrBatch, len(b.S8), len(b.S16), k)
		}
		emit(b)
	}
	return nil
}

// Normalize scales v to unit length in place; a zero vector stays zero.
// The sum is taken in float64, so the result does not depend on the order
// a batch was computed in beyond the backbone's own rounding.
func Normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := 1 / math.Sqrt(s)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
}

// Pooled vectors: the embedding with the stride-16 and stride-8 feature
// maps pooled beside it. The embedding averages the last map over the whole
// image, so a defect a few pixels wide moves it very little; the maximum of
// an earlier, finer map over all positions keeps a local response whole.
//
// Layout of a pooled vector, each block L2-normalised on its own so that no
// block's scale drowns another's:
//
//	[0, 1280)      embedding
//	[1280, 1376)   max of feat_s16 over its 14×14 positions
//	[1376, 1472)   mean of feat_s16
//	[1472, 1504)   max of feat_s8 over its 28×28 positions
//	[1504, 1536)   mean of feat_s8
const (
	S16Ch     = 96
	S8Ch      = 32
	PooledDim = Dim + 2*S16Ch + 2*S8Ch
)

// Block is one L2-normalised part of a pooled vector.
type Block struct {
	Name   string // as --pool names it: embedding, s16max, s16avg, s8max, s8avg
	Output string // the backbone output it is pooled from
	Max    bool   // GlobalMaxPool, else GlobalAveragePool (unused for the embedding)
	Offset int    // start in the pooled vector
	Len    int
}

// Blocks lists the blocks of a pooled vector in their order.
var Blocks = []Block{
	{Name: "embedding", Output: OutEmbedding, Offset: 0, Len: Dim},
	{Name: "s16max", Output: OutFeatS16, Max: true, Offset: Dim, Len: S16Ch},
	{Name: "s16avg", Output: OutFeatS16, Offset: Dim + S16Ch, Len: S16Ch},
	{Name: "s8max", Output: OutFeatS8, Max: true, Offset: Dim + 2*S16Ch, Len: S8Ch},
	{Name: "s8avg", Output: OutFeatS8, Offset: Dim + 2*S16Ch + S8Ch, Len: S8Ch},
}

// BlockByName returns the named block, or false.
func BlockByName(name string) (Block, bool) {
	for _, b := range Blocks {
		if b.Name == name {
			return b, true
		}
	}
	return Block{}, false
}

// Pooled returns image i's pooled vector (PooledDim values, fresh). b must
// hold the S8 and S16 maps; the embedding may be raw or normalised.
func (b Batch) Pooled(i int) []float32 {
	out := make([]float32, PooledDim)
	copy(out, b.Embedding[i*Dim:(i+1)*Dim])
	poolMaps(b.S16[i*S16Len:(i+1)*S16Len], S16Ch, out[Dim:Dim+S16Ch], out[Dim+S16Ch:Dim+2*S16Ch])
	poolMaps(b.S8[i*S8Len:(i+1)*S8Len], S8Ch, out[Dim+2*S16Ch:Dim+2*S16Ch+S8Ch], out[Dim+2*S16Ch+S8Ch:])
	for _, bl := range Blocks {
		Normalize(out[bl.Offset : bl.Offset+bl.Len])
	}
	return out
}

// poolMaps writes the per-channel maximum and mean of maps ([ch, H·W]).
func poolMaps(maps []float32, ch int, mx, avg []float32) {
	hw := len(maps) / ch
	for c := 0; c < ch; c++ {
		m := maps[c*hw : (c+1)*hw]
		hi := m[0]
		var s float64
		for _, v := range m {
			hi = max(hi, v)
			s += float64(v)
		}
		mx[c], avg[c] = hi, float32(s/float64(hw))
	}
}

// EmbedPooled returns the pooled vectors (see Blocks) of n images, whose
// tensors fill writes, with the raw feat_s16 map appended after SetS16Map.
// Errors as for Embed.
func (e *Embedder) EmbedPooled(ctx context.Context, n int, fill Fill) ([][]float32, error) {
	out := make([][]float32, 0, n)
	err := e.run(ctx, n, fill, FeatS8|FeatS16, func(b Batch) {
		for i := 0; i < b.N; i++ {
			v := b.Pooled(i)
			if e.s16map {
				v = append(v, b.S16[i*S16Len:(i+1)*S16Len]...)
			}
			out = append(out, v)
		}
	})
	return out, err
}
