package anomaly

import (
	"fmt"
	"math"
	"math/cmplx"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/dsp/fourier"
)

// Pose finding for parts laid at a placement mark at any angle (the demo
// flange): a positional comparison needs every image in one canonical
// pose. The centre comes from the radial profile (which does not change
// with the rotation), the angle from the circular correlation at every
// angle of the polar image around that centre with the reference's. Both
// work on a small grey image (GreySide² pixels): the pose is a fraction of
// a millisecond of a frame's budget (BenchmarkPose).
const (
	// GreySide is the side of the grey image a pose is found on.
	GreySide = 56
	// PoseRings and PoseAngles are the polar sampling: rings between 15 %
	// and 95 % of the half side, PoseAngles steps around (2° each).
	PoseRings  = 16
	PoseAngles = 180
	// poseShift is how far (grey pixels) the centre is searched from the
	// middle: 12 of 56, about a fifth of the half side.
	poseShift = 4
)

// Pose is where a part lies in the input: its centre as fractions of the
// input's side (0.5, 0.5 is the middle) and its rotation in radians
// against the reference, so that the input at centre + Rot(Angle)·u shows
// what the reference shows at its middle + u.
type Pose struct {
	CX, CY, Angle float64
}

// Grey averages the 3 channels of a [3, s, s] input tensor and pools them
// to GreySide×GreySide (s a multiple of GreySide; otherwise the nearest
// pixels are pooled). It returns an error for x of the wrong length.
func Grey(x []float32, s int) ([]float32, error) {
	if len(x) != 3*s*s || s < GreySide {
		return nil, fmt.Errorf("anomaly: grey needs a [3,%d,%d] input of at least %d px, got %d values", s, s, GreySide, len(x))
	}
	if s%GreySide == 0 {
		return greyBlocks(x, s), nil
	}
	return greyNearest(x, s), nil
}

// greyBlocks is Grey for s a multiple of GreySide (the 224 px input): the
// sums of greyNearest in the same order, without its per-pixel divisions
// and counts (a quarter of the pose's time went there).
func greyBlocks(x []float32, s int) []float32 {
	n := GreySide
	out := make([]float32, n*n)
	plane := s * s
	f := s / n
	for y := 0; y < s; y++ {
		row := out[y/f*n : (y/f+1)*n]
		r, g, b := x[y*s:(y+1)*s], x[plane+y*s:plane+(y+1)*s], x[2*plane+y*s:2*plane+(y+1)*s]
		for j := range row {
			acc := row[j]
			for k := j * f; k < (j+1)*f; k++ {
				acc += r[k] + g[k] + b[k]
			}
			row[j] = acc
		}
	}
	c := float32(3 * f * f)
	for i := range out {
		out[i] /= c
	}
	return out
}

// greyNearest is Grey for any s: each pixel pooled into the grey pixel
// nearest it.
func greyNearest(x []float32, s int) []float32 {
	n := GreySide
	out := make([]float32, n*n)
	cnt := make([]float32, n*n)
	plane := s * s
	for y := 0; y < s; y++ {
		gy := y * n / s
		for xx := 0; xx < s; xx++ {
			i := y*s + xx
			g := gy*n + xx*n/s
			out[g] += x[i] + x[plane+i] + x[2*plane+i]
			cnt[g] += 3
		}
	}
	for i := range out {
		out[i] /= cnt[i]
	}
	return out
}

// PoseRef is the reference a pose is measured against: the mean radial
// profile of good images (the centre search) and the polar image of one
// good image around its centre (the angle search).
type PoseRef struct {
	// Radial is the mean grey in rings of one pixel around the centre
	// (GreySide/2 values).
	Radial []float32
	// Polar is PoseRings × PoseAngles samples, each ring's mean removed.
	Polar []float32

	once sync.Once
	spec []complex128 // conjugated spectra of Polar's rings (correlateAll)
}

