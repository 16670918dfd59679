package anomaly

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// unit returns a Dim-vector with v at index i.
func unit(i int, v float32) []float32 {
	x := make([]float32, Dim)
	x[i] = v
	return x
}

func TestDescriptorShares(t *testing.T) {
	words, err := NewBank(append(append(unit(0, 10), unit(1, 10)...), unit(2, 10)...), Dim)
	if err != nil {
		t.Fatal(err)
	}
	var f []float32
	for _, w := range []struct{ word, n int }{{0, 5}, {1, 3}, {2, 2}} {
		for range w.n {
			p := unit(w.word, 9) // nearest to its word, not equal
			p[5] = 0.5
			f = append(f, p...)
		}
	}
	got := Descriptor(f, words)
	for i, share := range []float64{0.5, 0.3, 0.2} {
		if want := math.Sqrt(share); math.Abs(float64(got[i])-want) > 1e-6 {
			t.Errorf("word %d: %v, want sqrt(%v) = %v", i, got[i], share, want)
		}
	}
}

// Distance is the mean distance to the K nearest scaled training
// descriptors, computed here the slow way.
func TestGlobalDistanceMatchesBruteForce(t *testing.T) {
	const w, n = 4, 30
	words, _ := NewBank(randPoints(3, w, Dim), Dim)
	r := rand.New(rand.NewPCG(5, 6))
	descs := make([][]float32, n)
	for i := range descs {
		f := randPoints(uint64(100+i), 50, Dim)
		descs[i] = Descriptor(f, words)
	}
	g, err := NewGlobal(words, descs, 3)
	if err != nil {
		t.Fatal(err)
	}
	q := randPoints(uint64(r.IntN(1000)+1000), 50, Dim)
	qd := Descriptor(q, words)
	sd := make([]float64, w)
	for j := range sd {
		var m, s float64
		for _, d := range descs {
			m += float64(d[j])
		}
		m /= n
		for _, d := range descs {
			s += (float64(d[j]) - m) * (float64(d[j]) - m)
		}
		sd[j] = math.Sqrt(s/n) + 1e-3
	}
	var ds []float64
	for _, d := range descs {
		var s float64
		for j := range d {
			v := (float64(qd[j]) - float64(d[j])) / sd[j]
			s += v * v
		}
		ds = append(ds, math.Sqrt(s))
	}
	sort.Float64s(ds)
	want := (ds[0] + ds[1] + ds[2]) / 3
	if got := float64(g.Distance(q)); math.Abs(got-want) > 1e-4*want {
		t.Errorf("Distance %v, brute force %v", got, want)
	}
	if _, err := NewGlobal(words, nil, 3); err == nil {
		t.Error("no descriptors accepted")
	}
	if _, err := NewGlobal(words, [][]float32{{1, 2}}, 3); err == nil {
		t.Error("descriptor of the wrong length accepted")
	}
}

// A part with one of its four holes missing: every patch has a twin in the
// bank, so the patch score cannot tell, but the share of hole patches
// drops and the global distance sees it.
func TestGlobalSeesWhatIsMissing(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	patch := func(kind int) []float32 {
		p := unit(kind, 10)
		for j := range p {
			p[j] += float32(0.3 * r.NormFloat64())
		}
		return p
	}
	// 100 patches: 60 plate, 40 hole (four holes of 10 patches) ± 4.
	image := func(holes int) []float32 {
		var f []float32
		nh := holes*10 + r.IntN(9) - 4
		for i := range 100 {
			kind := 0
			if i < nh {
				kind = 1
			}
			f = append(f, patch(kind)...)
		}
		return f
	}
	var train [][]float32
	var all []float32
	for range 12 {
		f := image(4)
		train = append(train, f)
		all = append(all, f...)
	}
	bank, _ := NewBank(all, Dim)
	words, _ := NewBank(append(unit(0, 10), unit(1, 10)...), Dim)
	var descs [][]float32
	for _, f := range train {
		descs = append(descs, Descriptor(f, words))
	}
	g, err := NewGlobal(words, descs, 3)
	if err != nil {
		t.Fatal(err)
	}
	var goodPatch, goodGlobal []float32
	for range 20 {
		f := image(4)
		d := make([]float32, 100)
		bank.Nearest(f, d, 1)
		goodPatch = append(goodPatch, MaxScore(d))
		goodGlobal = append(goodGlobal, g.Distance(f))
	}
	missing := image(3)
	d := make([]float32, 100)
	bank.Nearest(missing, d, 1)
	pq, gq := Quantile(goodPatch, 1), Quantile(goodGlobal, 1)
	if gq <= 0 {
		t.Fatalf("good images' global distances all 0: %v", goodGlobal)
	}
	if MaxScore(d) > pq*1.2 {
		t.Fatalf("the patch score already sees the missing hole (%v, good up to %v): the case tests nothing", MaxScore(d), pq)
	}
	if gd := g.Distance(missing); gd < 1.5*gq {
		t.Errorf("missing hole: global distance %v, good images up to %v", gd, gq)
	}
	p := Params{PatchRef: pq, GlobalRef: gq}
	if c, want := p.Combine(MaxScore(d), g.Distance(missing)), MaxScore(d)/pq+g.Distance(missing)/gq; c != want {
		t.Errorf("Combine %v, want %v", c, want)
	}
	if c := (Params{}).Combine(3, 100); c != 3 {
		t.Errorf("Combine without references: %v, want the patch score 3", c)
	}
}

