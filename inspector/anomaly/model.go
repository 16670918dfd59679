package anomaly

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

// Params are the fixed settings of a trained model, as its card records
// them.
type Params struct {
	// Grid is the number of 224 px tiles per side (input 224·Grid px).
	Grid int
	// Sigma is the heatmap's Gaussian smoothing in patch cells.
	Sigma float32
	// ScoreOK and ScoreNOK are the image-score thresholds: at most ScoreOK
	// is OK, at least ScoreNOK is NOK, between them uncertain.
	ScoreOK, ScoreNOK float32
	// Workers splits the nearest-neighbour search (0: GOMAXPROCS).
	Workers int
	// TopK makes the patch part of the image score the mean of the TopK
	// largest patch distances (0 or 1: the largest alone): a defect that
	// spans several patches counts more than one stray patch.
	TopK int
	// MedianOffset, when above 0, subtracts this share of the median patch
	// distance from the patch score: a tile whose every patch sits a
	// little farther from the bank (brightness, surface) loses that level,
	// while an uneven surface, which raises many patches, keeps the rest.
	MedianOffset float32
	// PatchRef and GlobalRef, when both are set, make the image score
	// Combine(largest patch distance, global distance): each part divided
	// by its reference, added (see Global). Zero: the largest patch
	// distance alone (models without a global part).
	PatchRef, GlobalRef float32
	// Norm, when set, replaces PatchRef and GlobalRef: the image score is
	// the sum of the model's parts, each standardised (see Norm).
	Norm *Norm
	// Neighbourhood is the patch features' neighbourhood: Narrow (or 0,
	// as models before it), Wide, … (see ValidNeighbourhood).
	Neighbourhood int
}

// Norm standardises the parts of a model's image score by the mean and
// standard deviation of the held-out good images' part scores, so that
// the sum has a known scale and a threshold from few held-out images
// (their mean + z standard deviations) is robust; a quantile of 30 images
// is practically their largest. A part whose SD is 0 is not in the model.
type Norm struct {
	PatchMean, PatchSD   float32
	GlobalMean, GlobalSD float32
	PosMean, PosSD       float32
	// LbMean and LbSD standardise the letterboxed part (Letterboxed);
	// a zero SD: none.
	LbMean, LbSD float32
	// PatchHot and PosHot put the patch and positional distances on one
	// heatmap: a cell shows the larger of d and pos·PatchHot/PosHot (the
	// held-out good images' mean largest patch and positional distance).
	PatchHot, PosHot float32
	// PatchHotSD and PosHotSD, when both are set, are the standard
	// deviations of those largest distances; a cell then shows the larger
	// of the two distances each measured in them from its mean largest
	// (see Cells). Zero: the older rule above.
	PatchHotSD, PosHotSD float32
}

// Sum is the standardised image score of the parts.
func (n *Norm) Sum(patch, global, pos float32) float32 {
	s := (patch - n.PatchMean) / n.PatchSD
	if n.GlobalSD > 0 {
		s += (global - n.GlobalMean) / n.GlobalSD
	}
	if n.PosSD > 0 {
		s += (pos - n.PosMean) / n.PosSD
	}
	return s
}

// Cells is the heatmap's cell values of a model with a positional part,
// in patch-distance units (pos nil: d). With PatchHotSD and PosHotSD each
// distance is first measured in standard deviations above the held-out
// good images' mean largest of its kind, the larger of the two wins, and
// it is mapped back to patch distances (PatchHot + z·PatchHotSD): how far
// a cell lies outside what good parts show, so a missing hole whose
// positional distance stands far above its usual largest outshines a
// patch distance that only the outline's spread makes large. Without the
// SDs (older cards): the larger of d and pos·PatchHot/PosHot.
func (n *Norm) Cells(d, pos []float32) []float32 {
	if pos == nil || n.PosHot <= 0 {
		return d
	}
	out := make([]float32, len(d))
	if n.PatchHotSD > 0 && n.PosHotSD > 0 {
		for i := range d {
			z := max((d[i]-n.PatchHot)/n.PatchHotSD, (pos[i]-n.PosHot)/n.PosHotSD)
			out[i] = max(n.PatchHot+z*n.PatchHotSD, 0)
		}
		return out
	}
	f := n.PatchHot / n.PosHot
	for i := range d {
		out[i] = max(d[i], pos[i]*f)
	}
	return out
}

