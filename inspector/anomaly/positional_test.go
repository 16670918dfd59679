package anomaly

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

// part renders a [3,s,s] tensor of a bright disc (radius 0.4 s) on a dark
// ground, with a bore and three holes at uneven angles (so its rotation is
// unique), centred at (cx, cy) (fractions of s), turned by angle.
func part(s int, cx, cy, angle float64) []float32 {
	holes := []float64{0.3, 2.1, 4.0}
	x := make([]float32, 3*s*s)
	for y := 0; y < s; y++ {
		for xx := 0; xx < s; xx++ {
			// 2×2 supersampling: edges as a camera sees them
			var v float32
			for _, o := range [][2]float64{{0.25, 0.25}, {0.75, 0.25}, {0.25, 0.75}, {0.75, 0.75}} {
				dx := (float64(xx)+o[0])/float64(s) - cx
				dy := (float64(y)+o[1])/float64(s) - cy
				r := math.Hypot(dx, dy)
				in := r < 0.4 && r > 0.08
				for _, h := range holes {
					a := h + angle
					if math.Hypot(dx-0.25*math.Cos(a), dy-0.25*math.Sin(a)) < 0.05 {
						in = false
					}
				}
				if in {
					v += 0.25 * 1.5
				} else {
					v += 0.25 * -1
				}
			}
			for c := 0; c < 3; c++ {
				x[c*s*s+y*s+xx] = v
			}
		}
	}
	return x
}

func angleDiff(a, b float64) float64 {
	d := math.Mod(a-b, 2*math.Pi)
	if d > math.Pi {
		d -= 2 * math.Pi
	}
	if d < -math.Pi {
		d += 2 * math.Pi
	}
	return math.Abs(d)
}

// The pose recovers a known rotation and shift of a constructed part.
func TestPoseRecoversRotation(t *testing.T) {
	const s = 112
	rng := rand.New(rand.NewPCG(3, 4))
	var greys [][]float32
	for i := 0; i < 5; i++ {
		cx, cy, a := 0.5, 0.5, 0.0
		if i > 0 {
			cx, cy, a = 0.5+0.06*(rng.Float64()-0.5), 0.5+0.06*(rng.Float64()-0.5), 2*math.Pi*rng.Float64()
		}
		g, err := Grey(part(s, cx, cy, a), s)
		if err != nil {
			t.Fatal(err)
		}
		greys = append(greys, g)
	}
	ref, err := NewPoseRef(greys)
	if err != nil {
		t.Fatal(err)
	}
	// The pose is relative to the reference; what the positional bank
	// needs is that a point of the part lands on one canonical point in
	// every image: the hole centres, mapped from each test image, must
	// meet where they meet from the unturned one.
	const side = 28
	canon := func(cx, cy, angle float64) [][2]float64 {
		g, err := Grey(part(s, cx, cy, angle), s)
		if err != nil {
			t.Fatal(err)
		}
		p := ref.Estimate(g)
		var out [][2]float64
		for _, h := range []float64{0.3, 2.1, 4.0} {
			px := (cx + 0.25*math.Cos(h+angle)) * side
			py := (cy + 0.25*math.Sin(h+angle)) * side
			qx, qy := p.Canonical(px, py, side)
			out = append(out, [2]float64{qx, qy})
		}
		return out
	}
	want := canon(0.5, 0.5, 0)
	for _, tc := range []struct {
		name          string
		cx, cy, angle float64
	}{
		{"turned 37°", 0.5, 0.5, 37 * math.Pi / 180},
		{"turned 200°, shifted", 0.54, 0.47, 200 * math.Pi / 180},
		{"turned 301°, shifted", 0.46, 0.53, 301 * math.Pi / 180},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, q := range canon(tc.cx, tc.cy, tc.angle) {
				// within half a cell of the 28-cell grid (4 px at 224)
				if d := math.Hypot(q[0]-want[i][0], q[1]-want[i][1]); d > 0.5 {
					t.Errorf("hole %d lands at (%.2f, %.2f), unturned at (%.2f, %.2f): %.2f cells apart", i, q[0], q[1], want[i][0], want[i][1], d)
				}
			}
		})
	}
	if _, err := NewPoseRef(nil); err == nil {
		t.Error("a pose reference from no images was accepted")
	}
	if _, err := Grey(make([]float32, 10), s); err == nil {
		t.Error("a grey image from a short tensor was accepted")
	}
}

