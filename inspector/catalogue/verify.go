package catalogue

import (
	"math"
	"sort"
)

// Geometric verification: the index's vector sees the part at 16×16 and
// through an ImageNet embedding, which round away what tells look-alikes
// apart (a third hole, a leg 60 against 80 long, a bolt's thread). The
// search's best few parts are therefore compared once more with the
// query at a finer resolution, on the edges of the upright part, and
// re-ordered by that. The score each result carries, and with it the "not
// in the catalogue" answer and its calibration, stay the search's.

const (
	// FineSide is the side of a Fine map: an edge of the 224-pixel upright
	// view pooled to 64×64 keeps a bolt hole's rim and a thread's start.
	FineSide = 64
	// VerifyTop is how many of the search's best parts are verified.
	VerifyTop = 5
	// VerifyWeight is the fine similarity's weight (it lies in [-1, 1])
	// against the search's score when the best parts are re-ordered. It
	// was chosen among a few designs by the demo catalogue's eval
	// (docs/catalogue.md).
	VerifyWeight = 1
	// InnerWeight is the weight, within VerifySimilarity, of the inner
	// edges' correlation (Fine.Inner) against the whole map's: a third
	// hole or a bolt's thread against a look-alike's plain plate or shank
	// is a small part of the whole map, outweighed by the outline both
	// share. Chosen on the first demo catalogue among 0.3–1
	// (docs/catalogue.md).
	InnerWeight = 0.3
	// fineShift is how many cells either way a Fine map may be shifted
	// against another: the upright view's placement moves by a pixel or
	// two of the segmentation's 160-pixel copy.
	fineShift = 2
	// fineTurnStep is the step, in degrees, of the turns tried between
	// two round parts, whose upright view fixes no direction.
	fineTurnStep = 5
	// TwinSimilarity is the FineSimilarity of two parts' best photos at
	// and above which Verify takes them for geometric twins (one shape
	// in two finishes, or nearly one shape), which the edges cannot tell
	// apart and the finish then decides.
	TwinSimilarity = 0.6
	// FinishMargin is how much nearer (in FinishDistance) to the query's
	// finish a twin's best photo must be than the first part's to take
	// its place: a phone's exposure moves the lightness by more than one
	// tolerance, and a small difference is no evidence.
	FinishMargin = 4
	// LightTwinGap, LightTwinChroma and LightTwinMargin are LightTwin's
	// limits: twins whose log lightnesses lie at least 0.5 apart (a
	// factor 1.65: black oxide against zinc, stainless or plain steel) and
	// whose chromaticities differ by at most 3 tolerances (not brass or
	// yellow zinc, which the colour tells) are decided by the midpoint of
	// their lightnesses, the query past it by more than 0.05. Chosen on
	// the first demo catalogue among gaps 0.3–0.7, margins 0–0.1 and
	// chromaticity limits 2–4; the second and third were the check
	// (docs/catalogue.md).
	LightTwinGap    = 0.5
	LightTwinChroma = 3
	LightTwinMargin = 0.05
	// RingStable, RingAgree, RingGap and RingMargin are the limits of the
	// countersink ring's rule (Index.WithPart, RingTwin): a part's ring
	// counts when four in five of its reference photos lie within 0.02 of
	// their median (three in five let a bearing's wandering ring count);
	// two round twins whose rings differ by at least 0.03 (an M10
	// nut's 0.7 against an M16's 0.78) are decided by the midpoint, the
	// query past it by more than 0.005. Chosen on the first demo catalogue
	// among a few (docs/catalogue.md).
	RingStable = 0.02
	RingAgree  = 0.8
	RingGap    = 0.03
	RingMargin = 0.005
	// AspectStable, AspectAgree, AspectGap and AspectMargin are
	// AspectTwin's: a part's aspect counts when three in five of its
	// reference photos lie within 0.01 of their median (the segmentation
	// loses a dark bolt head's facets on a dark table, two in five of one
	// demo bolt's photos); two elongated twins whose aspects differ by
	// at least 0.015 (an M8×40 bolt's 0.34 against an M12×60's 0.32) are
	// decided by the midpoint, the query past it by more than 0.005.
	// Chosen on the three demo catalogues among a few (docs/catalogue.md).
	AspectStable = 0.01
	AspectAgree  = 0.6
	AspectGap    = 0.015
	AspectMargin = 0.005
	// HolesStable, HolesAgree, HolesGap and HolesMargin are HolesTwin's:
	// a part's hole count counts when three in five of its reference
	// photos lie within one hole of their median (a hole is lost to blur
	// or to a dark finish); a twin with at least two holes more (a
	// bracket with 3 holes a leg, 6 seen, against one with 2, 4 seen)
	// comes first when the query shows more holes than the midpoint by
	// more than half a hole. Chosen on the three demo catalogues
	// (docs/catalogue.md).
	HolesStable = 1
	HolesAgree  = 0.6
	HolesGap    = 2
	HolesMargin = 0.5
	// LookAlikeGap is how far a geometric twin's verified key (score plus
	// VerifySimilarity) may fall below the first part's for Verify to name
	// it a look-alike. Without it most answers in a catalogue of families
	// would name one, and a warning on every answer is read as none;
	// chosen by `catalogue eval`'s look-alike rows on the demo catalogue
	// (docs/catalogue.md).
	LookAlikeGap = 0.2
)

