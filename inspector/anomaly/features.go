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

// TileFeatures writes one tile's patch features into dst (Patches×Dim,
// patch-major): s8 is the tile's feat_s8 [32,28,28] and s16 its feat_s16
// [96,14,14], both as the backbone returns them (channel-major). tmp is
// scratch of Patches×Dim values (nil allocates).
func TileFeatures(s8, s16, dst, tmp []float32) {
	if tmp == nil {
		tmp = make([]float32, Patches*Dim)
	}
	// Concatenate per patch: s8 as is, s16 bilinearly upsampled (align
	// corners off, as PyTorch's interpolate, which PatchCore uses).
	for y := 0; y < Side; y++ {
		sy := (float32(y)+0.5)*float32(s16Side)/float32(Side) - 0.5
		y0, wy := floorFrac(sy)
		y1 := min(y0+1, s16Side-1)
		y0 = max(y0, 0)
		for x := 0; x < Side; x++ {
			sx := (float32(x)+0.5)*float32(s16Side)/float32(Side) - 0.5
			x0, wx := floorFrac(sx)
			x1 := min(x0+1, s16Side-1)
			x0 = max(x0, 0)
			p := tmp[(y*Side+x)*Dim : (y*Side+x+1)*Dim]
			for c := 0; c < c8; c++ {
				p[c] = s8[c*Patches+y*Side+x]
			}
			for c := 0; c < c16; c++ {
				m := s16[c*s16Side*s16Side:]
				a := m[y0*s16Side+x0]*(1-wx) + m[y0*s16Side+x1]*wx
				b := m[y1*s16Side+x0]*(1-wx) + m[y1*s16Side+x1]*wx
				p[c8+c] = a*(1-wy) + b*wy
			}
		}
	}
	// 3×3 neighbourhood average, over the neighbours inside the tile.
	for y := 0; y < Side; y++ {
		for x := 0; x < Side; x++ {
			d := dst[(y*Side+x)*Dim : (y*Side+x+1)*Dim]
			clear(d)
			n := 0
			for yy := max(y-1, 0); yy <= min(y+1, Side-1); yy++ {
				for xx := max(x-1, 0); xx <= min(x+1, Side-1); xx++ {
					s := tmp[(yy*Side+xx)*Dim : (yy*Side+xx+1)*Dim]
					for c := range d {
						d[c] += s[c]
					}
					n++
				}
			}
			inv := 1 / float32(n)
			for c := range d {
				d[c] *= inv
			}
		}
	}
}

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
	side := Side * g
	h := make([]float32, len(f))
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
	out := make([]float32, len(f))
	row := side * Dim
	for y := 0; y < side; y++ {
		dst := out[y*row : (y+1)*row]
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
			p := out[(y*side+x)*Dim : (y*side+x+1)*Dim]
			blas32.Scal(1/(n(x)*n(y)), blas32.Vector{N: Dim, Inc: 1, Data: p})
		}
	}
	return out
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
// laid out row-major over the stitched grid.
func ImageFeatures(b embed.Batch, g int) []float32 {
	side := Side * g
	out := make([]float32, side*side*Dim)
	tile := make([]float32, Patches*Dim)
	tmp := make([]float32, Patches*Dim)
	for t := 0; t < g*g; t++ {
		TileFeatures(b.S8[t*embed.S8Len:(t+1)*embed.S8Len], b.S16[t*embed.S16Len:(t+1)*embed.S16Len], tile, tmp)
		ty, tx := t/g, t%g
		for y := 0; y < Side; y++ {
			row := (ty*Side+y)*side + tx*Side
			copy(out[row*Dim:(row+Side)*Dim], tile[y*Side*Dim:(y+1)*Side*Dim])
		}
	}
	return out
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
