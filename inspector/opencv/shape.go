package opencv

import (
	"image"
	"image/color"
	"math"
	"slices"

	"gocv.io/x/gocv"

	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
)

// PartShape measures the part in an upright view and its mask, as
// UprightPart writes them (the view 8-bit BGR, the mask 8-bit with the part
// above 127): the outline's proportions and holes from the contour
// hierarchy and the table's colour showing through, and the part's colour
// as chromaticity (see catalogue.Shape). It returns nil when the
// mask holds no part.
func PartShape(view, mask gocv.Mat) *catalogue.Shape {
	if view.Empty() || mask.Empty() || view.Channels() != 3 {
		return nil
	}
	bin := gocv.NewMat()
	defer bin.Close()
	gocv.Threshold(mask, &bin, 127, 255, gocv.ThresholdBinary)
	area := float64(gocv.CountNonZero(bin))
	if area == 0 {
		return nil
	}
	hier := gocv.NewMat()
	defer hier.Close()
	contours := gocv.FindContoursWithParams(bin, &hier, gocv.RetrievalCComp, gocv.ChainApproxSimple)
	defer contours.Close()
	var outer float64
	all := gocv.NewPointVector()
	defer all.Close()
	for i := range contours.Size() {
		// CComp's hierarchy: a contour without a parent (index 3) is an
		// outline, one with a parent a hole.
		if hier.GetVeciAt(0, i)[3] < 0 {
			outer += gocv.ContourArea(contours.At(i))
			for _, p := range contours.At(i).ToPoints() {
				all.Append(p)
			}
		}
	}
	if outer == 0 || all.Size() < 3 {
		return nil
	}
	part, table := partAndTable(view, bin)
	holes, nHoles := findHoles(view, bin, contours, hier, outer, part, table)
	hull := gocv.NewMat()
	defer hull.Close()
	gocv.ConvexHull(all, &hull, true, true)
	hpv := gocv.NewPointVectorFromMat(hull)
	defer hpv.Close()
	hullArea := gocv.ContourArea(hpv)
	box := gocv.BoundingRect(all)
	s := &catalogue.Shape{Holes: nHoles}
	if w, h := box.Dx(), box.Dy(); w > 0 && h > 0 {
		s.Aspect = float32(min(w, h)) / float32(max(w, h))
	}
	mo := gocv.Moments(bin, true)
	if m00 := mo["m00"]; m00 > 0 {
		a, c, b := mo["mu20"]/m00, mo["mu02"]/m00, mo["mu11"]/m00
		d := math.Sqrt((a-c)*(a-c) + 4*b*b)
		if l1, l2 := (a+c+d)/2, (a+c-d)/2; l1 > 0 {
			s.Elongation = float32(math.Sqrt(max(l2, 0) / l1))
		}
	}
	if hullArea > 0 {
		s.Solidity = float32(min(area/hullArea, 1))
	}
	s.HoleArea = float32(holes / outer)
	s.Waist = waist(bin)
	s.Bore = bore(view, bin, part, table)
	if s.Elongation > fineRound {
		s.Ring = ring(view, bin)
	}
	if f := partFinish(view, bin); f != nil {
		s.Finish = [3]float32{f[0], f[1], f[2]}
	}
	if sum := part.Val1 + part.Val2 + part.Val3; sum > 0 {
		s.Chroma = [2]float32{float32(part.Val3 / sum), float32(part.Val2 / sum)}
	}
	return s
}

// partAndTable are the mean colours of the part (bin) and of the table
// outside it, kept a few pixels off its edge, where the segmentation's
// border mixes both.
func partAndTable(view, bin gocv.Mat) (part, table gocv.Scalar) {
	t := gocv.NewMat()
	defer t.Close()
	kernel := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(7, 7))
	defer kernel.Close()
	gocv.Dilate(bin, &t, kernel)
	gocv.BitwiseNot(t, &t)
	part = view.MeanWithMask(bin)
	table = part
	if gocv.CountNonZero(t) > 0 {
		table = view.MeanWithMask(t)
	}
	return part, table
}

