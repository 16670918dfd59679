package anomaly

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// PosBank is the positional part of a model for parts of one shape laid at
// a placement mark: for every cell of the canonical (pose-aligned) patch
// grid, K patches of good images that lay there. A patch is compared with
// the patches of its own place in the part only, so something missing (a
// hole that is plain metal, which the position-free bank has plenty of)
// stands out where it is missing.
type PosBank struct {
	// Side is the patch grid's side; K the patches per cell.
	Side, K int
	// Data holds Side²·K patches of Dim values, cell by cell.
	Data []float32
	// Scale, when set (Side² values), divides each cell's distances: the
	// spread of good patches at that place (the mean distance of each of
	// its K patches to the nearest other), so a place where good parts
	// differ anyway (an edge, the mat around the part) counts less than
	// a place where they all look alike.
	Scale []float32
	// Disc, when set, compares only the patches whose canonical place
	// lies within the grid's inscribed circle (Inside); the others get
	// distance 0. The grid's corners are what an image's corners map to
	// at some angles only (elsewhere they fall off the grid and were
	// clamped to its border), so their cells hold a mix of the mat from
	// wherever it lay, which flags good parts lying off-centre.
	Disc bool

	normOnce sync.Once
	norm     []float32 // squared norm of each patch (norms)
}

// NewPosBank checks and wraps positional bank data. It returns an error
// wrapping ErrBank when the sizes do not fit.
func NewPosBank(data []float32, side, k int) (*PosBank, error) {
	if side <= 0 || k <= 0 || len(data) != side*side*k*Dim {
		return nil, fmt.Errorf("%w: positional bank of %d values for %d² cells × %d patches × %d", ErrBank, len(data), side, k, Dim)
	}
	return &PosBank{Side: side, K: k, Data: data}, nil
}

// place returns the canonical cell of grid cell i of an image with pose
// ps and whether its canonical place lies inside the grid's inscribed
// circle (a place outside the grid is clamped to its border).
func (b *PosBank) place(i int, ps Pose) (cell int, inside bool) {
	s := b.Side
	qx, qy := ps.Canonical(float64(i%s)+0.5, float64(i/s)+0.5, s)
	h := float64(s) / 2
	inside = math.Hypot(qx-h, qy-h) <= h
	cx := min(max(int(math.Floor(qx)), 0), s-1)
	cy := min(max(int(math.Floor(qy)), 0), s-1)
	return cy*s + cx, inside
}

// Distances writes to dst (Side² values) each patch's distance to the
// nearest patch of its canonical cell. f holds the image's Side² patches.
func (b *PosBank) Distances(f []float32, ps Pose, dst []float32) {
	per := b.K * Dim
	norms := b.norms()
	// split over the cores: a frame's budget is a few milliseconds
	parallel(len(dst), runtime.GOMAXPROCS(0), func(lo, hi int) {
		dots := make([]float32, b.K)
		for i := lo; i < hi; i++ {
			q := f[i*Dim : (i+1)*Dim]
			c, inside := b.place(i, ps)
			if b.Disc && !inside {
				dst[i] = 0
				continue
			}
			// ‖q − b‖² = ‖q‖² + ‖b‖² − 2 q·b: the K products are one
			// matrix-vector product, which gonum runs in SIMD assembly
			// (about 3× the plain Go loop)
			blas32.Gemv(blas.NoTrans, 1, blas32.General{Rows: b.K, Cols: Dim, Stride: Dim, Data: b.Data[c*per : (c+1)*per]},
				blas32.Vector{N: Dim, Inc: 1, Data: q}, 0, blas32.Vector{N: b.K, Inc: 1, Data: dots})
			best := float32(math.Inf(1))
			for k, v := range norms[c*b.K : (c+1)*b.K] {
				best = min(best, v-2*dots[k])
			}
			best += blas32.Dot(blas32.Vector{N: Dim, Inc: 1, Data: q}, blas32.Vector{N: Dim, Inc: 1, Data: q})
			dst[i] = float32(math.Sqrt(float64(max(best, 0))))
			if b.Scale != nil {
				dst[i] /= b.Scale[c]
			}
		}
	})
}

// norms returns the squared norm of every patch of the bank, computed
// once.
func (b *PosBank) norms() []float32 {
	b.normOnce.Do(func() {
		b.norm = make([]float32, len(b.Data)/Dim)
		for i := range b.norm {
			p := b.Data[i*Dim : (i+1)*Dim]
			b.norm[i] = dot(p, p)
		}
	})
	return b.norm
}

// ScaleFloor is the least cell scale, as a share of the mean over all
// cells (CellScales).
const ScaleFloor = 0.5

// CellScales returns each cell's spread (see Scale): the mean distance of
// each of its patches to the nearest other patch of the cell, at least
// floor × the mean over all cells so a cell whose patches coincide does
// not divide by nothing.
func (b *PosBank) CellScales(floor float32) []float32 {
	per := b.K * Dim
	sc := make([]float32, b.Side*b.Side)
	var total float32
	for c := range sc {
		cell := b.Data[c*per : (c+1)*per]
		var sum float32
		for i := 0; i < b.K; i++ {
			best := float32(math.Inf(1))
			for j := 0; j < b.K; j++ {
				if j != i {
					best = min(best, sqDist(cell[i*Dim:(i+1)*Dim], cell[j*Dim:(j+1)*Dim]))
				}
			}
			if !math.IsInf(float64(best), 1) {
				sum += float32(math.Sqrt(float64(best)))
			}
		}
		sc[c] = sum / float32(b.K)
		total += sc[c]
	}
	lo := floor * total / float32(len(sc))
	for c := range sc {
		sc[c] = max(sc[c], lo, 1e-6)
	}
	return sc
}