// NewPoseRef builds the reference from the grey images (GreySide² each) of
// good parts: their mean radial profile, each around its own centre (found
// against the radial profile of their mean image, which is nearly round
// and centred on the mark, as the parts lie there at every angle), and the
// polar image of the first around its centre, whose rotation becomes the
// canonical one. It returns an error for no images or ones of the wrong
// size.
func NewPoseRef(greys [][]float32) (*PoseRef, error) {
	n := GreySide
	if len(greys) == 0 {
		return nil, fmt.Errorf("%w: a pose reference needs at least one image", ErrNoImages)
	}
	mean := make([]float32, n*n)
	for _, g := range greys {
		if len(g) != n*n {
			return nil, fmt.Errorf("anomaly: grey image of %d values, want %d", len(g), n*n)
		}
		for i, v := range g {
			mean[i] += v / float32(len(greys))
		}
	}
	first := &PoseRef{Radial: radial(mean, float64(n)/2, float64(n)/2)}
	r := &PoseRef{Radial: make([]float32, n/2)}
	for _, g := range greys {
		cx, cy := first.centre(g)
		for i, v := range radial(g, cx, cy) {
			r.Radial[i] += v / float32(len(greys))
		}
	}
	cx, cy := r.centre(greys[0])
	r.Polar = polar(greys[0], cx, cy)
	return r, nil
}

// Estimate returns the pose of the part in a grey image (GreySide²): the
// centre from the radial profile, then the centre within a pixel of it and
// the angle whose polar image correlates best with the reference's (every
// angle at the first centre, a few degrees around the best one at the
// neighbours a climb visits).
func (r *PoseRef) Estimate(grey []float32) Pose {
	cx0, cy0 := r.centre(grey)
	na := PoseAngles
	pc := polar(grey, cx0, cy0)
	all := r.correlateAll(pc)
	s0 := 0
	for s, c := range all {
		if c > all[s0] {
			s0 = s
		}
	}
	// The radial centre is biased by light that falls unevenly; the
	// correlation decides among the centres up to reach pixels away, at
	// the shifts near s0.
	const near, reach = 4, 2
	w := 2*reach + 1
	// the neighbours' correlations near s0, found by climbing from the
	// radial centre (each needs a polar image of its own)
	cs := make([][]float64, w*w)
	cs[reach*w+reach] = all
	corrs := climb(w, reach*w+reach, func(k int) float64 {
		i, j := k%w, k/w
		if i != reach || j != reach {
			cs[k] = r.correlate(polar(grey, cx0+float64(i-reach), cy0+float64(j-reach)), s0-near, 2*near+1)
		}
		best := math.Inf(-1)
		for d := -near; d <= near; d++ {
			best = max(best, cs[k][(s0+d+na)%na])
		}
		return best
	})
	bk := argmax(corrs)
	bestCorr := cs[bk]
	bs := s0
	for d := -near; d <= near; d++ {
		if s := (s0 + d + na) % na; bestCorr[s] > bestCorr[bs] {
			bs = s
		}
	}
	bx, by := bk%w, bk/w
	fx, fy := peakOffset(corrs, bk, w)
	shift := float64(bs)
	if prev, next := bestCorr[(bs+na-1)%na], bestCorr[(bs+1)%na]; !math.IsInf(prev, -1) && !math.IsInf(next, -1) {
		shift += parabola(prev, bestCorr[bs], next)
	}
	n := float64(GreySide)
	return Pose{CX: (cx0 + float64(bx-reach) + fx) / n, CY: (cy0 + float64(by-reach) + fy) / n, Angle: 2 * math.Pi * shift / float64(na)}
}

// fftPool holds FFTs of PoseAngles samples: an FFT keeps work space, so
// each goroutine takes its own.
var fftPool = sync.Pool{New: func() any { return fourier.NewFFT(PoseAngles) }}

