package catalogue

import "math"

// Shape is what the 16×16 silhouette and the embedding lose of a part:
// scale-free measures of its upright outline at the segmentation's own
// resolution, and its finish in terms that survive a change of exposure.
// The opencv edge measures it (opencv.PartShape); the Index compares it
// with ShapeDistance after the scan.
//
// Why these: the look-alike families that the cosine confuses differ in a
// leg's or a bolt's proportions (aspect 1.44 against 1.52), a bore against
// its outline (a nut's 0.625 against 0.667), the number of holes, or a
// finish (zinc against black oxide) under another light. A 16-cell grid
// rounds the first three away, and the embedding sees the finish through
// the exposure.
type Shape struct {
	// Aspect is the upright outline's height over its width (≤ 1).
	Aspect float32
	// Elongation is the square root of the smaller over the larger
	// principal second moment of the part's pixels.
	Elongation float32
	// Solidity is the part's area over its convex hull's.
	Solidity float32
	// HoleArea is the area of the holes inside the outline over the
	// outline's area (holes filled).
	HoleArea float32
	// Holes counts the holes of at least a five-hundredth of the outline
	// and of like size (within a factor 2 of the median hole's area).
	Holes int
	// Waist is the median over the largest height of the upright part's
	// columns: a bolt's shank against its head.
	Waist float32
	// Bore is the radius of a central hole over the part's outer radius
	// (0: none), measured at the view's resolution: a nut's or a
	// bearing's size where the outline's proportions are the same.
	Bore float32
	// Chroma is the part's mean red and green over red+green+blue: a
	// brighter or darker exposure scales all three alike.
	Chroma [2]float32
	// Ring is, for a round part, the radius of the first strong rise
	// from dark to bright going outward from its centre over its outer
	// radius: a nut's countersink meeting its face, which is darker than
	// both whatever the table, so the table's colour in the bore does not
	// move it as it moves Bore (0: not round or not measured). Not part of
	// ShapeDistance: RingTwin compares it between a part's own photos.
	Ring float32
	// Finish is the part's finish as Fine.Finish reads it (zero: not
	// measured). Not part of ShapeDistance: kept so that a part's median
	// finish over its reference photos (Index.WithPart) tells two parts
	// in two finishes from two parts in one finish whose best photos
	// differ by their exposure.
	Finish [3]float32
}

// FinishValues is Finish as Fine.Finish holds it: nil when not measured.
func (s *Shape) FinishValues() []float32 {
	if s == nil || s.Finish[1] <= 0 {
		return nil
	}
	return []float32{s.Finish[0], s.Finish[1], s.Finish[2]}
}

// ShapeLen is the length of Shape.Values.
const ShapeLen = 14

// Values lays the shape out as PhotoVector stores it; a nil shape (no
// part found) gives zeros, which ShapeDistance reads as "not measured".
func (s *Shape) Values() []float32 {
	if s == nil {
		return make([]float32, ShapeLen)
	}
	return []float32{1, s.Aspect, s.Elongation, s.Solidity, s.HoleArea, float32(math.Log1p(float64(s.Holes))), s.Waist, s.Chroma[0], s.Chroma[1], s.Bore, s.Ring, s.Finish[0], s.Finish[1], s.Finish[2]}
}

// shapeTol is, per value of Values after the first up to the bore, the
// difference that counts as one unit of distance: about the spread of one
// part's values over its own reference photos in the demo catalogue
// (segmentation noise, light), read off once by eye; the customer photos
// did not set them.
var shapeTol = [9]float32{0.04, 0.04, 0.04, 0.03, 0.35, 0.03, 0.015, 0.015, 0.02}

// aspectValue, holesValue, ringValue and finishValue are Aspect's,
// Holes' (as log1p), Ring's and Finish's first places in Values.
const (
	aspectValue = 1
	holesValue  = 5
	ringValue   = 10
	finishValue = 11
)

// shapeCap bounds one value's contribution, so a single bad measure (a
// hole lost to blur) cannot outweigh the others.
const shapeCap = 3

// Weights of ShapeDistance's parts against the cosine: the final score of
// a reference photo is its cosine minus GeometryWeight times the outline's
// mean distance (the first six values), FinishWeight times the finish's
// and BoreWeight times the bore's. The bore counts on its own rather than
// as a seventh outline value: it is the one measure that tells a nut's or
// a bearing's size, and averaged with six others that barely differ there
// it would not be heard. They were chosen among a few designs by the demo
// catalogue's eval (docs/catalogue.md).
const (
	GeometryWeight = 0.14
	FinishWeight   = 0.05
	BoreWeight     = 0.05
)

// ShapeDistance is the penalty the Index subtracts from the cosine of two
// photos whose shapes are a and b (Values layouts): 0 when either was not
// measured.
func ShapeDistance(a, b []float32) float32 {
	if len(a) != ShapeLen || len(b) != ShapeLen || a[0] == 0 || b[0] == 0 {
		return 0
	}
	d := func(i int) float32 {
		return min(float32(math.Abs(float64(a[i]-b[i])))/shapeTol[i-1], shapeCap)
	}
	geom := (d(1) + d(2) + d(3) + d(4) + d(5) + d(6)) / 6
	finish := (d(7) + d(8)) / 2
	return GeometryWeight*geom + FinishWeight*finish + BoreWeight*d(9)
}
