package anomaly

import (
	"fmt"
	"math"
	"runtime"
	"sort"
)

// Global is the image-level half of the score: what a patch model cannot
// see because every patch of the image looks good on its own (a hole that
// is missing, a surface that is uneven all over). Each patch is assigned to
// its nearest "word", one of the first Words patches of the memory bank
// (the greedy coreset's first picks, spread over the good patches); the
// image's descriptor is the square root of each word's share of its patches
// (a bag of visual words, Hellinger-scaled). A missing hole lowers the
// share of the hole-edge words, which no single patch shows. The global
// distance is the mean Euclidean distance to the K nearest descriptors of
// the training images, each dimension divided by its spread over them.
type Global struct {
	Words *Bank // the first Words patches of the memory bank
	Ref   *Bank // the training images' descriptors, scaled by Scale
	Scale []float32
	K     int
}

// DefaultWords and DefaultK are the settings chosen on demo-defects (see
// docs/anomaly.md): 16, 32 and 256 words and K = 1 did worse.
const (
	DefaultWords = 64
	DefaultK     = 3
)

// Descriptor returns the bag-of-words descriptor of an image's patch
// features (patches×Dim) against words.
func Descriptor(f []float32, words *Bank) []float32 {
	return DescriptorOf(NearestWords(f, words), words.Len())
}

// NearestWords returns the index of each patch's nearest word (patches
// of f, ×Dim), split over the cores: a frame's budget is a few
// milliseconds.
func NearestWords(f []float32, words *Bank) []int32 {
	n := len(f) / Dim
	nearest := make([]int32, n)
	parallel(n, runtime.GOMAXPROCS(0), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			q := f[i*Dim : (i+1)*Dim : (i+1)*Dim]
			best, bi := float32(math.Inf(1)), 0
			for j, nb := range words.norm {
				// ‖q‖² is the same for every word.
				if v := nb - 2*dot(words.Data[j*Dim:(j+1)*Dim], q); v < best {
					best, bi = v, j
				}
			}
			nearest[i] = int32(bi)
		}
	})
	return nearest
}

// DescriptorOf returns the bag-of-words descriptor of an image whose
// patches' nearest words (of w) are nearest: the square root of each
// word's share of the patches.
func DescriptorOf(nearest []int32, w int) []float32 {
	h := make([]float32, w)
	if len(nearest) == 0 {
		return h
	}
	for _, bi := range nearest {
		h[bi]++
	}
	for i := range h {
		h[i] = float32(math.Sqrt(float64(h[i]) / float64(len(nearest))))
	}
	return h
}

// NewGlobal builds the global reference from the descriptors of the
// training images (each len(words) values, as Descriptor returns them).
// The scale is each dimension's standard deviation over them (plus 1e-3,
// so a word no image uses does not divide by zero). It returns an error
// wrapping ErrBank for no descriptors or ones of the wrong length.
func NewGlobal(words *Bank, descs [][]float32, k int) (*Global, error) {
	if words == nil || words.Dim != Dim || len(descs) == 0 {
		return nil, fmt.Errorf("%w: global reference needs words and at least one descriptor", ErrBank)
	}
	w := words.Len()
	mean := make([]float64, w)
	for _, d := range descs {
		if len(d) != w {
			return nil, fmt.Errorf("%w: descriptor of %d values for %d words", ErrBank, len(d), w)
		}
		for j, v := range d {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(len(descs))
	}
	scale := make([]float32, w)
	for j := range scale {
		var s float64
		for _, d := range descs {
			s += (float64(d[j]) - mean[j]) * (float64(d[j]) - mean[j])
		}
		scale[j] = float32(math.Sqrt(s/float64(len(descs))) + 1e-3)
	}
	data := make([]float32, 0, len(descs)*w)
	for _, d := range descs {
		for j, v := range d {
			data = append(data, v/scale[j])
		}
	}
	ref, err := NewBank(data, w)
	if err != nil {
		return nil, err
	}
	return &Global{Words: words, Ref: ref, Scale: scale, K: max(1, k)}, nil
}

// Distance is the image's global distance: the mean distance of its scaled
// descriptor to the K nearest training descriptors.
func (g *Global) Distance(f []float32) float32 {
	return g.DistanceOf(NearestWords(f, g.Words))
}

// DistanceOf is Distance for an image whose patches' nearest words are
// nearest (as NearestWords or a WordSearcher gives them).
func (g *Global) DistanceOf(nearest []int32) float32 {
	d := DescriptorOf(nearest, g.Words.Len())
	for j := range d {
		d[j] /= g.Scale[j]
	}
	w := g.Ref.Dim
	ds := make([]float32, g.Ref.Len())
	for i := range ds {
		ds[i] = float32(math.Sqrt(float64(sqDist(d, g.Ref.Data[i*w:(i+1)*w]))))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	k := min(g.K, len(ds))
	var s float32
	for _, v := range ds[:k] {
		s += v
	}
	return s / float32(k)
}

// Combine is the image score of a model with a global part: the largest
// patch distance and the global distance, each divided by its reference
// (the quantile of held-out good images that the card records), added.
// Without a global part (refs zero) it is the largest patch distance.
func (p Params) Combine(patch, global float32) float32 {
	if p.PatchRef <= 0 || p.GlobalRef <= 0 {
		return patch
	}
	return patch/p.PatchRef + global/p.GlobalRef
}
