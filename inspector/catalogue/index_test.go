package catalogue

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func unit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var s float64
	for i := range v {
		x := rng.NormFloat64()
		v[i], s = float32(x), s+x*x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(s))
	}
	return v
}

// bruteForce is the reference: float64 cosine of the centred vectors, max per part.
func bruteForce(parts []string, vecs [][]float32, q []float32, center bool) map[string]float64 {
	dim := len(q)
	mean := make([]float64, dim)
	if center {
		for _, v := range vecs {
			for j, x := range v {
				mean[j] += float64(x) / float64(len(vecs))
			}
		}
	}
	prep := func(v []float32) []float64 {
		out := make([]float64, dim)
		var s float64
		for j, x := range v {
			out[j] = float64(x) - mean[j]
			s += out[j] * out[j]
		}
		for j := range out {
			out[j] /= math.Sqrt(s)
		}
		return out
	}
	pq := prep(q)
	best := map[string]float64{}
	for i, v := range vecs {
		pv := prep(v)
		var d float64
		for j := range pv {
			d += pv[j] * pq[j]
		}
		if b, ok := best[parts[i]]; !ok || d > b {
			best[parts[i]] = d
		}
	}
	return best
}

func TestSearchMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct {
		name          string
		parts, photos int
		dim           int
		center        bool
		workers       int
	}{
		{"small centred", 30, 5, 64, true, 1},
		{"uncentred", 30, 3, 64, false, 1},
		{"parallel scan", 500, 5, 128, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			b := NewBuilder(tc.dim)
			b.Center = tc.center
			var parts []string
			var vecs [][]float32
			for p := range tc.parts {
				for range tc.photos {
					v := unit(rng, tc.dim)
					name := "P" + string(rune('A'+p%26)) + string(rune('a'+p/26))
					parts, vecs = append(parts, name), append(vecs, v)
					if !b.Add(name, "", v) {
						t.Fatal("Add refused a vector of the right length")
					}
				}
			}
			if b.Add("x", "", make([]float32, tc.dim+1)) {
				t.Fatal("Add took a vector of the wrong length")
			}
			ix := b.Build()
			ix.Workers = tc.workers
			for range 20 {
				q := unit(rng, tc.dim)
				want := bruteForce(parts, vecs, q, tc.center)
				hits := ix.Search(q, 5, nil)
				type ps struct {
					p string
					s float64
				}
				var ranked []ps
				for p, s := range want {
					ranked = append(ranked, ps{p, s})
				}
				sort.Slice(ranked, func(i, j int) bool { return ranked[i].s > ranked[j].s })
				for i, h := range hits {
					// int16 rounding: scores within 0.01 of float64; ranks may swap only for near ties.
					if d := math.Abs(float64(h.Score) - want[h.Part]); d > 0.01 {
						t.Fatalf("part %s: score %.4f, exact %.4f", h.Part, h.Score, want[h.Part])
					}
					if ranked[i].p != h.Part && math.Abs(ranked[i].s-want[h.Part]) > 0.01 {
						t.Fatalf("rank %d: %s (%.4f), exact order has %s (%.4f)", i, h.Part, want[h.Part], ranked[i].p, ranked[i].s)
					}
				}
				if len(hits) != 5 {
					t.Fatalf("%d hits, want 5", len(hits))
				}
			}
		})
	}
}

func TestSearchSkipAndEmpty(t *testing.T) {
	ix := NewBuilder(8).Build()
	if h := ix.Search(make([]float32, 8), 5, nil); len(h) != 0 {
		t.Fatalf("empty index: %v", h)
	}
	b := NewBuilder(3)
	b.Center = false
	b.Add("A", "a1", []float32{1, 0, 0})
	b.Add("A", "a2", []float32{0.6, 0.8, 0})
	b.Add("B", "b1", []float32{0, 1, 0})
	ix = b.Build()
	h := ix.Search([]float32{0.8, 0.6, 0}, 5, nil)
	if len(h) != 2 || h[0].Part != "A" || h[0].Photo != "a1" && h[0].Photo != "a2" {
		t.Fatalf("hits %+v", h)
	}
	if h := ix.Search([]float32{1, 0, 0}, 5, func(p string) bool { return p == "A" }); len(h) != 1 || h[0].Part != "B" {
		t.Fatalf("skip A: %+v", h)
	}
}