// Canonical undoes the pose: the point at centre + Rot(angle)·u maps to
// middle + u.
func TestPoseCanonical(t *testing.T) {
	ps := Pose{CX: 0.55, CY: 0.45, Angle: 1.1}
	const side = 28
	ux, uy := 3.0, -5.0
	px := ps.CX*side + math.Cos(ps.Angle)*ux - math.Sin(ps.Angle)*uy
	py := ps.CY*side + math.Sin(ps.Angle)*ux + math.Cos(ps.Angle)*uy
	qx, qy := ps.Canonical(px, py, side)
	if math.Abs(qx-(side/2+ux)) > 1e-9 || math.Abs(qy-(side/2+uy)) > 1e-9 {
		t.Errorf("canonical (%.3f, %.3f), want (%.3f, %.3f)", qx, qy, side/2+ux, side/2+uy)
	}
}

// Distances against a brute force that maps each patch with its own
// rotation matrix and searches the cell's patches in float64.
func TestPosDistancesMatchBruteForce(t *testing.T) {
	const side, k = 6, 3
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]float32, side*side*k*Dim)
	for i := range data {
		data[i] = rng.Float32()
	}
	b, err := NewPosBank(data, side, k)
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, side*side*Dim)
	for i := range f {
		f[i] = rng.Float32()
	}
	b.Scale = make([]float32, side*side)
	for i := range b.Scale {
		b.Scale[i] = 0.5 + rng.Float32()
	}
	ps := Pose{CX: 0.52, CY: 0.47, Angle: 0.7}
	got := make([]float32, side*side)
	b.Distances(f, ps, got)
	for i := range got {
		px, py := float64(i%side)+0.5, float64(i/side)+0.5
		dx, dy := px-ps.CX*side, py-ps.CY*side
		// Rot(−angle)
		qx := side/2 + math.Cos(-ps.Angle)*dx - math.Sin(-ps.Angle)*dy
		qy := side/2 + math.Sin(-ps.Angle)*dx + math.Cos(-ps.Angle)*dy
		cx := min(max(int(math.Floor(qx)), 0), side-1)
		cy := min(max(int(math.Floor(qy)), 0), side-1)
		best := math.Inf(1)
		for j := 0; j < k; j++ {
			var s float64
			for d := 0; d < Dim; d++ {
				v := float64(f[i*Dim+d]) - float64(data[((cy*side+cx)*k+j)*Dim+d])
				s += v * v
			}
			best = min(best, math.Sqrt(s))
		}
		best /= float64(b.Scale[cy*side+cx])
		if math.Abs(float64(got[i])-best) > 1e-4*best+1e-5 {
			t.Fatalf("patch %d: %.6f, brute force %.6f", i, got[i], best)
		}
	}
	// A disc bank compares only the patches whose canonical place lies
	// inside the grid's inscribed circle; the others get 0.
	b.Disc = true
	disc := make([]float32, side*side)
	b.Distances(f, ps, disc)
	outside := 0
	for i := range disc {
		px, py := float64(i%side)+0.5, float64(i/side)+0.5
		dx, dy := px-ps.CX*side, py-ps.CY*side
		// the rotation keeps the distance from the centre
		in := math.Hypot(dx, dy) <= side/2
		switch {
		case in && disc[i] != got[i]:
			t.Errorf("disc bank, patch %d inside: %v, want %v", i, disc[i], got[i])
		case !in && disc[i] != 0:
			t.Errorf("disc bank, patch %d outside: %v, want 0", i, disc[i])
		case !in:
			outside++
		}
	}
	if outside == 0 {
		t.Error("no patch outside the disc: the check checked nothing")
	}
	if _, err := NewPosBank(data[:10], side, k); err == nil {
		t.Error("a positional bank of the wrong size was accepted")
	}
}

