package opencv

import (
	"image"
	"image/color"
	"math"
	"runtime"

	"gocv.io/x/gocv"
)

// segmentSide is the longer side the photo is shrunk to before the part is
// segmented: GrabCut's cost grows with the pixels, and the view's placement
// and a coarse silhouette need no more detail than this.
const segmentSide = 160

// findPart segments the part lying on the table in a photo of a single
// part: GrabCut on a shrunken copy, initialised with all but a thin frame
// border as "maybe part" (again with the light evened out where the
// outline runs through the table); the foreground components of at least a tenth
// of the largest one are the part. A photo where nothing stands out (an
// empty table, a part that fills the frame) answers false.
func findPart(img gocv.Mat) (part, bool) {
	if img.Empty() || img.Channels() != 3 {
		return part{}, false
	}
	w, h := img.Cols(), img.Rows()
	f := float64(segmentSide) / float64(max(w, h))
	sw, sh := max(int(float64(w)*f+0.5), 8), max(int(float64(h)*f+0.5), 8)
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(img, &small, image.Pt(sw, sh), 0, 0, gocv.InterpolationArea)
	in := max(sw/32, 2)
	fg := grabCutPart(small, in)
	defer func() { fg.Close() }()
	// Uneven light can leave the table around the part brighter than the
	// frame GrabCut learns the table from, and the part then takes that
	// table along: where much of the mask's rim has the table's colour
	// once the light is evened out (tableShare), the photo is segmented
	// again with the light evened out, and that mask is kept when at most
	// half as much of its rim has the table's colour.
	flat := small.Clone()
	defer flat.Close()
	if flattenLight(&flat, in) {
		if share := tableShare(flat, fg, in); share > tableShareRetry {
			fg2 := grabCutPart(flat, in)
			if tableShare(flat, fg2, in) < share/2 {
				fg, fg2 = fg2, fg
			}
			fg2.Close()
		}
	}
	kernel := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(3, 3))
	defer kernel.Close()
	gocv.MorphologyEx(fg, &fg, gocv.MorphOpen, kernel)
	labels, stats, cents := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer labels.Close()
	defer stats.Close()
	defer cents.Close()
	n := gocv.ConnectedComponentsWithStats(fg, &labels, &stats, &cents)
	largest := 0
	for i := 1; i < n; i++ {
		largest = max(largest, int(stats.GetIntAt(i, int(gocv.CC_STAT_AREA))))
	}
	// A speck is noise, and a "part" covering nearly all of the frame means
	// GrabCut found no table to tell it from.
	if largest < sw*sh/200 || largest > sw*sh*9/10 {
		return part{}, false
	}
	// A part may fall apart into pieces (a spring's coils): every piece of
	// at least a tenth of the largest belongs to it, specks do not.
	keep := make([]bool, n)
	for i := 1; i < n; i++ {
		keep[i] = int(stats.GetIntAt(i, int(gocv.CC_STAT_AREA)))*10 >= largest
	}
	// gocv reads no int32 data: the labels of 160×120 pixels fit 16 bits.
	lab16 := gocv.NewMat()
	defer lab16.Close()
	labels.ConvertTo(&lab16, gocv.MatTypeCV16U)
	lab, err := lab16.DataPtrUint16()
	if err != nil {
		return part{}, false
	}
	pt := part{scale: 1 / f, bounds: image.Rect(0, 0, w, h), size: image.Pt(sw, sh)}
	for i, l := range lab {
		if keep[l] {
			pt.pts = append(pt.pts, image.Pt(i%sw, i/sw))
		}
	}
	return pt, len(pt.pts) > 0
}

// grabCutPart runs GrabCut on the shrunken photo, started with all but a
// frame of width in as "maybe part", and answers the part's pixels as a
// 0/1 mask.
func grabCutPart(small gocv.Mat, in int) gocv.Mat {
	sw, sh := small.Cols(), small.Rows()
	mask := gocv.NewMat()
	defer mask.Close()
	bgd, fgd := gocv.NewMat(), gocv.NewMat()
	defer bgd.Close()
	defer fgd.Close()
	// GrabCut seeds its colour models with k-means from OpenCV's
	// per-thread random generator: seeded on the same OS thread, the same
	// photo always gives the same view and so the same vector.
	runtime.LockOSThread()
	gocv.SetRNGSeed(1)
	gocv.GrabCut(small, &mask, image.Rect(in, in, sw-in, sh-in), &bgd, &fgd, 3, gocv.GCInitWithRect)
	runtime.UnlockOSThread()
	// GrabCut labels 0 background, 1 foreground, 2 probably background,
	// 3 probably foreground: the odd labels are the part.
	fg := gocv.NewMat()
	one := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(1, 0, 0, 0), sh, sw, gocv.MatTypeCV8U)
	defer one.Close()
	gocv.BitwiseAnd(mask, one, &fg)
	return fg
}

