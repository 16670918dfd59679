package catalogue_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue/catalogtest"
)

// plate draws a FineSide² edge map of a bar of length l cells with holes
// ring-shaped edges at the given x positions, and a ring of balls for
// round parts (balls at angle offset off).
func plate(l int, holes []int) *catalogue.Fine {
	const n = catalogue.FineSide
	e := make([]float32, n*n)
	y0, y1 := n/2-6, n/2+6
	x0 := (n - l) / 2
	for x := x0; x < x0+l; x++ {
		e[y0*n+x], e[y1*n+x] = 1, 1
	}
	for y := y0; y <= y1; y++ {
		e[y*n+x0], e[y*n+x0+l-1] = 1, 1
	}
	for _, hx := range holes {
		for a := 0.0; a < 2*math.Pi; a += 0.1 {
			x, y := int(float64(x0+hx)+3*math.Cos(a)), int(float64(n/2)+3*math.Sin(a))
			e[y*n+x] = 1
		}
	}
	return &catalogue.Fine{Edges: e}
}

// balls draws a ring with k balls, turned by off radians.
func balls(k int, off float64) *catalogue.Fine {
	const n = catalogue.FineSide
	e := make([]float32, n*n)
	for a := 0.0; a < 2*math.Pi; a += 0.02 {
		for _, r := range []float64{10, 28} {
			e[int(n/2+r*math.Sin(a))*n+int(n/2+r*math.Cos(a))] = 1
		}
	}
	for i := range k {
		c := off + 2*math.Pi*float64(i)/float64(k)
		for a := 0.0; a < 2*math.Pi; a += 0.2 {
			x, y := n/2+19*math.Cos(c)+4*math.Cos(a), n/2+19*math.Sin(c)+4*math.Sin(a)
			e[int(y)*n+int(x)] = 1
		}
	}
	return &catalogue.Fine{Edges: e, Round: true}
}

func shifted(f *catalogue.Fine, dx, dy int) *catalogue.Fine {
	const n = catalogue.FineSide
	e := make([]float32, n*n)
	for y := range n {
		for x := range n {
			if sx, sy := x-dx, y-dy; sx >= 0 && sy >= 0 && sx < n && sy < n {
				e[y*n+x] = f.Edges[sy*n+sx]
			}
		}
	}
	return &catalogue.Fine{Edges: e, Round: f.Round}
}

func halfTurned(f *catalogue.Fine) *catalogue.Fine {
	e := make([]float32, len(f.Edges))
	for i, v := range f.Edges {
		e[len(e)-1-i] = v
	}
	return &catalogue.Fine{Edges: e, Round: f.Round}
}

func TestFineSimilarity(t *testing.T) {
	two, three := plate(48, []int{8, 40}), plate(48, []int{8, 24, 40})
	short := plate(44, []int{8, 36})
	for _, tc := range []struct {
		name    string
		a, b, c *catalogue.Fine // a is more like b than like c
		minAB   float32
	}{
		{"two holes shifted against three holes", two, shifted(two, 2, -1), three, 0.99},
		{"two holes half turned against three holes", two, halfTurned(two), three, 0.99},
		{"a longer plate against a shorter one", two, shifted(two, 1, 1), short, 0.99},
		{"7 balls turned against 8 balls", balls(7, 0), balls(7, 0.2), balls(8, 0), 0.7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ab, ac := catalogue.FineSimilarity(tc.a, tc.b), catalogue.FineSimilarity(tc.a, tc.c)
			if ab < tc.minAB || ab <= ac {
				t.Errorf("similarity %.3f to the same part, %.3f to the other; want ≥ %.2f and above", ab, ac, tc.minAB)
			}
		})
	}
	if got := catalogue.FineSimilarity(two, nil); got != -1 {
		t.Errorf("similarity to a missing map %.3f, want -1", got)
	}
	// Without Round the balls are compared only as they lie.
	a, b := balls(7, 0), balls(7, 0.2)
	a.Round, b.Round = false, false
	if catalogue.FineSimilarity(a, b) >= catalogue.FineSimilarity(balls(7, 0), balls(7, 0.2)) {
		t.Error("turning round parts did not raise their similarity")
	}
}

