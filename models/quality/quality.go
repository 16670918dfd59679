// Package quality computes a model version's data-quality and bias checks
// (models.Quality): class imbalance in the training split, near-duplicate
// images across the train/test split (a difference hash of what the model
// sees), accuracy per capture condition where the manifest records one, and
// the images the model gets wrong with high confidence (likely label
// errors). It is pure Go and knows no training framework: the caller hands
// in the manifest's images and the model's answers on the test split, from
// training (models/train) or from ONNX Runtime (`pruefplatz models check`).
package quality

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // the datasets' images
	_ "image/png"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"golang.org/x/image/draw"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/models"
)

// ConditionKeys are the capture conditions read from a manifest's file
// entries when present, in this order; a "conditions" object in an entry
// adds any other key.
var ConditionKeys = []string{"session", "camera", "light", "background"}

// Image is one file of the model's dataset, as its manifest records it.
type Image struct {
	Path       string // relative to the dataset root, slash-separated
	Class      string
	Split      string // "train", "val" or "test"
	SHA256     string
	Conditions map[string]string
}

// ReadManifest reads a manifest.json's file entries with any capture
// conditions they carry. It returns the read or parse error.
func ReadManifest(path string) ([]Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m struct {
		Files []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("quality: manifest %s: %w", path, err)
	}
	out := make([]Image, 0, len(m.Files))
	for _, f := range m.Files {
		im := Image{Path: str(f["path"]), Class: str(f["class"]), Split: str(f["split"]), SHA256: str(f["sha256"])}
		if im.Path == "" || im.Class == "" {
			return nil, fmt.Errorf("quality: manifest %s: an entry without path or class", path)
		}
		for _, k := range ConditionKeys {
			if v := str(f[k]); v != "" {
				im.setCondition(k, v)
			}
		}
		if c, ok := f["conditions"].(map[string]any); ok {
			for k, v := range c {
				if s := str(v); s != "" {
					im.setCondition(k, s)
				}
			}
		}
		out = append(out, im)
	}
	return out, nil
}

// ConditionsFile is the optional file in a dataset folder that records
// capture conditions the manifest lacks: a JSON object from an image's
// path (as in the manifest) to its conditions, for example
// {"ok/0001.jpg": {"session": "2026-11-03 early", "light": "dim"}}.
const ConditionsFile = "conditions.json"

// AddConditions reads a ConditionsFile and adds its conditions to images
// (a condition the manifest already records stays). It returns how many
// images it added to and how many of its paths name no image of the
// manifest (left aside: the folder may hold images the model never used),
// and the read or parse error.
func AddConditions(images []Image, path string) (added, unknown int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	var c map[string]map[string]string
	if err := json.Unmarshal(b, &c); err != nil {
		return 0, 0, fmt.Errorf("quality: %s: %w", path, err)
	}
	idx := make(map[string]int, len(images))
	for i, im := range images {
		idx[im.Path] = i
	}
	for p, conds := range c {
		i, ok := idx[p]
		if !ok {
			unknown++
			continue
		}
		im := &images[i]
		changed := false
		for k, v := range conds {
			if _, ok := im.Conditions[k]; !ok && v != "" {
				im.setCondition(k, v)
				changed = true
			}
		}
		if changed {
			added++
		}
	}
	return added, unknown, nil
}

func (im *Image) setCondition(k, v string) {
	if im.Conditions == nil {
		im.Conditions = map[string]string{}
	}
	im.Conditions[k] = v
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprint(x)
	case bool:
		return fmt.Sprint(x)
	}
	return ""
}

// Prediction is the model's answer on one test image.
type Prediction struct {
	Path      string // as in Image.Path
	Label     string // the truth
	Predicted string // the top class
	// Confidence is the top class's probability.
	Confidence float64
}

// Predictions turns per-image probabilities into Predictions: paths[i]
// was labelled labels[truth[i]] and got probs[i].
func Predictions(labels []string, paths []string, truth []int, probs [][]float32) []Prediction {
	out := make([]Prediction, len(paths))
	for i := range paths {
		best := 0
		for j, p := range probs[i] {
			if p > probs[i][best] {
				best = j
			}
		}
		out[i] = Prediction{Path: paths[i], Label: labels[truth[i]], Predicted: labels[best], Confidence: float64(probs[i][best])}
	}
	return out
}

