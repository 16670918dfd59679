package opencv_test

import (
	"image"
	"image/color"
	"math"
	"testing"

	"gocv.io/x/gocv"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
)

// TestPartFineTellsLookAlikes measures the verification's fine maps on the
// demo catalogue's drawn photos of look-alike pairs that differ in a hole
// or a length: a customer photo of each part (another table and light,
// blur, off-centre) must be more like one of its own part's five reference
// photos than like any of the other part's. (Against two reference photos
// of each, the BR-80-2H photo comes out 0.710 against 0.722: one photo of
// a part can be a poor match, which is why the search re-orders by this
// only the few parts it already ranks best, adding it to their scores.)
func TestPartFineTellsLookAlikes(t *testing.T) {
	t.Parallel()
	fine := func(number, kind string, i int) *catalogue.Fine {
		var f *catalogue.Fine
		withUprightDemoPart(t, number, kind, i, func(view, mask gocv.Mat) { f = opencv.PartFine(view, mask, opencv.PartShape(view, mask)) })
		if f == nil || len(f.Edges) != catalogue.FineSide*catalogue.FineSide {
			t.Fatalf("%s %s %d: no fine map", number, kind, i)
		}
		return f
	}
	for _, pair := range [][2]string{{"BR-80-2H", "BR-80-3H"}, {"FS-150-3H", "FS-150-4H"}} {
		refs := map[string][]*catalogue.Fine{}
		for _, p := range pair {
			for i := range 5 {
				refs[p] = append(refs[p], fine(p, demo.PhotoReference, i))
			}
		}
		best := func(q *catalogue.Fine, part string) float32 {
			b := float32(-1)
			for _, r := range refs[part] {
				b = max(b, catalogue.FineSimilarity(q, r))
			}
			return b
		}
		for k, p := range pair {
			q := fine(p, demo.PhotoCustomer, 0)
			own, other := best(q, p), best(q, pair[1-k])
			t.Logf("%s customer photo: %.3f to its own part, %.3f to %s", p, own, other, pair[1-k])
			if own <= other {
				t.Errorf("%s customer photo: %.3f to its own part, %.3f to %s", p, own, other, pair[1-k])
			}
		}
	}
}

// TestPartFineFinish: the finish is read inside the part, away from its
// outline, so a blurred part on a coloured table reads its own colour,
// and a dark part reads darker than a light one of the same hue.
func TestPartFineFinish(t *testing.T) {
	measure := func(part color.RGBA) []float32 {
		view := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 60, 30, 0), 224, 224, gocv.MatTypeCV8UC3) // a blue mat (BGR)
		defer view.Close()
		mask := gocv.NewMatWithSize(224, 224, gocv.MatTypeCV8U)
		defer mask.Close()
		gocv.Circle(&view, image.Pt(112, 112), 80, part, -1)
		gocv.GaussianBlur(view, &view, image.Pt(0, 0), 2, 2, gocv.BorderReplicate)
		gocv.Circle(&mask, image.Pt(112, 112), 82, color.RGBA{255, 255, 255, 0}, -1) // the mask a little wide, as GrabCut's
		f := opencv.PartFine(view, mask, opencv.PartShape(view, mask))
		if f == nil || len(f.Finish) != 3 {
			t.Fatal("no finish measured")
		}
		return f.Finish
	}
	zinc := measure(color.RGBA{R: 179, G: 186, B: 199})
	black := measure(color.RGBA{R: 71, G: 71, B: 77})
	if want := float32(math.Log((199 + 186 + 179) / 3.0)); math.Abs(float64(zinc[0]-want)) > 0.03 {
		t.Errorf("zinc's log lightness %.3f, want %.3f", zinc[0], want)
	}
	if want := float32(199.0 / (199 + 186 + 179)); math.Abs(float64(zinc[1]-want)) > 0.005 {
		t.Errorf("zinc's blue share %.4f, want %.4f (the table's blue leaked in)", zinc[1], want)
	}
	if d := zinc[0] - black[0]; d < 0.8 {
		t.Errorf("zinc only %.2f lighter than black oxide (log), want about ln(564/219) = 0.95", d)
	}
	if catalogue.FinishDistance(&catalogue.Fine{Finish: zinc}, &catalogue.Fine{Finish: black}) <= catalogue.FinishMargin {
		t.Error("zinc and black oxide within the finish margin")
	}
}

// TestPartFineInnerEdges checks the verification's inner map on a drawn
// plate with a hole that the segmentation cut out of the mask: it keeps
// the hole's rim and, of the outline the whole map holds at full
// strength, only the inner flank of its blurred edge, far weaker.
func TestPartFineInnerEdges(t *testing.T) {
	view := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 60, 60, 0), 224, 224, gocv.MatTypeCV8UC3)
	defer view.Close()
	mask := gocv.Zeros(224, 224, gocv.MatTypeCV8U)
	defer mask.Close()
	white := color.RGBA{R: 255, G: 255, B: 255}
	gocv.Rectangle(&view, image.Rect(20, 80, 204, 144), color.RGBA{R: 190, G: 190, B: 190}, -1)
	gocv.Circle(&view, image.Pt(112, 112), 14, color.RGBA{R: 60, G: 60, B: 60}, -1)
	gocv.Rectangle(&mask, image.Rect(20, 80, 204, 144), white, -1)
	gocv.Circle(&mask, image.Pt(112, 112), 14, color.RGBA{}, -1)
	f := opencv.PartFine(view, mask, &catalogue.Shape{Elongation: 0.3})
	if f == nil || len(f.Inner) != catalogue.FineSide*catalogue.FineSide {
		t.Fatal("no inner map measured")
	}
	// Cells of 3.5 pixels: the plate's top edge (pixel 80) lies in rows
	// 22–23, the hole's rim 14 pixels around the centre (cell 32), so row
	// 28 crosses it.
	mean := func(m []float32, y, x0, x1 int) float32 {
		var s float32
		for x := x0; x < x1; x++ {
			s += m[y*catalogue.FineSide+x]
		}
		return s / float32(x1-x0)
	}
	if mean(f.Edges, 22, 10, 54) == 0 {
		t.Fatal("the whole map holds no outline: the drawing is off")
	}
	for y := 18; y <= 22; y++ {
		if v := mean(f.Inner, y, 10, 54); v != 0 {
			t.Errorf("the inner map holds %.2f at row %d, on or outside the outline", v, y)
		}
	}
	outline, rim := max(mean(f.Inner, 23, 10, 54), mean(f.Inner, 24, 10, 54)), mean(f.Inner, 28, 26, 39)
	if rim < 5*outline {
		t.Errorf("the hole's rim %.1f per cell, the outline's inner flank %.1f: want the rim at least 5 times as strong", rim, outline)
	}
}