func TestVerifyReorders(t *testing.T) {
	two, three := plate(48, []int{8, 40}), plate(48, []int{8, 24, 40})
	refs := map[string]*catalogue.Fine{"2h": two, "3h": three, "x": nil}
	ref := func(h catalogue.Hit) *catalogue.Fine { return refs[h.Photo] }
	hits := func() []catalogue.Hit {
		return []catalogue.Hit{
			{Part: "BR-2H", Score: 0.80, Photo: "2h"},
			{Part: "BR-3H", Score: 0.75, Photo: "3h"},
			{Part: "X", Score: 0.70, Photo: "x"},
		}
	}
	for _, tc := range []struct {
		name      string
		threshold float32
		query     *catalogue.Fine
		want      []string
	}{
		{"a match: both parts above the threshold", 0.5, shifted(three, 1, 0), []string{"BR-3H", "BR-2H", "X"}},
		{"not in the catalogue: all below", 0.9, shifted(three, 1, 0), []string{"BR-3H", "BR-2H", "X"}},
		{"a match, the look-alike below the threshold", 0.78, shifted(three, 1, 0), []string{"BR-2H", "BR-3H", "X"}},
		{"no part in the customer photo", 0.5, nil, []string{"BR-2H", "BR-3H", "X"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hits()
			catalogue.Verify(h, tc.threshold, tc.query, ref)
			for i, p := range tc.want {
				if h[i].Part != p {
					t.Fatalf("order %v, want %v", h, tc.want)
				}
			}
			for _, x := range h {
				if want := map[string]float32{"BR-2H": 0.80, "BR-3H": 0.75, "X": 0.70}[x.Part]; x.Score != want {
					t.Errorf("%s's score changed to %.3f", x.Part, x.Score)
				}
			}
		})
	}
}

// verifyingEmbedder is catalogtest's Embedder that is also a Verifier:
// each photo's Fine is looked up by its id.
type verifyingEmbedder struct {
	catalogtest.Embedder
	fines map[string]*catalogue.Fine
	calls int
}

func (e *verifyingEmbedder) Embed(ctx context.Context, images [][]byte) ([]catalogue.Embedded, error) {
	out, err := e.Embedder.Embed(ctx, images)
	for i := range out {
		out[i].Fine = e.fines[catalogue.PhotoID(images[i])]
	}
	return out, err
}

func (e *verifyingEmbedder) Fine(_ context.Context, images [][]byte) ([]*catalogue.Fine, error) {
	e.calls++
	out := make([]*catalogue.Fine, len(images))
	for i, b := range images {
		out[i] = e.fines[catalogue.PhotoID(b)]
	}
	return out, nil
}