// Options tunes the checks; zero fields take the defaults.
type Options struct {
	// HashSize is the side of the difference hash (HashSize² bits); 16 by default.
	HashSize int
	// MaxDistance is the largest Hamming distance counted as a near
	// duplicate; by default 10 % of the hash's bits (25 of 256).
	MaxDistance int
	// MaxImbalance is the largest-to-smallest class ratio of the training
	// split above which the check warns; 3 by default.
	MaxImbalance float64
	// SubgroupGap is how far (in accuracy) below the overall figure a
	// subgroup may fall before it is marked; 0.05 by default.
	SubgroupGap float64
	// SubgroupMin is the fewest images a subgroup needs to be judged; 10 by default.
	SubgroupMin int
	// SuspectConfidence is the confidence from which a wrong answer is
	// listed as a likely label error; 0.9 by default.
	SuspectConfidence float64
	// Tool names who computed the checks; Now is the clock.
	Tool string
	Now  func() time.Time
}

func (o Options) withDefaults() Options {
	if o.HashSize <= 0 {
		o.HashSize = 16
	}
	if o.MaxDistance <= 0 {
		o.MaxDistance = max(1, o.HashSize*o.HashSize/10)
	}
	if o.MaxImbalance <= 0 {
		o.MaxImbalance = 3
	}
	if o.SubgroupGap <= 0 {
		o.SubgroupGap = 0.05
	}
	if o.SubgroupMin <= 0 {
		o.SubgroupMin = 10
	}
	if o.SuspectConfidence <= 0 {
		o.SuspectConfidence = 0.9
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Input is what the checks look at.
type Input struct {
	// Root is the dataset folder the image paths are relative to.
	Root   string
	Images []Image
	// ROI is the part of each image the model sees (the card's input ROI);
	// nil for the whole image.
	ROI *inspector.Rect
	// Predictions holds the model's answers on the test split.
	Predictions []Prediction
}

// ErrNoTestImages is returned when the input has no test images or no
// predictions on them: the checks would say nothing.
var ErrNoTestImages = errors.New("quality: no test images with predictions")

// Check runs every check. It returns ErrNoTestImages, ctx's error, or an
// error naming an image that cannot be read or decoded.
func Check(ctx context.Context, in Input, opt Options) (*models.Quality, error) {
	opt = opt.withDefaults()
	if len(in.Predictions) == 0 {
		return nil, ErrNoTestImages
	}
	q := &models.Quality{
		Tool: opt.Tool, Computed: opt.Now().UTC(), Data: in.Root, Split: "test",
		SubgroupGap: opt.SubgroupGap, SubgroupMin: opt.SubgroupMin, SuspectConfidence: opt.SuspectConfidence,
	}
	q.Imbalance = imbalance(in.Images, opt.MaxImbalance)
	if q.Imbalance.Ratio > opt.MaxImbalance {
		q.Warnings = append(q.Warnings, fmt.Sprintf("class imbalance: %q has %.1f× the training images of %q (limit %.1f×)",
			q.Imbalance.Largest, q.Imbalance.Ratio, q.Imbalance.Smallest, opt.MaxImbalance))
	}
	nd, err := nearDuplicates(ctx, in, opt)
	if err != nil {
		return nil, err
	}
	q.NearDuplicates = nd
	if nd.TestWithDuplicate > 0 {
		q.Warnings = append(q.Warnings, fmt.Sprintf("near duplicates: %d of %d test images have a training image within Hamming distance %d; their test figures flatter the model",
			nd.TestWithDuplicate, nd.Test, nd.MaxDistance))
	}
	subgroups(q, in, opt)
	for _, p := range in.Predictions {
		if p.Predicted != p.Label && p.Confidence >= opt.SuspectConfidence {
			q.Suspects = append(q.Suspects, models.Suspect{Path: p.Path, Label: p.Label, Predicted: p.Predicted, Confidence: p.Confidence})
		}
	}
	sort.Slice(q.Suspects, func(i, j int) bool { return q.Suspects[i].Confidence > q.Suspects[j].Confidence })
	if len(q.Suspects) > 0 {
		q.Warnings = append(q.Warnings, fmt.Sprintf("%d test images are called wrong with confidence ≥ %.2f: check their labels", len(q.Suspects), opt.SuspectConfidence))
	}
	return q, nil
}

func imbalance(images []Image, maxRatio float64) *models.Imbalance {
	im := &models.Imbalance{Counts: map[string]int{}, MaxRatio: maxRatio}
	for _, f := range images {
		if f.Split == "train" {
			im.Counts[f.Class]++
		}
	}
	classes := make([]string, 0, len(im.Counts))
	for c := range im.Counts {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		if im.Largest == "" || im.Counts[c] > im.Counts[im.Largest] {
			im.Largest = c
		}
		if im.Smallest == "" || im.Counts[c] < im.Counts[im.Smallest] {
			im.Smallest = c
		}
	}
	if n := im.Counts[im.Smallest]; n > 0 {
		im.Ratio = float64(im.Counts[im.Largest]) / float64(n)
	}
	return im
}

// maxPairs caps the pairs a card lists: the count says the rest.
const maxPairs = 20

func nearDuplicates(ctx context.Context, in Input, opt Options) (*models.NearDuplicates, error) {
	type hashed struct {
		img  Image
		hash []uint64
	}
	var files []Image
	for _, f := range in.Images {
		if f.Split == "train" || f.Split == "test" {
			files = append(files, f)
		}
	}
	hashes, err := hashFiles(ctx, in, files, opt.HashSize)
	if err != nil {
		return nil, err
	}
	var train, test []hashed
	for i, f := range files {
		if f.Split == "train" {
			train = append(train, hashed{f, hashes[i]})
		} else {
			test = append(test, hashed{f, hashes[i]})
		}
	}
	roi := "the whole image"
	if in.ROI != nil {
		roi = "the model's ROI"
	}
	nd := &models.NearDuplicates{
		Method:      fmt.Sprintf("dHash %d×%d (%d bits) of %s", opt.HashSize, opt.HashSize, opt.HashSize*opt.HashSize, roi),
		MaxDistance: opt.MaxDistance, Train: len(train), Test: len(test),
	}
	var nearest []int
	var pairs []models.DuplicatePair
	for _, t := range test {
		best, bi := -1, -1
		for i, tr := range train {
			if d := Distance(t.hash, tr.hash); best < 0 || d < best {
				best, bi = d, i
			}
		}
		if bi < 0 {
			continue
		}
		nearest = append(nearest, best)
		if best <= opt.MaxDistance {
			nd.TestWithDuplicate++
		}
		pairs = append(pairs, models.DuplicatePair{Test: t.img.Path, Train: train[bi].img.Path, Distance: best, SameClass: t.img.Class == train[bi].img.Class})
	}
	sort.Ints(nearest)
	if len(nearest) > 0 {
		nd.NearestMedian = nearest[len(nearest)/2]
	}
	// The closest pairs are listed even when none is a duplicate, so a
	// reader sees how close the splits come.
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].Distance < pairs[j].Distance })
	nd.Pairs = pairs[:min(len(pairs), max(nd.TestWithDuplicate, 5), maxPairs)]
	return nd, nil
}

