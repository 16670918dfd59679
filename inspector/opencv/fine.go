package opencv

import (
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"

	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
)

// fineRound is the elongation (see catalogue.Shape) above which a part
// counts as round for catalogue.FineSimilarity: its upright view then
// fixes no direction.
const fineRound = 0.8

// PartFine measures the part in an upright view and its mask, as
// UprightPart writes them, at the finer resolution the catalogue's
// verification compares (see catalogue.Fine): the gradient magnitude of
// the grey view softened by σ 1.5 pixels (as the backbone sees it), kept
// inside the mask widened by 4 pixels (the outline's own edge counts,
// the table's grain does not), divided by its mean there and pooled to
// catalogue.FineSide², and the same edges inside the outline only (see
// innerEdges). shape is the part's PartShape (its elongation says
// whether the part is round). It returns nil when the mask holds no part.
func PartFine(view, mask gocv.Mat, shape *catalogue.Shape) *catalogue.Fine {
	if view.Empty() || mask.Empty() || view.Channels() != 3 || shape == nil {
		return nil
	}
	grey, gx, gy, mag := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer grey.Close()
	defer gx.Close()
	defer gy.Close()
	defer mag.Close()
	gocv.CvtColor(view, &grey, gocv.ColorBGRToGray)
	gocv.GaussianBlur(grey, &grey, image.Pt(0, 0), 1.5, 1.5, gocv.BorderReplicate)
	gocv.Sobel(grey, &gx, gocv.MatTypeCV32F, 1, 0, 3, 1, 0, gocv.BorderReplicate)
	gocv.Sobel(grey, &gy, gocv.MatTypeCV32F, 0, 1, 3, 1, 0, gocv.BorderReplicate)
	gocv.Magnitude(gx, gy, &mag)
	wide := gocv.NewMat()
	defer wide.Close()
	kernel := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(9, 9))
	defer kernel.Close()
	gocv.Dilate(mask, &wide, kernel)
	inner := innerEdges(mag, mask, kernel)
	m, err := mag.DataPtrFloat32()
	if err != nil {
		return nil
	}
	w, err := wide.DataPtrUint8()
	if err != nil {
		return nil
	}
	var sum float64
	var n int
	for i, x := range w {
		if x > 127 {
			sum += float64(m[i])
			n++
		} else {
			m[i] = 0
		}
	}
	if sum == 0 {
		return nil
	}
	k := float32(float64(n) / sum)
	for i := range m {
		m[i] *= k
	}
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(mag, &small, image.Pt(catalogue.FineSide, catalogue.FineSide), 0, 0, gocv.InterpolationArea)
	px, err := small.DataPtrFloat32()
	if err != nil {
		return nil
	}
	return &catalogue.Fine{Edges: append([]float32(nil), px...), Inner: inner, Round: shape.Elongation > fineRound, Ring: shape.Ring, Aspect: shape.Aspect, Holes: float32(shape.Holes), Finish: shape.FinishValues()}
}

// innerEdges pools the gradient magnitude mag to catalogue.FineSide²
// inside the part's outline (the mask's outer contours filled, so a hole
// the segmentation cut out counts as inside) shrunk by kernel (4 pixels):
// a hole's rim, a thread's or a ball's edges, and of the outline, which
// look-alikes share and which dominates the whole map, only the inner
// flank of its blurred edge. (Shrunk by 2 or 6 pixels it measured worse
// on the demo catalogue.) It returns nil when the mask holds no outline;
// a part with nothing inside gives a flat (zero) map.
func innerEdges(mag, mask, kernel gocv.Mat) []float32 {
	cs := gocv.FindContours(mask, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer cs.Close()
	if cs.Size() == 0 {
		return nil
	}
	filled := gocv.Zeros(mask.Rows(), mask.Cols(), gocv.MatTypeCV8U)
	defer filled.Close()
	gocv.DrawContours(&filled, cs, -1, color.RGBA{R: 255, G: 255, B: 255}, -1)
	in := gocv.NewMat()
	defer in.Close()
	gocv.Erode(filled, &in, kernel)
	kept := gocv.Zeros(mag.Rows(), mag.Cols(), gocv.MatTypeCV32F)
	defer kept.Close()
	mag.CopyToWithMask(&kept, in)
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(kept, &small, image.Pt(catalogue.FineSide, catalogue.FineSide), 0, 0, gocv.InterpolationArea)
	px, err := small.DataPtrFloat32()
	if err != nil {
		return nil
	}
	return append([]float32(nil), px...)
}

// partFinish measures catalogue.Fine's Finish on the view's pixels inside
// the mask shrunk by 2 pixels (the outline's pixels mix the part with the
// table). It returns nil when fewer than 20 pixels remain.
func partFinish(view, mask gocv.Mat) []float32 {
	inner := gocv.NewMat()
	defer inner.Close()
	kernel := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(5, 5))
	defer kernel.Close()
	gocv.Erode(mask, &inner, kernel)
	px, err := view.DataPtrUint8()
	if err != nil {
		return nil
	}
	in, err := inner.DataPtrUint8()
	if err != nil {
		return nil
	}
	var sum [3]float64
	var n float64
	for i, m := range in {
		if m > 127 {
			for c := range 3 {
				sum[c] += float64(px[3*i+c])
			}
			n++
		}
	}
	if n < 20 {
		return nil
	}
	for c := range 3 {
		sum[c] = max(sum[c]/n, 0.5)
	}
	t := sum[0] + sum[1] + sum[2]
	return []float32{float32(math.Log(t / 3)), float32(sum[0] / t), float32(sum[1] / t)}
}
