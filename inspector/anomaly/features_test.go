package anomaly

import (
	"math"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

// refImageFeatures is the patch features as written down: per patch and
// channel, PyTorch's bilinear upsampling (align corners off) of feat_s16,
// then the plain mean over the 3×3 neighbours inside the tile.
func refImageFeatures(b embed.Batch, g int) []float32 {
	side := Side * g
	cat := make([]float32, side*side*Dim)
	src := func(i int) (lo, hi int, w float64) {
		s := (float64(i)+0.5)*float64(s16Side)/float64(Side) - 0.5
		if s < 0 {
			return 0, 0, 0
		}
		lo = int(math.Floor(s))
		return lo, min(lo+1, s16Side-1), s - float64(lo)
	}
	for t := 0; t < g*g; t++ {
		s8, s16 := b.S8[t*embed.S8Len:], b.S16[t*embed.S16Len:]
		for y := 0; y < Side; y++ {
			y0, y1, wy := src(y)
			for x := 0; x < Side; x++ {
				x0, x1, wx := src(x)
				p := cat[((t/g*Side+y)*side+t%g*Side+x)*Dim:]
				for c := 0; c < c8; c++ {
					p[c] = s8[c*Patches+y*Side+x]
				}
				for c := 0; c < c16; c++ {
					m := func(yy, xx int) float64 { return float64(s16[c*s16Side*s16Side+yy*s16Side+xx]) }
					p[c8+c] = float32((m(y0, x0)*(1-wx)+m(y0, x1)*wx)*(1-wy) + (m(y1, x0)*(1-wx)+m(y1, x1)*wx)*wy)
				}
			}
		}
	}
	out := make([]float32, len(cat))
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			for c := 0; c < Dim; c++ {
				var s float64
				n := 0
				for yy := y - 1; yy <= y+1; yy++ {
					for xx := x - 1; xx <= x+1; xx++ {
						if yy < 0 || xx < 0 || yy >= side || xx >= side || yy/Side != y/Side || xx/Side != x/Side {
							continue
						}
						s += float64(cat[(yy*side+xx)*Dim+c])
						n++
					}
				}
				out[(y*side+x)*Dim+c] = float32(s / float64(n))
			}
		}
	}
	return out
}

func TestImageFeaturesMatchReference(t *testing.T) {
	for _, g := range []int{1, 2, 3} {
		b := embed.Batch{N: g * g, S8: randPoints(11, g*g, embed.S8Len), S16: randPoints(12, g*g, embed.S16Len)}
		got, want := ImageFeatures(b, g), refImageFeatures(b, g)
		if len(got) != len(want) {
			t.Fatalf("grid %d: %d values, want %d", g, len(got), len(want))
		}
		var worst float64
		for i := range got {
			worst = max(worst, math.Abs(float64(got[i]-want[i])))
		}
		// float32 sums of nine unit-scale values against float64 ones
		if worst > 1e-5 {
			t.Errorf("grid %d: largest difference %.3g from the reference", g, worst)
		}
	}
}

// A value that lies in one tile only must not leak into the neighbouring
// tile's patches (tiles are separate images of the same input).
func TestImageFeaturesStayInTile(t *testing.T) {
	const g = 2
	b := embed.Batch{N: g * g, S8: make([]float32, g*g*embed.S8Len), S16: make([]float32, g*g*embed.S16Len)}
	// the right-most column of tile 0's feat_s8, channel 0
	for y := 0; y < Side; y++ {
		b.S8[y*Side+Side-1] = 1
	}
	f := ImageFeatures(b, g)
	side := Side * g
	for y := 0; y < Side; y++ {
		if v := f[(y*side+Side-1)*Dim]; v <= 0 {
			t.Fatalf("row %d: the tile's own edge patch lost the value (%g)", y, v)
		}
		if v := f[(y*side+Side)*Dim]; v != 0 {
			t.Fatalf("row %d: the next tile's first patch got %g", y, v)
		}
	}
}
