package anomaly

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

func randPoints(seed uint64, n, dim int) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestCoresetDeterministic(t *testing.T) {
	const n, dim, k = 600, Dim, 40
	x := randPoints(1, n, dim)
	a := Coreset(x, n, dim, k, 16, 7, 1)
	b := Coreset(x, n, dim, k, 16, 7, 3)
	c := Coreset(x, n, dim, k, 16, 8, 2)
	if len(a) != k {
		t.Fatalf("chose %d, want %d", len(a), k)
	}
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different workers: %v vs %v", a[:5], b[:5])
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 chose the same points")
	}
	seen := map[int]bool{}
	for _, i := range a {
		if seen[i] || i < 0 || i >= n {
			t.Fatalf("index %d repeated or out of range", i)
		}
		seen[i] = true
	}
}

// coverRadius is the largest distance from any point to its nearest chosen one.
func coverRadius(x []float32, n, dim int, idx []int) float64 {
	var worst float64
	for i := 0; i < n; i++ {
		best := math.Inf(1)
		for _, j := range idx {
			best = math.Min(best, float64(sqDist(x[i*dim:(i+1)*dim], x[j*dim:(j+1)*dim])))
		}
		worst = math.Max(worst, best)
	}
	return math.Sqrt(worst)
}

// The greedy coreset covers the data better than a random subset of the
// same size: an outlying cluster of good patches is kept.
func TestCoresetCoversOutliers(t *testing.T) {
	const n, dim, k = 500, 8, 20
	x := randPoints(2, n, dim)
	for i := n - 5; i < n; i++ { // a small far-away cluster
		for c := 0; c < dim; c++ {
			x[i*dim+c] += 20
		}
	}
	greedy := Coreset(x, n, dim, k, 0, 1, 2)
	r := rand.New(rand.NewPCG(3, 3))
	random := r.Perm(n)[:k]
	g, rr := coverRadius(x, n, dim, greedy), coverRadius(x, n, dim, random)
	if g >= rr || g > 10 {
		t.Errorf("greedy cover radius %.2f, random %.2f; want greedy smaller and the far cluster covered", g, rr)
	}
}

func TestNearestMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		m, q    int
		workers int
	}{{"one worker", 50, 37, 1}, {"workers", 131, 203, 4}, {"fewer queries than unroll", 9, 3, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			bank := randPoints(4, tc.m, Dim)
			q := randPoints(5, tc.q, Dim)
			b, err := NewBank(bank, Dim)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, tc.q)
			b.Nearest(q, got, tc.workers)
			for i := 0; i < tc.q; i++ {
				want := math.Inf(1)
				for j := 0; j < tc.m; j++ {
					var s float64
					for c := 0; c < Dim; c++ {
						d := float64(q[i*Dim+c]) - float64(bank[j*Dim+c])
						s += d * d
					}
					want = math.Min(want, math.Sqrt(s))
				}
				// The expanded form loses a little precision in float32.
				if math.Abs(float64(got[i])-want) > 1e-3*want+1e-3 {
					t.Fatalf("patch %d: %v, brute force %v", i, got[i], want)
				}
			}
		})
	}
	// A patch that is in the bank is at distance ~0.
	bank := randPoints(6, 10, Dim)
	b, _ := NewBank(bank, Dim)
	d := make([]float32, 1)
	b.Nearest(bank[3*Dim:4*Dim], d, 1)
	if d[0] > 0.05 {
		t.Errorf("distance of a bank patch to the bank: %v", d[0])
	}
}