// TestServiceSearchVerify: of two parts that look alike to the search, a
// customer photo whose fine map is part 2's comes back as part 2, with the
// search's scores and "not in the catalogue" answer, and the other way
// round.
func TestServiceSearchVerify(t *testing.T) {
	two, three := plate(48, []int{8, 40}), plate(48, []int{8, 24, 40})
	mapOf := map[string]*catalogue.Fine{"P-1": two, "P-2": three}
	emb := &verifyingEmbedder{fines: map[string]*catalogue.Fine{}}
	svc, err := catalogue.NewService(openStore(t, ""), emb, catalogue.Options{Floor: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	for i, f := range []*catalogue.Fine{two, three} {
		p := catalogue.Part{Number: fmt.Sprintf("P-%d", i+1), Name: "plate", Active: true}
		// Both parts look alike to the search (drawn from one colour
		// layout): only their fine maps tell them apart.
		var imgs [][]byte
		for k := range 3 {
			imgs = append(imgs, catalogtest.Photo(1, 10*i+k, 0.1))
		}
		for _, b := range imgs {
			emb.fines[catalogue.PhotoID(b)] = f
		}
		if err := svc.AddPart(context.Background(), p, imgs, 3, 10, "upload"); err != nil {
			t.Fatal(err)
		}
	}
	query := catalogtest.Photo(1, 7, 0.1)
	plain, _, err := svc.Search(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	if emb.calls != 0 {
		t.Fatalf("without a query map: %d verifications, want none", emb.calls)
	}
	t.Logf("search scores: %s %.3f, %s %.3f", plain.Results[0].Part, plain.Results[0].Score, plain.Results[1].Part, plain.Results[1].Score)
	first, second := plain.Results[0], plain.Results[1]
	for _, want := range []catalogue.Result{second, first} {
		emb.fines[catalogue.PhotoID(query)] = shifted(mapOf[want.Part], 1, 0)
		a, _, err := svc.Search(context.Background(), query)
		if err != nil {
			t.Fatal(err)
		}
		if a.Results[0] != want {
			t.Errorf("query with %s's fine map: first %+v, want %+v", want.Part, a.Results[0], want)
		}
		if a.NotInCatalogue != plain.NotInCatalogue || a.Score != plain.Score || plain.Score != plain.Results[0].Score {
			t.Errorf("verification changed the answer or its score: %+v against %+v", a, plain)
		}
	}
	if emb.calls != 2 {
		t.Errorf("%d verifications, want 2", emb.calls)
	}
}

// finished is f with the given finish (log lightness, two chromaticities).
func finished(f *catalogue.Fine, finish ...float32) *catalogue.Fine {
	return &catalogue.Fine{Edges: f.Edges, Round: f.Round, Finish: finish}
}

// zincFinished and blackFinished are copies of f with a zinc's and a
// black oxide's finish (the rest, ring and holes included, kept).
func zincFinished(f *catalogue.Fine) *catalogue.Fine {
	g := *f
	g.Finish = []float32{float32(math.Log(120)), 0.35, 0.33}
	return &g
}

func blackFinished(f *catalogue.Fine) *catalogue.Fine {
	g := *f
	g.Finish = []float32{float32(math.Log(50)), 0.34, 0.33}
	return &g
}

// TestVerifyFinishTwins: of two parts with one shape in two finishes, the
// one whose finish is nearer the customer photo's comes first, but only
// between geometric twins and only by more than FinishMargin.
func TestVerifyFinishTwins(t *testing.T) {
	two := plate(48, []int{8, 40})
	zinc := []float32{float32(math.Log(130)), 0.35, 0.33}
	black := []float32{float32(math.Log(55)), 0.34, 0.33}
	refs := map[string]*catalogue.Fine{
		"zinc":  finished(two, zinc...),
		"black": finished(shifted(two, 1, 0), black...),
		"ring":  finished(balls(8, 0), black...),
		"none":  shifted(two, 1, 0),
	}
	ref := func(h catalogue.Hit) *catalogue.Fine { return refs[h.Photo] }
	for _, tc := range []struct {
		name   string
		second string // the second part's photo
		query  *catalogue.Fine
		want   string // the first part after Verify
		alike  string // the look-alike Verify names ("" none)
	}{
		{"a black photo: the black twin first", "black", finished(two, float32(math.Log(60)), 0.34, 0.33), "BLACK", "ZINC"},
		{"a zinc photo: zinc stays first", "black", finished(two, float32(math.Log(120)), 0.35, 0.33), "ZINC", "BLACK"},
		{"a finish between both: no evidence, zinc stays", "black", finished(two, float32(math.Log(85)), 0.345, 0.33), "ZINC", "BLACK"},
		{"black, but another shape: the edges decide", "ring", finished(two, float32(math.Log(60)), 0.34, 0.33), "ZINC", ""},
		{"the twin's finish not measured", "none", finished(two, float32(math.Log(60)), 0.34, 0.33), "ZINC", "BLACK"},
		{"the query's finish not measured", "black", two, "ZINC", "BLACK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := []catalogue.Hit{
				{Part: "ZINC", Score: 0.80, Photo: "zinc"},
				{Part: "BLACK", Score: 0.78, Photo: tc.second},
			}
			alike := catalogue.Verify(h, 0.5, tc.query, ref)
			if h[0].Part != tc.want {
				t.Fatalf("order %v, want %s first", h, tc.want)
			}
			if got := partsOf(alike); got != tc.alike {
				t.Errorf("look-alikes %q, want %q", got, tc.alike)
			}
			if s := map[string]float32{"ZINC": 0.80, "BLACK": 0.78}; h[0].Score != s[h[0].Part] || h[1].Score != s[h[1].Part] {
				t.Errorf("scores changed: %v", h)
			}
		})
	}
	// Two parts in one finish whose best photos differ by their exposure
	// (their parts' median finishes alike): the finish does not decide.
	dim := []float32{zinc[0] - 0.35, 0.33, 0.32}
	light, dark := finished(two, zinc...), finished(shifted(two, 1, 0), dim...)
	light.PartFinish, dark.PartFinish = zinc, zinc
	if got := catalogue.FinishTwin(finished(two, dim...), []*catalogue.Fine{light, dark}); got != 0 {
		t.Errorf("one finish under two exposures: FinishTwin %d, want 0", got)
	}
	dark.PartFinish = dim
	if got := catalogue.FinishTwin(finished(two, dim...), []*catalogue.Fine{light, dark}); got != 1 {
		t.Errorf("two finishes: FinishTwin %d, want 1", got)
	}
	if d := catalogue.FinishDistance(refs["zinc"], refs["none"]); !math.IsNaN(d) {
		t.Errorf("distance to a missing finish %.2f, want NaN", d)
	}
}

// TestVerifyTwinBelowThreshold: a black part's photo may score its zinc
// twin above the threshold and itself below; the finish then puts the
// black twin first. Only a twin in another finish, and only by the
// finish: a part of another shape, or a twin of another size or hole
// count below the threshold, stays behind.
func TestVerifyTwinBelowThreshold(t *testing.T) {
	two, three := plate(48, []int{8, 40}), plate(48, []int{8, 24, 40})
	holed := func(f *catalogue.Fine, holes float32) *catalogue.Fine {
		g := *f
		g.Holes, g.PartHoles = holes, holes
		return &g
	}
	refs := map[string]*catalogue.Fine{
		"zinc":       holed(zincFinished(two), 4),
		"black":      holed(blackFinished(shifted(two, 1, 0)), 4),
		"ring":       blackFinished(balls(8, 0)),
		"zinc-three": holed(zincFinished(three), 6),
	}
	ref := func(h catalogue.Hit) *catalogue.Fine { return refs[h.Photo] }
	for _, tc := range []struct {
		name  string
		below string // the photo of the part below the threshold
		query *catalogue.Fine
		want  string
	}{
		{"a black photo: the black twin first", "black", holed(blackFinished(two), 4), "BELOW"},
		{"a zinc photo: zinc stays", "black", holed(zincFinished(two), 4), "ZINC"},
		{"black, another shape below: zinc stays", "ring", holed(blackFinished(two), 4), "ZINC"},
		{"6 holes, the 3-hole twin below: zinc stays", "zinc-three", holed(zincFinished(two), 6), "ZINC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := []catalogue.Hit{
				{Part: "ZINC", Score: 0.80, Photo: "zinc"},
				{Part: "OTHER", Score: 0.70, Photo: "ring"},
				{Part: "BELOW", Score: 0.30, Photo: tc.below},
			}
			catalogue.Verify(h, 0.5, tc.query, ref)
			if h[0].Part != tc.want {
				t.Fatalf("order %v, want %s first", h, tc.want)
			}
			if s := map[string]float32{"ZINC": 0.80, "OTHER": 0.70, "BELOW": 0.30}; h[0].Score != s[h[0].Part] {
				t.Errorf("score changed: %v", h)
			}
		})
	}
}