// AcceptP and RejectP are the card thresholds on the model's P(OK) that
// correspond to ScoreOK and ScoreNOK: Probabilities maps the score through
// a logistic curve that passes 0.9 at ScoreOK and 0.1 at ScoreNOK, so the
// station's OK / NOK / uncertain rule for defect models applies unchanged.
const (
	AcceptP = 0.9
	RejectP = 0.1
)

// Probabilities maps an image score to [P(OK), P(anomaly)] (see AcceptP).
func (p Params) Probabilities(score float32) []float32 {
	mid := float64(p.ScoreOK+p.ScoreNOK) / 2
	w := float64(p.ScoreNOK-p.ScoreOK) / (2 * math.Log(9))
	if w <= 0 {
		w = 1e-6 * math.Max(1, math.Abs(mid))
	}
	ok := 1 / (1 + math.Exp((float64(score)-mid)/w))
	return []float32{float32(ok), float32(1 - ok)}
}

// Searcher finds, for each of len(dst) patches in q (×Dim), the distance
// to its nearest bank patch. Bank is the pure-Go one; inspector/onnx has
// one on ONNX Runtime's matrix multiply.
type Searcher interface {
	Nearest(ctx context.Context, q, dst []float32) error
}

// WordSearcher is a Searcher that can also find, in the same search, each
// patch's nearest word (one of the bank's first words patches, as a global
// part's words are), so the global part costs no search of its own.
type WordSearcher interface {
	Searcher
	// NearestWords is Nearest that also writes to nearest (one per patch)
	// the index of each patch's nearest among the bank's first words
	// patches. It returns an error for words outside 1…bank size.
	NearestWords(ctx context.Context, q, dst []float32, nearest []int32, words int) error
}

// GoSearcher searches a Bank in pure Go with Workers goroutines.
type GoSearcher struct {
	Bank    *Bank
	Workers int
}

// Nearest implements Searcher.
func (s GoSearcher) Nearest(_ context.Context, q, dst []float32) error {
	s.Bank.Nearest(q, dst, s.Workers)
	return nil
}

// NearestWords implements WordSearcher.
func (s GoSearcher) NearestWords(_ context.Context, q, dst []float32, nearest []int32, words int) error {
	if words <= 0 || words > s.Bank.Len() || len(nearest) != len(dst) {
		return fmt.Errorf("%w: %d words from a bank of %d patches, %d slots for %d patches", ErrBank, words, s.Bank.Len(), len(nearest), len(dst))
	}
	s.Bank.Nearest(q, dst, s.Workers)
	w, err := NewBank(s.Bank.Data[:words*s.Bank.Dim], s.Bank.Dim)
	if err != nil {
		return err
	}
	copy(nearest, NearestWords(q, w))
	return nil
}

// Model scores images against a memory bank; it implements
// inspector.Locator. It is safe for concurrent use (the station's worker
// and an upload may call it at once); calls run one after the other.
type Model struct {
	mu   sync.Mutex // guards tiles
	P    Params
	Bank *Bank
	// Search is the nearest-neighbour search (default GoSearcher); Close
	// closes it when it is an io.Closer.
	Search Searcher
	// Global, when set with P.PatchRef and P.GlobalRef, adds the global
	// distance to the image score.
	Global *Global
	// Pos, when set with P.Norm, adds the positional distance (the parts'
	// pose found on the input) to the image score and the heatmap.
	Pos *Positional
	// Lb, when set with P.Norm, adds the letterboxed part (the image at a
	// second scale) to the image score; the heatmap stays the patch part's.
	Lb    *Letterboxed
	r     embed.Runner
	tiles []float32
}