// finishTol is the tolerance of each Finish value: about the median
// half range of a part's value over its own reference photos on the demo
// catalogue (0.16 of log lightness, 0.016 and 0.008 of chromaticity).
var finishTol = [3]float32{0.16, 0.016, 0.008}

// Fine is a photo's part at a finer resolution than the index holds: the
// gradient magnitude of its softened upright view inside the (slightly
// widened) part, pooled to FineSide×FineSide and divided by its mean, so
// that the light's strength does not count. The opencv edge measures it.
type Fine struct {
	Edges []float32 // FineSide², row-major
	// Inner is Edges' gradient magnitude inside the part's outline
	// shrunk by 4 pixels (holes filled), so that the outline's edge,
	// which look-alikes share, is mostly left out (FineSide², row-major,
	// not divided by anything: a correlation does not see a scale); nil
	// when not measured.
	Inner []float32
	// Round is set for a part whose principal axis is not defined (a nut,
	// a washer, a bearing: elongation near 1); two round parts are then
	// compared at every turn.
	Round bool
	// Ring is the photo's Shape.Ring (0: not measured); PartRing, set by
	// the caller on a reference photo's Fine (Index.WithPart), is its
	// part's median ring (0: unknown, or the part's photos disagree).
	Ring, PartRing float32
	// Aspect and PartAspect are the same for Shape.Aspect, Holes and
	// PartHoles for Shape.Holes.
	Aspect, PartAspect float32
	Holes, PartHoles   float32
	// Finish is the part's finish as the photo shows it: the log of its
	// pixels' mean level (0–255, the three channels averaged) and their
	// mean blue and green over blue+green+red, read inside the part away
	// from its outline. Nil when not measured. The light's strength is
	// not divided out: black oxide differs from zinc mainly in lightness.
	Finish []float32
	// PartFinish, set by the caller on a reference photo's Fine
	// (Index.WithPart), is its part's median finish (nil: unknown).
	PartFinish []float32
}

// FinishDistance is the distance of two finishes: the sum over the three
// values of their difference over its tolerance. It is NaN when either
// finish is missing.
func FinishDistance(a, b *Fine) float64 {
	if a == nil || b == nil || len(a.Finish) != 3 || len(b.Finish) != 3 {
		return math.NaN()
	}
	var d float64
	for k := range 3 {
		d += math.Abs(float64(a.Finish[k]-b.Finish[k])) / float64(finishTol[k])
	}
	return d
}

