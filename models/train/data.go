package train

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/pruefplatz/pruefplatz/augment"
	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

// imageSet holds decoded training images. Training images are cut to the
// ROI and pre-shrunk once (opencv.PreShrink: the station's first halving
// steps, down to about twice the model's input): augmenting full 640×480
// frames would cost more than the training step, and the shared
// Preprocessor then finishes the station's own chain of resize steps.
type imageSet struct {
	mats   []gocv.Mat
	labels []int
	files  []string
}

func (im *imageSet) Close() {
	for _, m := range im.mats {
		m.Close()
	}
}

// loadImages decodes samples in parallel; unreadable ones are skipped and reported.
func loadImages(ctx context.Context, samples []datasets.Sample, spec inspector.InputSpec, shrink bool) (*imageSet, []datasets.Problem, error) {
	mats := make([]gocv.Mat, len(samples))
	errs := make([]error, len(samples))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for i, s := range samples {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, path string) {
			defer wg.Done()
			defer func() { <-sem }()
			m, err := opencv.ReadImageFile(path, opencv.Limits{})
			if err != nil {
				errs[i] = err
				return
			}
			if shrink && spec.ROI != nil {
				// Training images are cut to the ROI first, so augmentation
				// and shrinking see what the station's Preprocessor will.
				r := image.Rect(spec.ROI.X, spec.ROI.Y, spec.ROI.X+spec.ROI.W, spec.ROI.Y+spec.ROI.H).Intersect(image.Rect(0, 0, m.Cols(), m.Rows()))
				if r.Empty() {
					m.Close()
					errs[i] = fmt.Errorf("roi %+v lies outside the %dx%d image", *spec.ROI, m.Cols(), m.Rows())
					return
				}
				region := m.Region(r)
				crop := region.Clone()
				region.Close()
				m.Close()
				m = crop
			}
			if shrink {
				if small, ok := opencv.PreShrink(m, spec); ok {
					m.Close()
					m = small
				}
			}
			mats[i] = m
		}(i, s.Path)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		for _, m := range mats {
			m.Close()
		}
		return nil, nil, err
	}
	im := &imageSet{}
	var problems []datasets.Problem
	for i, s := range samples {
		if errs[i] != nil {
			problems = append(problems, datasets.Problem{Path: s.Path, Err: errs[i].Error()})
			continue
		}
		im.mats = append(im.mats, mats[i])
		im.labels = append(im.labels, s.Label)
		im.files = append(im.files, s.Path)
	}
	return im, problems, nil
}

// tensors preprocesses every image without augmentation, as the station would.
func (im *imageSet) tensors(spec inspector.InputSpec) ([][]float32, error) {
	p, err := opencv.NewPreprocessor(spec)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	out := make([][]float32, len(im.mats))
	for i, m := range im.mats {
		out[i] = make([]float32, spec.TensorLen())
		if err := p.Run(m, out[i]); err != nil {
			return nil, fmt.Errorf("%s: %w", im.files[i], err)
		}
	}
	return out, nil
}

// batch is one training batch in GoMLX's layout.
type batch struct {
	x      []float32 // B×C×H×W
	labels []int32
}

// batcher draws class-balanced batches: each image picks a class uniformly,
// then an image of that class, so rare defect classes are seen as often as
// OK parts. Every batch's draws and augmentation come from
// (seed, epoch, batch), so results do not depend on goroutine scheduling.
type batcher struct {
	im       *imageSet
	byClass  [][]int
	nonEmpty []int // classes with training images, the ones a draw may pick
	spec     inspector.InputSpec
	pipeline augment.Pipeline
	seed     uint64
	size     int
	workers  int
}

func newBatcher(im *imageSet, classes int, spec inspector.InputSpec, p augment.Pipeline, seed uint64, size int) *batcher {
	b := &batcher{im: im, byClass: make([][]int, classes), spec: spec, pipeline: p, seed: seed, size: size, workers: runtime.NumCPU()}
	for i, l := range im.labels {
		b.byClass[l] = append(b.byClass[l], i)
	}
	for c, idx := range b.byClass {
		if len(idx) > 0 {
			b.nonEmpty = append(b.nonEmpty, c)
		}
	}
	return b
}

// epoch streams n batches, building the next while the last one trains;
// the channel closes at the end or on error/cancel.
func (b *batcher) epoch(ctx context.Context, epoch, n int) (<-chan batch, <-chan error) {
	out := make(chan batch)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		pre, err := b.preprocessors()
		if err != nil {
			errc <- err
			return
		}
		defer closeAll(pre)
		for k := 0; k < n; k++ {
			bt, err := b.build(pre, epoch, k)
			if err != nil {
				errc <- err
				return
			}
			select {
			case out <- bt:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	return out, errc
}

func (b *batcher) preprocessors() ([]*opencv.Preprocessor, error) {
	pre := make([]*opencv.Preprocessor, b.workers)
	for w := range pre {
		p, err := opencv.NewPreprocessor(b.spec)
		if err != nil {
			closeAll(pre[:w])
			return nil, err
		}
		pre[w] = p
	}
	return pre, nil
}

func closeAll(pre []*opencv.Preprocessor) {
	for _, p := range pre {
		p.Close()
	}
}

// build draws and augments batch k of an epoch on b.workers goroutines.
func (b *batcher) build(pre []*opencv.Preprocessor, epoch, k int) (batch, error) {
	rng := rand.New(rand.NewPCG(b.seed, uint64(epoch)<<32|uint64(k)))
	picks := make([]int, b.size)
	seeds := make([]uint64, b.size)
	for i := range picks {
		c := b.nonEmpty[rng.IntN(len(b.nonEmpty))]
		picks[i] = b.byClass[c][rng.IntN(len(b.byClass[c]))]
		seeds[i] = rng.Uint64()
	}
	bt := batch{x: make([]float32, b.size*b.spec.TensorLen()), labels: make([]int32, b.size)}
	errs := make([]error, len(pre))
	var wg sync.WaitGroup
	for w := range pre {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			aug := gocv.NewMat()
			defer aug.Close()
			n := b.spec.TensorLen()
			for i := w; i < b.size; i += len(pre) {
				r := rand.New(rand.NewPCG(seeds[i], 0))
				if _, err := b.pipeline.Apply(b.im.mats[picks[i]], &aug, r); err != nil {
					errs[w] = err
					return
				}
				if err := pre[w].Run(aug, bt.x[i*n:(i+1)*n]); err != nil {
					errs[w] = err
					return
				}
				bt.labels[i] = int32(b.im.labels[picks[i]])
			}
		}(w)
	}
	wg.Wait()
	return bt, errors.Join(errs...)
}
