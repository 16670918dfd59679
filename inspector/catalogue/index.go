package catalogue

import (
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// Index is an in-memory exact search over unit-length vectors, one per
// reference photo, with each part's score the best of its photos (max
// aggregation: one photo from the customer's angle is enough, while a mean
// would punish parts photographed from many angles).
//
// Vectors are kept as int16 with one scale per vector: 50,000 vectors of
// 1,280 values take 128 MB instead of 256 MB, and the scan reads half the
// memory. The query stays float32. int8 would halve that again, but its
// rounding (about 0.003 on a score) reorders near-tied parts: recall@5
// against exact search fell to 0.94 in the benchmark; int16's error is
// about 1e-5.
//
// An index built with a Builder Tail keeps each photo's Shape (a few
// float32) beside its scanned vector and lowers every cosine by
// ShapeDistance before the parts are ranked (see Scores).
//
// An Index is immutable once built; Search is safe for concurrent use.
type Index struct {
	dim    int // scanned values per vector
	tail   int // values after them, compared by ShapeDistance
	tails  []float32
	q      []int16   // n×dim
	scale  []float32 // per vector
	owner  []int32   // part index per vector
	photos []string  // photo id per vector
	parts  []string  // part numbers
	mean   []float32 // subtracted from every vector; nil: none
	partIx map[string]int32
	// Workers is the number of goroutines a search splits the scan over.
	Workers int
}

// Builder collects vectors for an Index.
type Builder struct {
	ix     Index
	raw    []float32
	partIx map[string]int32
	// Center subtracts the mean reference vector from every vector (and
	// from queries) before normalising ("CL2N" in few-shot learning): what
	// all photos share, the table and the light, then no longer counts as
	// similarity. Default true.
	Center bool
	// Tail is how many of each vector's last values are a Shape (ShapeLen
	// or 0): they are kept out of the scan, and every photo's cosine is
	// lowered by ShapeDistance to the query's shape. Default 0.
	Tail int
}

// NewBuilder starts an index of dim-dimensional vectors (Tail included).
func NewBuilder(dim int) *Builder {
	return &Builder{ix: Index{dim: dim}, partIx: map[string]int32{}, Center: true}
}

// Add adds one reference photo's vector. Vectors of another length are
// ignored and reported false.
func (b *Builder) Add(part, photo string, v []float32) bool {
	if len(v) != b.ix.dim {
		return false
	}
	pi, ok := b.partIx[part]
	if !ok {
		pi = int32(len(b.ix.parts))
		b.partIx[part] = pi
		b.ix.parts = append(b.ix.parts, part)
	}
	b.raw = append(b.raw, v...)
	b.ix.owner = append(b.ix.owner, pi)
	b.ix.photos = append(b.ix.photos, photo)
	return true
}

// Build returns the index; the builder must not be used afterwards.
func (b *Builder) Build() *Index {
	ix := b.ix
	if b.Tail > 0 && b.Tail < ix.dim {
		full := ix.dim
		ix.tail, ix.dim = b.Tail, full-b.Tail
		scan := make([]float32, 0, len(ix.owner)*ix.dim)
		for i := range ix.owner {
			v := b.raw[i*full : (i+1)*full]
			scan = append(scan, v[:ix.dim]...)
			ix.tails = append(ix.tails, v[ix.dim:]...)
		}
		b.raw = scan
	}
	ix.Workers = min(runtime.GOMAXPROCS(0), 2)
	ix.partIx = b.partIx
	n := len(ix.owner)
	if b.Center && n > 1 {
		ix.mean = make([]float32, ix.dim)
		for i := range n {
			for j, x := range b.raw[i*ix.dim : (i+1)*ix.dim] {
				ix.mean[j] += x
			}
		}
		for j := range ix.mean {
			ix.mean[j] /= float32(n)
		}
	}
	ix.q = make([]int16, n*ix.dim)
	ix.scale = make([]float32, n)
	for i := range n {
		ix.scale[i] = ix.quantize(b.raw[i*ix.dim:(i+1)*ix.dim], ix.q[i*ix.dim:(i+1)*ix.dim])
	}
	b.raw = nil
	return &ix
}

// quantize writes v, prepared, into q and returns its scale.
func (ix *Index) quantize(v []float32, q []int16) float32 {
	v = ix.prepare(v)
	var mx float32
	for _, x := range v {
		mx = max(mx, float32(math.Abs(float64(x))))
	}
	s := mx / 32767
	inv := float32(0)
	if s > 0 {
		inv = 1 / s
	}
	for j, x := range v {
		q[j] = int16(math.Round(float64(x * inv)))
	}
	return s
}

// Extend returns a new index with more photos of a part, keeping ix's
// centre (a full rebuild recomputes it); ix itself is unchanged, so
// searches running on it are not disturbed. Vectors of another length are
// skipped. It copies the index: linear in its size, but without the
// store scan and the embedding a rebuild needs.
func (ix *Index) Extend(part string, photos []string, vecs [][]float32) *Index {
	nx := *ix
	nx.q = slices.Grow(slices.Clip(ix.q), len(vecs)*ix.dim)
	nx.scale = slices.Clip(ix.scale)
	nx.owner = slices.Clip(ix.owner)
	nx.photos = slices.Clip(ix.photos)
	nx.tails = slices.Clip(ix.tails)
	nx.parts = slices.Clip(ix.parts)
	nx.partIx = make(map[string]int32, len(ix.partIx)+1)
	for k, v := range ix.partIx {
		nx.partIx[k] = v
	}
	pi, ok := nx.partIx[part]
	if !ok {
		pi = int32(len(nx.parts))
		nx.partIx[part] = pi
		nx.parts = append(nx.parts, part)
	}
	for i, v := range vecs {
		if len(v) != ix.dim+ix.tail {
			continue
		}
		at := len(nx.q)
		nx.q = append(nx.q, make([]int16, ix.dim)...)
		nx.scale = append(nx.scale, nx.quantize(v[:ix.dim], nx.q[at:]))
		nx.tails = append(nx.tails, v[ix.dim:]...)
		nx.owner = append(nx.owner, pi)
		nx.photos = append(nx.photos, photos[i])
	}
	return &nx
}

// prepare returns v centred (when the index centres) and unit length, as
// a new slice.
func (ix *Index) prepare(v []float32) []float32 {
	out := make([]float32, len(v))
	copy(out, v)
	if ix.mean != nil {
		for j := range out {
			out[j] -= ix.mean[j]
		}
	}
	var s float64
	for _, x := range out {
		s += float64(x) * float64(x)
	}
	if s > 0 {
		inv := float32(1 / math.Sqrt(s))
		for j := range out {
			out[j] *= inv
		}
	}
	return out
}

// Len is the number of vectors; Parts the number of parts.
func (ix *Index) Len() int   { return len(ix.scale) }
func (ix *Index) Parts() int { return len(ix.parts) }

// Bytes is the index's approximate memory.
func (ix *Index) Bytes() int {
	return 2*len(ix.q) + 4*len(ix.scale) + 4*len(ix.owner) + 16*len(ix.photos) + 4*len(ix.tails)
}

// Hit is a part's aggregated score.
type Hit struct {
	Part  string
	Score float32
	Photo string
}

// Scores returns the similarity of q with every vector, in index order: the
// cosine of the centred vectors, less the ShapeDistance of their shapes
// when the index has a Tail.
func (ix *Index) Scores(q []float32) []float32 {
	n := ix.Len()
	out := make([]float32, n)
	if len(q) != ix.dim+ix.tail || n == 0 {
		return out
	}
	return ix.penalise(ix.scores(ix.prepare(q[:ix.dim])), q[ix.dim:])
}

// penalise lowers each photo's cosine by the distance of its shape to the
// query's (qt). The shapes are a few scalars per photo, so comparing them
// with every photo costs a fraction of the scan and needs no cut to the
// best few parts first; calibration then sees the very score a search
// answers with.
func (ix *Index) penalise(scores, qt []float32) []float32 {
	if ix.tail == 0 {
		return scores
	}
	for i := range scores {
		scores[i] -= ShapeDistance(qt, ix.tails[i*ix.tail:(i+1)*ix.tail])
	}
	return scores
}

// scores is Scores for a prepared query.
func (ix *Index) scores(q []float32) []float32 {
	n := ix.Len()
	out := make([]float32, n)
	w := max(ix.Workers, 1)
	if n < 2048 {
		w = 1
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = dotQ(q, ix.q[i*ix.dim:(i+1)*ix.dim]) * ix.scale[i]
			}
		}()
	}
	wg.Wait()
	return out
}