// FineSimilarity is the normalised cross-correlation of two Fine maps,
// the best over b turned by a half turn or not, and shifted up to
// fineShift cells either way (on the overlap); when both are round, also
// over every turn of a in fineTurnStep degrees. It is -1 when either map
// is missing or flat.
func FineSimilarity(a, b *Fine) float32 {
	if a == nil || b == nil || len(a.Edges) != FineSide*FineSide || len(b.Edges) != FineSide*FineSide {
		return -1
	}
	best := ncc(a.Edges, b.Edges)
	if a.Round && b.Round {
		for deg := fineTurnStep; deg < 180; deg += fineTurnStep {
			best = max(best, ncc(turned(a.Edges, float64(deg)), b.Edges))
		}
	}
	return best
}

// VerifySimilarity is how alike Verify takes two photos' parts to be:
// their FineSimilarity plus InnerWeight times the best normalised
// cross-correlation of their inner edges (Fine.Inner) over the half turn
// and shifts, when both have them (-1 when either inner map is flat:
// edges inside one part and none inside the other).
func VerifySimilarity(a, b *Fine) float32 {
	s := FineSimilarity(a, b)
	if a != nil && b != nil && len(a.Inner) == FineSide*FineSide && len(b.Inner) == FineSide*FineSide {
		s += InnerWeight * ncc(a.Inner, b.Inner)
	}
	return s
}

// ncc is FineSimilarity's search over shifts and the half turn.
func ncc(a, b []float32) float32 { return BestNCC(a, b, FineSide, fineShift) }

// BestNCC is the best normalised cross-correlation of two n×n maps over
// both half turns of b and shifts of up to shift cells (on the overlap).
func BestNCC(a, b []float32, n, shift int) float32 {
	best := float32(-1)
	for half := range 2 {
		for dy := -shift; dy <= shift; dy++ {
			for dx := -shift; dx <= shift; dx++ {
				var sa, sb, saa, sbb, sab, cnt float64
				for y := max(0, -dy); y < min(n, n-dy); y++ {
					for x := max(0, -dx); x < min(n, n-dx); x++ {
						yb, xb := y+dy, x+dx
						if half == 1 {
							yb, xb = n-1-yb, n-1-xb
						}
						u, v := float64(a[y*n+x]), float64(b[yb*n+xb])
						sa, sb, saa, sbb, sab, cnt = sa+u, sb+v, saa+u*u, sbb+v*v, sab+u*v, cnt+1
					}
				}
				cov := sab - sa*sb/cnt
				va, vb := saa-sa*sa/cnt, sbb-sb*sb/cnt
				if va > 0 && vb > 0 {
					best = max(best, float32(cov/math.Sqrt(va*vb)))
				}
			}
		}
	}
	return best
}

// turned returns a FineSide² map turned by deg degrees about its centre
// (bilinear; 0 where the turn reaches outside).
func turned(a []float32, deg float64) []float32 {
	const n = FineSide
	out := make([]float32, n*n)
	s, c := math.Sincos(deg * math.Pi / 180)
	ctr := float64(n) / 2
	for y := range n {
		for x := range n {
			// The source of (x, y) under a turn by deg.
			dx, dy := float64(x)-ctr, float64(y)-ctr
			sx, sy := c*dx-s*dy+ctr, s*dx+c*dy+ctr
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			fx, fy := float32(sx-float64(x0)), float32(sy-float64(y0))
			at := func(x, y int) float32 {
				if x < 0 || y < 0 || x >= n || y >= n {
					return 0
				}
				return a[y*n+x]
			}
			out[y*n+x] = (1-fy)*((1-fx)*at(x0, y0)+fx*at(x0+1, y0)) + fy*((1-fx)*at(x0, y0+1)+fx*at(x0+1, y0+1))
		}
	}
	return out
}

// VerifyCount is how many of the first hits Verify re-orders by their
// verified keys: the first VerifyTop, or when the best is at or above
// threshold, those of them at or above it.
func VerifyCount(hits []Hit, threshold float32) int {
	n := min(VerifyTop, len(hits))
	if n == 0 || hits[0].Score < threshold {
		return n
	}
	k := 0
	for k < n && hits[k].Score >= threshold {
		k++
	}
	return k
}