// PosFitter collects the posed patches of good images for a PosBank.
type PosFitter struct {
	// Disc makes the bank a disc bank (PosBank.Disc): patches whose
	// canonical place lies outside the inscribed circle are not learnt.
	Disc            bool
	side, k, spread int
	feats           [][]float32
	poses           []Pose
	seed            uint64
	workers         int
}

// NewPosFitter returns a fitter for a side×side grid keeping k patches per
// cell. A patch joins its canonical cell and the cells up to spread away,
// which absorbs the pose's error.
func NewPosFitter(side, k, spread int, seed uint64, workers int) *PosFitter {
	return &PosFitter{side: side, k: k, spread: spread, seed: seed, workers: workers}
}

// Add adds one good image's patches (side² × Dim) and its pose.
func (p *PosFitter) Add(f []float32, ps Pose) {
	p.feats = append(p.feats, f)
	p.poses = append(p.poses, ps)
}

// Bank selects each cell's K patches by greedy coreset among those that
// lay in or next to it. Cells no image reached take their nearest
// reached cell's patches. It returns ErrNoImages when nothing was added.
func (p *PosFitter) Bank() (*PosBank, error) {
	if len(p.feats) == 0 {
		return nil, ErrNoImages
	}
	s := p.side
	type ref struct{ img, patch int }
	cand := make([][]ref, s*s)
	b := &PosBank{Side: s, K: p.k}
	b.Disc = p.Disc
	for im := range p.feats {
		for i := 0; i < s*s; i++ {
			c, inside := b.place(i, p.poses[im])
			if p.Disc && !inside {
				continue
			}
			cx, cy := c%s, c/s
			for dy := -p.spread; dy <= p.spread; dy++ {
				for dx := -p.spread; dx <= p.spread; dx++ {
					x, y := cx+dx, cy+dy
					if x >= 0 && y >= 0 && x < s && y < s {
						cand[y*s+x] = append(cand[y*s+x], ref{im, i})
					}
				}
			}
		}
	}
	b.Data = make([]float32, s*s*p.k*Dim)
	per := p.k * Dim
	parallel(s*s, p.workers, func(lo, hi int) {
		var pts []float32
		for c := lo; c < hi; c++ {
			src := c
			if len(cand[c]) == 0 {
				src = nearestFilled(cand, s, c)
			}
			rs := cand[src]
			pts = pts[:0]
			for _, r := range rs {
				pts = append(pts, p.feats[r.img][r.patch*Dim:(r.patch+1)*Dim]...)
			}
			idx := Coreset(pts, len(rs), Dim, p.k, 0, p.seed+uint64(c), 1)
			dst := b.Data[c*per : (c+1)*per]
			for k := 0; k < p.k; k++ {
				j := idx[k%len(idx)] // fewer candidates than K: repeat
				copy(dst[k*Dim:(k+1)*Dim], pts[j*Dim:(j+1)*Dim])
			}
		}
	})
	b.Scale = b.CellScales(ScaleFloor)
	return b, nil
}

// nearestFilled returns the cell nearest c that has candidates (c when
// none has).
func nearestFilled[T any](cand [][]T, s, c int) int {
	best, bd := c, math.MaxInt
	for i := range cand {
		if len(cand[i]) == 0 {
			continue
		}
		dx, dy := i%s-c%s, i/s-c/s
		if d := dx*dx + dy*dy; d < bd {
			best, bd = i, d
		}
	}
	return best
}

// EncodeF16 writes the positional bank in the bank format: Side²·K rows of
// Dim half floats, cell by cell, then the cells' Scale (Side² values,
// zero-padded to whole rows of Dim).
func (b *PosBank) EncodeF16() []byte {
	rows := (len(b.Scale) + Dim - 1) / Dim
	data := make([]float32, len(b.Data)+rows*Dim)
	copy(data, b.Data)
	copy(data[len(b.Data):], b.Scale)
	return (&Bank{Data: data, Dim: Dim, norm: make([]float32, len(data)/Dim)}).EncodeF16()
}

// DecodePosBank reads a positional bank of side² cells × k patches and
// their scales that EncodeF16 wrote. It returns an error wrapping ErrBank
// for anything else.
func DecodePosBank(data []byte, side, k int) (*PosBank, error) {
	b, err := DecodeBank(data)
	if err != nil {
		return nil, err
	}
	cells := side * side
	rows := (cells + Dim - 1) / Dim
	if b.Dim != Dim || b.Len() != cells*k+rows {
		return nil, fmt.Errorf("%w: positional file of %d×%d values, want %d×%d", ErrBank, b.Len(), b.Dim, cells*k+rows, Dim)
	}
	pb, err := NewPosBank(b.Data[:cells*k*Dim], side, k)
	if err != nil {
		return nil, err
	}
	pb.Scale = b.Data[cells*k*Dim : cells*k*Dim+cells]
	for _, v := range pb.Scale {
		if !(v > 0) {
			return nil, fmt.Errorf("%w: positional scale %v", ErrBank, v)
		}
	}
	return pb, nil
}
