package opencv

import (
	"image"
	"math"
	"sort"

	"gocv.io/x/gocv"
)

// flattenLight evens out the light on the table of a shrunken photo (8-bit,
// 3 channels, continuous) in place before it is segmented: a quadratic
// surface in x and y is fitted to the log brightness of a frame of the
// given width along the photo's edge (the table, but where a part reaches
// the edge: a second fit leaves out the pixels far from the first), and
// every pixel is divided by it. A hot spot, a vignette or a ramp of light
// otherwise leaves the table in the middle brighter than at the frame,
// from which GrabCut learns the table's colours, and a dark part on a
// coloured mat then takes the bright table around it along. It answers
// false, leaving the photo alone, when the fit cannot be made.
func flattenLight(small *gocv.Mat, frame int) bool {
	w, h := small.Cols(), small.Rows()
	px, err := small.DataPtrUint8()
	if err != nil || len(px) != w*h*3 || frame < 1 || 2*frame >= min(w, h) {
		return false
	}
	lum := func(i int) float64 {
		return math.Log(1 + (float64(px[3*i])+float64(px[3*i+1])+float64(px[3*i+2]))/3)
	}
	// Coordinates scaled to about −1…1 keep the normal equations well
	// conditioned.
	basis := func(x, y int) [6]float64 {
		u, v := 2*(float64(x)+0.5)/float64(w)-1, 2*(float64(y)+0.5)/float64(h)-1
		return [6]float64{1, u, v, u * u, u * v, v * v}
	}
	var idx []int
	for y := range h {
		for x := range w {
			if x < frame || y < frame || x >= w-frame || y >= h-frame {
				idx = append(idx, y*w+x)
			}
		}
	}
	fit := func(use []int) ([6]float64, bool) {
		var a [6][7]float64
		for _, i := range use {
			b, l := basis(i%w, i/w), lum(i)
			for r := range 6 {
				for c := range 6 {
					a[r][c] += b[r] * b[c]
				}
				a[r][6] += b[r] * l
			}
		}
		// Gauss-Jordan with partial pivoting.
		for c := range 6 {
			p := c
			for r := c + 1; r < 6; r++ {
				if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
					p = r
				}
			}
			if math.Abs(a[p][c]) < 1e-9 {
				return [6]float64{}, false
			}
			a[c], a[p] = a[p], a[c]
			for r := range 6 {
				if r != c {
					f := a[r][c] / a[c][c]
					for k := c; k < 7; k++ {
						a[r][k] -= f * a[c][k]
					}
				}
			}
		}
		var k [6]float64
		for r := range 6 {
			k[r] = a[r][6] / a[r][r]
		}
		return k, true
	}
	eval := func(k [6]float64, x, y int) float64 {
		b := basis(x, y)
		var s float64
		for j := range 6 {
			s += k[j] * b[j]
		}
		return s
	}
	k, ok := fit(idx)
	if !ok {
		return false
	}
	// A part reaching into the frame is far from the table's surface:
	// refit without the pixels beyond 3 median deviations.
	res := make([]float64, len(idx))
	for j, i := range idx {
		res[j] = math.Abs(lum(i) - eval(k, i%w, i/w))
	}
	sorted := append([]float64(nil), res...)
	sort.Float64s(sorted)
	lim := 3 * max(sorted[len(sorted)/2], 0.01)
	keep := idx[:0:0]
	for j, i := range idx {
		if res[j] <= lim {
			keep = append(keep, i)
		}
	}
	if len(keep) < len(idx)/2 {
		return false
	}
	if k, ok = fit(keep); !ok {
		return false
	}
	// Divide by the surface relative to its mean over the frame, so the
	// table keeps its level.
	var mean float64
	for _, i := range keep {
		mean += eval(k, i%w, i/w)
	}
	mean /= float64(len(keep))
	for y := range h {
		for x := range w {
			g := math.Exp(mean - eval(k, x, y))
			i := 3 * (y*w + x)
			for c := range 3 {
				px[i+c] = uint8(min(255, float64(px[i+c])*g+0.5))
			}
		}
	}
	return true
}

// tableShareRetry is the share of a mask's pixels with the table's colour
// above which the part is segmented again with the light evened out.
const tableShareRetry = 0.3

// tableShare is the share of the mask's rim (the pixels of fg, 0/1, within
// 2 pixels of its edge) whose colour in the evened-out photo flat lies as
// near the table's mean colour as 90 % of the frame's own pixels (the
// frame of width in along the edge). The rim, not the whole mask: a nut's
// bore, which GrabCut on the shrunken photo often fills, has the table's
// colour too, but an outline that runs through the table is the sign of
// a part that took the table along.
func tableShare(flat, fg gocv.Mat, in int) float64 {
	w, h := flat.Cols(), flat.Rows()
	px, err := flat.DataPtrUint8()
	if err != nil || len(px) != w*h*3 {
		return 0
	}
	inner := gocv.NewMat()
	defer inner.Close()
	kernel := gocv.GetStructuringElement(gocv.MorphRect, image.Pt(5, 5))
	defer kernel.Close()
	gocv.Erode(fg, &inner, kernel)
	rim := gocv.NewMat()
	defer rim.Close()
	gocv.Subtract(fg, inner, &rim)
	m, err := rim.DataPtrUint8()
	if err != nil || len(m) != w*h {
		return 0
	}
	var frame []int
	var mean [3]float64
	for y := range h {
		for x := range w {
			if x < in || y < in || x >= w-in || y >= h-in {
				i := y*w + x
				frame = append(frame, i)
				for c := range 3 {
					mean[c] += float64(px[3*i+c])
				}
			}
		}
	}
	for c := range 3 {
		mean[c] /= float64(len(frame))
	}
	dist := func(i int) float64 {
		var d float64
		for c := range 3 {
			e := float64(px[3*i+c]) - mean[c]
			d += e * e
		}
		return d
	}
	fd := make([]float64, len(frame))
	for j, i := range frame {
		fd[j] = dist(i)
	}
	sort.Float64s(fd)
	lim := fd[len(fd)*9/10]
	var n, near int
	for i, v := range m {
		if v != 0 {
			n++
			if dist(i) <= lim {
				near++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(near) / float64(n)
}