// correlateAll is correlate at every shift, computed as one product of
// spectra: the circular correlation of each ring is the inverse transform
// of its spectrum times the reference ring's conjugated one, and the sum
// over the rings can be taken before the one inverse transform. The same
// sums up to rounding, in O(n log n) per ring instead of O(n²).
func (r *PoseRef) correlateAll(p []float32) []float64 {
	na, nc := PoseAngles, PoseAngles/2+1
	fft := fftPool.Get().(*fourier.FFT)
	defer fftPool.Put(fft)
	r.once.Do(func() {
		r.spec = make([]complex128, PoseRings*nc)
		for i := 0; i < PoseRings; i++ {
			c := fft.Coefficients(r.spec[i*nc:(i+1)*nc], float64s(r.Polar[i*na:(i+1)*na]))
			for k := range c {
				c[k] = cmplx.Conj(c[k])
			}
		}
	})
	sum, c := make([]complex128, nc), make([]complex128, nc)
	for i := 0; i < PoseRings; i++ {
		fft.Coefficients(c, float64s(p[i*na:(i+1)*na]))
		for k, ref := range r.spec[i*nc : (i+1)*nc] {
			sum[k] += ref * c[k]
		}
	}
	out := fft.Sequence(nil, sum)
	for s := range out {
		out[s] /= float64(na) // Sequence leaves the transform's factor n
	}
	return out
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// correlate returns, for count shifts from first on (mod PoseAngles), the
// correlation of the polar image p turned by the shift with the
// reference's; the other shifts hold −Inf.
func (r *PoseRef) correlate(p []float32, first, count int) []float64 {
	na := PoseAngles
	corr := make([]float64, na)
	for s := range corr {
		corr[s] = math.Inf(-1)
	}
	twice := make([]float32, 2*na)
	for k := 0; k < count; k++ {
		corr[((first+k)%na+na)%na] = 0
	}
	for i := 0; i < PoseRings; i++ {
		copy(twice, p[i*na:(i+1)*na])
		copy(twice[na:], p[i*na:(i+1)*na])
		ref := r.Polar[i*na : (i+1)*na]
		rv := blas32.Vector{N: na, Inc: 1, Data: ref}
		for k := 0; k < count; k++ {
			s := ((first+k)%na + na) % na
			// gonum's dot product runs in SIMD assembly
			corr[s] += float64(blas32.Dot(rv, blas32.Vector{N: na, Inc: 1, Data: twice[s : s+na]}))
		}
	}
	return corr
}

// centre finds the centre (grey pixels) whose radial profile is nearest
// the reference's, searched on whole pixels within poseShift of the middle
// and refined by a parabola through the neighbours.
func (r *PoseRef) centre(grey []float32) (float64, float64) {
	n := GreySide
	w := 2*poseShift + 1
	// the negated cost: the largest wins, as in the correlations' climb
	score := evalAll(w, func(k int) float64 {
		dx, dy := k%w-poseShift, k/w-poseShift
		p := radial(grey, float64(n)/2+float64(dx), float64(n)/2+float64(dy))
		var c float64
		for i, v := range r.Radial {
			d := float64(v - p[i])
			c += d * d
		}
		return -c
	})
	best := argmax(score)
	bx, by := best%w, best/w
	fx, fy := peakOffset(score, best, w)
	return float64(n)/2 + float64(bx-poseShift) + fx, float64(n)/2 + float64(by-poseShift) + fy
}

// climb finds the largest of f over a w×w grid (k = y·w + x) by hill
// climbing from start: it evaluates the 3×3 cells around the best so far
// (on both cores) and moves to the largest until the best stays, so the
// best's four neighbours are always known (for a parabola). It suits the
// correlation over the centres near the radial one, which gave the same
// figures as evaluating all 25 on the demo flange's images (8 polar images
// when the radial centre is best, 3 or 5 more per step, instead of 24);
// the radial profile's cost has local optima
// within the centre search's reach, so that search evaluates every cell.
// f is called from several goroutines at once, each cell at most once. It
// returns every cell's value, −Inf where not evaluated.
func climb(w, start int, f func(k int) float64) []float64 {
	v := make([]float64, w*w)
	done := make([]bool, w*w)
	for i := range v {
		v[i] = math.Inf(-1)
	}
	best := start
	todo := make([]int, 0, 9)
	for {
		todo = todo[:0]
		bx, by := best%w, best/w
		for y := max(by-1, 0); y <= min(by+1, w-1); y++ {
			for x := max(bx-1, 0); x <= min(bx+1, w-1); x++ {
				if k := y*w + x; !done[k] {
					todo = append(todo, k)
					done[k] = true
				}
			}
		}
		parallel(len(todo), runtime.GOMAXPROCS(0), func(lo, hi int) {
			for _, k := range todo[lo:hi] {
				v[k] = f(k)
			}
		})
		next := best
		for y := max(by-1, 0); y <= min(by+1, w-1); y++ {
			for x := max(bx-1, 0); x <= min(bx+1, w-1); x++ {
				if k := y*w + x; v[k] > v[next] {
					next = k
				}
			}
		}
		if next == best {
			return v
		}
		best = next
	}
}

// evalAll returns f of every cell of a w×w grid, on both cores.
func evalAll(w int, f func(k int) float64) []float64 {
	v := make([]float64, w*w)
	parallel(w*w, runtime.GOMAXPROCS(0), func(lo, hi int) {
		for k := lo; k < hi; k++ {
			v[k] = f(k)
		}
	})
	return v
}

// argmax returns the index of the largest value (the first of ties).
func argmax(v []float64) int {
	best := 0
	for k, x := range v {
		if x > v[best] {
			best = k
		}
	}
	return best
}

// peakOffset is the sub-cell offset of the peak at k of a w×w grid of
// values, a parabola through it and its neighbours along each axis (0 at
// the grid's edge).
func peakOffset(v []float64, k, w int) (fx, fy float64) {
	x, y := k%w, k/w
	if x > 0 && x < w-1 {
		fx = parabola(v[k-1], v[k], v[k+1])
	}
	if y > 0 && y < w-1 {
		fy = parabola(v[k-w], v[k], v[k+w])
	}
	return fx, fy
}

// parabola returns the offset (−0.5…0.5) of the peak of the parabola
// through three equally spaced values whose middle one is the largest.
func parabola(a, b, c float64) float64 {
	den := a - 2*b + c
	if den >= 0 {
		return 0
	}
	return math.Max(-0.5, math.Min(0.5, 0.5*(a-c)/den))
}

// ringOf[(dy+GreySide)·2·GreySide + dx+GreySide] is the one-pixel ring
// of pixel (cx+dx, cy+dy) around a centre (cx, cy) on a pixel corner
// (whole numbers; pixel centres lie at i+0.5): the centre search measures
// 81 radial profiles per frame.
var ringOf = func() []uint8 {
	n := GreySide
	t := make([]uint8, 4*n*n)
	for dy := -n; dy < n; dy++ {
		for dx := -n; dx < n; dx++ {
			t[(dy+n)*2*n+dx+n] = uint8(min(math.Hypot(float64(dx)+0.5, float64(dy)+0.5), 255))
		}
	}
	return t
}()

// radial is the mean grey of the pixels in each one-pixel ring around
// (cx, cy) (pixel centres at i+0.5), GreySide/2 rings.
func radial(grey []float32, cx, cy float64) []float32 {
	n := GreySide
	sum := make([]float32, n/2)
	cnt := make([]float32, n/2)
	// a centre on a pixel corner (whole-pixel offsets from the middle, as
	// the centre search uses) takes the table
	ix, iy := cx, cy
	if ix == math.Floor(ix) && iy == math.Floor(iy) && ix >= 0 && iy >= 0 && ix <= float64(n) && iy <= float64(n) {
		// the table's row of each image row: the same sums in the same
		// order, without the index arithmetic per pixel
		for y := 0; y < n; y++ {
			o := (y-int(iy)+n)*2*n - int(ix) + n
			rings, row := ringOf[o:o+n], grey[y*n:(y+1)*n]
			for x, r := range rings {
				if int(r) < n/2 {
					sum[r] += row[x]
					cnt[r]++
				}
			}
		}
	} else {
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				if r := int(math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)); r < n/2 {
					sum[r] += grey[y*n+x]
					cnt[r]++
				}
			}
		}
	}
	for i := range sum {
		if cnt[i] > 0 {
			sum[i] /= cnt[i]
		}
	}
	return sum
}