func TestTopMean(t *testing.T) {
	d := []float32{1, 9, 3, 7, 5}
	for _, c := range []struct {
		k    int
		want float32
	}{{0, 9}, {1, 9}, {2, 8}, {3, 7}, {5, 5}, {50, 5}} {
		if got := TopMean(d, c.k); got != c.want {
			t.Errorf("top %d: %v, want %v", c.k, got, c.want)
		}
	}
	if d[0] != 1 || d[1] != 9 {
		t.Errorf("TopMean reordered its input: %v", d)
	}
	if TopMean(nil, 3) != 0 {
		t.Error("no distances: want 0")
	}
}

func TestPatchScoreMedianOffset(t *testing.T) {
	d := []float32{1, 9, 3, 7, 5, 2, 4} // median 4
	for _, c := range []struct {
		name string
		p    Params
		want float32
	}{
		{"largest", Params{}, 9},
		{"top 2", Params{TopK: 2}, 8},
		{"top 2 less half the median", Params{TopK: 2, MedianOffset: 0.5}, 8 - 2},
		{"largest less the median", Params{MedianOffset: 1}, 9 - 4},
	} {
		if got := c.p.PatchScore(d); math.Abs(float64(got-c.want)) > 1e-6 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The standardised sum and the z thresholds against sums worked out by
// hand.
func TestNormAndThresholdZ(t *testing.T) {
	n := &Norm{PatchMean: 2, PatchSD: 0.5, GlobalMean: 10, GlobalSD: 4, PosMean: 1, PosSD: 0.25}
	if got, want := n.Sum(3, 6, 1.5), float32((3-2)/0.5+(6-10)/4.0+(1.5-1)/0.25); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("sum %v, want %v", got, want)
	}
	// a part with SD 0 is not in the model
	if got := (&Norm{PatchMean: 2, PatchSD: 0.5}).Sum(3, 100, 100); got != 2 {
		t.Errorf("patch alone: %v, want 2", got)
	}
	v := []float32{1, 2, 3, 4, 5} // mean 3, sample SD √2.5
	th, err := ChooseThresholdZ(v, 2.33, 3.09)
	if err != nil {
		t.Fatal(err)
	}
	sd := math.Sqrt(2.5)
	if math.Abs(float64(th.ScoreOK)-(3+2.33*sd)) > 1e-5 || math.Abs(float64(th.ScoreNOK)-(3+3.09*sd)) > 1e-5 || th.N != 5 {
		t.Errorf("thresholds %+v, want OK %.4f NOK %.4f", th, 3+2.33*sd, 3+3.09*sd)
	}
	if _, err := ChooseThresholdZ(v[:1], 2.33, 3.09); !errors.Is(err, ErrNoImages) {
		t.Errorf("one held-out image: %v, want ErrNoImages", err)
	}
	// the default budget of 1 % is the normal's 99 % and 99.9 % points; a
	// larger one lowers both thresholds
	for _, c := range []struct{ fa, ok, nok float64 }{{0.01, 2.326, 3.090}, {0.05, 1.645, 2.576}, {0.1, 1.282, 2.326}} {
		zOK, zNOK := ZForFalseAlarms(c.fa)
		if math.Abs(zOK-c.ok) > 1e-3 || math.Abs(zNOK-c.nok) > 1e-3 {
			t.Errorf("ZForFalseAlarms(%g) = %.4f, %.4f, want %.3f, %.3f", c.fa, zOK, zNOK, c.ok, c.nok)
		}
	}
	cells := (&Norm{PatchHot: 2, PosHot: 4}).Cells([]float32{1, 0.5}, []float32{1, 3})
	if cells[0] != 1 || cells[1] != 1.5 {
		t.Errorf("cells %v, want [1 1.5] (the larger of d and pos × 2/4)", cells)
	}
	// With the SDs of the largest distances, a positional distance far
	// above its usual largest outshines a patch distance that is large
	// only where patch distances vary a lot; the older rule ranks them
	// the other way round.
	d, pos := []float32{3, 1}, []float32{1, 5}
	old := (&Norm{PatchHot: 2, PosHot: 4}).Cells(d, pos) // [3, 2.5]
	z := (&Norm{PatchHot: 2, PosHot: 4, PatchHotSD: 1, PosHotSD: 0.25}).Cells(d, pos)
	if !(old[0] > old[1]) {
		t.Errorf("older rule %v: want the patch cell hotter", old)
	}
	// cell 0: z = max((3−2)/1, (1−4)/0.25) = 1 → 2 + 1·1; cell 1: z = max(−1, 4) → 2 + 4·1
	if math.Abs(float64(z[0]-3)) > 1e-6 || math.Abs(float64(z[1]-6)) > 1e-6 {
		t.Errorf("cells in SDs %v, want [3 6]", z)
	}
}

// Cards of earlier versions (a global part with quantile references, no
// Norm) score as they did; a Norm takes over where it is set.
func TestCombinePartsKeepsOlderCards(t *testing.T) {
	pp := Parts{Patch: 3, Global: 10, Pos: 2}
	for _, c := range []struct {
		name string
		p    Params
		want float32
	}{
		{"patch alone", Params{}, 3},
		{"global with quantile references", Params{PatchRef: 2, GlobalRef: 5}, 3.0/2 + 10.0/5},
		{"standardised", Params{PatchRef: 2, GlobalRef: 5, Norm: &Norm{PatchMean: 1, PatchSD: 2, GlobalMean: 8, GlobalSD: 1, PosMean: 1, PosSD: 0.5}},
			(3-1)/2.0 + (10-8)/1.0 + (2-1)/0.5},
	} {
		if got := c.p.CombineParts(pp); math.Abs(float64(got-c.want)) > 1e-6 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// plainSearcher hides a searcher's word search.
type plainSearcher struct{ s Searcher }

func (p plainSearcher) Nearest(ctx context.Context, q, dst []float32) error {
	return p.s.Nearest(ctx, q, dst)
}

// The words found in the bank search (a WordSearcher) are each patch's
// nearest word by brute force, and the model's parts are those of a
// separate word search.
func TestWordSearchMatchesSeparateSearch(t *testing.T) {
	const w = 8
	bank, _ := NewBank(randPoints(11, 40, Dim), Dim)
	words, _ := NewBank(bank.Data[:w*Dim], Dim)
	var descs [][]float32
	for i := 0; i < 10; i++ {
		descs = append(descs, Descriptor(randPoints(uint64(200+i), 60, Dim), words))
	}
	g, err := NewGlobal(words, descs, 3)
	if err != nil {
		t.Fatal(err)
	}
	f := randPoints(77, 60, Dim)
	gs := GoSearcher{Bank: bank, Workers: 2}
	nearest := make([]int32, 60)
	if err := gs.NearestWords(context.Background(), f, make([]float32, 60), nearest, w); err != nil {
		t.Fatal(err)
	}
	for i, got := range nearest {
		best, bi := float32(math.Inf(1)), -1
		for j := 0; j < w; j++ {
			if d := sqDist(f[i*Dim:(i+1)*Dim], words.Data[j*Dim:(j+1)*Dim]); d < best {
				best, bi = d, j
			}
		}
		if int(got) != bi {
			t.Fatalf("patch %d: word %d, brute force %d", i, got, bi)
		}
	}
	p := Params{Grid: 1, Sigma: 1}
	withWords := &Model{P: p, Bank: bank, Search: gs, Global: g}
	separate := &Model{P: p, Bank: bank, Search: plainSearcher{gs}, Global: g}
	a, err := withWords.Parts(context.Background(), nil, f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := separate.Parts(context.Background(), nil, f)
	if err != nil {
		t.Fatal(err)
	}
	if a.Global != b.Global || a.Patch != b.Patch || a.Global == 0 {
		t.Errorf("parts with the word search %+v, separate %+v", a, b)
	}
	for _, bad := range []int{0, 41} {
		if err := gs.NearestWords(context.Background(), f, make([]float32, 60), nearest, bad); !errors.Is(err, ErrBank) {
			t.Errorf("%d words: %v, want ErrBank", bad, err)
		}
	}
}