func TestBankRoundTrip(t *testing.T) {
	data := randPoints(7, 30, Dim)
	b, _ := NewBank(data, Dim)
	got, err := DecodeBank(b.EncodeF16())
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 30 || got.Dim != Dim {
		t.Fatalf("%d×%d", got.Len(), got.Dim)
	}
	for i, v := range data {
		if d := math.Abs(float64(got.Data[i] - v)); d > 2e-3*math.Abs(float64(v))+1e-7 {
			t.Fatalf("value %d: %v → %v", i, v, got.Data[i])
		}
	}
	for _, v := range []float32{0, -0, 1, -2.5, 65504, 1e-5, 6e-8, float32(math.Inf(1))} {
		if r := f16ToF32(f32ToF16(v)); math.Abs(float64(r-v)) > 1e-3*math.Abs(float64(v))+6e-8 && !math.IsInf(float64(v), 0) {
			t.Errorf("%v → %v", v, r)
		}
	}
	for name, bad := range map[string][]byte{
		"empty": nil, "not a bank": []byte("this is not a bank file at all"),
		"truncated": b.EncodeF16()[:100],
	} {
		if _, err := DecodeBank(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestFitterTwoStage(t *testing.T) {
	f := NewFitter(FitOptions{Ratio: 0.05, ImageKeep: 0.2, Seed: 1, Proj: 16})
	for i := 0; i < 6; i++ {
		f.Add(randPoints(uint64(10+i), 150, Dim))
	}
	b, st, err := f.Bank()
	if err != nil {
		t.Fatal(err)
	}
	if st.Patches != 900 || st.Bank != 45 || b.Len() != 45 || st.Pool != 180 {
		t.Errorf("stats %+v", st)
	}
	if _, _, err := NewFitter(FitOptions{}).Bank(); err == nil {
		t.Error("empty fitter gave a bank")
	}
}

func TestAUROCAndQuantile(t *testing.T) {
	for _, tc := range []struct {
		name      string
		good, bad []float32
		want      float64
	}{
		{"separated", []float32{1, 2, 3}, []float32{4, 5}, 1},
		{"reversed", []float32{4, 5}, []float32{1, 2, 3}, 0},
		{"ties", []float32{1, 1}, []float32{1, 1}, 0.5},
		{"mixed", []float32{1, 3}, []float32{2, 4}, 0.75},
	} {
		if got := AUROC(tc.good, tc.bad); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if q := Quantile([]float32{4, 1, 3, 2, 5}, 0.5); q != 3 {
		t.Errorf("median %v", q)
	}
	th, err := ChooseThreshold([]float32{1, 2, 3, 4, 5}, 1, 0.1)
	if err != nil || th.ScoreOK != 5 || math.Abs(float64(th.ScoreNOK)-5.5) > 1e-6 {
		t.Errorf("%+v %v", th, err)
	}
	if _, err := ChooseThreshold(nil, 0.99, 0); err == nil {
		t.Error("no scores, no error")
	}
	p := Params{ScoreOK: 2, ScoreNOK: 4}
	if ok := p.Probabilities(2)[0]; math.Abs(float64(ok)-AcceptP) > 1e-5 {
		t.Errorf("P(OK) at ScoreOK %v", ok)
	}
	if ok := p.Probabilities(4)[0]; math.Abs(float64(ok)-RejectP) > 1e-5 {
		t.Errorf("P(OK) at ScoreNOK %v", ok)
	}
}

// fakeRunner returns feature maps that are zero except for a bright spot
// in the tile and cell where the input tensor has its largest value.
type fakeRunner struct{}

func (fakeRunner) Run(_ context.Context, x []float32, n int, want embed.Features) (embed.Batch, error) {
	b := embed.Batch{N: n, Embedding: make([]float32, n*embed.Dim), S8: make([]float32, n*embed.S8Len), S16: make([]float32, n*embed.S16Len)}
	tl := 3 * embed.Size * embed.Size
	for t := 0; t < n; t++ {
		for i, v := range x[t*tl : t*tl+embed.Size*embed.Size] {
			if v > 0.5 {
				y, xx := i/embed.Size/8, i%embed.Size/8
				for c := 0; c < 32; c++ {
					b.S8[t*embed.S8Len+c*Patches+y*Side+xx] = 5
				}
			}
		}
	}
	return b, nil
}

func TestLocateFindsTheSpot(t *testing.T) {
	const g = 2
	bank, _ := NewBank(make([]float32, 4*Dim), Dim) // good = all zero
	m, err := New(fakeRunner{}, bank, Params{Grid: g, ScoreOK: 0.5, ScoreNOK: 1})
	if err != nil {
		t.Fatal(err)
	}
	side := embed.Size * g
	x := make([]float32, m.InputLen())
	// A defect in the bottom-right tile, at input pixel (300, 350).
	for y := 348; y < 352; y++ {
		for xx := 298; xx < 302; xx++ {
			x[y*side+xx] = 1
		}
	}
	p, hm, err := m.Locate(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if p[0] > RejectP {
		t.Errorf("P(OK) %v for a defect", p[0])
	}
	cx, cy := 300/8, 350/8
	if hm.W != Side*g || !(hm.Hot.X <= cx && cx < hm.Hot.X+hm.Hot.W && hm.Hot.Y <= cy && cy < hm.Hot.Y+hm.Hot.H) {
		t.Errorf("hot region %+v does not hold cell (%d,%d)", hm.Hot, cx, cy)
	}
	clean := make([]float32, m.InputLen())
	p, hm, _ = m.Locate(context.Background(), clean)
	if p[0] < AcceptP || hm.Score != 0 {
		t.Errorf("clean input: P(OK) %v score %v", p[0], hm.Score)
	}
	if _, _, err := m.Locate(context.Background(), x[:10]); err == nil {
		t.Error("short input accepted")
	}
}

func TestHottestRegion(t *testing.T) {
	d := make([]byte, 25)
	d[2*5+3], d[2*5+4], d[3*5+3] = 200, 150, 120
	d[0] = 110 // hot enough but not connected
	d[4] = 90  // connected to nothing, below halfway from the median (0)
	if r := inspector.HottestRegion(d, 5, 5); r != (inspector.Rect{X: 3, Y: 2, W: 2, H: 2}) {
		t.Errorf("%+v", r)
	}
	if r := inspector.HottestRegion(make([]byte, 4), 2, 2); !r.Empty() {
		t.Errorf("all zero: %+v", r)
	}
}

// The station's worker and an upload may score at once (run with -race).
func TestLocateConcurrent(t *testing.T) {
	bank, _ := NewBank(make([]float32, 4*Dim), Dim)
	m, err := New(fakeRunner{}, bank, Params{Grid: 1, ScoreOK: 0.5, ScoreNOK: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	for g := 0; g < 2; g++ {
		go func() {
			x := make([]float32, m.InputLen())
			for i := 0; i < 3; i++ {
				if _, _, err := m.Locate(context.Background(), x); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 2; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// Widen averages each patch over its 3×3 neighbours inside its own tile:
// a level stays a level, a spike spreads to its neighbours only, and no
// tile sees its neighbour tile.
func TestWiden(t *testing.T) {
	const g = 2
	side := Side * g
	f := make([]float32, side*side*Dim)
	for i := range f {
		f[i] = 2
	}
	// a spike at the last column of the left tiles' first row of patches
	sx, sy := Side-1, 5
	for c := 0; c < Dim; c++ {
		f[(sy*side+sx)*Dim+c] = 2 + 9
	}
	w := Widen(f, g)
	at := func(x, y int) float32 { return w[(y*side+x)*Dim+Dim/2] }
	for _, c := range []struct {
		name string
		x, y int
		want float32
	}{
		{"far away: the level", 10, 20, 2},
		{"the spike, inside a 2×3 neighbourhood at the tile's edge", sx, sy, 2 + 9.0/6},
		{"left of the spike", sx - 1, sy, 2 + 9.0/9},
		{"below the spike, at the edge", sx, sy + 1, 2 + 9.0/6},
		{"right of the spike: the next tile", sx + 1, sy, 2},
	} {
		if got := at(c.x, c.y); math.Abs(float64(got-c.want)) > 1e-5 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// a wide model's features are the narrow ones widened
	bank, _ := NewBank(make([]float32, 4*Dim), Dim)
	narrow, _ := New(fakeRunner{}, bank, Params{Grid: 1})
	wide, err := New(fakeRunner{}, bank, Params{Grid: 1, Neighbourhood: Wide})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, narrow.InputLen())
	x[100*embed.Size+100] = 1
	fn, _ := narrow.Features(context.Background(), x)
	fw, _ := wide.Features(context.Background(), x)
	if want := Widen(fn, 1); !slices.Equal(fw, want) || slices.Equal(fw, fn) {
		t.Error("a wide model's features are not the narrow ones widened")
	}
	for _, n := range []int{1, 4, 11} {
		if _, err := New(nil, &Bank{Dim: Dim}, Params{Grid: 1, Neighbourhood: n}); err == nil {
			t.Errorf("a model with a neighbourhood of %d: no error", n)
		}
	}
	// 7 is 3×3 widened twice
	if w7 := Neighbourhood(fn, 1, 7); !slices.Equal(w7, Widen(Widen(fn, 1), 1)) {
		t.Error("a neighbourhood of 7 is not the 3×3 features widened twice")
	}
}
