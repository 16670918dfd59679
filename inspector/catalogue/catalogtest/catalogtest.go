// Package catalogtest helps test code that uses the catalogue without a
// backbone: an Embedder in pure Go whose vectors are an image's colour
// layout, and photos drawn to be near or far in that space.
package catalogtest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
)

// Grid is the layout's cells per side; Dim = Grid*Grid*3.
const (
	Grid = 4
	Dim  = Grid * Grid * 3
)

// Embedder embeds JPEGs and PNGs as the unit-length mean colour of each
// cell of a Grid×Grid layout, centred on mid-grey. It refuses what Go's
// decoders refuse and truncated files, as the real one does, with a
// catalogue.BadImageError. Calls counts the images it embedded.
type Embedder struct {
	SHA   string // backbone id; default "test-backbone"
	Calls atomic.Int64
}

var _ catalogue.Embedder = (*Embedder)(nil)

// Dim is the vector length.
func (e *Embedder) Dim() int { return Dim }

// Backbone implements catalogue.Embedder.
func (e *Embedder) Backbone() string {
	if e.SHA == "" {
		return "test-backbone"
	}
	return e.SHA
}

// BackboneName implements catalogue.Embedder.
func (e *Embedder) BackboneName() string { return "colour-layout" }

// Embed implements catalogue.Embedder.
func (e *Embedder) Embed(ctx context.Context, images [][]byte) ([]catalogue.Embedded, error) {
	out := make([]catalogue.Embedded, len(images))
	for i, b := range images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		_, format, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return nil, &catalogue.BadImageError{Index: i, Err: fmt.Errorf("%w: %v", inspector.ErrBadImage, err)}
		}
		if err := inspector.CheckComplete(format, b); err != nil {
			return nil, &catalogue.BadImageError{Index: i, Err: fmt.Errorf("%w: %v", inspector.ErrBadImage, err)}
		}
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, &catalogue.BadImageError{Index: i, Err: fmt.Errorf("%w: %v", inspector.ErrBadImage, err)}
		}
		out[i] = catalogue.Embedded{JPEG: b, Vector: layout(img)}
		e.Calls.Add(1)
	}
	return out, nil
}

func layout(img image.Image) []float32 {
	r := img.Bounds()
	v := make([]float64, Dim)
	n := make([]float64, Grid*Grid)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := Grid*((y-r.Min.Y)*Grid/r.Dy()) + (x-r.Min.X)*Grid/r.Dx()
			R, G, B, _ := img.At(x, y).RGBA()
			v[3*c] += float64(R)/65535 - 0.5
			v[3*c+1] += float64(G)/65535 - 0.5
			v[3*c+2] += float64(B)/65535 - 0.5
			n[c]++
		}
	}
	var s float64
	for i := range v {
		v[i] /= math.Max(n[i/3], 1)
		s += v[i] * v[i]
	}
	out := make([]float32, Dim)
	for i := range v {
		if s > 0 {
			out[i] = float32(v[i] / math.Sqrt(s))
		}
	}
	return out
}

// Photo draws photo i of a "part" whose look is fixed by part: a colour
// layout of Grid×Grid cells, with per-photo noise (noise 0..1, about 0.1
// keeps photos of one part nearer to each other than to other parts).
func Photo(part uint64, i int, noise float64) []byte {
	pr := rand.New(rand.NewPCG(part, 99))
	base := make([][3]float64, Grid*Grid)
	for c := range base {
		base[c] = [3]float64{pr.Float64(), pr.Float64(), pr.Float64()}
	}
	rr := rand.New(rand.NewPCG(part, uint64(i)+1000))
	const W, H = 64, 48
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for y := range H {
		for x := range W {
			c := base[Grid*(y*Grid/H)+x*Grid/W]
			px := func(v float64) uint8 {
				v = 255 * (v + noise*(rr.Float64()-0.5))
				return uint8(math.Max(0, math.Min(255, v)))
			}
			img.Set(x, y, color.RGBA{px(c[0]), px(c[1]), px(c[2]), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err) // encoding to memory does not fail
	}
	return buf.Bytes()
}