// A part with holes at four places, one of them missing: every patch of it
// has a twin in a position-free bank (plain metal is everywhere), but the
// positional bank sees the missing hole, and at its place.
func TestPositionalSeesWhatIsMissing(t *testing.T) {
	const side = 8
	holes := map[int]bool{2*side + 2: true, 2*side + 5: true, 5*side + 2: true, 5*side + 5: true}
	rng := rand.New(rand.NewPCG(7, 8))
	img := func(missing int) []float32 {
		f := make([]float32, side*side*Dim)
		for i := 0; i < side*side; i++ {
			for d := 0; d < Dim; d++ {
				f[i*Dim+d] = 0.05 * rng.Float32()
			}
			if holes[i] && i != missing {
				f[i*Dim] += 1 // a hole's edge
			}
		}
		return f
	}
	fit := NewPosFitter(side, 4, 0, 1, 2)
	var all []float32
	for i := 0; i < 6; i++ {
		f := img(-1)
		fit.Add(f, Pose{CX: 0.5, CY: 0.5})
		all = append(all, f...)
	}
	pb, err := fit.Bank()
	if err != nil {
		t.Fatal(err)
	}
	free, err := NewBank(all, Dim)
	if err != nil {
		t.Fatal(err)
	}
	test := img(5*side + 2)
	good := img(-1)
	dFree := make([]float32, side*side)
	free.Nearest(test, dFree, 1)
	dGoodFree := make([]float32, side*side)
	free.Nearest(good, dGoodFree, 1)
	dPos := make([]float32, side*side)
	pb.Distances(test, Pose{CX: 0.5, CY: 0.5}, dPos)
	dGoodPos := make([]float32, side*side)
	pb.Distances(good, Pose{CX: 0.5, CY: 0.5}, dGoodPos)
	if MaxScore(dFree) > 2*MaxScore(dGoodFree) {
		t.Fatalf("the position-free bank already sees it (%.3f against %.3f): the test proves nothing", MaxScore(dFree), MaxScore(dGoodFree))
	}
	if MaxScore(dPos) < 3*MaxScore(dGoodPos) {
		t.Errorf("positional distance %.3f, a good part's %.3f", MaxScore(dPos), MaxScore(dGoodPos))
	}
	hot := 0
	for i, v := range dPos {
		if v > dPos[hot] {
			hot = i
		}
	}
	if hot != 5*side+2 {
		t.Errorf("hottest patch %d, the hole is missing at %d", hot, 5*side+2)
	}
	if _, err := NewPosFitter(side, 4, 0, 1, 1).Bank(); err == nil {
		t.Error("a positional bank from no images was accepted")
	}
}

// The radial profile's lookup table (centres on pixel corners) gives what
// the distances themselves give.
func TestRadialTable(t *testing.T) {
	g, err := Grey(part(112, 0.52, 0.47, 1), 112)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]float64{{28, 28}, {24, 31}, {32, 25}} {
		fast := radial(g, c[0], c[1])
		slow := radial(g, c[0]+1e-9, c[1]+1e-9) // off the table
		for i := range fast {
			if math.Abs(float64(fast[i]-slow[i])) > 1e-5 {
				t.Fatalf("centre %v ring %d: table %v, distances %v", c, i, fast[i], slow[i])
			}
		}
	}
}

