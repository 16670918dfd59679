// Package anomaly is a PatchCore-style good-only model: it remembers the
// patch features of good parts (a memory bank, subsampled by greedy
// coreset) and scores a new image by how far its patches lie from the
// nearest remembered one. The image score is the largest patch distance
// (or the mean of the k largest, Params.TopK), optionally plus a global
// part for what no single patch shows (Global); the per-patch distances,
// smoothed, are the heatmap.
//
// Patch features come from the backbone's stride-8 and stride-16 maps
// (inspector/embed): feat_s8 [32,28,28] with feat_s16 [96,14,14] upsampled
// to 28×28, concatenated (128 values per patch) and averaged over each
// patch's 3×3 neighbourhood, so a patch sees a little context.
//
// Large images are not squashed into 224 px: a model may take a g×g grid
// of 224 px tiles (its input is then 224·g px square, letterboxed), run the
// backbone on each tile and stitch the patch grids (28·g per side).
//
// The package is pure Go; the backbone runs behind embed.Runner.
package anomaly

import (
	"errors"
	"slices"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

// Patch grid and feature sizes of one 224 px tile.
const (
	Side    = 28          // patches per tile side (stride 8)
	Patches = Side * Side // patches per tile
	Dim     = 32 + 96     // feature values per patch
	s16Side = 14
	c8      = 32
	c16     = 96
)

// Errors returned by the package.
var (
	// ErrBank is returned for a memory bank that does not fit the model
	// (wrong length, empty, or a file that is not a bank).
	ErrBank = errors.New("anomaly: bad memory bank")
	// ErrNoImages is returned by Fit without any good image.
	ErrNoImages = errors.New("anomaly: no good images to learn from")
)

// Neighbourhoods: the patch features' neighbourhood (Params.Neighbourhood).
// A neighbourhood of n (odd, Narrow…MaxNeighbourhood) averages the
// 3×3-averaged features over 3×3 (n−3)/2 times more within each tile
// (Widen): Wide, 5, is a 5×5 neighbourhood weighted 1, 2, 3, 2, 1 along
// each axis, for large textured images whose defects (an uneven surface,
// a crack) are wider than a patch.
const (
	Narrow           = 3
	Wide             = 5
	MaxNeighbourhood = 9
)

// ValidNeighbourhood says whether n is a neighbourhood a model can have
// (0 stands for Narrow, as in models made before the option).
func ValidNeighbourhood(n int) bool {
	return n == 0 || (n >= Narrow && n <= MaxNeighbourhood && n%2 == 1)
}

// Neighbourhood returns the patch features f of a g×g tile grid with the
// neighbourhood n: f itself for Narrow (or 0), else f widened (n−3)/2
// times (see Widen).
func Neighbourhood(f []float32, g, n int) []float32 {
	for i := Narrow; i < n; i += 2 {
		f = Widen(f, g)
	}
	return f
}

// Widen returns the patch features f of a g×g tile grid ((Side·g)² × Dim)
// averaged over each patch's 3×3 neighbours inside its tile (see Wide).
// The average is separable: a pass along the rows, then one along the
// columns, each adding whole runs of patches with gonum's SIMD assembly
// (a 2×2-tile image is widened every frame, twice for a neighbourhood of 7).
func Widen(f []float32, g int) []float32 {
	out := slices.Clone(f)
	widen(out, make([]float32, len(f)), g)
	return out
}

// widen is Widen in place: f is overwritten, h is scratch of len(f).
func widen(f, h []float32, g int) {
	side := Side * g
	add := func(dst, src []float32) {
		blas32.Axpy(1, blas32.Vector{N: len(src), Inc: 1, Data: src}, blas32.Vector{N: len(dst), Inc: 1, Data: dst})
	}
	// along the rows: each tile's run of Side patches plus itself shifted
	// by one patch either way
	for y := 0; y < side; y++ {
		for tx := 0; tx < g; tx++ {
			lo := (y*side + tx*Side) * Dim
			src, dst := f[lo:lo+Side*Dim], h[lo:lo+Side*Dim]
			copy(dst, src)
			add(dst[Dim:], src[:len(src)-Dim])
			add(dst[:len(dst)-Dim], src[Dim:])
		}
	}
	// along the columns: whole rows (every tile of a row of tiles shares
	// its top and bottom)
	row := side * Dim
	for y := 0; y < side; y++ {
		dst := f[y*row : (y+1)*row]
		copy(dst, h[y*row:(y+1)*row])
		if y%Side > 0 {
			add(dst, h[(y-1)*row:y*row])
		}
		if y%Side < Side-1 {
			add(dst, h[(y+1)*row:(y+2)*row])
		}
	}
	// divide by the neighbours inside the tile: 3 along an axis, 2 at
	// the tile's edge
	n := func(i int) float32 {
		if i%Side == 0 || i%Side == Side-1 {
			return 2
		}
		return 3
	}
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			p := f[(y*side+x)*Dim : (y*side+x+1)*Dim]
			blas32.Scal(1/(n(x)*n(y)), blas32.Vector{N: Dim, Inc: 1, Data: p})
		}
	}
}