// dotQ is the inner loop: four accumulators break the add chain so the
// CPU can overlap the multiplies.
func dotQ(q []float32, v []int16) float32 {
	v = v[:len(q)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(q); i += 4 {
		s0 += q[i] * float32(v[i])
		s1 += q[i+1] * float32(v[i+1])
		s2 += q[i+2] * float32(v[i+2])
		s3 += q[i+3] * float32(v[i+3])
	}
	for ; i < len(q); i++ {
		s0 += q[i] * float32(v[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// Search returns the k best parts for q, best first, skipping parts for
// which skip returns true (nil skips none).
func (ix *Index) Search(q []float32, k int, skip func(part string) bool) []Hit {
	return ix.aggregate(ix.Scores(q), k, skip, -1)
}

// aggregate takes each part's best vector, leaving out vector self (-1: none).
func (ix *Index) aggregate(scores []float32, k int, skip func(string) bool, self int) []Hit {
	best := make([]float32, len(ix.parts))
	bestAt := make([]int32, len(ix.parts))
	for i := range best {
		best[i] = float32(math.Inf(-1))
		bestAt[i] = -1
	}
	for i, s := range scores {
		if i == self {
			continue
		}
		p := ix.owner[i]
		if s > best[p] {
			best[p], bestAt[p] = s, int32(i)
		}
	}
	var hits []Hit
	for p, at := range bestAt {
		if at < 0 || (skip != nil && skip(ix.parts[p])) {
			continue
		}
		hits = append(hits, Hit{Part: ix.parts[p], Score: best[p], Photo: ix.photos[at]})
	}
	sort.Slice(hits, func(a, b int) bool {
		if hits[a].Score != hits[b].Score {
			return hits[a].Score > hits[b].Score
		}
		return hits[a].Part < hits[b].Part
	})
	if k > 0 && len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// WithPart returns a copy of a reference photo's Fine (nil for nil) with
// its part's medians over its reference photos, read from the shapes the
// index keeps, as Verify's rules between twins read them:
//   - PartRing: the median Shape.Ring where four in five lie within
//     RingStable of it (a part whose photos disagree, a bearing's balls
//     against its seal, gives 0);
//   - PartAspect and PartHoles: the same for Shape.Aspect and Shape.Holes,
//     where three in five agree (AspectStable, HolesStable);
//   - PartFinish: the median of each Shape.Finish value where measured
//     (nil when none was).
//
// All are 0 (nil) when the index keeps no Shape or the part has no photo.
func (ix *Index) WithPart(f *Fine, part string) *Fine {
	if f == nil {
		return nil
	}
	g := *f
	ix.partMedians(part, &g)
	return &g
}

// partMedians sets g's Part fields (see WithPart) from one pass over
// the index.
func (ix *Index) partMedians(part string, g *Fine) {
	g.PartRing, g.PartAspect, g.PartHoles, g.PartFinish = 0, 0, 0, nil
	pi, ok := ix.partIx[part]
	if !ok || ix.tail != ShapeLen {
		return
	}
	var rings, aspects, holes []float32
	var finish [3][]float32
	for i, o := range ix.owner {
		if o == pi {
			t := ix.tails[i*ix.tail : (i+1)*ix.tail]
			rings, aspects = append(rings, t[ringValue]), append(aspects, t[aspectValue])
			holes = append(holes, float32(math.Round(math.Expm1(float64(t[holesValue])))))
			// A measured finish has positive colour shares.
			if t[finishValue+1] > 0 {
				for k := range finish {
					finish[k] = append(finish[k], t[finishValue+k])
				}
			}
		}
	}
	g.PartRing = StableMedian(rings, RingStable, RingAgree)
	g.PartAspect = StableMedian(aspects, AspectStable, AspectAgree)
	g.PartHoles = StableMedian(holes, HolesStable, HolesAgree)
	if len(finish[0]) > 0 {
		g.PartFinish = make([]float32, len(finish))
		for k, vs := range finish {
			slices.Sort(vs)
			g.PartFinish[k] = vs[len(vs)/2]
		}
	}
}

// StableMedian is the median of vs when it is positive and at least the
// share agree of vs lie within stable of it, else 0.
func StableMedian(vs []float32, stable, agree float32) float32 {
	if len(vs) == 0 {
		return 0
	}
	vs = slices.Clone(vs)
	slices.Sort(vs)
	m := vs[len(vs)/2]
	n := 0
	for _, v := range vs {
		if math.Abs(float64(v-m)) <= float64(stable) {
			n++
		}
	}
	if m <= 0 || float32(n) < agree*float32(len(vs))-1e-4 {
		return 0
	}
	return m
}

// vector returns vector i dequantised (prepared: centred, unit length).
func (ix *Index) vector(i int) []float32 {
	v := make([]float32, ix.dim)
	for j, x := range ix.q[i*ix.dim : (i+1)*ix.dim] {
		v[j] = float32(x) * ix.scale[i]
	}
	return v
}

// CalibrationQueries caps the photos Calibrate searches with.
const CalibrationQueries = 600

// Calibration is the "not in the catalogue" threshold and how it was found.
type Calibration struct {
	Threshold float32 `json:"threshold"`
	// Known are the leave-one-photo-out best scores of each photo's own
	// part; Unknown the best scores with the photo's whole part left out
	// (leave-one-part-out): what a part not in the catalogue scores.
	Known   int `json:"known_queries"`
	Unknown int `json:"unknown_queries"`
	// FalseReject is the share of Known below the threshold; Rejected the
	// share of Unknown below it.
	FalseReject float64 `json:"false_reject"`
	Rejected    float64 `json:"unknown_rejected"`
	// TargetFalseReject is the false-reject share the threshold was set for.
	TargetFalseReject float64 `json:"target_false_reject"`
}

// Calibrate sets the threshold by leave-one-part-out on the index itself:
// every reference photo is searched once as if its part were known (its own
// photo left out) and once as if it were not (its whole part left out).
// The threshold is the highest that rejects at most targetFR of the known
// queries; it is never below the fallback floor, so a tiny catalogue does
// not accept everything. Parts with one photo give no known query.
func (ix *Index) Calibrate(targetFR float64, floor float32) Calibration {
	c := Calibration{Threshold: floor, TargetFalseReject: targetFR}
	var known, unknown []float32
	// Beyond a few hundred queries the quantiles barely move, while the
	// cost grows with the square of the catalogue.
	step := max(1, ix.Len()/CalibrationQueries)
	for i := 0; i < ix.Len(); i += step {
		scores := ix.penalise(ix.scores(ix.vector(i)), ix.tails[i*ix.tail:(i+1)*ix.tail])
		own := ix.owner[i]
		bestOwn, bestOther := float32(math.Inf(-1)), float32(math.Inf(-1))
		for j, s := range scores {
			// Vectors under the same photo id (several views of one
			// photo) are that photo, not another photo of its part.
			if j == i || (ix.photos[i] != "" && ix.photos[j] == ix.photos[i]) {
				continue
			}
			if ix.owner[j] == own {
				bestOwn = max(bestOwn, s)
			} else {
				bestOther = max(bestOther, s)
			}
		}
		if !math.IsInf(float64(bestOwn), -1) {
			// Known only counts when the own part also wins: a known part
			// ranked second is a wrong answer, not a rejection.
			known = append(known, bestOwn)
		}
		if !math.IsInf(float64(bestOther), -1) {
			unknown = append(unknown, bestOther)
		}
	}
	c.Known, c.Unknown = len(known), len(unknown)
	if len(known) == 0 {
		return c
	}
	slices.Sort(known)
	cut := int(math.Floor(targetFR * float64(len(known))))
	t := known[min(cut, len(known)-1)]
	// Just below the cut-th score: that score and all above are accepted.
	t = math.Nextafter32(t, float32(math.Inf(-1)))
	c.Threshold = max(t, floor)
	c.FalseReject = shareBelow(known, c.Threshold)
	c.Rejected = shareBelow(unknown, c.Threshold)
	return c
}

func shareBelow(xs []float32, t float32) float64 {
	if len(xs) == 0 {
		return 0
	}
	n := 0
	for _, x := range xs {
		if x < t {
			n++
		}
	}
	return float64(n) / float64(len(xs))
}