var _ inspector.Locator = (*Model)(nil)

// New returns a model running the backbone r. Close closes r when it is
// an io.Closer.
func New(r embed.Runner, bank *Bank, p Params) (*Model, error) {
	if p.Grid <= 0 {
		return nil, fmt.Errorf("anomaly: grid %d", p.Grid)
	}
	if bank == nil || bank.Dim != Dim {
		return nil, fmt.Errorf("%w: patches of %d values, the features have %d", ErrBank, bankDim(bank), Dim)
	}
	if p.Sigma <= 0 {
		p.Sigma = 1
	}
	if !ValidNeighbourhood(p.Neighbourhood) {
		return nil, fmt.Errorf("anomaly: neighbourhood %d, want an odd number from %d to %d", p.Neighbourhood, Narrow, MaxNeighbourhood)
	}
	return &Model{P: p, Bank: bank, r: r, Search: GoSearcher{Bank: bank, Workers: p.Workers}}, nil
}

func bankDim(b *Bank) int {
	if b == nil {
		return 0
	}
	return b.Dim
}

// InputLen is the length of the tensor the model takes: [3, 224·g, 224·g].
func (m *Model) InputLen() int { s := embed.Size * m.P.Grid; return 3 * s * s }

// Features runs the backbone on the tiles of x and returns its patch
// features ((28·g)² × Dim). It returns an error for x of the wrong length
// or the Runner's error.
func (m *Model) Features(ctx context.Context, x []float32) ([]float32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.tiles) != len(x) {
		m.tiles = make([]float32, len(x))
	}
	f, err := Extract(ctx, m.r, x, m.P.Grid, m.tiles)
	if err != nil {
		return nil, err
	}
	return Neighbourhood(f, m.P.Grid, m.P.Neighbourhood), nil
}

// Extract runs the backbone r on the g×g tiles of the input x ([3, 224·g,
// 224·g]) and returns the image's patch features ((28·g)² × Dim). scratch
// holds the tiles (len(x) values; nil allocates). It returns an error
// wrapping inspector.ErrModelShape for x of the wrong length, or r's error.
func Extract(ctx context.Context, r embed.Runner, x []float32, g int, scratch []float32) ([]float32, error) {
	s := embed.Size * g
	if len(x) != 3*s*s {
		return nil, fmt.Errorf("%w: input has %d values, the model takes %d", inspector.ErrModelShape, len(x), 3*s*s)
	}
	if len(scratch) != len(x) {
		scratch = make([]float32, len(x))
	}
	Tiles(x, g, scratch)
	b, err := r.Run(ctx, scratch, g*g, embed.FeatS8|embed.FeatS16)
	if err != nil {
		return nil, err
	}
	return ImageFeatures(b, g), nil
}

// Distances returns each patch's distance to the nearest bank patch, over
// the stitched patch grid, row-major.
func (m *Model) Distances(ctx context.Context, x []float32) ([]float32, error) {
	f, err := m.Features(ctx, x)
	if err != nil {
		return nil, err
	}
	d, _, err := m.Score(ctx, x, f)
	return d, err
}

// Parts are an image's part scores before they are combined.
type Parts struct {
	// D are the patch distances, Patch their TopMean.
	D     []float32
	Patch float32
	// Global is the global distance (0 without a global part).
	Global float32
	// PosD are the positional distances, Pos their TopMean (nil, 0
	// without a positional part).
	PosD []float32
	Pos  float32
	// LbD are the letterboxed part's patch distances, Lb its score (nil,
	// 0 without that part).
	LbD []float32
	Lb  float32
}

