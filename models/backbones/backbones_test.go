package backbones

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	ort "github.com/yalue/onnxruntime_go"
)

const root = "." // this folder: models/backbones

func initORT(t testing.TB) {
	t.Helper()
	lib, _ := filepath.Abs("../../.deps/onnxruntime/libonnxruntime.so.1")
	if err := onnx.Init(lib); err != nil {
		t.Fatalf("ONNX Runtime: %v (run make setup)", err)
	}
}

func labels(t *testing.T) []string {
	f, err := os.Open(filepath.Join(MobileNetV2, "imagenet_labels.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var l []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l = append(l, sc.Text())
	}
	return l
}

// TestSanityLabels runs the check photos through the project's Preprocessor
// (centre crop, as the source's check did) and the full backbone, and
// expects each photo's ImageNet label as top-1.
func TestSanityLabels(t *testing.T) {
	initORT(t)
	b, err := Get(root, MobileNetV2)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(); err != nil {
		t.Fatal(err)
	}
	names := labels(t)
	if len(names) != 1001 {
		t.Fatalf("%d labels, want 1001", len(names))
	}
	spec := embed.Spec(inspector.ResizeCenterCrop, nil)
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 3, 224, 224))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 1001))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Destroy()
	sess, err := ort.NewAdvancedSession(b.File, []string{"input"}, []string{"probs"}, []ort.Value{in}, []ort.Value{out}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Destroy()
	for _, c := range []struct {
		file, label string
		least       float32
	}{
		{"cat.jpg", "Egyptian cat", 0.5},
		{"bird.jpg", "chickadee", 0.9},
		{"dragonfly.jpg", "dragonfly", 0.8},
		{"hot_dog.jpg", "hotdog", 0.8},
	} {
		t.Run(c.file, func(t *testing.T) {
			img, err := opencv.ReadImageFile(filepath.Join(MobileNetV2, "testdata", c.file), opencv.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			if err := opencv.Preprocess(img, spec, in.GetData()); err != nil {
				t.Fatal(err)
			}
			if err := sess.Run(); err != nil {
				t.Fatal(err)
			}
			p := out.GetData()
			best := 0
			for i := range p {
				if p[i] > p[best] {
					best = i
				}
			}
			// ImageNet names list synonyms after the first comma.
			if got, _, _ := strings.Cut(names[best], ","); got != c.label || p[best] < c.least {
				t.Errorf("top-1 %q (%.3f), want %q with at least %.2f", names[best], p[best], c.label, c.least)
			}
		})
	}
}

// TestEmbedderMatchesBatchOfOne checks the Embedder through the dynamic-
// batch session: a batch of four gives each image's batch-of-one vector,
// normalised, and the feature maps come back with their shapes.
func TestEmbedderMatchesBatchOfOne(t *testing.T) {
	initORT(t)
	b, _ := Get(root, MobileNetV2)
	r, err := onnx.OpenBackbone(b, onnx.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec := embed.Spec(inspector.ResizeLetterbox, nil)
	var xs [][]float32
	for _, f := range []string{"cat.jpg", "bird.jpg", "dragonfly.jpg", "hot_dog.jpg"} {
		x, err := opencv.PreprocessFile(filepath.Join(MobileNetV2, "testdata", f), spec)
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
	}
	ctx := context.Background()
	e4, err := embed.New(r, spec, 4)
	if err != nil {
		t.Fatal(err)
	}
	e1, _ := embed.New(r, spec, 1)
	v4, err := e4.EmbedTensors(ctx, xs)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := e1.EmbedTensors(ctx, xs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range xs {
		var norm, diff, dot float64
		for j := range v4[i] {
			norm += float64(v4[i][j]) * float64(v4[i][j])
			diff = max(diff, abs(float64(v4[i][j]-v1[i][j])))
			if i > 0 {
				dot += float64(v4[i][j]) * float64(v4[0][j])
			}
		}
		if abs(norm-1) > 1e-5 {
			t.Errorf("image %d: squared norm %.6f, want 1", i, norm)
		}
		if diff > 1e-5 {
			t.Errorf("image %d: batch 4 and batch 1 differ by %.2g (tolerance 1e-5)", i, diff)
		}
		if i > 0 && dot > 0.95 {
			t.Errorf("image %d is nearly the cat (cosine %.3f): the embeddings do not tell images apart", i, dot)
		}
	}
	fb, err := e4.EmbedFeatures(ctx, len(xs), func(i int, dst []float32) error { copy(dst, xs[i]); return nil }, embed.FeatS8|embed.FeatS16)
	if err != nil {
		t.Fatal(err)
	}
	if len(fb) != 1 || len(fb[0].S8) != 4*embed.S8Len || len(fb[0].S16) != 4*embed.S16Len || fb[0].S32 != nil {
		t.Fatalf("feature maps: %d batches, s8 %d s16 %d s32 %d values", len(fb), len(fb[0].S8), len(fb[0].S16), len(fb[0].S32))
	}
	if _, err := r.Run(ctx, xs[0][:100], 1, 0); !errors.Is(err, embed.ErrBatch) {
		t.Errorf("short tensor: %v, want ErrBatch", err)
	}
}

// TestRefusesTamperedBackbone flips one byte of a copy of the backbone:
// opening it must fail with ErrBackboneMismatch, naming the file.
func TestRefusesTamperedBackbone(t *testing.T) {
	initORT(t)
	b, _ := Get(root, MobileNetV2)
	data, err := os.ReadFile(b.File)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	b.File = filepath.Join(t.TempDir(), "tampered.onnx")
	if err := os.WriteFile(b.File, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = onnx.OpenBackbone(b, onnx.Options{})
	if !errors.Is(err, embed.ErrBackboneMismatch) {
		t.Fatalf("tampered backbone opened: %v", err)
	}
	if _, err := Get(root, "resnet-9000"); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown name: %v", err)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestFolder(t *testing.T) {
	reg := t.TempDir()
	if got := Folder("/opt/bb", reg); got != "/opt/bb" {
		t.Errorf("flag: %s", got)
	}
	if got := Folder("", reg); got != filepath.Join("models", Dir) {
		t.Errorf("registry without backbones/: %s, want the repository's", got)
	}
	if err := os.Mkdir(filepath.Join(reg, Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := Folder("", reg); got != filepath.Join(reg, Dir) {
		t.Errorf("registry with backbones/: %s", got)
	}
}

// TestPooledMapsSeeLocalDefect builds a regular machined-looking surface (a
// grid of 8-pixel squares) and the same surface with a small dark scratch
// (16×3 pixels, 0.1 % of the image). The scratch must change the stride-16
// map strongly where it lies and nowhere far from it, several times as much as it
// moves the whole-image embedding, and the maximum over positions must keep more
// of it than the mean: this is what the head's patch filters and max-pooled
// blocks read beside the embedding (docs/training.md, "Pretrained backbone").
func TestPooledMapsSeeLocalDefect(t *testing.T) {
	initORT(t)
	b, _ := Get(root, MobileNetV2)
	r, err := onnx.OpenBackbone(b, onnx.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec := embed.Spec("", nil)
	const hw = embed.Size * embed.Size
	surface := func(scratch bool) []float32 {
		x := make([]float32, spec.TensorLen())
		for y := 0; y < embed.Size; y++ {
			for c := 0; c < embed.Size; c++ {
				v := float32(0.3)
				if (y/8+c/8)%2 == 0 {
					v = -0.3
				}
				if scratch && y >= 120 && y < 123 && c >= 90 && c < 106 {
					v = -0.95
				}
				for ch := 0; ch < 3; ch++ {
					x[ch*hw+y*embed.Size+c] = v
				}
			}
		}
		return x
	}
	xs := [][]float32{surface(false), surface(true)}
	e, err := embed.New(r, spec, 2)
	if err != nil {
		t.Fatal(err)
	}
	fill := func(i int, dst []float32) error { copy(dst, xs[i]); return nil }
	fb, err := e.EmbedFeatures(context.Background(), 2, fill, embed.FeatS8|embed.FeatS16)
	if err != nil {
		t.Fatal(err)
	}
	bt := fb[0]
	// rel is |a − b| / |a| over the index set.
	rel := func(a, b []float32, idx func(yield func(int) bool)) float64 {
		var d, n float64
		for j := range idx {
			d += float64(a[j]-b[j]) * float64(a[j]-b[j])
			n += float64(a[j]) * float64(a[j])
		}
		return math.Sqrt(d / n)
	}
	all := func(n int) func(func(int) bool) {
		return func(yield func(int) bool) {
			for j := 0; j < n; j++ {
				if !yield(j) {
					return
				}
			}
		}
	}
	// at yields the 96 channels of s16 position (y, x).
	at := func(y, x int) func(func(int) bool) {
		return func(yield func(int) bool) {
			for c := 0; c < embed.S16Ch; c++ {
				if !yield(c*196 + y*14 + x) {
					return
				}
			}
		}
	}
	s16a, s16b := bt.S16[:embed.S16Len], bt.S16[embed.S16Len:]
	emb := rel(bt.Vector(0), bt.Vector(1), all(embed.Dim))
	local := rel(s16a, s16b, at(7, 6)) // the scratch's cell: rows 112–127, columns 96–111
	far := rel(s16a, s16b, at(1, 12))
	p0, p1 := bt.Pooled(0), bt.Pooled(1)
	block := func(name string) float64 {
		bl, _ := embed.BlockByName(name)
		return rel(p0[bl.Offset:bl.Offset+bl.Len], p1[bl.Offset:bl.Offset+bl.Len], all(bl.Len))
	}
	t.Logf("relative change: embedding %.4f; s16 at the scratch %.4f, far from it %.2g; s16max %.4f, s16avg %.4f",
		emb, local, far, block("s16max"), block("s16avg"))
	// Measured: 0.94 against 0.10, and s16max 0.15 against s16avg 0.020.
	if local < 5*emb {
		t.Errorf("the s16 map at the scratch moved %.4f, the embedding %.4f: want at least 5× as far", local, emb)
	}
	if far > 1e-3 {
		t.Errorf("the s16 map far from the scratch moved %.2g: the response is not local", far)
	}
	if block("s16max") < 4*block("s16avg") {
		t.Errorf("s16max moved %.4f, s16avg %.4f: want the maximum to keep at least 4× what the mean keeps", block("s16max"), block("s16avg"))
	}
}