// TestCalibrate builds tight clusters: known photos score high against
// their own part, and with the part left out everything scores low, so
// the threshold separates them; widening the clusters lowers it.
func TestCalibrate(t *testing.T) {
	build := func(spread float64) *Index {
		rng := rand.New(rand.NewPCG(3, 4))
		b := NewBuilder(64)
		for p := range 40 {
			c := unit(rng, 64)
			for range 5 {
				v := make([]float32, 64)
				n := unit(rng, 64)
				for j := range v {
					v[j] = c[j] + float32(spread)*n[j]
				}
				b.Add(string(rune('A'+p%26))+string(rune('a'+p/26)), "", v)
			}
		}
		return b.Build()
	}
	tight := build(0.3).Calibrate(0.05, 0)
	if tight.Known != 200 || tight.Unknown != 200 {
		t.Fatalf("queries %d/%d, want 200/200", tight.Known, tight.Unknown)
	}
	if tight.FalseReject > 0.05 {
		t.Errorf("false reject %.3f above the 5 %% target", tight.FalseReject)
	}
	if tight.Rejected < 0.99 {
		t.Errorf("tight clusters: only %.2f of left-out parts rejected (threshold %.3f)", tight.Rejected, tight.Threshold)
	}
	loose := build(1.2).Calibrate(0.05, 0)
	if !(loose.Threshold < tight.Threshold) {
		t.Errorf("looser clusters should lower the threshold: %.3f vs %.3f", loose.Threshold, tight.Threshold)
	}
	if floor := build(1.2).Calibrate(0.05, 0.99); floor.Threshold != 0.99 {
		t.Errorf("floor: threshold %.3f, want 0.99", floor.Threshold)
	}
}

// TestExtendMatchesBuild: extending an index gives the scores a build of
// all vectors gives (with the same centre), and leaves the old index as it was.
func TestExtendMatchesBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var vecs [][]float32
	for range 40 {
		vecs = append(vecs, unit(rng, 32))
	}
	part := func(i int) string { return string(rune('A' + i/4)) }
	all, some := NewBuilder(32), NewBuilder(32)
	all.Center, some.Center = false, false
	for i, v := range vecs {
		all.Add(part(i), "", v)
		if i < 30 {
			some.Add(part(i), "", v)
		}
	}
	full, small := all.Build(), some.Build()
	ext := small
	for i := 30; i < 40; i += 2 {
		ext = ext.Extend(part(i), []string{"x", "y"}, vecs[i:i+2])
	}
	if small.Len() != 30 || ext.Len() != 40 || ext.Parts() != full.Parts() {
		t.Fatalf("lengths %d %d, parts %d vs %d", small.Len(), ext.Len(), ext.Parts(), full.Parts())
	}
	for range 10 {
		q := unit(rng, 32)
		a, b := full.Search(q, 5, nil), ext.Search(q, 5, nil)
		for i := range a {
			if a[i].Part != b[i].Part || math.Abs(float64(a[i].Score-b[i].Score)) > 1e-5 {
				t.Fatalf("rank %d: build %+v, extend %+v", i, a[i], b[i])
			}
		}
	}
}

// TestCalibrateSamePhoto: two vectors stored under one photo id (two
// views of one photo) are the same photo, so calibration does not take the
// one as the other's "known" match; a part whose only photo has two
// vectors then gives no known query.
func TestCalibrateSamePhoto(t *testing.T) {
	b := NewBuilder(3)
	b.Center = false
	b.Add("A", "a1", []float32{1, 0, 0})
	b.Add("A", "a1", []float32{0.99, 0.1, 0})
	b.Add("B", "b1", []float32{0, 1, 0})
	b.Add("B", "b2", []float32{0, 0.9, 0.1})
	c := b.Build().Calibrate(0, 0)
	if c.Known != 2 {
		t.Errorf("known queries %d, want 2 (B's two photos; A's two vectors are one photo)", c.Known)
	}
}