// Parts returns the part scores of an image: its input x (needed only by
// a positional part, which finds the pose on it, and a letterboxed part,
// which scales the image on it) and its patch features f. It returns the
// search's error, or an error for a positional or letterboxed model
// without x.
func (m *Model) Parts(ctx context.Context, x, f []float32) (Parts, error) {
	var p Parts
	p.D = make([]float32, len(f)/Dim)
	// The positional part needs only x and f: it runs in Go while the
	// bank search runs on ONNX Runtime, whose threads leave gaps on the
	// cores (its run's start and end, the words' output).
	var (
		posErr   error
		posD     []float32
		posScore float32
		posDone  chan struct{}
	)
	if m.Pos != nil {
		posD = make([]float32, len(p.D))
		posDone = make(chan struct{})
		go func() {
			defer close(posDone)
			g, err := Grey(x, embed.Size*m.P.Grid)
			if err != nil {
				posErr = err
				return
			}
			m.Pos.Bank.Distances(f, m.Pos.Ref.Estimate(g), posD)
			posScore = TopMean(posD, m.Pos.TopK)
		}()
		// an error return waits for it too: it reads x and f
		defer func() { <-posDone }()
	}
	ws, words := m.Search.(WordSearcher)
	if words = words && m.Global != nil; words {
		nearest := make([]int32, len(p.D))
		if err := ws.NearestWords(ctx, f, p.D, nearest, m.Global.Words.Len()); err != nil {
			return p, err
		}
		p.Global = m.Global.DistanceOf(nearest)
	} else if err := m.Search.Nearest(ctx, f, p.D); err != nil {
		return p, err
	}
	p.Patch = m.P.PatchScore(p.D)
	if m.Lb != nil {
		var err error
		if p.LbD, p.Lb, err = m.Lb.Score(ctx, x, embed.Size*m.P.Grid); err != nil {
			return p, err
		}
	}
	if m.Global != nil && !words {
		p.Global = m.Global.Distance(f)
	}
	if m.Pos != nil {
		<-posDone
		if posErr != nil {
			return p, posErr
		}
		p.PosD, p.Pos = posD, posScore
	}
	return p, nil
}

// PatchScore is the patch part of the image score: the mean of the TopK
// largest patch distances, less MedianOffset × their median.
func (p Params) PatchScore(d []float32) float32 {
	s := TopMean(d, p.TopK)
	if p.MedianOffset > 0 && len(d) > 0 {
		s -= p.MedianOffset * Quantile(d, 0.5)
	}
	return s
}

// CombineParts is the image score of the parts.
func (p Params) CombineParts(pp Parts) float32 {
	if p.Norm != nil {
		s := p.Norm.Sum(pp.Patch, pp.Global, pp.Pos)
		if p.Norm.LbSD > 0 {
			s += (pp.Lb - p.Norm.LbMean) / p.Norm.LbSD
		}
		return s
	}
	if p.PatchRef > 0 && p.GlobalRef > 0 {
		return p.Combine(pp.Patch, pp.Global)
	}
	return pp.Patch
}

// Cells are the heatmap's cell values of the parts (see Norm.Cells).
func (p Params) Cells(pp Parts) []float32 {
	if p.Norm != nil {
		return p.Norm.Cells(pp.D, pp.PosD)
	}
	return pp.D
}

// Score returns the heatmap cells (the patch distances, with a positional
// part combined with its distances) of an image's input x and patch
// features f, and its image score: the largest patch distance (or the mean
// of the TopK largest), combined with the global and positional parts
// where the model has them. It returns the errors of Parts.
func (m *Model) Score(ctx context.Context, x, f []float32) (d []float32, score float32, err error) {
	pp, err := m.Parts(ctx, x, f)
	if err != nil {
		return nil, 0, err
	}
	return m.P.Cells(pp), m.P.CombineParts(pp), nil
}

// Classify implements inspector.Classifier: [P(OK), P(anomaly)].
func (m *Model) Classify(ctx context.Context, x []float32) ([]float32, error) {
	p, _, err := m.Locate(ctx, x)
	return p, err
}

