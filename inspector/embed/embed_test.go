package embed

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// fakeRunner's embedding of an image is its tensor's first Dim values, so
// tests know what each vector must be; it counts the images it ran.
type fakeRunner struct {
	images, calls int
	fail          error
}

func (f *fakeRunner) Run(_ context.Context, x []float32, n int, want Features) (Batch, error) {
	if f.fail != nil {
		return Batch{}, f.fail
	}
	f.images += n
	f.calls++
	tl := len(x) / n
	b := Batch{N: n}
	for i := 0; i < n; i++ {
		b.Embedding = append(b.Embedding, x[i*tl:i*tl+Dim]...)
	}
	if want&FeatS8 != 0 {
		b.S8 = make([]float32, n*S8Len)
	}
	if want&FeatS16 != 0 {
		b.S16 = make([]float32, n*S16Len)
	}
	return b, nil
}

// fillConst gives image i the tensor with every value i+1 (and value 0
// for image -1's slot, which never happens).
func fillConst(i int, dst []float32) error {
	for j := range dst {
		dst[j] = float32(i + 1)
	}
	return nil
}

func TestEmbedBatchesAndNormalises(t *testing.T) {
	r := &fakeRunner{}
	e, err := New(r, Spec("", nil), 4)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := e.Embed(context.Background(), 10, fillConst)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 10 || r.calls != 3 || r.images != 10 {
		t.Fatalf("%d vectors in %d calls of %d images, want 10 in 3 (4+4+2)", len(vs), r.calls, r.images)
	}
	want := float32(1 / math.Sqrt(Dim))
	for i, v := range vs {
		if len(v) != Dim || math.Abs(float64(v[0]-want)) > 1e-6 {
			t.Fatalf("vector %d: %d values, first %g, want %d values of %g", i, len(v), v[0], Dim, want)
		}
	}
	bad := errors.New("camera unplugged")
	_, err = e.Embed(context.Background(), 3, func(i int, dst []float32) error {
		if i == 2 {
			return bad
		}
		return nil
	})
	if !errors.Is(err, bad) {
		t.Errorf("fill error: %v", err)
	}
	if _, err := New(r, inspector.DefaultSpec(64), 1); !errors.Is(err, inspector.ErrBadSpec) {
		t.Errorf("64 px spec accepted: %v", err)
	}
}

func TestNormalizeZero(t *testing.T) {
	v := []float32{0, 0}
	Normalize(v)
	if v[0] != 0 || v[1] != 0 {
		t.Errorf("zero vector became %v", v)
	}
	v = []float32{3, 4}
	Normalize(v)
	if math.Abs(float64(v[0])-0.6) > 1e-7 || math.Abs(float64(v[1])-0.8) > 1e-7 {
		t.Errorf("(3,4) normalised to %v", v)
	}
}

