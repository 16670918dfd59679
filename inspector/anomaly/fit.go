package anomaly

import "fmt"

// FitOptions tune how a memory bank is built.
type FitOptions struct {
	// Ratio is the share of all seen patches the bank keeps (default 0.01).
	Ratio float64
	// MaxBank caps the bank (default 16384 patches); the nearest-neighbour
	// search per frame grows with it.
	MaxBank int
	// Pool is the most patches held before an intermediate coreset
	// reduction (default 250000, 128 MB of float32): large tiled datasets
	// would otherwise need gigabytes before the first selection.
	Pool int
	// Proj is the random-projection dimension for the selection (default 32).
	Proj    int
	Seed    uint64
	Workers int
}

func (o *FitOptions) defaults() {
	if o.Ratio <= 0 {
		o.Ratio = 0.01
	}
	if o.MaxBank <= 0 {
		o.MaxBank = 16384
	}
	if o.Pool <= 0 {
		o.Pool = 250000
	}
	if o.Proj <= 0 {
		o.Proj = 32
	}
}

// Fitter collects the patch features of good images and selects the bank.
type Fitter struct {
	opt    FitOptions
	pool   []float32
	seen   int // patches added
	images int
	stages int // intermediate reductions
}

// NewFitter returns an empty Fitter.
func NewFitter(opt FitOptions) *Fitter {
	opt.defaults()
	return &Fitter{opt: opt}
}

// Add adds one good image's patch features (patches×Dim).
func (f *Fitter) Add(feats []float32) {
	f.pool = append(f.pool, feats...)
	f.seen += len(feats) / Dim
	f.images++
	if n := len(f.pool) / Dim; n > f.opt.Pool {
		// Keep four times what the final bank may need, at least: the
		// last selection then still chooses among the reduced pool.
		keep := max(f.opt.Pool/4, min(4*f.target(), f.opt.Pool/2))
		f.reduce(keep)
		f.stages++
	}
}

func (f *Fitter) target() int {
	return max(1, min(f.opt.MaxBank, int(f.opt.Ratio*float64(f.seen)+0.5)))
}

func (f *Fitter) reduce(k int) {
	n := len(f.pool) / Dim
	idx := Coreset(f.pool, n, Dim, k, f.opt.Proj, f.opt.Seed+uint64(f.stages), f.opt.Workers)
	out := make([]float32, len(idx)*Dim)
	for i, j := range idx {
		copy(out[i*Dim:(i+1)*Dim], f.pool[j*Dim:(j+1)*Dim])
	}
	f.pool = out
}

// FitStats describe a finished bank.
type FitStats struct {
	Images  int `json:"images"`
	Patches int `json:"patches_seen"`
	Bank    int `json:"bank_patches"`
	Stages  int `json:"intermediate_reductions"`
}

// Bank selects the final bank by greedy coreset. It returns ErrNoImages
// when nothing was added.
func (f *Fitter) Bank() (*Bank, FitStats, error) {
	if f.images == 0 {
		return nil, FitStats{}, ErrNoImages
	}
	f.reduce(f.target())
	b, err := NewBank(f.pool, Dim)
	if err != nil {
		return nil, FitStats{}, fmt.Errorf("anomaly: %w", err)
	}
	return b, FitStats{Images: f.images, Patches: f.seen, Bank: b.Len(), Stages: f.stages}, nil
}
