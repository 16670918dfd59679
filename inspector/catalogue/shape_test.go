package catalogue

import (
	"math"
	"testing"
)

// lShape is an unequal-leg L on the silhouette grid, mirrored top to
// bottom when mirror is set, turned by a half turn when turn is set.
func lShape(mirror, turn bool) []float32 {
	const g = SilhouetteGrid
	s := make([]float32, g*g)
	for y := 4; y < 12; y++ {
		for x := 2; x < 14; x++ {
			if y < 7 || x < 5 { // a long leg along the top, a short one down the left
				r := y
				if mirror {
					r = g - 1 - y
				}
				s[r*g+x] = 1
			}
		}
	}
	if turn {
		for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
			s[i], s[j] = s[j], s[i]
		}
	}
	return s
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func TestPhotoVector(t *testing.T) {
	emb := make([]float32, 8)
	for i := range emb {
		emb[i] = float32(i%3) + 0.5
	}
	left, leftTurned, right := PhotoVector(emb, lShape(false, false), nil), PhotoVector(emb, lShape(false, true), nil), PhotoVector(emb, lShape(true, false), nil)
	if len(left) != VectorLen(len(emb)) {
		t.Fatalf("length %d, want %d", len(left), VectorLen(len(emb)))
	}
	sil := func(v []float32) []float32 { return v[len(emb) : len(emb)+SilhouetteLen] }
	// The upright view is defined up to a half turn: both give one vector.
	if c := cosine(sil(left), sil(leftTurned)); c < 0.9999 {
		t.Errorf("a half turn changed the silhouette: cosine %.4f", c)
	}
	// A mirror image is not a turn: left and right stay apart, if less
	// than the L itself shows (the half-turn average overlaps them).
	if c := cosine(sil(left), sil(right)); c > 0.9 {
		t.Errorf("left and right silhouettes too alike: cosine %.3f", c)
	}
	// Parts are weighed as documented: unit embedding, √weight silhouette.
	norm := func(v []float32) float64 { return math.Sqrt(dot64(v, v)) }
	if n := norm(left[:len(emb)]); math.Abs(n-1) > 1e-5 {
		t.Errorf("embedding part has length %.5f, want 1", n)
	}
	if n := norm(sil(left)); math.Abs(n-math.Sqrt(SilhouetteWeight)) > 1e-5 {
		t.Errorf("silhouette part has length %.5f, want √%.1f", n, SilhouetteWeight)
	}
	// No part found: the silhouette counts as nothing.
	for _, x := range sil(PhotoVector(emb, nil, nil)) {
		if x != 0 {
			t.Fatal("a missing silhouette is not zero")
		}
	}
	// The caller's embedding is left as it was.
	if emb[0] != 0.5 {
		t.Error("PhotoVector changed its argument")
	}
}

func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}
