package anomaly

import "fmt"

// FitOptions tune how a memory bank is built.
type FitOptions struct {
	// Ratio is the share of all seen patches the bank keeps (default 0.01).
	Ratio float64
	// MaxBank caps the bank (default 4096 patches): the nearest-neighbour
	// search per frame grows with it.
	MaxBank int
	// ImageKeep, when above 0, first reduces each image's patches to this
	// share by the same greedy selection within the image. Greedy coreset
	// costs patches × bank; on large tiled datasets the one-stage
	// selection would take hours, the two-stage one keeps every image's
	// outlying patches and takes seconds.
	ImageKeep float64
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
		o.MaxBank = 4096
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
}

// NewFitter returns an empty Fitter.
func NewFitter(opt FitOptions) *Fitter {
	opt.defaults()
	return &Fitter{opt: opt}
}

// Add adds one good image's patch features (patches×Dim).
func (f *Fitter) Add(feats []float32) {
	n := len(feats) / Dim
	f.seen += n
	f.images++
	if f.opt.ImageKeep > 0 && f.opt.ImageKeep < 1 {
		k := max(1, int(f.opt.ImageKeep*float64(n)+0.5))
		idx := Coreset(feats, n, Dim, k, f.opt.Proj, f.opt.Seed+uint64(f.images), f.opt.Workers)
		for _, j := range idx {
			f.pool = append(f.pool, feats[j*Dim:(j+1)*Dim]...)
		}
		return
	}
	f.pool = append(f.pool, feats...)
}

func (f *Fitter) target() int {
	return max(1, min(f.opt.MaxBank, int(f.opt.Ratio*float64(f.seen)+0.5)))
}

// FitStats describe a finished bank.
type FitStats struct {
	Images  int `json:"images"`
	Patches int `json:"patches_seen"`
	Bank    int `json:"bank_patches"`
	Pool    int `json:"pool_patches"` // after the per-image stage
}

// Bank selects the final bank by greedy coreset. It returns ErrNoImages
// when nothing was added.
func (f *Fitter) Bank() (*Bank, FitStats, error) {
	if f.images == 0 {
		return nil, FitStats{}, ErrNoImages
	}
	pool := len(f.pool) / Dim
	idx := Coreset(f.pool, pool, Dim, f.target(), f.opt.Proj, f.opt.Seed, f.opt.Workers)
	data := make([]float32, len(idx)*Dim)
	for i, j := range idx {
		copy(data[i*Dim:(i+1)*Dim], f.pool[j*Dim:(j+1)*Dim])
	}
	f.pool = nil
	b, err := NewBank(data, Dim)
	if err != nil {
		return nil, FitStats{}, fmt.Errorf("anomaly: %w", err)
	}
	return b, FitStats{Images: f.images, Patches: f.seen, Pool: pool, Bank: b.Len()}, nil
}