func subgroups(q *models.Quality, in Input, opt Options) {
	cond := map[string]map[string]string{}
	seen := map[string]bool{}
	for _, f := range in.Images {
		if len(f.Conditions) > 0 {
			cond[f.Path] = f.Conditions
			for k := range f.Conditions {
				seen[k] = true
			}
		}
	}
	right := 0
	type tally struct{ n, right int }
	groups := map[[2]string]*tally{}
	for _, p := range in.Predictions {
		ok := p.Predicted == p.Label
		if ok {
			right++
		}
		for k, v := range cond[p.Path] {
			g := groups[[2]string{k, v}]
			if g == nil {
				g = &tally{}
				groups[[2]string{k, v}] = g
			}
			g.n++
			if ok {
				g.right++
			}
		}
	}
	q.Images = len(in.Predictions)
	q.Accuracy = float64(right) / float64(len(in.Predictions))
	for k := range seen {
		q.Conditions = append(q.Conditions, k)
	}
	sort.Strings(q.Conditions)
	for key, g := range groups {
		sg := models.Subgroup{Condition: key[0], Value: key[1], N: g.n, Accuracy: float64(g.right) / float64(g.n)}
		sg.Low = g.n >= opt.SubgroupMin && sg.Accuracy < q.Accuracy-opt.SubgroupGap
		q.Subgroups = append(q.Subgroups, sg)
	}
	sort.Slice(q.Subgroups, func(i, j int) bool {
		a, b := q.Subgroups[i], q.Subgroups[j]
		if a.Condition != b.Condition {
			return a.Condition < b.Condition
		}
		return a.Value < b.Value
	})
	for _, sg := range q.Subgroups {
		if sg.Low {
			q.Warnings = append(q.Warnings, fmt.Sprintf("subgroup %s=%s: accuracy %.1f %% on %d images, far below the overall %.1f %%",
				sg.Condition, sg.Value, 100*sg.Accuracy, sg.N, 100*q.Accuracy))
		}
	}
}

