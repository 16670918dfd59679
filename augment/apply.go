package augment

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"sync"

	"gocv.io/x/gocv"
)

// Apply runs the pipeline on src and writes the result into dst (same size
// and type as src). For each step it draws from rng whether the step runs
// and, if so, its parameters, in a fixed order, so the same rng state gives
// the same image. It returns the steps applied with their parameters. Apply
// keeps no state: it is safe to call from several goroutines on different
// Mats, each with its own rng.
func (p Pipeline) Apply(src gocv.Mat, dst *gocv.Mat, rng *rand.Rand) ([]Applied, error) {
	if src.Empty() {
		return nil, fmt.Errorf("augment: empty image")
	}
	if src.Type() != gocv.MatTypeCV8UC3 && src.Type() != gocv.MatTypeCV8UC1 {
		return nil, fmt.Errorf("augment: image type %v (want 8-bit grey or BGR)", src.Type())
	}
	cur := gocv.NewMat()
	defer cur.Close()
	tmp := gocv.NewMat()
	defer tmp.Close()
	src.CopyTo(&cur)
	var applied []Applied
	for _, s := range p.Steps {
		if rng.Float64() >= s.P {
			continue
		}
		a, err := s.apply(cur, &tmp, rng)
		if err != nil {
			return applied, err
		}
		if a == nil {
			continue
		}
		applied = append(applied, *a)
		cur, tmp = tmp, cur
	}
	cur.CopyTo(dst)
	return applied, nil
}

// apply runs one step from src into dst; nil means it changed nothing.
func (s Step) apply(src gocv.Mat, dst *gocv.Mat, rng *rand.Rand) (*Applied, error) {
	border, err := borderType(s.Border)
	if err != nil {
		return nil, err
	}
	w, h := src.Cols(), src.Rows()
	switch s.Type {
	case "rotate":
		deg := s.Degrees.draw(rng)
		Rotate(src, dst, deg, border)
		return &Applied{s.Type, map[string]float64{"degrees": deg}}, nil
	case "shift":
		dx := math.Round((2*rng.Float64() - 1) * s.X * float64(w))
		dy := math.Round((2*rng.Float64() - 1) * s.Y * float64(h))
		Shift(src, dst, int(dx), int(dy), border)
		return &Applied{s.Type, map[string]float64{"dx": dx, "dy": dy}}, nil
	case "mirror":
		hf := s.Horizontal && rng.IntN(2) == 1
		vf := s.Vertical && rng.IntN(2) == 1
		switch {
		case hf && vf:
			gocv.Flip(src, dst, -1)
		case hf:
			gocv.Flip(src, dst, 1)
		case vf:
			gocv.Flip(src, dst, 0)
		default:
			return nil, nil
		}
		return &Applied{s.Type, map[string]float64{"horizontal": b2f(hf), "vertical": b2f(vf)}}, nil
	case "scale":
		f := s.Factor.draw(rng)
		affine(src, dst, 0, f, 0, 0, border)
		return &Applied{s.Type, map[string]float64{"factor": f}}, nil
	case "brightness_contrast":
		b := s.Brightness.draw(rng)
		c := 1.0
		if s.Contrast != (Range{}) {
			c = s.Contrast.draw(rng)
		}
		// Contrast around mid-grey, so it does not also brighten.
		src.ConvertToWithParams(dst, src.Type(), float32(c), float32(b+128*(1-c)))
		return &Applied{s.Type, map[string]float64{"brightness": b, "contrast": c}}, nil
	case "gamma":
		g := s.Gamma.draw(rng)
		Gamma(src, dst, g)
		return &Applied{s.Type, map[string]float64{"gamma": g}}, nil
	case "blur":
		sig := s.Sigma.draw(rng)
		if sig <= 0 {
			return nil, nil
		}
		gocv.GaussianBlur(src, dst, image.Pt(0, 0), sig, sig, gocv.BorderReflect101)
		return &Applied{s.Type, map[string]float64{"sigma": sig}}, nil
	case "noise":
		sig := s.Sigma.draw(rng)
		seed := rng.Uint64()
		Noise(src, dst, sig, rand.New(rand.NewPCG(seed, 0x6e6f697365)))
		return &Applied{s.Type, map[string]float64{"sigma": sig, "seed": float64(seed >> 11)}}, nil
	case "perspective":
		var q [8]float64
		for i := range q {
			q[i] = (2*rng.Float64() - 1) * s.Strength
		}
		perspective(src, dst, q, border)
		params := map[string]float64{}
		for i, v := range q {
			params[fmt.Sprintf("c%d", i)] = v
		}
		return &Applied{s.Type, params}, nil
	}
	return nil, fmt.Errorf("augment: unknown transform %q", s.Type)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Rotate turns src by deg degrees counter-clockwise about its centre.
func Rotate(src gocv.Mat, dst *gocv.Mat, deg float64, border gocv.BorderType) {
	affine(src, dst, deg, 1, 0, 0, border)
}

// Shift moves src by dx, dy pixels (positive: right, down), filling the
// uncovered edge per border.
func Shift(src gocv.Mat, dst *gocv.Mat, dx, dy int, border gocv.BorderType) {
	w, h := src.Cols(), src.Rows()
	if dx <= -w || dx >= w || dy <= -h || dy >= h {
		affine(src, dst, 0, 1, float64(dx), float64(dy), border)
		return
	}
	// An integer shift is a padded copy: faster than warpAffine
	// (BenchmarkShift) and identical for every border mode.
	pad := gocv.NewMat()
	defer pad.Close()
	gocv.CopyMakeBorder(src, &pad, max(dy, 0), max(-dy, 0), max(dx, 0), max(-dx, 0), border, color.RGBA{})
	ox, oy := max(-dx, 0), max(-dy, 0)
	roi := pad.Region(image.Rect(ox, oy, ox+w, oy+h))
	defer roi.Close()
	roi.CopyTo(dst)
}

// affine rotates by deg and scales by f about the pixel centre, then shifts.
func affine(src gocv.Mat, dst *gocv.Mat, deg, f, dx, dy float64, border gocv.BorderType) {
	w, h := src.Cols(), src.Rows()
	// The centre of pixel (0,0) is at 0, so the image's centre is (w-1)/2;
	// with it a quarter turn of a square maps pixels exactly onto pixels.
	cx, cy := float64(w-1)/2, float64(h-1)/2
	s, c := math.Sincos(deg * math.Pi / 180)
	a, b := snap(f*c), snap(f*s)
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	m.SetDoubleAt(0, 0, a)
	m.SetDoubleAt(0, 1, b)
	m.SetDoubleAt(0, 2, (1-a)*cx-b*cy+dx)
	m.SetDoubleAt(1, 0, -b)
	m.SetDoubleAt(1, 1, a)
	m.SetDoubleAt(1, 2, b*cx+(1-a)*cy+dy)
	gocv.WarpAffineWithParams(src, dst, m, image.Pt(w, h), gocv.InterpolationLinear, border, color.RGBA{})
}

// snap removes the rounding noise of sin and cos at multiples of 90°.
func snap(v float64) float64 {
	if r := math.Round(v); math.Abs(v-r) < 1e-12 {
		return r
	}
	return v
}

func perspective(src gocv.Mat, dst *gocv.Mat, q [8]float64, border gocv.BorderType) {
	w, h := float32(src.Cols()-1), float32(src.Rows()-1)
	from := []gocv.Point2f{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}}
	to := make([]gocv.Point2f, 4)
	for i, p := range from {
		to[i] = gocv.Point2f{X: p.X + float32(q[2*i])*w, Y: p.Y + float32(q[2*i+1])*h}
	}
	fv, tv := gocv.NewPoint2fVectorFromPoints(from), gocv.NewPoint2fVectorFromPoints(to)
	defer fv.Close()
	defer tv.Close()
	m := gocv.GetPerspectiveTransform2f(fv, tv)
	defer m.Close()
	gocv.WarpPerspectiveWithParams(src, dst, m, image.Pt(src.Cols(), src.Rows()), gocv.InterpolationLinear, border, color.RGBA{})
}