// Verify re-orders the first VerifyTop hits by their Score plus
// VerifyWeight times the VerifySimilarity of query with ref(hit) (the
// hit's best reference photo; nil when it has none). When the best hit
// is at or above threshold (an answer, not "not in the catalogue"), only
// the hits at or above it (VerifyCount) are re-ordered so; when all are
// below, the first VerifyTop are. Then the first part's geometric twins
// among them (TwinSimilarity) may take its place by their finish (see
// FinishTwin), size (RingTwin, AspectTwin) or holes (HolesTwin), and last
// a twin in another finish among the hits below the threshold: the
// answer is still decided by the best score, but which twin it names by
// the finish. It leaves the hits
// alone when query is nil (no part was found in the customer photo), and
// never changes a Score: a result's score stays the search's, which the
// threshold was calibrated on.
//
// It returns the first part's look-alikes among the verified hits, best
// first: those whose best photo's edge map correlates at least
// TwinSimilarity with the first part's (FineSimilarity) and whose score
// plus similarity to the query falls short of the first's by at most
// LookAlikeGap. The edges cannot tell such parts apart, and what can (a
// finish under a phone's exposure, a size without a scale in the photo)
// often fails, so the person is told to check.
func Verify(hits []Hit, threshold float32, query *Fine, ref func(Hit) *Fine) []Hit {
	if query == nil {
		return nil
	}
	n, m := VerifyCount(hits, threshold), min(VerifyTop, len(hits))
	if m < 2 {
		return nil
	}
	key := make([]float32, m)
	refs := make([]*Fine, m)
	for i, h := range hits[:m] {
		refs[i] = ref(h)
		key[i] = h.Score + VerifyWeight*VerifySimilarity(query, refs[i])
	}
	// The parts at or above the threshold are re-ordered by their keys;
	// those below it follow in the search's order and take part only as
	// twins of the first.
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx[:n], func(a, b int) bool { return key[idx[a]] > key[idx[b]] })
	top := make([]Hit, m)
	topRefs := make([]*Fine, m)
	topKey := make([]float32, m)
	for i, j := range idx {
		top[i], topRefs[i], topKey[i] = hits[j], refs[j], key[j]
	}
	toFront := func(k int) {
		first, firstRef, firstKey := top[k], topRefs[k], topKey[k]
		copy(top[1:k+1], top[:k])
		copy(topRefs[1:k+1], topRefs[:k])
		copy(topKey[1:k+1], topKey[:k])
		top[0], topRefs[0], topKey[0] = first, firstRef, firstKey
	}
	above := topRefs[:n]
	if k := FinishTwin(query, above); k > 0 {
		toFront(k)
	}
	// After a rule between sizes (or hole counts) the finish once more,
	// among the new first part's twins of its size: the ring, the aspect
	// and the holes tell the size, not the finish.
	for _, rule := range []func(*Fine, []*Fine) int{RingTwin, AspectTwin, HolesTwin} {
		k := rule(query, above)
		if k == 0 {
			continue
		}
		toFront(k)
		same := []int{0}
		for j := 1; j < n; j++ {
			if sameSize(topRefs[0], topRefs[j]) {
				same = append(same, j)
			}
		}
		sub := make([]*Fine, len(same))
		for i, j := range same {
			sub[i] = topRefs[j]
		}
		if f := FinishTwin(query, sub); f > 0 {
			toFront(same[f])
		}
	}
	// Last, the first part's twins in another finish below the threshold:
	// the threshold says whether the part is in the catalogue at all, and
	// a black part's photo may score its zinc twin above it and itself
	// below (the embedding sees the finish, the shape matched).
	if k := FinishTwin(query, topRefs); k >= n {
		toFront(k)
	}
	copy(hits, top)
	var alike []Hit
	for k := 1; k < m; k++ {
		if topRefs[0] != nil && FineSimilarity(topRefs[0], topRefs[k]) >= TwinSimilarity && topKey[0]-topKey[k] <= LookAlikeGap {
			alike = append(alike, top[k])
		}
	}
	return alike
}

