package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

// TestMergeHeadsAveragesLogits: the merged head the export grafts answers
// the mean of the members' logits, for heads with a hidden layer and for
// linear ones, so the ensemble the card measures is the one the station runs.
func TestMergeHeadsAveragesLogits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	layer := func(in, out int) headLayer {
		l := headLayer{W: make([]float32, in*out), B: make([]float32, out), In: in, Out: out}
		for i := range l.W {
			l.W[i] = float32(rng.NormFloat64())
		}
		for i := range l.B {
			l.B[i] = float32(rng.NormFloat64())
		}
		return l
	}
	const in, hidden, classes = 7, 5, 3
	const patch = 2 // filters of the patch branch, where a case has one
	branch := func() *patchBranch {
		p := &patchBranch{W: make([]float32, embed.S16Ch*patch), B: make([]float32, patch), C: patch}
		for i := range p.W {
			p.W[i] = float32(rng.NormFloat64())
		}
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64())
		}
		return p
	}
	for _, c := range []struct {
		name    string
		heads   int
		patched bool
		make    func() []headLayer
	}{
		{"hidden layer, 3 heads", 3, false, func() []headLayer { return []headLayer{layer(in, hidden), layer(hidden, classes)} }},
		{"linear, 2 heads", 2, false, func() []headLayer { return []headLayer{layer(in, classes)} }},
		{"one head", 1, false, func() []headLayer { return []headLayer{layer(in, hidden), layer(hidden, classes)} }},
		{"patch filters, hidden layer, 3 heads", 3, true, func() []headLayer { return []headLayer{layer(in+patch, hidden), layer(hidden, classes)} }},
		{"patch filters, linear, 2 heads", 2, true, func() []headLayer { return []headLayer{layer(in+patch, classes)} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hs []*head
			for range c.heads {
				h := &head{layers: c.make(), secs: 1}
				if c.patched {
					h.patch, h.pooledLen = branch(), in
				}
				hs = append(hs, h)
			}
			m := mergeHeads(hs)
			for range 20 {
				n := in
				if c.patched {
					n += embed.S16Len
				}
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				want := make([]float64, classes)
				for _, h := range hs {
					for j, v := range h.logits(x) {
						want[j] += float64(v) / float64(c.heads)
					}
				}
				got := m.logits(x)
				for j := range want {
					if math.Abs(float64(got[j])-want[j]) > 1e-4 {
						t.Fatalf("logit %d: merged %v, mean of heads %v", j, got[j], want[j])
					}
				}
			}
		})
	}
}
