package datasets

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
)

// Split holds the three disjoint parts of a dataset.
type Split struct {
	Train []Sample `json:"-"`
	Val   []Sample `json:"-"`
	Test  []Sample `json:"-"`
}

// Split divides the samples per class (stratified) into train, validation and
// test, deterministically for a seed: the same files and seed always give the
// same split, whatever order the file system lists them in. Each class with
// at least three images gives at least one to validation and one to test
// when the fractions are non-zero, so every class is evaluated.
func (d *Dataset) Split(seed uint64, valFrac, testFrac float64) Split {
	byClass := map[string][]Sample{}
	for _, s := range d.Samples {
		byClass[s.Class] = append(byClass[s.Class], s)
	}
	var sp Split
	for _, c := range d.Classes {
		ss := append([]Sample(nil), byClass[c]...)
		sort.Slice(ss, func(i, j int) bool { return ss[i].Path < ss[j].Path })
		h := fnv.New64a()
		h.Write([]byte(c))
		rng := rand.New(rand.NewPCG(seed, h.Sum64()))
		rng.Shuffle(len(ss), func(i, j int) { ss[i], ss[j] = ss[j], ss[i] })
		n := len(ss)
		nTest := share(n, testFrac)
		nVal := share(n, valFrac)
		if nTest+nVal >= n { // keep at least one for training
			nTest, nVal = 0, 0
			if n >= 3 {
				nTest, nVal = min(1, share(n, testFrac)), min(1, share(n, valFrac))
			}
		}
		sp.Test = append(sp.Test, ss[:nTest]...)
		sp.Val = append(sp.Val, ss[nTest:nTest+nVal]...)
		sp.Train = append(sp.Train, ss[nTest+nVal:]...)
	}
	return sp
}

func share(n int, frac float64) int {
	if frac <= 0 || n < 3 {
		return 0
	}
	return max(1, int(math.Round(float64(n)*frac)))
}
