// Package capturetest draws test scenes for capture tests in pure Go, so
// they need neither a camera nor OpenCV.
package capturetest

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// Table draws a pure-Go scene: a grey table with noise and, unless empty,
// an L-shaped part (no rotational symmetry) turned by angle degrees, with
// blur pixels of box blur and the brightness scaled by gain.
//
//go:norace
func Table(angle float64, empty bool, blur int, gain float64, seed uint64) []byte {
	const w, h = 320, 240
	rng := rand.New(rand.NewPCG(seed, 7))
	g := image.NewGray(image.Rect(0, 0, w, h))
	sin, cos := math.Sincos(angle * math.Pi / 180)
	for y := range h {
		for x := range w {
			v := 110.0 + 6*rng.NormFloat64()
			if !empty {
				dx, dy := float64(x-w/2), float64(y-h/2)
				u, q := cos*dx+sin*dy, -sin*dx+cos*dy
				// The L: a long arm and a short arm, with a hole pattern.
				if (u > -60 && u < 60 && q > -12 && q < 12) || (u > 36 && u < 60 && q > -60 && q < 12) {
					v = 200 + 20*math.Sin(u/3)
					if math.Hypot(u+30, q) < 6 || math.Hypot(u-48, q+40) < 6 {
						v = 40
					}
				}
			}
			g.Pix[y*w+x] = uint8(math.Max(0, math.Min(255, v*gain)))
		}
	}
	for range blur {
		boxBlur(g)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, g, &jpeg.Options{Quality: 92}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

//go:norace
func boxBlur(g *image.Gray) {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	src := append([]uint8(nil), g.Pix...)
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			s := 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					s += int(src[(y+dy)*w+x+dx])
				}
			}
			g.Pix[y*w+x] = uint8(s / 9)
		}
	}
}