// Locate implements inspector.Locator: the probabilities and the heatmap.
// The heatmap's Area is the whole input; the caller maps it to the frame.
func (m *Model) Locate(ctx context.Context, x []float32) ([]float32, *inspector.Heatmap, error) {
	f, err := m.Features(ctx, x)
	if err != nil {
		return nil, nil, err
	}
	d, score, err := m.Score(ctx, x, f)
	if err != nil {
		return nil, nil, err
	}
	side := Side * m.P.Grid
	return m.P.Probabilities(score), m.P.Heatmap(d, side, score), nil
}

// MaxScore is the image score: the largest patch distance.
func MaxScore(d []float32) float32 {
	var s float32
	for _, v := range d {
		s = max(s, v)
	}
	return s
}

// TopMean is the mean of the k largest values of d (k ≤ 1: the largest).
func TopMean(d []float32, k int) float32 {
	if k <= 1 || len(d) == 0 {
		return MaxScore(d)
	}
	s := append([]float32(nil), d...)
	k = min(k, len(s))
	sort.Slice(s, func(i, j int) bool { return s[i] > s[j] })
	var sum float32
	for _, v := range s[:k] {
		sum += v
	}
	return sum / float32(k)
}

// Heatmap smooths the side×side patch distances and quantises them
// against ScoreNOK (255 at or above it); with a global part, against the
// patch reference raised by the thresholds' margin (ScoreNOK/ScoreOK), as
// the image thresholds are then in combined units.
func (p Params) Heatmap(d []float32, side int, score float32) *inspector.Heatmap {
	sm := Smooth(d, side, side, p.Sigma)
	scale := p.ScoreNOK
	switch {
	case p.Norm != nil:
		// the thresholds are in standardised units; the cells in patch
		// distances, where a good image's largest is PatchHot on average
		scale = p.Norm.PatchHot * 1.5
	case p.PatchRef > 0 && p.GlobalRef > 0 && p.ScoreOK > 0:
		scale = p.PatchRef * p.ScoreNOK / p.ScoreOK
	}
	if scale <= 0 {
		scale = max(score, 1e-6)
	}
	data := make([]byte, len(sm))
	for i, v := range sm {
		data[i] = byte(math.Round(255 * math.Min(1, math.Max(0, float64(v/scale)))))
	}
	return &inspector.Heatmap{Method: inspector.HeatmapAnomaly, W: side, H: side, Data: data, Scale: scale, Score: score,
		Hot: inspector.HottestRegion(data, side, side), Area: inspector.Area{W: 1, H: 1}}
}

// Smooth returns a Gaussian blur (sigma in cells, edges clamped) of a w×h grid.
func Smooth(d []float32, w, h int, sigma float32) []float32 {
	r := int(math.Ceil(float64(2 * sigma)))
	k := make([]float32, 2*r+1)
	var sum float32
	for i := range k {
		x := float64(i - r)
		k[i] = float32(math.Exp(-x * x / (2 * float64(sigma*sigma))))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]float32, w*h)
	out := make([]float32, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float32
			for i, kv := range k {
				s += kv * d[y*w+min(max(x+i-r, 0), w-1)]
			}
			tmp[y*w+x] = s
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float32
			for i, kv := range k {
				s += kv * tmp[min(max(y+i-r, 0), h-1)*w+x]
			}
			out[y*w+x] = s
		}
	}
	return out
}