func TestKeyCoversEveryPart(t *testing.T) {
	base := KeyParts{ImageSHA256: "aa", BackboneSHA256: "bb", Spec: Spec(inspector.ResizeStretch, nil), Seed: 1, View: 0}
	letter := base
	letter.Spec = Spec(inspector.ResizeLetterbox, nil)
	for name, p := range map[string]KeyParts{
		"image":        {ImageSHA256: "ab", BackboneSHA256: "bb", Spec: base.Spec, Seed: 1},
		"backbone":     {ImageSHA256: "aa", BackboneSHA256: "bc", Spec: base.Spec, Seed: 1},
		"spec":         letter,
		"augmentation": {ImageSHA256: "aa", BackboneSHA256: "bb", Spec: base.Spec, Seed: 1, Augmentation: []byte(`{}`)},
		"seed":         {ImageSHA256: "aa", BackboneSHA256: "bb", Spec: base.Spec, Seed: 2},
		"view":         {ImageSHA256: "aa", BackboneSHA256: "bb", Spec: base.Spec, Seed: 1, View: 1},
		"boundary":     {ImageSHA256: "aab", BackboneSHA256: "b", Spec: base.Spec, Seed: 1},
		"features":     {ImageSHA256: "aa", BackboneSHA256: "bb", Spec: base.Spec, Seed: 1, Features: PooledFeatures},
	} {
		if MakeKey(p) == MakeKey(base) {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
	again := base // a copy with the same parts, not the same value
	again.Spec.Mean = append([]float32(nil), base.Spec.Mean...)
	if MakeKey(again) != MakeKey(base) {
		t.Error("key is not deterministic")
	}
}

// TestCachedSecondRunEmbedsNothing: the second call with the same keys is
// served from the cache; a new key costs one embedding.
func TestCachedSecondRunEmbedsNothing(t *testing.T) {
	r := &fakeRunner{}
	e, _ := New(r, Spec("", nil), 4)
	c := MemCache{}
	keys := make([]Key, 9)
	for i := range keys {
		keys[i] = MakeKey(KeyParts{ImageSHA256: string(rune('a' + i)), View: i})
	}
	first, st, err := Cached(context.Background(), e, c, keys, fillConst)
	if err != nil || st.Computed != 9 || st.Hits != 0 {
		t.Fatalf("first run: %+v, %v", st, err)
	}
	second, st, err := Cached(context.Background(), e, c, keys, func(int, []float32) error {
		return errors.New("second run decoded an image")
	})
	if err != nil || st.Computed != 0 || st.Hits != 9 || r.images != 9 {
		t.Fatalf("second run: %+v, %v, runner saw %d images", st, err, r.images)
	}
	for i := range first {
		if first[i][0] != second[i][0] {
			t.Fatalf("vector %d changed: %g → %g", i, first[i][0], second[i][0])
		}
	}
	keys = append(keys, MakeKey(KeyParts{ImageSHA256: "new"}))
	_, st, err = Cached(context.Background(), e, c, keys, fillConst)
	if err != nil || st.Computed != 1 || st.Hits != 9 {
		t.Fatalf("one new key: %+v, %v", st, err)
	}
	// A failing backbone stores nothing.
	r.fail = errors.New("ort: out of memory")
	n := len(c)
	if _, _, err := Cached(context.Background(), e, c, []Key{MakeKey(KeyParts{ImageSHA256: "x"})}, fillConst); !errors.Is(err, r.fail) {
		t.Fatalf("runner failure: %v", err)
	}
	if len(c) != n {
		t.Errorf("a failed run stored %d vectors", len(c)-n)
	}
}

// TestPooledBlocks builds feature maps by hand: one position of one channel
// raised (a local defect) moves that channel's max block fully and its mean
// block by 1/positions; every block comes out unit length, in the layout
// Blocks documents.
func TestPooledBlocks(t *testing.T) {
	b := Batch{N: 2, Embedding: make([]float32, 2*Dim), S8: make([]float32, 2*S8Len), S16: make([]float32, 2*S16Len)}
	for i := range b.Embedding {
		b.Embedding[i] = 1
	}
	for i := range b.S8 {
		b.S8[i] = 0.5
	}
	for i := range b.S16 {
		b.S16[i] = 0.5
	}
	// Image 1: channel 7 of each map gets one hot position.
	b.S16[S16Len+7*196+100] = 8.5
	b.S8[S8Len+7*784+300] = 8.5
	p0, p1 := b.Pooled(0), b.Pooled(1)
	if len(p0) != PooledDim {
		t.Fatalf("%d values, want %d", len(p0), PooledDim)
	}
	total := 0
	for _, bl := range Blocks {
		var n0 float64
		for _, v := range p0[bl.Offset : bl.Offset+bl.Len] {
			n0 += float64(v) * float64(v)
		}
		if math.Abs(n0-1) > 1e-5 {
			t.Errorf("%s: squared norm %.6f, want 1", bl.Name, n0)
		}
		if bl.Offset != total {
			t.Errorf("%s starts at %d, want %d", bl.Name, bl.Offset, total)
		}
		total += bl.Len
	}
	if total != PooledDim {
		t.Errorf("blocks cover %d values, want %d", total, PooledDim)
	}
	ratio := func(name string, p []float32) float32 {
		bl, _ := BlockByName(name)
		return p[bl.Offset+7] / p[bl.Offset+6]
	}
	for _, c := range []struct {
		block string
		want  float32
	}{
		{"s16max", 17}, {"s16avg", (195*0.5 + 8.5) / 196 / 0.5}, {"s8max", 17}, {"s8avg", (783*0.5 + 8.5) / 784 / 0.5},
	} {
		if got := ratio(c.block, p1); math.Abs(float64(got-c.want)) > 1e-4 {
			t.Errorf("%s: channel 7 / channel 6 = %.5f, want %.5f", c.block, got, c.want)
		}
		if got := ratio(c.block, p0); got != 1 {
			t.Errorf("%s of the flat image: channel 7 / channel 6 = %.5f, want 1", c.block, got)
		}
	}
}