// TestVerifyInnerEdges checks that the inner edges (a third hole) decide
// between two parts whose whole maps the outline makes alike.
func TestVerifyInnerEdges(t *testing.T) {
	inner := func(holes []int) []float32 {
		e := plate(48, holes).Edges
		for i, v := range plate(48, nil).Edges {
			if v > 0 {
				e[i] = 0
			}
		}
		return e
	}
	same := plate(48, []int{8, 40}).Edges // one whole map for all: only the inner maps differ
	query := &catalogue.Fine{Edges: same, Inner: shifted(&catalogue.Fine{Edges: inner([]int{8, 24, 40})}, 1, 0).Edges}
	two := &catalogue.Fine{Edges: same, Inner: inner([]int{8, 40})}
	three := &catalogue.Fine{Edges: same, Inner: inner([]int{8, 24, 40})}
	if catalogue.VerifySimilarity(query, three) <= catalogue.VerifySimilarity(query, two) {
		t.Fatal("the inner edges did not make the 3-hole part more alike")
	}
	if got, want := catalogue.VerifySimilarity(query, &catalogue.Fine{Edges: same}), catalogue.FineSimilarity(query, &catalogue.Fine{Edges: same}); got != want {
		t.Errorf("without an inner map %.3f, want the whole map's %.3f", got, want)
	}
	refs := map[string]*catalogue.Fine{"2h": two, "3h": three}
	h := []catalogue.Hit{{Part: "BR-2H", Score: 0.72, Photo: "2h"}, {Part: "BR-3H", Score: 0.70, Photo: "3h"}}
	catalogue.Verify(h, 0.5, query, func(h catalogue.Hit) *catalogue.Fine { return refs[h.Photo] })
	if h[0].Part != "BR-3H" {
		t.Errorf("order %v, want the 3-hole part first", h)
	}
}