// findHoles returns the holes' area and count inside the outlines. GrabCut
// on a shrunken photo fills most small holes (a bolt hole is a few of its
// pixels), so a hole is also a patch inside the outline, off its edge,
// whose colour is nearer the table's than the part's: the table shows
// through it.
func findHoles(view, bin gocv.Mat, contours gocv.PointsVector, hier gocv.Mat, outer float64, part, table gocv.Scalar) (area float64, n int) {
	filled := gocv.NewMatWithSize(bin.Rows(), bin.Cols(), gocv.MatTypeCV8U)
	defer filled.Close()
	for i := range contours.Size() {
		if hier.GetVeciAt(0, i)[3] < 0 {
			gocv.DrawContours(&filled, contours, i, color.RGBA{255, 255, 255, 0}, -1)
		}
	}
	inner := gocv.NewMat()
	defer inner.Close()
	kernel := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(9, 9))
	defer kernel.Close()
	gocv.Erode(filled, &inner, kernel)
	px, err := view.DataPtrUint8()
	if err != nil {
		return 0, 0
	}
	in, err := inner.DataPtrUint8()
	if err != nil {
		return 0, 0
	}
	seg, err := bin.DataPtrUint8()
	if err != nil {
		return 0, 0
	}
	hole := make([]byte, len(in))
	d2 := func(b, g, r byte, c gocv.Scalar) float64 {
		x, y, z := float64(b)-c.Val1, float64(g)-c.Val2, float64(r)-c.Val3
		return x*x + y*y + z*z
	}
	for i, v := range in {
		if v == 0 {
			continue
		}
		b, g, r := px[3*i], px[3*i+1], px[3*i+2]
		if seg[i] == 0 || d2(b, g, r, table) < d2(b, g, r, part) {
			hole[i] = 255
		}
	}
	hm, err := gocv.NewMatFromBytes(bin.Rows(), bin.Cols(), gocv.MatTypeCV8U, hole)
	if err != nil {
		return 0, 0
	}
	defer hm.Close()
	labels, stats, cents := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer labels.Close()
	defer stats.Close()
	defer cents.Close()
	k := gocv.ConnectedComponentsWithStats(hm, &labels, &stats, &cents)
	var areas []float64
	for i := 1; i < k; i++ {
		a := float64(stats.GetIntAt(i, int(gocv.CC_STAT_AREA)))
		// Specks of noise or of the part's own shading are no holes.
		if a*500 >= outer {
			area += a
			areas = append(areas, a)
		}
	}
	return area, likeSized(areas)
}

// holeSizeRange is how far a hole's area may lie from the median hole's
// and still count (see likeSized).
const holeSizeRange = 2

// likeSized counts the areas within a factor holeSizeRange of their
// median: a part's holes are drilled alike, while a patch of shading or
// of table caught where two legs meet is far smaller or larger than they.
func likeSized(areas []float64) int {
	if len(areas) == 0 {
		return 0
	}
	m := slices.Clone(areas)
	slices.Sort(m)
	med := m[len(m)/2]
	n := 0
	for _, a := range areas {
		if a*holeSizeRange >= med && a <= med*holeSizeRange {
			n++
		}
	}
	return n
}

// waist is the median over the maximum height of the upright part's
// columns (those it covers): a bolt's shank against its head, a strap's
// width against itself.
func waist(bin gocv.Mat) float32 {
	px, err := bin.DataPtrUint8()
	if err != nil {
		return 0
	}
	w := bin.Cols()
	var hs []int
	for x := range w {
		n := 0
		for y := range bin.Rows() {
			if px[y*w+x] != 0 {
				n++
			}
		}
		if n > 0 {
			hs = append(hs, n)
		}
	}
	if len(hs) == 0 {
		return 0
	}
	slices.Sort(hs)
	return float32(hs[len(hs)/2]) / float32(hs[len(hs)-1])
}

// bore is the radius of a central hole over the part's outer radius, both
// the median over rays from the part's centroid: 0 when the centroid lies
// on the part (no central hole). Along each ray the bore ends at the first
// 2 pixels in a row that are part by the segmentation and nearer the
// part's colour than the table's, read at the view's own resolution: GrabCut's mask, made on a
// quarter-size photo, is too coarse for a bore (an M10 nut's 0.625 of its
// across-flats against an M16's 0.667, a 6201 bearing's 0.375 of its
// outside against a 6204's 0.426), while the colour's crossing half-way
// between part and table stays in place under blur and exposure.
func bore(view, bin gocv.Mat, part, table gocv.Scalar) float32 {
	cx, cy, px, seg, ok := centredPixels(view, bin)
	if !ok {
		return 0
	}
	w, h := bin.Cols(), bin.Rows()
	d2 := func(i int, c gocv.Scalar) float64 {
		x, y, z := float64(px[3*i])-c.Val1, float64(px[3*i+1])-c.Val2, float64(px[3*i+2])-c.Val3
		return x*x + y*y + z*z
	}
	isPart := func(x, y float64) (in, inside bool) {
		xi, yi := int(x), int(y)
		if xi < 0 || yi < 0 || xi >= w || yi >= h {
			return false, false
		}
		i := yi*w + xi
		return seg[i] != 0 && d2(i, part) < d2(i, table), true
	}
	if p, _ := isPart(cx, cy); p {
		return 0
	}
	const rays = 90
	// The bore ends where boreRun samples in a row (2 pixels) are part: a
	// speck of the table's grain that looks like the part does not end it.
	const boreRun = 4
	var ins, outs []float64
	for k := range rays {
		a := 2 * math.Pi * float64(k) / rays
		dx, dy := math.Cos(a), math.Sin(a)
		rin, rout, run := 0.0, 0.0, 0
		for r := 0.5; ; r += 0.5 {
			x, y := cx+r*dx, cy+r*dy
			p, ok := isPart(x, y)
			if !ok {
				break
			}
			if p {
				run++
			} else {
				run = 0
			}
			if run == boreRun && rin == 0 {
				rin = r - 0.5*float64(boreRun-1)
			}
			if i := int(y)*w + int(x); seg[i] != 0 {
				rout = r
			}
		}
		if rin > 0 && rout > rin {
			ins, outs = append(ins, rin), append(outs, rout)
		}
	}
	// A central hole shows on most rays; fewer means the centroid fell
	// into a gap (a spring's coils, a bracket's corner), not a bore.
	if len(ins) < rays*3/4 {
		return 0
	}
	slices.Sort(ins)
	slices.Sort(outs)
	return float32(ins[len(ins)/2] / outs[len(outs)/2])
}