// FinishTwin returns the index of the part that should come first among
// parts whose best photos are refs, in their verified order: 0 (the
// first), or a geometric twin of the first (their photos' FineSimilarity
// at least TwinSimilarity) whose finish is nearer the query's by more
// than FinishMargin and whose part has another finish (not oneFinish),
// the nearest such. Twins differ in the finish (zinc,
// black oxide, brass; plain, stainless and black bolts) and the edges,
// divided by their mean, are blind to it by design; the search's score
// sees it only through the embedding, outweighed by the shape.
//
// Twins that differ mainly in lightness (black oxide against zinc or
// stainless: see LightTwin) are decided first, by which side of the two
// lightnesses' midpoint the query lies on; the three values' distance
// with its margin is for the rest (zinc against brass or yellow zinc).
func FinishTwin(query *Fine, refs []*Fine) int {
	if len(refs) < 2 || refs[0] == nil {
		return 0
	}
	if k := LightTwin(query, refs); k > 0 {
		return k
	}
	best, bestD := 0, FinishDistance(query, refs[0])
	if math.IsNaN(bestD) {
		return 0
	}
	for k := 1; k < len(refs); k++ {
		d := FinishDistance(query, refs[k])
		if d < bestD-FinishMargin && FineSimilarity(refs[0], refs[k]) >= TwinSimilarity && !oneFinish(refs[0], refs[k]) {
			best, bestD = k, d
		}
	}
	return best
}

// oneFinish tells whether the parts of two reference photos have one
// finish: their median finishes over their reference photos (PartFinish)
// lie within FinishMargin of each other. Their best photos may then
// differ by more, by their exposure (two bearing sizes in one steel), and
// the finish cannot tell such parts apart. False when either is unknown.
// LightTwin does not ask it: plain steel and stainless differ by less
// than FinishMargin in their medians, and there the lightness midpoint
// of the best photos measured better (docs/catalogue.md).
func oneFinish(a, b *Fine) bool {
	if a == nil || b == nil || len(a.PartFinish) != 3 || len(b.PartFinish) != 3 {
		return false
	}
	return FinishDistance(&Fine{Finish: a.PartFinish}, &Fine{Finish: b.PartFinish}) < FinishMargin
}

// LightTwin returns the index of a geometric twin of the first of refs
// (FineSimilarity at least TwinSimilarity) that differs from it mainly in
// lightness (log lightness at least LightTwinGap apart, chromaticity
// within LightTwinChroma tolerances) and on whose side of the two
// lightnesses' midpoint the query lies by more than LightTwinMargin; the
// one it lies furthest past, or 0. Exposure moves a photo's lightness
// by more than FinishDistance's tolerance, so the summed distance with
// its margin of 4 left a black bolt's photo first for a zinc bolt's even
// when it lay far nearer the zinc one; between two lightnesses that far
// apart, the midpoint is the evidence.
func LightTwin(query *Fine, refs []*Fine) int {
	if query == nil || len(query.Finish) != 3 || len(refs) < 2 || refs[0] == nil || len(refs[0].Finish) != 3 {
		return 0
	}
	q, a := float64(query.Finish[0]), float64(refs[0].Finish[0])
	best, bestG := 0, float64(LightTwinMargin)
	for k := 1; k < len(refs); k++ {
		r := refs[k]
		if r == nil || len(r.Finish) != 3 {
			continue
		}
		b := float64(r.Finish[0])
		chroma := math.Abs(float64(r.Finish[1]-refs[0].Finish[1]))/float64(finishTol[1]) +
			math.Abs(float64(r.Finish[2]-refs[0].Finish[2]))/float64(finishTol[2])
		if math.Abs(b-a) < LightTwinGap || chroma > LightTwinChroma || FineSimilarity(refs[0], r) < TwinSimilarity {
			continue
		}
		if g := (q - (a+b)/2) * math.Copysign(1, b-a); g > bestG {
			best, bestG = k, g
		}
	}
	return best
}