// Gamma maps each value v to 255·(v/255)^(1/g): g > 1 brightens.
func Gamma(src gocv.Mat, dst *gocv.Mat, g float64) {
	lut := make([]byte, 256)
	for i := range lut {
		lut[i] = uint8(math.Round(255 * math.Pow(float64(i)/255, 1/g)))
	}
	t, _ := gocv.NewMatFromBytes(1, 256, gocv.MatTypeCV8UC1, lut)
	defer t.Close()
	gocv.LUT(src, t, dst)
}

// Noise adds Gaussian noise of standard deviation sigma, drawn from rng
// (not OpenCV's generator, which the caller cannot seed per image). Each
// value takes 16 bits of one rng.Uint64 as the index of a normal quantile
// in a table: four values per draw, about a fifth of the time
// rng.NormFloat64 takes, which made noise the dearest step in training.
// The table reaches ±4.3 σ, where an 8-bit pixel is clipped anyway.
func Noise(src gocv.Mat, dst *gocv.Mat, sigma float64, rng *rand.Rand) {
	src.CopyTo(dst)
	pix, err := dst.DataPtrUint8()
	if err != nil {
		return
	}
	q := normalQuantiles()
	s := float32(sigma)
	var bits uint64
	for i, v := range pix {
		if i%4 == 0 {
			bits = rng.Uint64()
		}
		n := min(255, max(0, float32(v)+s*q[uint16(bits)]))
		bits >>= 16
		pix[i] = uint8(n + 0.5)
	}
}

// normalQuantiles holds the standard normal's quantiles at the midpoints
// of 65,536 equal slices of probability: a uniform 16-bit index into it
// is a normal draw to within the slice.
var normalQuantiles = sync.OnceValue(func() *[1 << 16]float32 {
	var q [1 << 16]float32
	for k := range q {
		p := (float64(k) + 0.5) / float64(len(q))
		q[k] = float32(math.Sqrt2 * math.Erfinv(2*p-1))
	}
	return &q
})