// ring measures catalogue.Shape's Ring: along 180 rays from the part's
// centroid, the strongest rise of grey (over ±2 pixels) going outward
// between 0.3 and 0.92 of the ray's outer radius (its last pixel on the
// mask), the median of those over the median outer radius. On a nut it
// is where the countersink, shaded darker than the face and most tables,
// meets the face; the bore's own edge runs dark to bright or bright to
// dark with the table, which is why Bore spreads on zinc nuts. It
// returns 0 when the mask is empty.
func ring(view, bin gocv.Mat) float32 {
	cx, cy, px, seg, ok := centredPixels(view, bin)
	if !ok {
		return 0
	}
	w, h := bin.Cols(), bin.Rows()
	cx, cy = cx+0.5, cy+0.5
	grey := func(x, y float64) float64 {
		x, y = x-0.5, y-0.5
		x0, y0 := int(math.Floor(x)), int(math.Floor(y))
		fx, fy := x-float64(x0), y-float64(y0)
		at := func(xi, yi int) float64 {
			xi, yi = min(max(xi, 0), w-1), min(max(yi, 0), h-1)
			i := 3 * (yi*w + xi)
			return (float64(px[i]) + float64(px[i+1]) + float64(px[i+2])) / 3
		}
		return (1-fy)*((1-fx)*at(x0, y0)+fx*at(x0+1, y0)) + fy*((1-fx)*at(x0, y0+1)+fx*at(x0+1, y0+1))
	}
	const rays = 180
	edges, outs := make([]float64, 0, rays), make([]float64, 0, rays)
	for k := range rays {
		a := 2 * math.Pi * float64(k) / rays
		dx, dy := math.Cos(a), math.Sin(a)
		rout := 0.0
		for r := 0.0; r < float64(max(w, h)); r += 0.5 {
			xi, yi := int(cx+r*dx), int(cy+r*dy)
			if xi >= 0 && yi >= 0 && xi < w && yi < h && seg[yi*w+xi] != 0 {
				rout = r
			}
		}
		best, at := 0.0, 0.0
		for r := 0.3 * rout; r < 0.92*rout; r += 0.5 {
			if g := grey(cx+(r+2)*dx, cy+(r+2)*dy) - grey(cx+(r-2)*dx, cy+(r-2)*dy); g > best {
				best, at = g, r
			}
		}
		edges, outs = append(edges, at), append(outs, rout)
	}
	slices.Sort(edges)
	slices.Sort(outs)
	if outs[rays/2] == 0 {
		return 0
	}
	return float32(edges[rays/2] / outs[rays/2])
}

// centredPixels is what bore and ring read along rays: the mask's
// centroid (in pixel indices) and the view's and the mask's bytes; ok is
// false when the mask is empty or a Mat holds no bytes.
func centredPixels(view, bin gocv.Mat) (cx, cy float64, px, seg []byte, ok bool) {
	mo := gocv.Moments(bin, true)
	m00 := mo["m00"]
	if m00 == 0 {
		return 0, 0, nil, nil, false
	}
	px, err := view.DataPtrUint8()
	if err != nil {
		return 0, 0, nil, nil, false
	}
	seg, err = bin.DataPtrUint8()
	if err != nil {
		return 0, 0, nil, nil, false
	}
	return mo["m10"] / m00, mo["m01"] / m00, px, seg, true
}