// AspectTwin is RingTwin for parts that are not round, on the outline's
// aspect (Shape.Aspect, PartAspect) with AspectGap and AspectMargin: a
// bolt 40 long against one 60 long with a larger head differ in their
// proportions by a few pixels of the upright view.
func AspectTwin(query *Fine, refs []*Fine) int {
	if query == nil || query.Round || query.Aspect <= 0 || len(refs) < 2 || refs[0] == nil || refs[0].Round || refs[0].PartAspect <= 0 {
		return 0
	}
	return midpointTwin(float64(query.Aspect), refs, func(f *Fine) float32 { return f.PartAspect }, AspectGap, AspectMargin)
}

// sameSize tells whether b's part has a's ring, aspect and hole count as
// far as the twin rules tell (each within its gap where both are known).
func sameSize(a, b *Fine) bool {
	if a == nil || b == nil {
		return false
	}
	near := func(x, y, gap float32) bool { return x <= 0 || y <= 0 || math.Abs(float64(x-y)) < float64(gap) }
	return near(a.PartRing, b.PartRing, RingGap) && near(a.PartAspect, b.PartAspect, AspectGap) && near(a.PartHoles, b.PartHoles, HolesGap)
}

// HolesTwin is AspectTwin for the hole count (Shape.Holes, PartHoles)
// with HolesGap and HolesMargin, among twins of the first part's aspect
// (within AspectGap where both are known) with more holes than it: a
// bracket's third hole a leg hardly moves its edge map. Only towards
// more holes: a photo loses a hole to blur or to a black finish far more
// often than it shows one that is not there (the count keeps only holes
// of like size, see opencv.PartShape), and a rule both ways turned
// right answers wrong on the demo catalogues. A twin of another size is
// AspectTwin's.
func HolesTwin(query *Fine, refs []*Fine) int {
	if query == nil || query.Round || query.Holes <= 0 || len(refs) < 2 || refs[0] == nil || refs[0].Round || refs[0].PartHoles <= 0 {
		return 0
	}
	a, h := refs[0].PartAspect, refs[0].PartHoles
	return midpointTwin(float64(query.Holes), refs, func(f *Fine) float32 {
		if f.PartHoles < h || a > 0 && f.PartAspect > 0 && math.Abs(float64(f.PartAspect-a)) >= AspectGap {
			return 0
		}
		return f.PartHoles
	}, HolesGap, HolesMargin)
}

// midpointTwin returns the index of the geometric twin of refs[0] whose
// part value (of) differs from the first's by at least gap and on whose
// side of the two values' midpoint q lies by more than margin, the one it
// lies furthest past; 0 when none. refs[k] with the first's roundness
// only.
func midpointTwin(q float64, refs []*Fine, of func(*Fine) float32, gap, margin float64) int {
	a := float64(of(refs[0]))
	best, bestG := 0, margin
	for k := 1; k < len(refs); k++ {
		r := refs[k]
		if r == nil || r.Round != refs[0].Round || of(r) <= 0 {
			continue
		}
		b := float64(of(r))
		if math.Abs(b-a) < gap || FineSimilarity(refs[0], r) < TwinSimilarity {
			continue
		}
		if g := (q - (a+b)/2) * math.Copysign(1, b-a); g > bestG {
			best, bestG = k, g
		}
	}
	return best
}

// RingTwin returns the index of a round geometric twin of the first of
// refs (both Round, FineSimilarity at least TwinSimilarity) whose part's
// ring (PartRing) differs from the first part's by at least RingGap and
// on whose side of the two rings' midpoint the query's Ring lies by more
// than RingMargin; the one it lies furthest past, or 0. Two sizes of a
// nut differ in proportion only by a few pixels of the upright view,
// which the edge maps at 64×64 round away.
func RingTwin(query *Fine, refs []*Fine) int {
	if query == nil || !query.Round || query.Ring <= 0 || len(refs) < 2 || refs[0] == nil || !refs[0].Round || refs[0].PartRing <= 0 {
		return 0
	}
	return midpointTwin(float64(query.Ring), refs, func(f *Fine) float32 { return f.PartRing }, RingGap, RingMargin)
}