// hashFiles hashes the files on every core: decoding them is most of the
// check's time, a few seconds per thousand images at the end of each
// training run.
func hashFiles(ctx context.Context, in Input, files []Image, size int) ([][]uint64, error) {
	hashes := make([][]uint64, len(files))
	errs := make([]error, len(files))
	workers := min(runtime.NumCPU(), len(files))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(files); i += workers {
				if errs[i] = ctx.Err(); errs[i] != nil {
					return
				}
				hashes[i], errs[i] = HashFile(filepath.Join(in.Root, filepath.FromSlash(files[i].Path)), in.ROI, size)
			}
		}()
	}
	wg.Wait()
	// The first failure in file order, whichever worker met it first.
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return hashes, nil
}

// HashFile decodes an image file and returns its difference hash (Hash).
// It returns an error naming the file when it cannot be read or decoded.
func HashFile(path string, roi *inspector.Rect, size int) ([]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("quality: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("quality: decoding %s: %w", path, err)
	}
	return Hash(img, roi, size), nil
}

// Hash is the difference hash (dHash) of img's roi (the whole image when
// nil or outside it): the region is scaled to (size+1)×size grey pixels and
// each bit says whether a pixel is brighter than its right neighbour. A
// copy of an image re-encoded or re-lit lands a few bits away; a shot of
// the same part moved by a few pixels, or another part on the same table,
// lands far (docs/records.md has the measured distances): the check finds
// copies, not re-shots.
func Hash(img image.Image, roi *inspector.Rect, size int) []uint64 {
	src := img.Bounds()
	if roi != nil {
		r := image.Rect(roi.X, roi.Y, roi.X+roi.W, roi.Y+roi.H).Add(src.Min).Intersect(src)
		if !r.Empty() {
			src = r
		}
	}
	g := image.NewGray(image.Rect(0, 0, size+1, size))
	// Catmull-Rom widens its kernel when shrinking, so a pixel of the hash
	// stands for its whole cell rather than a few sampled points that noise
	// can flip.
	draw.CatmullRom.Scale(g, g.Bounds(), img, src, draw.Src, nil)
	h := make([]uint64, (size*size+63)/64)
	bit := 0
	for y := range size {
		for x := range size {
			if g.GrayAt(x, y).Y > g.GrayAt(x+1, y).Y {
				h[bit/64] |= 1 << (bit % 64)
			}
			bit++
		}
	}
	return h
}

// Distance is the Hamming distance between two hashes of one size.
func Distance(a, b []uint64) int {
	d := 0
	for i := range a {
		d += bits.OnesCount64(a[i] ^ b[i])
	}
	return d
}