// polarOffsets are the polar samples' offsets from the centre, ring by
// ring (the pose search samples 25 centres a frame).
var polarOffsets = func() [][2]float64 {
	half := float64(GreySide) / 2
	out := make([][2]float64, 0, PoseRings*PoseAngles)
	for i := 0; i < PoseRings; i++ {
		rad := half * (0.15 + 0.8*float64(i)/float64(PoseRings-1))
		for j := 0; j < PoseAngles; j++ {
			a := 2 * math.Pi * float64(j) / PoseAngles
			out = append(out, [2]float64{rad * math.Cos(a), rad * math.Sin(a)})
		}
	}
	return out
}()

// polar samples the grey image bilinearly on PoseRings rings around
// (cx, cy) and removes each ring's mean.
func polar(grey []float32, cx, cy float64) []float32 {
	n := GreySide
	out := make([]float32, PoseRings*PoseAngles)
	for i := 0; i < PoseRings; i++ {
		ring := out[i*PoseAngles : (i+1)*PoseAngles]
		offs := polarOffsets[i*PoseAngles : (i+1)*PoseAngles]
		var m float32
		for j := range ring {
			ring[j] = bilinear(grey, n, cx+offs[j][0], cy+offs[j][1])
			m += ring[j]
		}
		m /= PoseAngles
		for j := range ring {
			ring[j] -= m
		}
	}
	return out
}