func partsOf(hs []catalogue.Hit) string {
	var ps []string
	for _, h := range hs {
		ps = append(ps, h.Part)
	}
	return strings.Join(ps, ",")
}

// TestVerifyLookAlikeGap: a geometric twin is named a look-alike only
// while its score plus similarity stays within LookAlikeGap of the first
// part's; a twin the search ranks far lower is not worth a warning.
func TestVerifyLookAlikeGap(t *testing.T) {
	two := plate(48, []int{8, 40})
	refs := map[string]*catalogue.Fine{"a": two, "b": shifted(two, 1, 0)}
	ref := func(h catalogue.Hit) *catalogue.Fine { return refs[h.Photo] }
	for _, tc := range []struct {
		second float32
		want   string
	}{{0.78, "B"}, {0.80 - catalogue.LookAlikeGap - 0.05, ""}} {
		h := []catalogue.Hit{{Part: "A", Score: 0.80, Photo: "a"}, {Part: "B", Score: tc.second, Photo: "b"}}
		if got := partsOf(catalogue.Verify(h, 0.3, two, ref)); got != tc.want {
			t.Errorf("second at %.2f: look-alikes %q, want %q", tc.second, got, tc.want)
		}
	}
	if got := catalogue.Verify([]catalogue.Hit{{Part: "A", Score: 0.8, Photo: "a"}, {Part: "B", Score: 0.78, Photo: "b"}}, 0.3, nil, ref); got != nil {
		t.Errorf("no query map: look-alikes %v, want none", got)
	}
}

