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