// The positional bank and the pose reference survive their files (half
// floats: within 0.2 %), and a file of the wrong shape is refused.
func TestPositionalRoundTrip(t *testing.T) {
	const side, k = 4, 2
	rng := rand.New(rand.NewPCG(9, 10))
	data := make([]float32, side*side*k*Dim)
	for i := range data {
		data[i] = rng.Float32()
	}
	b, _ := NewPosBank(data, side, k)
	b.Scale = b.CellScales(ScaleFloor)
	got, err := DecodePosBank(b.EncodeF16(), side, k)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range data {
		if math.Abs(float64(got.Data[i]-v)) > 2e-3*math.Abs(float64(v))+1e-4 {
			t.Fatalf("value %d: %v, was %v", i, got.Data[i], v)
		}
	}
	for i, v := range b.Scale {
		if math.Abs(float64(got.Scale[i]-v)) > 2e-3*float64(v) {
			t.Fatalf("scale %d: %v, was %v", i, got.Scale[i], v)
		}
	}
	if _, err := DecodePosBank(b.EncodeF16(), side, k+1); !errors.Is(err, ErrBank) {
		t.Errorf("wrong K: %v, want ErrBank", err)
	}
	var greys [][]float32
	for i := 0; i < 3; i++ {
		g, _ := Grey(part(112, 0.5, 0.5, float64(i)), 112)
		greys = append(greys, g)
	}
	ref, err := NewPoseRef(greys)
	if err != nil {
		t.Fatal(err)
	}
	ref2, err := DecodePoseRef(ref.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if p1, p2 := ref.Estimate(greys[1]), ref2.Estimate(greys[1]); angleDiff(p1.Angle, p2.Angle) > 0.02 || math.Abs(p1.CX-p2.CX) > 0.01 {
		t.Errorf("pose %+v from the reference, %+v from its file", p1, p2)
	}
	if _, err := DecodePoseRef(b.EncodeF16()); !errors.Is(err, ErrBank) {
		t.Errorf("a positional bank read as a pose reference: %v, want ErrBank", err)
	}
}

// The climb finds the peak of a smooth function over the grid from a
// corner, with the peak's four neighbours evaluated (the parabola needs
// them) and fewer evaluations than the whole grid.
func TestClimbFindsPeak(t *testing.T) {
	const w = 9
	for _, c := range []struct {
		name         string
		start, peakX int
		peakY        int
	}{
		{"from the middle", 4*w + 4, 6, 2},
		{"from a corner", 0, 7, 6},
		{"peak at the start", 3*w + 5, 5, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int32 // climb calls f on both cores
			v := climb(w, c.start, func(k int) float64 {
				calls.Add(1)
				dx, dy := float64(k%w-c.peakX), float64(k/w-c.peakY)
				return -(dx*dx + 2*dy*dy)
			})
			best := argmax(v)
			if best != c.peakY*w+c.peakX {
				t.Fatalf("best cell (%d,%d), want (%d,%d)", best%w, best/w, c.peakX, c.peakY)
			}
			for _, k := range []int{best - 1, best + 1, best - w, best + w} {
				if math.IsInf(v[k], -1) {
					t.Errorf("neighbour (%d,%d) of the peak not evaluated", k%w, k/w)
				}
			}
			if n := int(calls.Load()); n >= w*w {
				t.Errorf("%d evaluations, the whole grid has %d", n, w*w)
			}
		})
	}
}

// The block pooling of a 224 px input gives exactly what pooling each
// pixel into its nearest grey pixel gives.
func TestGreyBlocksMatchNearest(t *testing.T) {
	for _, s := range []int{56, 112, 224} {
		x := randPoints(uint64(s), 3*s, s)
		fast, slow := greyBlocks(x, s), greyNearest(x, s)
		for i := range fast {
			if fast[i] != slow[i] {
				t.Fatalf("%d px: grey pixel %d is %v, pooling each pixel gives %v", s, i, fast[i], slow[i])
			}
		}
	}
}

// failingSearcher is a search that fails, as ONNX Runtime's run can.
type failingSearcher struct{}

var errSearch = errors.New("search failed")

func (failingSearcher) Nearest(context.Context, []float32, []float32) error { return errSearch }