// bilinear samples an n×n image at (x, y) (pixel centres at i+0.5), edges
// clamped.
func bilinear(img []float32, n int, x, y float64) float32 {
	x, y = x-0.5, y-0.5
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := float32(x-x0), float32(y-y0)
	if xi, yi := int(x0), int(y0); xi >= 0 && yi >= 0 && xi+1 < n && yi+1 < n {
		// inside (most samples): the same arithmetic without the clamps
		// (the polar images are a fifth of the pose's time)
		i := yi*n + xi
		return (1-fy)*((1-fx)*img[i]+fx*img[i+1]) + fy*((1-fx)*img[i+n]+fx*img[i+n+1])
	}
	at := func(xi, yi int) float32 {
		return img[min(max(yi, 0), n-1)*n+min(max(xi, 0), n-1)]
	}
	xi, yi := int(x0), int(y0)
	return (1-fy)*((1-fx)*at(xi, yi)+fx*at(xi+1, yi)) + fy*((1-fx)*at(xi, yi+1)+fx*at(xi+1, yi+1))
}

// Canonical maps a point p of a side×side grid (cell units, cell centres
// at i+0.5) of an image with pose ps to the same point of the part in the
// canonical pose: middle + Rot(−Angle)·(p − centre).
func (ps Pose) Canonical(px, py float64, side int) (float64, float64) {
	s := float64(side)
	dx, dy := px-ps.CX*s, py-ps.CY*s
	c, sn := math.Cos(ps.Angle), math.Sin(ps.Angle)
	return s/2 + c*dx + sn*dy, s/2 - sn*dx + c*dy
}

// Encode writes the reference in the bank format (float16): PoseRings rows
// of the polar image and one row holding the radial profile, zero-padded
// to PoseAngles values.
func (r *PoseRef) Encode() []byte {
	data := make([]float32, (PoseRings+1)*PoseAngles)
	copy(data, r.Polar)
	copy(data[PoseRings*PoseAngles:], r.Radial)
	b := &Bank{Data: data, Dim: PoseAngles, norm: make([]float32, PoseRings+1)}
	return b.EncodeF16()
}

// DecodePoseRef reads a reference that Encode wrote. It returns an error
// wrapping ErrBank for data of another shape.
func DecodePoseRef(data []byte) (*PoseRef, error) {
	b, err := DecodeBank(data)
	if err != nil {
		return nil, err
	}
	if b.Dim != PoseAngles || b.Len() != PoseRings+1 {
		return nil, fmt.Errorf("%w: pose reference of %d×%d values, want %d×%d", ErrBank, b.Len(), b.Dim, PoseRings+1, PoseAngles)
	}
	return &PoseRef{Polar: b.Data[:PoseRings*PoseAngles], Radial: b.Data[PoseRings*PoseAngles : PoseRings*PoseAngles+GreySide/2]}, nil
}
