package anomaly

import (
	"context"
	"fmt"
	"math"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

// Letterboxed is a second patch part of a model whose input is padded at
// the image's own scale (inspector.ResizePad): the image, found on the
// input as what is not padding, is letterboxed to Grid×Grid tiles (scaled
// so its long side fills them) and scored against a bank of its own. The
// two scales fail on different defects (on magnetic-tile the own scale
// finds blowholes and frays, the letterbox cracks and uneven surfaces), so
// the model adds both parts, each standardised (Norm.LbMean, Norm.LbSD).
type Letterboxed struct {
	// Grid is the number of 224 px tiles per side of the letterbox.
	Grid int
	// Pad is the input's padding value per channel: a black pixel through
	// the input spec's normalisation (−mean/std).
	Pad []float32
	// TopK, MedianOffset and Neighbourhood as the patch part's (Params).
	TopK          int
	MedianOffset  float32
	Neighbourhood int
	Bank          *Bank
	// Search is the search in Bank (default GoSearcher).
	Search Searcher
	// R runs the backbone (the model's own, shared).
	R embed.Runner
}

// Score returns the letterboxed image's patch distances and its score
// (the mean of the TopK largest, less MedianOffset × their median) for the
// model's input x of side px per side.
func (l *Letterboxed) Score(ctx context.Context, x []float32, side int) ([]float32, float32, error) {
	if l.R == nil || l.Bank == nil {
		return nil, 0, fmt.Errorf("%w: the letterboxed part has no backbone or bank", ErrBank)
	}
	lx, err := LetterboxInput(x, side, embed.Size*l.Grid, l.Pad)
	if err != nil {
		return nil, 0, err
	}
	f, err := Extract(ctx, l.R, lx, l.Grid, nil)
	if err != nil {
		return nil, 0, err
	}
	f = Neighbourhood(f, l.Grid, l.Neighbourhood)
	d := make([]float32, len(f)/Dim)
	s := l.Search
	if s == nil {
		s = GoSearcher{Bank: l.Bank}
	}
	if err := s.Nearest(ctx, f, d); err != nil {
		return nil, 0, err
	}
	return d, Params{TopK: l.TopK, MedianOffset: l.MedianOffset}.PatchScore(d), nil
}

// ContentBox is the smallest rectangle of the side×side input x (channel
// planes) outside which every value is the channel's padding value pad:
// the image a padded input holds. An input that is padding throughout
// gives the whole input.
func ContentBox(x []float32, side int, pad []float32) inspector.Rect {
	plane := side * side
	x0, y0, x1, y1 := side, side, -1, -1
	for y := 0; y < side; y++ {
		for xx := 0; xx < side; xx++ {
			i := y*side + xx
			for c := range pad {
				if x[c*plane+i] != pad[c] {
					x0, y0, x1, y1 = min(x0, xx), min(y0, y), max(x1, xx), max(y1, y)
					break
				}
			}
		}
	}
	if x1 < 0 {
		return inspector.Rect{W: side, H: side}
	}
	return inspector.Rect{X: x0, Y: y0, W: x1 - x0 + 1, H: y1 - y0 + 1}
}

// LetterboxInput returns the out×out input that letterboxes the image a
// padded side×side input x holds (ContentBox), centred on padding pad:
// scaled so it fits out×out and resampled as the preprocessing's letterbox
// does it (inspector/opencv Preprocessor with InterpLinear, the anomaly
// models' spec): bilinear when enlarging; when shrinking, halved by 2×2
// averages while both sides stay at least the target's, then bilinear
// (pixel-area averaging if one side is still 2× or more). It returns an
// error for x of the wrong length.
func LetterboxInput(x []float32, side, out int, pad []float32) ([]float32, error) {
	ch := len(pad)
	if ch == 0 || len(x) != ch*side*side || out <= 0 {
		return nil, fmt.Errorf("%w: input has %d values, %d channels of %d² expected", inspector.ErrModelShape, len(x), ch, side)
	}
	b := ContentBox(x, side, pad)
	w, h := fitInside(b.W, b.H, out, out)
	left, top := (out-w)/2, (out-h)/2
	plane, oplane := side*side, out*out
	dst := make([]float32, ch*oplane)
	for c := 0; c < ch; c++ {
		o := dst[c*oplane : (c+1)*oplane]
		for i := range o {
			o[i] = pad[c]
		}
		src := make([]float32, b.W*b.H)
		for y := 0; y < b.H; y++ {
			copy(src[y*b.W:(y+1)*b.W], x[c*plane+(b.Y+y)*side+b.X:])
		}
		r := resizePlane(src, b.W, b.H, w, h)
		for y := 0; y < h; y++ {
			copy(o[(top+y)*out+left:(top+y)*out+left+w], r[y*w:(y+1)*w])
		}
	}
	return dst, nil
}

// resizePlane resizes a sw×sh plane to dw×dh as the preprocessing does.
func resizePlane(p []float32, sw, sh, dw, dh int) []float32 {
	if dw > sw || dh > sh {
		return resample(p, sw, sh, dw, dh, false)
	}
	for sw/2 >= dw && sh/2 >= dh {
		hw, hh := sw/2, sh/2
		q := make([]float32, hw*hh)
		for y := 0; y < hh; y++ {
			for xx := 0; xx < hw; xx++ {
				i := 2*y*sw + 2*xx
				q[y*hw+xx] = (p[i] + p[i+1] + p[i+sw] + p[i+sw+1]) / 4
			}
		}
		p, sw, sh = q, hw, hh
	}
	if sw == dw && sh == dh {
		return p
	}
	return resample(p, sw, sh, dw, dh, sw >= 2*dw || sh >= 2*dh)
}

// resample resizes separably, rows first: bilinear, or by pixel area.
func resample(p []float32, sw, sh, dw, dh int, area bool) []float32 {
	tmp := make([]float32, sh*dw)
	wx := resizeWeights(sw, dw, area)
	for y := 0; y < sh; y++ {
		row := p[y*sw : (y+1)*sw]
		for j, ws := range wx {
			var s float32
			for _, t := range ws {
				s += t.w * row[t.i]
			}
			tmp[y*dw+j] = s
		}
	}
	out := make([]float32, dw*dh)
	for i, ws := range resizeWeights(sh, dh, area) {
		orow := out[i*dw : (i+1)*dw]
		for j := range orow {
			var s float32
			for _, t := range ws {
				s += t.w * tmp[t.i*dw+j]
			}
			orow[j] = s
		}
	}
	return out
}

type tap struct {
	i int
	w float32
}

// resizeWeights are, for each of m output samples, the source samples of
// n and their weights: linear interpolation at half-pixel centres (OpenCV's
// INTER_LINEAR, clamped at the border), or with area (shrinking only) the
// share of the output pixel each source pixel covers (INTER_AREA).
func resizeWeights(n, m int, area bool) [][]tap {
	out := make([][]tap, m)
	scale := float64(n) / float64(m)
	if !area || m >= n {
		for j := range out {
			s := (float64(j)+0.5)*scale - 0.5
			i := int(math.Floor(s))
			f := float32(s - float64(i))
			if i < 0 {
				i, f = 0, 0
			}
			if i >= n-1 {
				i, f = n-1, 0
			}
			out[j] = []tap{{i, 1 - f}}
			if f > 0 {
				out[j] = append(out[j], tap{i + 1, f})
			}
		}
		return out
	}
	for j := range out {
		a, b := float64(j)*scale, float64(j+1)*scale
		for i := int(math.Floor(a)); i < n && float64(i) < b; i++ {
			lo, hi := math.Max(a, float64(i)), math.Min(b, float64(i+1))
			if hi > lo {
				out[j] = append(out[j], tap{i, float32((hi - lo) / scale)})
			}
		}
	}
	return out
}

// fitInside is the size of a w×h image scaled to fit inside maxW×maxH, as
// the preprocessing's letterbox rounds it.
func fitInside(w, h, maxW, maxH int) (int, int) {
	if w*maxH > h*maxW {
		return maxW, max(1, (h*maxW+w/2)/w)
	}
	return max(1, (w*maxH+h/2)/h), maxH
}