// part is the segmented part: its pixels in the shrunken photo.
type part struct {
	pts    []image.Point
	scale  float64 // photo pixels per shrunken pixel
	bounds image.Rectangle
	size   image.Point // of the shrunken photo
}

// UprightPart writes into dst a side×side view of the part lying on the
// table in a photo of a single part: segmented with GrabCut on a shrunken
// copy, turned so that its principal axis (of the segmented pixels' second
// moments) lies horizontal, centred, and scaled to fill the view but for
// margin (a share of its longer extent) of table on each side; the image
// border is replicated where the view leaves the photo. A part
// photographed at any angle and distance then looks the same up to a half
// turn, and left and right parts stay mirror images (a turn never
// mirrors). When mask is not nil it receives the segmentation in the same
// view (8-bit, 255 on the part). It returns false, leaving dst and mask
// alone, when no part stands out from the table (an empty table, a part
// filling the whole photo): the caller then keeps the photo as it is.
func UprightPart(img gocv.Mat, margin float64, side int, dst, mask *gocv.Mat) bool {
	p, ok := findPart(img)
	if !ok {
		return false
	}
	var cx, cy float64
	for _, q := range p.pts {
		cx, cy = cx+float64(q.X)+0.5, cy+float64(q.Y)+0.5
	}
	n := float64(len(p.pts))
	cx, cy = cx/n, cy/n
	var m20, m02, m11 float64
	for _, q := range p.pts {
		dx, dy := float64(q.X)+0.5-cx, float64(q.Y)+0.5-cy
		m20, m02, m11 = m20+dx*dx, m02+dy*dy, m11+dx*dy
	}
	th := 0.5 * math.Atan2(2*m11, m20-m02)
	c, s := math.Cos(th), math.Sin(th)
	// The part's extent along and across the axis, in photo pixels; a
	// shrunken pixel reaches half a pixel beyond its centre.
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, q := range p.pts {
		dx, dy := float64(q.X)+0.5-cx, float64(q.Y)+0.5-cy
		u, v := c*dx+s*dy, -s*dx+c*dy
		x0, x1, y0, y1 = min(x0, u), max(x1, u), min(y0, v), max(y1, v)
	}
	x0, x1, y0, y1 = (x0-0.7)*p.scale, (x1+0.7)*p.scale, (y0-0.7)*p.scale, (y1+0.7)*p.scale
	ext := max(x1-x0, y1-y0) * (1 + 2*margin)
	k := float64(side) / ext
	// o = k·R·(p − centroid) − k·(box centre) + side/2, R the turn by −th.
	pcx, pcy := cx*p.scale, cy*p.scale
	ox, oy := float64(side)/2-k*(x0+x1)/2, float64(side)/2-k*(y0+y1)/2
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	m.SetDoubleAt(0, 0, k*c)
	m.SetDoubleAt(0, 1, k*s)
	m.SetDoubleAt(0, 2, ox-k*(c*pcx+s*pcy))
	m.SetDoubleAt(1, 0, -k*s)
	m.SetDoubleAt(1, 1, k*c)
	m.SetDoubleAt(1, 2, oy-k*(-s*pcx+c*pcy))
	gocv.WarpAffineWithParams(img, dst, m, image.Pt(side, side), gocv.InterpolationArea, gocv.BorderReplicate, color.RGBA{})
	if mask != nil {
		// The same view of the segmentation, which is p.scale times smaller.
		sm := make([]byte, p.size.X*p.size.Y)
		for _, q := range p.pts {
			sm[q.Y*p.size.X+q.X] = 255
		}
		small, err := gocv.NewMatFromBytes(p.size.Y, p.size.X, gocv.MatTypeCV8U, sm)
		if err != nil {
			return false
		}
		defer small.Close()
		for col := 0; col < 2; col++ {
			for row := 0; row < 2; row++ {
				m.SetDoubleAt(row, col, m.GetDoubleAt(row, col)*p.scale)
			}
		}
		gocv.WarpAffineWithParams(small, mask, m, image.Pt(side, side), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
	}
	return true
}