// TestServiceSearchLookAlikes: one shape in two finishes and its mirror
// twin: the answer names the other finish as a look-alike, with the
// attribute that differs, and leaves the mirror twin to MirrorTwins.
func TestServiceSearchLookAlikes(t *testing.T) {
	two := plate(48, []int{8, 40})
	emb := &verifyingEmbedder{fines: map[string]*catalogue.Fine{}}
	svc, err := catalogue.NewService(openStore(t, ""), emb, catalogue.Options{Floor: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	parts := []catalogue.Part{
		{Number: "P-Z", Name: "plate zinc", Attributes: map[string]string{"finish": "zinc", "family": "plate"}},
		{Number: "P-S", Name: "plate stainless", Attributes: map[string]string{"finish": "stainless", "family": "plate"}},
		{Number: "P-M", Name: "plate mirrored", Attributes: map[string]string{"finish": "zinc", "family": "plate", catalogue.MirrorAttr: "P-Z"}},
	}
	for i, p := range parts {
		p.Active = true
		var imgs [][]byte
		for k := range 3 {
			imgs = append(imgs, catalogtest.Photo(1, 10*i+k, 0.1))
		}
		for _, b := range imgs {
			emb.fines[catalogue.PhotoID(b)] = shifted(two, i%2, 0)
		}
		if err := svc.AddPart(context.Background(), p, imgs, 3, 10, "upload"); err != nil {
			t.Fatal(err)
		}
	}
	// The query is one of P-Z's own photos, so P-Z comes first.
	query := catalogtest.Photo(1, 0, 0.1)
	a, _, err := svc.Search(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	if a.NotInCatalogue || len(a.Results) < 3 || a.Results[0].Part != "P-Z" {
		t.Fatalf("answer %+v, want P-Z first among three parts", a)
	}
	if !a.MirrorTwins && a.Results[1].Part == "P-M" {
		t.Errorf("P-Z and P-M first and second, not flagged as mirror twins")
	}
	var got []string
	for _, la := range a.LookAlikes {
		got = append(got, la.Part+" "+strings.Join(la.Differs, ","))
	}
	if want := "P-S finish: stainless"; strings.Join(got, ";") != want {
		t.Errorf("look-alikes %q, want %q (the mirror twin P-M left out)", got, want)
	}
}

// TestLightTwin: a zinc and a black twin whose photos' lightnesses lie far
// apart are decided by the midpoint, also where the summed finish
// distance leaves the margin unmet; a brass twin (another colour) and a
// twin of nearly the same lightness are not.
func TestLightTwin(t *testing.T) {
	two := plate(48, []int{8, 40})
	black := finished(two, float32(math.Log(50)), 0.34, 0.33)
	zinc := finished(shifted(two, 1, 0), float32(math.Log(110)), 0.35, 0.33)
	brass := finished(shifted(two, 1, 0), float32(math.Log(60)), 0.22, 0.36)
	grey := finished(shifted(two, 1, 0), float32(math.Log(70)), 0.34, 0.33)
	ring := finished(balls(8, 0), float32(math.Log(110)), 0.35, 0.33)
	// A bright photo of the zinc part with a bluish cast: past the
	// midpoint (74) by far, yet its summed distance to the zinc twin is
	// within FinishMargin of the black one's.
	query := finished(two, float32(math.Log(95)), 0.37, 0.335)
	if dz, db := catalogue.FinishDistance(query, zinc), catalogue.FinishDistance(query, black); dz >= db-catalogue.FinishMargin {
		t.Logf("summed distances: zinc %.1f, black %.1f (margin %g not met)", dz, db, float64(catalogue.FinishMargin))
	} else {
		t.Fatalf("the case needs the summed distance to fail: zinc %.1f, black %.1f", dz, db)
	}
	for _, tc := range []struct {
		name string
		refs []*catalogue.Fine
		want int
	}{
		{"black first, zinc twin: zinc", []*catalogue.Fine{black, zinc}, 1},
		{"zinc first: stays", []*catalogue.Fine{zinc, black}, 0},
		{"black first, brass twin (another colour): not by lightness", []*catalogue.Fine{black, brass}, 0},
		{"black first, a grey twin only 0.34 lighter: not by lightness", []*catalogue.Fine{black, grey}, 0},
		{"black first, a bright part of another shape: stays", []*catalogue.Fine{black, ring}, 0},
	} {
		if got := catalogue.LightTwin(query, tc.refs); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := catalogue.FinishTwin(query, []*catalogue.Fine{black, zinc}); got != 1 {
		t.Errorf("FinishTwin: %d, want the zinc twin (1)", got)
	}
	// In the middle between the two: no evidence.
	if got := catalogue.LightTwin(finished(two, float32(math.Log(75)), 0.34, 0.33), []*catalogue.Fine{black, zinc}); got != 0 {
		t.Errorf("a photo at the midpoint: %d, want 0", got)
	}
}

// TestRingTwin: of two round twins whose parts' rings lie apart, the one
// on whose side of the midpoint the query's ring lies comes first; not
// when the query sits at the midpoint, when a part's photos disagree
// (PartRing 0), when the rings are closer than RingGap, or for parts
// that are not round.
func TestRingTwin(t *testing.T) {
	nut := balls(6, 0)
	ringed := func(f *catalogue.Fine, round bool, ring, part float32) *catalogue.Fine {
		g := *f
		g.Round, g.Ring, g.PartRing = round, ring, part
		return &g
	}
	m10, m16 := ringed(nut, true, 0.73, 0.73), ringed(nut, true, 0.79, 0.79)
	for _, tc := range []struct {
		name  string
		query *catalogue.Fine
		refs  []*catalogue.Fine
		want  int
	}{
		{"an M10 photo, M16 first: M10", ringed(nut, true, 0.72, 0), []*catalogue.Fine{m16, m10}, 1},
		{"an M16 photo, M16 first: stays", ringed(nut, true, 0.78, 0), []*catalogue.Fine{m16, m10}, 0},
		{"at the midpoint: stays", ringed(nut, true, 0.76, 0), []*catalogue.Fine{m16, m10}, 0},
		{"the M10's photos disagree: stays", ringed(nut, true, 0.72, 0), []*catalogue.Fine{m16, ringed(nut, true, 0.73, 0)}, 0},
		{"rings closer than RingGap: stays", ringed(nut, true, 0.72, 0), []*catalogue.Fine{m16, ringed(nut, true, 0.77, 0.77)}, 0},
		{"query not measured: stays", ringed(nut, true, 0, 0), []*catalogue.Fine{m16, m10}, 0},
		{"not round: stays", ringed(nut, false, 0.72, 0), []*catalogue.Fine{ringed(nut, false, 0.79, 0.79), ringed(nut, false, 0.73, 0.73)}, 0},
		{"another shape: stays", ringed(nut, true, 0.72, 0), []*catalogue.Fine{m16, ringed(plate(48, []int{8, 40}), true, 0.73, 0.73)}, 0},
	} {
		if got := catalogue.RingTwin(tc.query, tc.refs); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// Through Verify: the M16 part scores first, the M10 photo's ring
	// puts M10 first and names M16 its look-alike.
	refs := map[string]*catalogue.Fine{"a": m16, "b": m10}
	h := []catalogue.Hit{{Part: "M16", Score: 0.8, Photo: "a"}, {Part: "M10", Score: 0.78, Photo: "b"}}
	alike := catalogue.Verify(h, 0.3, ringed(nut, true, 0.72, 0), func(h catalogue.Hit) *catalogue.Fine { return refs[h.Photo] })
	if h[0].Part != "M10" || partsOf(alike) != "M16" {
		t.Errorf("Verify: order %v, look-alikes %q; want M10 first, M16 named", h, partsOf(alike))
	}
	// A zinc M10 photo among an M16 and two M10s, black and zinc: the ring
	// picks the size, then the finish the zinc one among that size.
	refs = map[string]*catalogue.Fine{"a": zincFinished(m16), "b": blackFinished(m10), "c": zincFinished(m10)}
	h = []catalogue.Hit{{Part: "M16-Z", Score: 0.8, Photo: "a"}, {Part: "M10-B", Score: 0.79, Photo: "b"}, {Part: "M10-Z", Score: 0.78, Photo: "c"}}
	catalogue.Verify(h, 0.3, zincFinished(ringed(nut, true, 0.72, 0)), func(h catalogue.Hit) *catalogue.Fine { return refs[h.Photo] })
	if h[0].Part != "M10-Z" {
		t.Errorf("Verify: order %v, want M10-Z first (size by the ring, then finish)", h)
	}
}

// TestStableMedian: a part's ring counts only where four in five of its
// photos agree, its aspect where three in five do.
func TestStableMedian(t *testing.T) {
	for _, tc := range []struct {
		rs    []float32
		agree float32
		want  float32
	}{
		{[]float32{0.73, 0.74, 0.72, 0.73, 0.735}, 0.8, 0.73},
		{[]float32{0.73, 0.74, 0.72, 0.73, 0.60}, 0.8, 0.73},
		{[]float32{0.73, 0.74, 0.72, 0.62, 0.60}, 0.8, 0},
		{[]float32{0.73, 0.74, 0.72, 0.62, 0.60}, 0.6, 0.72},
		{[]float32{0.73, 0.74, 0.62, 0.81, 0.60}, 0.6, 0},
		{[]float32{0, 0, 0, 0, 0}, 0.6, 0},
		{nil, 0.8, 0},
	} {
		if got := catalogue.StableMedian(tc.rs, catalogue.RingStable, tc.agree); got != tc.want {
			t.Errorf("StableMedian(%v, %.1f) = %.3f, want %.3f", tc.rs, tc.agree, got, tc.want)
		}
	}
}

// TestHolesTwin: of two twins of one size whose parts' hole counts lie
// apart (a bracket with 2 holes a leg against one with 3), a query showing
// the larger count puts the part with more holes first; a query showing
// fewer holes than the first part leaves it (a hole lost to blur), and a
// twin of another size is AspectTwin's.
func TestHolesTwin(t *testing.T) {
	bracket := plate(48, []int{8, 40})
	holed := func(holes, part, aspect float32) *catalogue.Fine {
		g := *bracket
		g.Holes, g.PartHoles, g.Aspect, g.PartAspect = holes, part, aspect, aspect
		return &g
	}
	two, three := holed(4, 4, 0.64), holed(6, 6, 0.64)
	for _, tc := range []struct {
		name  string
		query *catalogue.Fine
		refs  []*catalogue.Fine
		want  int
	}{
		{"a 3-hole photo, 2-hole part first: 3 holes", holed(6, 0, 0.64), []*catalogue.Fine{two, three}, 1},
		{"a 2-hole photo: stays", holed(4, 0, 0.64), []*catalogue.Fine{two, three}, 0},
		{"at the midpoint: stays", holed(5, 0, 0.64), []*catalogue.Fine{two, three}, 0},
		{"fewer holes than the 3-hole part first: stays", holed(3, 0, 0.64), []*catalogue.Fine{three, two}, 0},
		{"the 3-hole part's photos disagree: stays", holed(6, 0, 0.64), []*catalogue.Fine{two, holed(6, 0, 0.64)}, 0},
		{"counts closer than HolesGap: stays", holed(6, 0, 0.64), []*catalogue.Fine{two, holed(5, 5, 0.64)}, 0},
		{"a twin of another size: stays", holed(6, 0, 0.64), []*catalogue.Fine{two, holed(6, 6, 0.61)}, 0},
		{"no hole seen: stays", holed(0, 0, 0.64), []*catalogue.Fine{two, three}, 0},
	} {
		if got := catalogue.HolesTwin(tc.query, tc.refs); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// Through Verify: the 2-hole part scores first; the holes pick the
	// 3-hole size, then the finish the zinc one of the two 3-hole parts.
	refs := map[string]*catalogue.Fine{"a": zincFinished(two), "b": blackFinished(three), "c": zincFinished(three)}
	h := []catalogue.Hit{{Part: "2H", Score: 0.8, Photo: "a"}, {Part: "3H-B", Score: 0.79, Photo: "b"}, {Part: "3H", Score: 0.78, Photo: "c"}}
	catalogue.Verify(h, 0.3, zincFinished(holed(6, 0, 0.64)), func(h catalogue.Hit) *catalogue.Fine { return refs[h.Photo] })
	if h[0].Part != "3H" {
		t.Errorf("Verify: order %v, want 3H first (holes, then finish)", h)
	}
}

// TestAspectTwin: of two elongated twins whose parts' aspects lie apart
// (a short bolt with a small head against a long one with a large head),
// the query's aspect picks the side; round parts are RingTwin's.
func TestAspectTwin(t *testing.T) {
	bolt := plate(48, []int{8, 40})
	aspected := func(round bool, aspect, part float32) *catalogue.Fine {
		g := *bolt
		g.Round, g.Aspect, g.PartAspect = round, aspect, part
		return &g
	}
	m12x60, m8x40 := aspected(false, 0.32, 0.32), aspected(false, 0.34, 0.34)
	for _, tc := range []struct {
		name  string
		query *catalogue.Fine
		refs  []*catalogue.Fine
		want  int
	}{
		{"an M8×40 photo, M12×60 first: M8×40", aspected(false, 0.344, 0), []*catalogue.Fine{m12x60, m8x40}, 1},
		{"an M12×60 photo: stays", aspected(false, 0.318, 0), []*catalogue.Fine{m12x60, m8x40}, 0},
		{"near the midpoint: stays", aspected(false, 0.333, 0), []*catalogue.Fine{m12x60, m8x40}, 0},
		{"the M8×40's photos disagree: stays", aspected(false, 0.344, 0), []*catalogue.Fine{m12x60, aspected(false, 0.34, 0)}, 0},
		{"aspects closer than AspectGap: stays", aspected(false, 0.344, 0), []*catalogue.Fine{m12x60, aspected(false, 0.33, 0.33)}, 0},
		{"round parts: stays", aspected(true, 0.344, 0), []*catalogue.Fine{aspected(true, 0.32, 0.32), aspected(true, 0.34, 0.34)}, 0},
	} {
		if got := catalogue.AspectTwin(tc.query, tc.refs); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