// Parts finds the pose and the positional distances while the bank
// search runs: what it returns is what the pose and distances give on
// their own, Locate's heatmap is theirs, and an error of the backbone,
// the search or the pose comes back once the positional part is done.
func TestPartsPositionalAlongsideSearch(t *testing.T) {
	const s = embed.Size
	var greys [][]float32
	for i := 0; i < 3; i++ {
		g, err := Grey(part(s, 0.5, 0.5, float64(i)), s)
		if err != nil {
			t.Fatal(err)
		}
		greys = append(greys, g)
	}
	ref, err := NewPoseRef(greys)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := NewPosBank(randPoints(11, Side*Side*4, Dim), Side, 4)
	if err != nil {
		t.Fatal(err)
	}
	bank, err := NewBank(randPoints(12, 50, Dim), Dim)
	if err != nil {
		t.Fatal(err)
	}
	norm := &Norm{PatchMean: 1, PatchSD: 1, PosMean: 1, PosSD: 0.5, PatchHot: 1, PosHot: 1}
	m, err := New(fakeRunner{}, bank, Params{Grid: 1, TopK: 3, Workers: 2, Norm: norm, ScoreOK: 0.5, ScoreNOK: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.Pos = &Positional{Ref: ref, Bank: pb, TopK: 3}
	x, f := part(s, 0.52, 0.49, 1.2), randPoints(13, Side*Side, Dim)

	p, err := m.Parts(context.Background(), x, f)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := Grey(x, s)
	want := make([]float32, Side*Side)
	pb.Distances(f, ref.Estimate(g), want)
	for i := range want {
		if p.PosD[i] != want[i] {
			t.Fatalf("positional distance %d is %v, on its own %v", i, p.PosD[i], want[i])
		}
	}
	if p.Pos != TopMean(want, 3) {
		t.Errorf("positional score %v, want %v", p.Pos, TopMean(want, 3))
	}

	// Locate gives the heatmap of the features scored by Parts
	prob, hm, err := m.Locate(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	xf, err := m.Features(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := m.Parts(context.Background(), x, xf)
	if err != nil {
		t.Fatal(err)
	}
	cells := m.P.Cells(pp)
	wantHM := m.P.Heatmap(cells, Side, m.P.CombineParts(pp))
	if hm.Score != wantHM.Score || !bytes.Equal(hm.Data, wantHM.Data) {
		t.Fatalf("heatmap of score %v, the parts one after the other give %v (or other cells)", hm.Score, wantHM.Score)
	}
	if want := m.P.Probabilities(m.P.CombineParts(pp)); prob[1] != want[1] {
		t.Errorf("P(anomaly) %v, want %v", prob[1], want[1])
	}

	tests := []struct {
		name   string
		runner embed.Runner
		search Searcher
		x      []float32
		want   error
	}{
		{"search fails", fakeRunner{}, failingSearcher{}, x, errSearch},
		{"backbone fails", failingRunner{}, GoSearcher{Bank: bank, Workers: 2}, x, errBackbone},
		{"input of the wrong size", fakeRunner{}, GoSearcher{Bank: bank, Workers: 2}, x[:len(x)-1], nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.Search, m.r = tc.search, tc.runner
			if _, err := m.Parts(context.Background(), tc.x, f); tc.runner == (fakeRunner{}) && (err == nil || (tc.want != nil && !errors.Is(err, tc.want))) {
				t.Fatalf("Parts: error %v, want %v", err, tc.want)
			}
			if _, _, err := m.Locate(context.Background(), tc.x); err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Locate: error %v, want %v", err, tc.want)
			}
		})
	}
}

// failingRunner is a backbone that fails, as ONNX Runtime's run can.
type failingRunner struct{}

var errBackbone = errors.New("backbone failed")

func (failingRunner) Run(context.Context, []float32, int, embed.Features) (embed.Batch, error) {
	return embed.Batch{}, errBackbone
}

// Bilinear sampling inside the image, without clamps, gives what the
// clamped sampling gives; near and beyond the edges it clamps.
func TestBilinearInsideMatchesClamped(t *testing.T) {
	const n = GreySide
	img := randPoints(21, n, n)
	clamped := func(x, y float64) float32 {
		x, y = x-0.5, y-0.5
		x0, y0 := math.Floor(x), math.Floor(y)
		fx, fy := float32(x-x0), float32(y-y0)
		at := func(xi, yi int) float32 { return img[min(max(yi, 0), n-1)*n+min(max(xi, 0), n-1)] }
		xi, yi := int(x0), int(y0)
		return (1-fy)*((1-fx)*at(xi, yi)+fx*at(xi+1, yi)) + fy*((1-fx)*at(xi, yi+1)+fx*at(xi+1, yi+1))
	}
	rng := rand.New(rand.NewPCG(22, 1))
	for k := 0; k < 20000; k++ {
		x, y := rng.Float64()*(n+4)-2, rng.Float64()*(n+4)-2
		if got, want := bilinear(img, n, x, y), clamped(x, y); got != want {
			t.Fatalf("at (%v, %v): %v, clamped %v", x, y, got, want)
		}
	}
}

// The correlation at every angle through the spectra is the direct sum of
// products at each shift.
func TestCorrelateAllMatchesDirect(t *testing.T) {
	const s = 224
	g0, _ := Grey(part(s, 0.5, 0.5, 0), s)
	ref, err := NewPoseRef([][]float32{g0})
	if err != nil {
		t.Fatal(err)
	}
	for _, angle := range []float64{0, 0.7, 2.5} {
		g, _ := Grey(part(s, 0.52, 0.49, angle), s)
		p := polar(g, GreySide/2, GreySide/2)
		got, want := ref.correlateAll(p), ref.correlate(p, 0, PoseAngles)
		var scale float64
		for _, w := range want {
			scale = max(scale, math.Abs(w))
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-5*scale {
				t.Fatalf("angle %.1f, shift %d: %g through the spectra, %g directly", angle, i, got[i], want[i])
			}
		}
		if argmax(got) != argmax(want) {
			t.Errorf("angle %.1f: best shift %d through the spectra, %d directly", angle, argmax(got), argmax(want))
		}
	}
}
