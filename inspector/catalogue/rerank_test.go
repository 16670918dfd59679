package catalogue

import (
	"slices"
	"testing"
)

// TestIndexShapeRerank builds an index whose two parts have the same scan
// vector, as a bracket with 2 and with 3 holes nearly do, and tells them
// apart by their Shape alone: a query ranks the part whose shape it shares
// first, whichever that is; a query without a measured shape ties them as
// the scan does. Extend keeps the shapes, and calibration scores with them.
func TestIndexShapeRerank(t *testing.T) {
	scan := []float32{0.5, 0.2, 0.1, 0.9}
	two := &Shape{Aspect: 0.64, Elongation: 0.56, Solidity: 0.68, HoleArea: 0.10, Holes: 4, Waist: 0.95, Chroma: [2]float32{0.33, 0.34}}
	three := *two
	three.HoleArea, three.Holes = 0.15, 6
	vec := func(s *Shape) []float32 { return append(slices.Clone(scan), s.Values()...) }
	b := NewBuilder(len(scan) + ShapeLen)
	b.Tail = ShapeLen
	b.Center = false
	b.Add("BR-2H", "a", vec(two))
	b.Add("BR-3H", "b", vec(&three))
	ix := b.Build()
	for _, tc := range []struct {
		name  string
		query *Shape
		want  string
	}{
		{"2 holes", two, "BR-2H"},
		{"3 holes", &three, "BR-3H"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := ix.Search(vec(tc.query), 2, nil)
			if len(hits) != 2 || hits[0].Part != tc.want || hits[0].Score <= hits[1].Score {
				t.Fatalf("ranked %v, want %s first", hits, tc.want)
			}
			if hits[0].Score < 0.9999 {
				t.Errorf("the same shape lowered the score to %.4f", hits[0].Score)
			}
		})
	}
	if hits := ix.Search(vec(nil), 2, nil); hits[0].Score != hits[1].Score {
		t.Errorf("a query without a shape should tie the two: %v", hits)
	}
	if ix.Bytes() <= NewBuilder(len(scan)).Build().Bytes() {
		t.Error("the shapes take no memory in Bytes")
	}
	// A third photo of BR-3H added later keeps its shape.
	three.Aspect = 0.5
	nx := ix.Extend("BR-3H", []string{"c"}, [][]float32{vec(&three)})
	if hits := nx.Search(vec(&three), 1, nil); hits[0].Photo != "c" {
		t.Errorf("after Extend the photo with the query's shape should answer, got %v", hits)
	}
	// Calibration sees the lowered scores: each photo's best "known" match
	// is the other photo of its part (only c and b share a part), its
	// "unknown" match a part of another shape, below the plain cosine 1.
	cal := nx.Calibrate(0, 0)
	if cal.Threshold >= 1 || cal.Known != 2 || cal.Unknown != 3 {
		t.Errorf("calibration %+v", cal)
	}
	if ShapeDistance(two.Values(), (*Shape)(nil).Values()) != 0 {
		t.Error("an unmeasured shape must cost nothing")
	}
}

// TestShapeDistanceBore: two nuts whose outlines measure alike differ by
// their bore (an M10's 0.625 of its across-flats against an M16's 0.667),
// and the bore alone must rank a query's own size first; parts without a
// bore (both 0) pay nothing for it.
func TestShapeDistanceBore(t *testing.T) {
	m10 := Shape{Aspect: 0.93, Elongation: 0.99, Solidity: 0.99, HoleArea: 0.45, Holes: 1, Waist: 0.9, Chroma: [2]float32{0.33, 0.33}, Bore: 0.60}
	m16 := m10
	m16.Bore = 0.64
	if d := ShapeDistance(m10.Values(), m16.Values()); d < BoreWeight {
		t.Errorf("bores 0.60 and 0.64 cost %.3f, want at least BoreWeight %.2f", d, BoreWeight)
	}
	q := m10
	q.Bore = 0.61
	if ShapeDistance(q.Values(), m10.Values()) >= ShapeDistance(q.Values(), m16.Values()) {
		t.Error("a query with the M10's bore is not nearer the M10")
	}
	a, b := m10, m10
	a.Bore, b.Bore = 0, 0
	if d := ShapeDistance(a.Values(), b.Values()); d != 0 {
		t.Errorf("two parts without a bore cost %.3f", d)
	}
}

// TestIndexPartRing: the index keeps each photo's ring in its shape and
// answers a part's median where its photos agree; the ring does not change
// a score.
func TestIndexPartRing(t *testing.T) {
	scan := []float32{0.5, 0.2, 0.1, 0.9}
	vec := func(ring float32) []float32 {
		return append(slices.Clone(scan), (&Shape{Aspect: 0.9, Elongation: 0.95, Ring: ring, Holes: 1, Finish: [3]float32{4 + ring, 0.33, 0.34}}).Values()...)
	}
	b := NewBuilder(len(scan) + ShapeLen)
	b.Tail = ShapeLen
	b.Center = false
	for i, r := range []float32{0.73, 0.74, 0.72, 0.60, 0.73} {
		b.Add("M10", "m10-"+string(rune('a'+i)), vec(r))
	}
	for i, r := range []float32{0.70, 0.80, 0.75, 0.66} {
		b.Add("ODD", "odd-"+string(rune('a'+i)), vec(r))
	}
	ix := b.Build()
	part := func(n string) *Fine { return ix.WithPart(&Fine{Ring: 0.7}, n) }
	if got := part("M10").PartRing; got != 0.73 {
		t.Errorf("M10: %.3f, want 0.73", got)
	}
	if got := part("ODD").PartRing; got != 0 {
		t.Errorf("a part whose photos disagree: %.3f, want 0", got)
	}
	if got := part("NONE").PartRing; got != 0 {
		t.Errorf("no such part: %.3f, want 0", got)
	}
	if got := part("M10").PartAspect; got != 0.9 {
		t.Errorf("M10's aspect: %.3f, want 0.9", got)
	}
	if got := part("M10").PartHoles; got != 1 {
		t.Errorf("M10's holes: %.3f, want 1 (stored as log1p)", got)
	}
	if got := part("M10").PartFinish; len(got) != 3 || got[0] != 4.73 || got[1] != 0.33 || got[2] != 0.34 {
		t.Errorf("M10's finish: %v, want the median [4.73 0.33 0.34]", got)
	}
	if f := part("M10"); f.PartRing != 0.73 || f.PartAspect != 0.9 || f.PartHoles != 1 || len(f.PartFinish) != 3 || f.Ring != 0.7 {
		t.Errorf("WithPart: %+v", f)
	}
	if ix.WithPart(nil, "M10") != nil {
		t.Error("WithPart(nil) is not nil")
	}
	if hits := ix.Search(vec(0.80), 2, nil); hits[0].Score < 0.9999 || hits[1].Score < 0.9999 {
		t.Errorf("the ring changed a score: %v", hits)
	}
}