func floorFrac(v float32) (int, float32) {
	if v < 0 {
		return 0, 0
	}
	i := int(v)
	return i, v - float32(i)
}

// ImageFeatures turns the backbone's output for the g×g tiles of one image
// (tiles row-major, as Tiles cuts them; batch b holds exactly those g²
// tiles) into the image's patch features, (Side·g)² patches of Dim values,
// laid out row-major over the stitched grid: per patch feat_s8 as is and
// feat_s16 bilinearly upsampled (align corners off, as PyTorch's
// interpolate, which PatchCore uses), averaged over the patch's 3×3
// neighbours inside its tile.
func ImageFeatures(b embed.Batch, g int) []float32 {
	side := Side * g
	f := make([]float32, side*side*Dim)
	// feat_s16 patch-major, then upsampled along x: each patch's 96
	// values are then one contiguous run, read and written in order
	t16 := make([]float32, s16Side*s16Side*c16)
	up := make([]float32, s16Side*Side*c16)
	for t := 0; t < g*g; t++ {
		s8 := b.S8[t*embed.S8Len : (t+1)*embed.S8Len]
		s16 := b.S16[t*embed.S16Len : (t+1)*embed.S16Len]
		at := func(y, x int) int { return ((t/g*Side+y)*side + t%g*Side + x) * Dim }
		for c := 0; c < c8; c++ {
			for i, v := range s8[c*Patches : (c+1)*Patches] {
				f[at(i/Side, i%Side)+c] = v
			}
		}
		for c := 0; c < c16; c++ {
			for i, v := range s16[c*s16Side*s16Side : (c+1)*s16Side*s16Side] {
				t16[i*c16+c] = v
			}
		}
		for y := 0; y < s16Side; y++ {
			for x := 0; x < Side; x++ {
				x0, x1, wx := upTaps(x)
				lerp(up[(y*Side+x)*c16:][:c16], t16[(y*s16Side+x0)*c16:][:c16], t16[(y*s16Side+x1)*c16:][:c16], wx)
			}
		}
		for y := 0; y < Side; y++ {
			y0, y1, wy := upTaps(y)
			for x := 0; x < Side; x++ {
				lerp(f[at(y, x)+c8:][:c16], up[(y0*Side+x)*c16:][:c16], up[(y1*Side+x)*c16:][:c16], wy)
			}
		}
	}
	widen(f, make([]float32, len(f)), g)
	return f
}

// upTaps are the two feat_s16 rows (or columns) and the weight of the
// second that patch row i (0..Side-1) interpolates between.
func upTaps(i int) (i0, i1 int, w float32) {
	i0, w = floorFrac((float32(i)+0.5)*float32(s16Side)/float32(Side) - 0.5)
	return max(i0, 0), min(i0+1, s16Side-1), w
}

// lerp sets dst to a·(1−w) + b·w.
func lerp(dst, a, b []float32, w float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for c := range dst {
		dst[c] = a[c]*(1-w) + b[c]*w
	}
}

// Tiles cuts a [3, 224·g, 224·g] input tensor into g² tiles of [3,224,224]
// laid one after the other in dst (g²·3·224·224 values), row-major.
func Tiles(x []float32, g int, dst []float32) {
	side := embed.Size * g
	tl := 3 * embed.Size * embed.Size
	for t := 0; t < g*g; t++ {
		ty, tx := t/g, t%g
		for c := 0; c < 3; c++ {
			for y := 0; y < embed.Size; y++ {
				src := x[c*side*side+(ty*embed.Size+y)*side+tx*embed.Size:]
				copy(dst[t*tl+c*embed.Size*embed.Size+y*embed.Size:][:embed.Size], src[:embed.Size])
			}
		}
	}
}
