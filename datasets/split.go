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

// MinGroupsToSplit is the number of capture sessions a class needs for a
// group split (one each for test, validation and training); a class with
// fewer is split by image, and Inspect warns about it.
const MinGroupsToSplit = 3

// Split divides the samples per class (stratified) into train, validation and
// test, deterministically for a seed: the same files and seed always give the
// same split, whatever order the file system lists them in. Each class with
// at least three images gives at least one to validation and one to test
// when the fractions are non-zero, so every class is evaluated.
//
// A class that holds capture sessions (Sample.Group) and at least
// MinGroupsToSplit groups is split by group: a session's frames all land in
// one part, so the test split holds no near copy of a training image; its
// images without a group count as groups of one. A class without sessions
// is split exactly as before sessions existed.
func (d *Dataset) Split(seed uint64, valFrac, testFrac float64) Split {
	byClass := map[string][]Sample{}
	grouped := map[string]bool{}
	for _, s := range d.Samples {
		byClass[s.Class] = append(byClass[s.Class], s)
		grouped[s.Class] = grouped[s.Class] || s.Group != ""
	}
	var sp Split
	for _, c := range d.Classes {
		ss := append([]Sample(nil), byClass[c]...)
		sort.Slice(ss, func(i, j int) bool { return ss[i].Path < ss[j].Path })
		h := fnv.New64a()
		h.Write([]byte(c))
		rng := rand.New(rand.NewPCG(seed, h.Sum64()))
		if grouped[c] && splitByGroup(&sp, ss, rng, valFrac, testFrac) {
			continue
		}
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

// splitByGroup splits one class's samples (sorted by path) by group: whole
// groups go to test until it holds its share of images, then to
// validation, the rest to training, each non-empty fraction getting at
// least one group and training keeping at least one. It returns false, and
// adds nothing, when the class has too few groups.
func splitByGroup(sp *Split, ss []Sample, rng *rand.Rand, valFrac, testFrac float64) bool {
	groups := map[string][]Sample{}
	var keys []string
	for _, s := range ss {
		k := s.Group
		if k == "" {
			k = "file:" + s.Path
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	if len(keys) < MinGroupsToSplit {
		return false
	}
	sort.Strings(keys)
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	n := len(ss)
	i := 0
	take := func(frac float64, limit int) []Sample {
		var out []Sample
		want := share(n, frac)
		for i < limit && (len(out) < want || (frac > 0 && len(out) == 0)) {
			out = append(out, groups[keys[i]]...)
			i++
		}
		return out
	}
	sp.Test = append(sp.Test, take(testFrac, len(keys)-2)...)
	sp.Val = append(sp.Val, take(valFrac, len(keys)-1)...)
	for _, k := range keys[i:] {
		sp.Train = append(sp.Train, groups[k]...)
	}
	return true
}

func share(n int, frac float64) int {
	if frac <= 0 || n < 3 {
		return 0
	}
	return max(1, int(math.Round(float64(n)*frac)))
}