// Close closes the backbone runner and the searcher where they are
// io.Closers.
func (m *Model) Close() error {
	var errs []error
	vs := []any{m.r, m.Search}
	if m.Lb != nil {
		vs = append(vs, m.Lb.Search)
	}
	for _, v := range vs {
		if c, ok := v.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Positional is a model's positional part: the pose reference and the
// bank of patches per canonical cell; TopK as Params.TopK.
type Positional struct {
	Ref  *PoseRef
	Bank *PosBank
	TopK int
}

// Threshold is how the score thresholds were chosen from held-out good
// images: ScoreOK is their Quantile, ScoreNOK that times (1+Margin).
type Threshold struct {
	Quantile float64
	Margin   float64
	ScoreOK  float32
	ScoreNOK float32
	N        int // held-out good images
	// Z, when set, says the thresholds are the held-out mean + Z[0] and
	// + Z[1] standard deviations (ChooseThresholdZ).
	Z []float64
}

// ChooseThresholdZ returns thresholds at the held-out good images' mean
// plus zOK and zNOK standard deviations: with a few dozen images a mean and
// a standard deviation are far steadier than a high quantile, which is
// practically their largest. It returns ErrNoImages for fewer than two
// scores.
func ChooseThresholdZ(okScores []float32, zOK, zNOK float64) (Threshold, error) {
	if len(okScores) < 2 {
		return Threshold{}, fmt.Errorf("%w: %d held-out good images; the threshold needs at least 2", ErrNoImages, len(okScores))
	}
	mu, sd := MeanSD(okScores)
	return Threshold{ScoreOK: mu + float32(zOK)*sd, ScoreNOK: mu + float32(zNOK)*sd, N: len(okScores), Z: []float64{zOK, zNOK}}, nil
}

// ZForFalseAlarms returns ChooseThresholdZ's multiples for a share of good
// parts the station may stop (falseAlarms, between 0 and 0.5): OK up to the
// normal distribution's 1 − falseAlarms point, NOK from its
// 1 − falseAlarms/10 point, so a tenth of those false alarms is called NOK
// and the rest uncertain. 0.01 gives 2.33 and 3.09. The engineer states the
// budget; no defect image is needed to set it.
func ZForFalseAlarms(falseAlarms float64) (zOK, zNOK float64) {
	return distuv.UnitNormal.Quantile(1 - falseAlarms), distuv.UnitNormal.Quantile(1 - falseAlarms/10)
}

// MeanSD returns the mean and the sample standard deviation of v (0 for
// fewer than two values).
func MeanSD(v []float32) (mean, sd float32) {
	var mu, ss float64
	for _, x := range v {
		mu += float64(x)
	}
	mu /= float64(max(len(v), 1))
	for _, x := range v {
		ss += (float64(x) - mu) * (float64(x) - mu)
	}
	if len(v) > 1 {
		ss = math.Sqrt(ss / float64(len(v)-1))
	}
	return float32(mu), float32(ss)
}

// ChooseThreshold returns the thresholds from the scores of held-out good
// images. It returns ErrNoImages for no scores.
func ChooseThreshold(okScores []float32, quantile, margin float64) (Threshold, error) {
	if len(okScores) == 0 {
		return Threshold{}, fmt.Errorf("%w: no held-out good images to set the threshold", ErrNoImages)
	}
	q := Quantile(okScores, quantile)
	return Threshold{Quantile: quantile, Margin: margin, ScoreOK: q, ScoreNOK: q * float32(1+margin), N: len(okScores)}, nil
}

// Quantile returns the q-quantile (0..1) of v by linear interpolation.
func Quantile(v []float32, q float64) float32 {
	s := append([]float32(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	f := float32(pos - float64(i))
	return s[i]*(1-f) + s[i+1]*f
}

// AUROC is the area under the ROC curve of scores where positives (defects)
// should score higher: the probability that a random defect outscores a
// random good image, ties counting half. It returns NaN without both.
func AUROC(good, bad []float32) float64 {
	if len(good) == 0 || len(bad) == 0 {
		return math.NaN()
	}
	type sv struct {
		v   float32
		bad bool
	}
	all := make([]sv, 0, len(good)+len(bad))
	for _, v := range good {
		all = append(all, sv{v, false})
	}
	for _, v := range bad {
		all = append(all, sv{v, true})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	// Mann–Whitney U with average ranks for ties.
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		r := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].bad {
				rankSum += r
			}
		}
		i = j
	}
	nb, ng := float64(len(bad)), float64(len(good))
	return (rankSum - nb*(nb+1)/2) / (nb * ng)
}

// Runner returns the backbone runner the model extracts features with.
func (m *Model) Runner() embed.Runner { return m.r }
