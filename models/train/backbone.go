package train

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/regularizer"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/quality"
	"gocv.io/x/gocv"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// headScale multiplies the unit-length embeddings before the head: their
// entries are about 1/√1280 each, and logits of a zero-initialised head
// would need huge weights (and many Adam steps) to leave the uniform start.
// It is folded into the first layer's weights at export.
const headScale = 16

// DefaultPool is the head's input unless Options.Pool says otherwise: the
// max-pooled maps beside it helped demo-defects (92.7 → 94.7 %) but sent more
// of magnetic-tile to a human (5.0 → 7.4 %), and the patch filters do more
// for small defects; see docs/training.md, "Pretrained backbone".
var DefaultPool = []string{"embedding"}

// DefaultPatch is the number of patch filters the head learns unless
// Options.Patch says otherwise; the validation split still decides whether
// they are kept (docs/training.md).
const DefaultPatch = 16

// poolBlocks resolves block names into embed.Blocks, in the pooled
// vector's order. It returns an error naming an unknown or repeated block.
func poolBlocks(names []string) ([]embed.Block, error) {
	seen := map[string]bool{}
	for _, n := range names {
		if _, ok := embed.BlockByName(n); !ok || seen[n] {
			var all []string
			for _, b := range embed.Blocks {
				all = append(all, b.Name)
			}
			return nil, fmt.Errorf("train: pool block %q unknown or repeated; blocks: %s", n, strings.Join(all, ", "))
		}
		seen[n] = true
	}
	var out []embed.Block
	for _, b := range embed.Blocks {
		if seen[b.Name] {
			out = append(out, b)
		}
	}
	return out, nil
}

// embeddingOnly reports whether blocks is the bare embedding.
func embeddingOnly(blocks []embed.Block) bool {
	return len(blocks) == 1 && blocks[0].Output == embed.OutEmbedding
}

// selectBlocks cuts blocks out of pooled vectors, in place of vecs; the
// raw feat_s16 map after the blocks stays at the end when keepMap is set,
// turned position-major ([196][96]): the layout the patch filters' matrix
// product takes, made once here instead of in every training step.
func selectBlocks(vecs [][]float32, blocks []embed.Block, keepMap bool) {
	for i, v := range vecs {
		var x []float32
		for _, b := range blocks {
			x = append(x, v[b.Offset:b.Offset+b.Len]...)
		}
		if keepMap {
			src := v[embed.PooledDim:]
			n := len(x)
			x = append(x, make([]float32, embed.S16Len)...)
			dst := x[n:]
			for k := 0; k < embed.S16Ch; k++ {
				for p := 0; p < s16Pos; p++ {
					dst[p*embed.S16Ch+k] = src[k*s16Pos+p]
				}
			}
		}
		vecs[i] = x
	}
}

// patchBranch is the head's learned filter bank on the stride-16 patches:
// a 1×1 convolution of feat_s16 (W [S16Ch, C] row-major, B [C]), ReLU, and
// the maximum over the 14×14 positions, C values that sit after the pooled
// blocks in the head's input. A filter that learns "scratch" fires at the
// scratch wherever it is, which no fixed pooling of ImageNet channels does.
type patchBranch struct {
	W []float32
	B []float32
	C int
}

const s16Pos = embed.S16Len / embed.S16Ch // 14×14 positions

// patchDropout is the dropout rate on the patch filters' answers in training.
const patchDropout = 0.5

// featuresInto writes the branch's C values for one raw feat_s16 map,
// position-major ([196][96], as selectBlocks lays it out), into out.
func (p *patchBranch) featuresInto(out, m []float32) {
	acts := affine(blas32.General{Rows: s16Pos, Cols: embed.S16Ch, Stride: embed.S16Ch, Data: m[:embed.S16Len]}, p.W, p.B, p.C)
	clear(out) // ReLU then max: the maximum of max(·, 0)
	for pos := 0; pos < s16Pos; pos++ {
		for c, a := range acts.Data[pos*p.C : (pos+1)*p.C] {
			out[c] = max(out[c], a)
		}
	}
}

// embedded is a split's embeddings with their labels and files.
type embedded struct {
	vecs   [][]float32
	labels []int
	files  []string // one per vector
	views  []int    // view index per vector (0: unaugmented)
	stats  embed.CacheStats
}

// trainOnBackbone is Train's path for a frozen pretrained backbone: every
// image (and Views augmented copies of each training image) is embedded
// once through the shared embedder and cache, a small head learns on the
// vectors, and backbone and head are exported as one ONNX graph.
func trainOnBackbone(ctx context.Context, opt Options, start time.Time, reg models.Registry, ds *datasets.Dataset,
	split datasets.Split, manifest *datasets.Manifest, warnings []string) (*Result, error) {
	bb := *opt.Backbone
	spec := embed.Spec(opt.Resize, opt.ROI)
	if err := onnx.Init(opt.ORTLib); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	runner, err := onnx.OpenBackbone(bb, onnx.Options{Threads: opt.Threads})
	if errors.Is(err, os.ErrNotExist) {
		// The backbone is the default: say how to get going from a folder
		// without the repository's models/backbones.
		return nil, fmt.Errorf("train: %w; pass --backbones with the folder holding %s/, or --backbone none for the small CNN from scratch", err, bb.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer runner.Close()
	emb, err := embed.New(runner, spec, 16)
	if err != nil {
		return nil, err
	}
	blocks, err := poolBlocks(opt.Pool)
	if err != nil {
		return nil, err
	}
	// Pooled vectors are always cached with the raw feat_s16 map, so every
	// choice of --pool and --patch reuses one set of cached vectors.
	pooled := !embeddingOnly(blocks) || opt.Patch > 0
	emb.SetPooled(pooled)
	emb.SetS16Map(pooled)
	cache := opt.Cache
	if cache == nil {
		cache = embed.MemCache{}
	}
	sums := map[string]string{}
	for _, f := range manifest.Files {
		sums[filepath.Join(ds.Root, filepath.FromSlash(f.Path))] = f.SHA256
	}
	views := opt.Views
	fmt.Fprintf(opt.Out, "embedding %d images with %s (%d augmented views per training image, %d threads)\n",
		len(ds.Samples), bb.Name, views, opt.Threads)
	embedStart := time.Now()
	e := embedder{opt: opt, spec: spec, emb: emb, cache: cache, sums: sums, backbone: bb.SHA256, aug: opt.Pipeline.JSON(), pooled: pooled, s16map: pooled}
	tr, probs1, err := e.split(ctx, split.Train, views)
	if err != nil {
		return nil, err
	}
	va, probs2, err := e.split(ctx, split.Val, 0)
	if err != nil {
		return nil, err
	}
	te, probs3, err := e.split(ctx, split.Test, 0)
	if err != nil {
		return nil, err
	}
	embedSecs := time.Since(embedStart).Seconds()
	hits := tr.stats.Hits + va.stats.Hits + te.stats.Hits
	computed := tr.stats.Computed + va.stats.Computed + te.stats.Computed
	fmt.Fprintf(opt.Out, "embedded %d vectors in %.1f s (%d from the cache, %d computed)\n", hits+computed, embedSecs, hits, computed)
	var problems []string
	for _, p := range append(append(append(ds.Problems, probs1...), probs2...), probs3...) {
		problems = append(problems, p.String())
	}
	for _, p := range append(append(probs1, probs2...), probs3...) {
		fmt.Fprintln(opt.Out, "skipped:", p)
	}
	if len(tr.vecs) == 0 || len(va.vecs) == 0 {
		return nil, errors.New("train: no readable training or validation images")
	}
	if pooled {
		for _, s := range []*embedded{tr, va, te} {
			selectBlocks(s.vecs, blocks, true)
		}
	}

	pooledLen := len(tr.vecs[0])
	if pooled {
		pooledLen -= embed.S16Len // the map stays after the blocks
	}
	patch := opt.Patch
	headsStart := time.Now()
	trainOne := func(k, patch int) (*head, error) {
		o := opt
		o.Patch = patch
		return trainHead(ctx, o, k, tr, va, len(ds.Classes), pooledLen)
	}
	var heads []*head
	var patchWhy string
	if patch > 0 && !opt.PatchAlways {
		// The filters win where defects are small and local (demo-defects)
		// and cost confidence where the whole texture decides
		// (magnetic-tile): the first head with them and one without are
		// trained, and the validation split's cost under the card's
		// threshold rule decides which kind the ensemble is made of.
		with, err := trainOne(0, patch)
		if err != nil {
			return nil, err
		}
		without, err := trainOne(0, 0)
		if err != nil {
			return nil, err
		}
		cw, c0 := valCost(opt, ds.Classes, with, va), valCost(opt, ds.Classes, without, va)
		if cw < c0 {
			heads = append(heads, with)
		} else {
			heads = append(heads, without)
			patch = 0
		}
		patchWhy = fmt.Sprintf("patch filters chosen on the validation split: cost %.4f with them, %.4f without (looks by a human per image, a wrong verdict priced %g); kept: %s",
			cw, c0, opt.Thresholds.WrongCost, map[bool]string{true: "with", false: "without"}[patch > 0])
		fmt.Fprintln(opt.Out, patchWhy)
	}
	for k := len(heads); k < opt.Heads; k++ {
		h, err := trainOne(k, patch)
		if err != nil {
			return nil, err
		}
		heads = append(heads, h)
	}
	h := mergeHeads(heads)
	// The card's time is all heads', the discarded trial head's included.
	h.secs = time.Since(headsStart).Seconds()
	valProbs, testProbs := h.probs(va.vecs), h.probs(te.vecs)
	th, metrics := judge(opt, ds.Classes, valProbs, va.labels, testProbs, te.labels)
	fmt.Fprintf(opt.Out, "\ntest set (%d images):\n%s", len(te.vecs), metrics["test"].Table())

	tmp, err := os.MkdirTemp("", "pruefplatz-train-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	onnxPath := filepath.Join(tmp, models.ModelFile)
	if err := exportGrafted(opt, bb, blocks, h.patch, h.layers, onnxPath); err != nil {
		return nil, err
	}
	// The reference images' tensors, made again as the station will make them.
	n := min(16, len(te.files))
	refX := make([][]float32, n)
	for i := 0; i < n; i++ {
		x, err := opencv.PreprocessFile(te.files[i], spec)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		refX[i] = x
	}
	ver, err := verify(opt, onnxPath, spec, len(ds.Classes), refX, testProbs[:n], te.files[:n], nil)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(opt.Out, "export verified with ONNX Runtime: %d reference images, max difference %.2g (tolerance %.0e)\n",
		len(ver.References), ver.MaxAbsDiff, ver.Tolerance)

	var names []string
	for _, b := range blocks {
		names = append(names, fmt.Sprintf("%s %d", b.Name, b.Len))
	}
	arch := fmt.Sprintf("%s (frozen, ImageNet) → %s", bb.Name, strings.Join(names, " + "))
	if !embeddingOnly(blocks) {
		arch += " (feature maps: max/mean over positions)"
	}
	arch += ", each L2-normalised"
	if patch > 0 {
		arch += fmt.Sprintf(" + learned patch filters (feat_s16 → 1×1 conv %d → ReLU → max over positions)", patch)
	}
	if len(names) > 1 || patch > 0 {
		arch += ", concatenated"
	}
	if patchWhy != "" {
		arch += " (" + patchWhy + ")"
	}
	var layersText []string
	for i, l := range heads[0].layers {
		if i < len(heads[0].layers)-1 {
			layersText = append(layersText, fmt.Sprintf("dense(%d)+ReLU", l.Out))
		} else {
			layersText = append(layersText, fmt.Sprintf("dense(%d) logits", l.Out))
		}
	}
	if len(heads) > 1 {
		arch += fmt.Sprintf(" → %d heads, each %s, logits averaged", len(heads), strings.Join(layersText, " → "))
	} else {
		arch += " → " + strings.Join(layersText, " → ")
	}
	card := &models.Card{
		Name: opt.Name, Version: opt.Version, Labels: ds.Classes, Input: spec, OKLabels: opt.OKLabels,
		Thresholds: th, ThresholdWhy: opt.Thresholds.Explain(), ThresholdPolicy: &opt.Thresholds, Architecture: arch + "; input NCHW float32",
		Backbone: &models.BackboneInfo{Name: bb.Name, SHA256: bb.SHA256, License: bb.License, Source: bb.Source, Frozen: true},
		Training: &models.TrainingInfo{
			Backend: opt.Backend, Epochs: opt.Epochs, EpochsRun: len(h.curve), BestEpoch: h.bestEpoch, Batch: opt.Batch,
			StepsPerEpoch: h.steps, Patience: opt.Patience,
			LearningRate: opt.LR, Schedule: "Adam, cosine annealing per epoch to 2% of the start",
			EarlyStopping: fmt.Sprintf("validation loss, patience %d epochs; weights of the best epoch kept", opt.Patience),
			Sampling:      "class-balanced: each vector draws a class uniformly, then a vector of it",
			Seed:          opt.Seed, Augmentation: opt.Pipeline.JSON(), AugmentedViews: views, Heads: len(heads),
			Seconds: math.Round((embedSecs+h.secs)*10) / 10, EmbedSeconds: math.Round(embedSecs*10) / 10,
			EmbedCacheHits: hits, EmbedComputed: computed,
			ImagesPerSec: math.Round(float64(computed) / math.Max(embedSecs, 1e-3)), Curve: h.curve,
		},
		Dataset: &models.DatasetInfo{Path: opt.Data, ManifestHash: manifest.Hash(), ClassCounts: manifest.ClassCounts,
			SplitCounts: manifest.SplitCounts, Problems: problems},
		Warnings:      warnings,
		ScoreBaseline: monitor.TopScoreHistogram(valProbs),
		Metrics:       metrics, Verification: ver, ONNXInput: embed.InputName, ONNXOutput: "logits", Outputs: "logits",
		Tool: "pruefplatz train --backbone (GoMLX v0.28.3 head, ONNX graph grafted in Go)", Created: opt.Now().UTC().Truncate(time.Second),
		Files: map[string]string{"curve": "curve.png", "confusion": "confusion.png", "manifest": "manifest.json"},
	}
	return publish(ctx, opt, reg, card, manifest, tmp, onnxPath, start, testRecord{te.files, te.labels, testProbs})
}

// testRecord is the model's answers on the test split: files[i], of class
// labels[i], got probs[i].
type testRecord struct {
	files  []string
	labels []int
	probs  [][]float32
}

// publish writes the manifest and plots beside the verified model and
// publishes the version; nothing reaches the registry before this.
func publish(ctx context.Context, opt Options, reg models.Registry, card *models.Card, manifest *datasets.Manifest,
	tmp, onnxPath string, start time.Time, test testRecord) (*Result, error) {
	if opt.Doc != (models.Doc{}) {
		if _, err := card.SetDoc(opt.Doc, opt.DocBy, opt.Now()); err != nil {
			return nil, err
		}
	}
	// The checks only read: when they fail, the trained model is still
	// published, with a warning saying the checks are missing.
	if q, err := trainQuality(ctx, card, manifest, test, opt.Now); err != nil {
		w := fmt.Sprintf("data-quality checks failed (%v); run pruefplatz models check", err)
		fmt.Fprintln(opt.Out, "warning:", w)
		card.Warnings = append(card.Warnings, w)
	} else {
		card.Quality = q
		for _, w := range q.Warnings {
			fmt.Fprintln(opt.Out, "data quality:", w)
		}
	}
	if err := manifest.WriteFile(filepath.Join(tmp, "manifest.json")); err != nil {
		return nil, err
	}
	if err := writeCurvePNG(filepath.Join(tmp, "curve.png"), card.Training.Curve); err != nil {
		return nil, err
	}
	if err := WriteConfusionPNG(filepath.Join(tmp, "confusion.png"), card.Metrics["test"]); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	files := map[string]string{models.ModelFile: onnxPath}
	for _, f := range card.Files {
		files[f] = filepath.Join(tmp, f)
	}
	dir, err := reg.Publish(card, files)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(opt.Out, "published %s/%s in %s (%.0fs)\n", card.Name, card.Version, dir, opt.Now().Sub(start).Seconds())
	return &Result{Card: card, Dir: dir}, nil
}

// trainQuality runs the data-quality and bias checks (models/quality) on
// the manifest's images and the test answers.
func trainQuality(ctx context.Context, card *models.Card, manifest *datasets.Manifest, test testRecord, now func() time.Time) (*models.Quality, error) {
	images := make([]quality.Image, len(manifest.Files))
	for i, f := range manifest.Files {
		images[i] = quality.Image{Path: f.Path, Class: f.Class, Split: f.Split, SHA256: f.SHA256}
	}
	// The capture conditions the dataset records beside its images.
	if _, _, err := quality.AddConditions(images, filepath.Join(manifest.Root, quality.ConditionsFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	rel := make([]string, len(test.files))
	for i, f := range test.files {
		r, err := filepath.Rel(manifest.Root, f)
		if err != nil {
			return nil, err
		}
		rel[i] = filepath.ToSlash(r)
	}
	return quality.Check(ctx, quality.Input{
		Root: manifest.Root, Images: images, ROI: card.Input.ROI,
		Predictions: quality.Predictions(card.Labels, rel, test.labels, test.probs),
	}, quality.Options{Tool: card.Tool, Now: now})
}

// embedder embeds dataset images, view by view, through the cache.
type embedder struct {
	opt      Options
	spec     inspector.InputSpec
	emb      *embed.Embedder
	cache    embed.Cache
	sums     map[string]string // file → sha256, from the manifest
	backbone string
	aug      []byte
	pooled   bool // pooled vectors (embed.Blocks), not bare embeddings
	s16map   bool // with the raw feat_s16 map appended
}

func (e *embedder) key(sum string, view int) embed.Key {
	p := embed.KeyParts{ImageSHA256: sum, BackboneSHA256: e.backbone, Spec: e.spec}
	if e.pooled {
		p.Features = embed.PooledFeatures
	}
	if e.s16map {
		p.Features = embed.PooledS16MapFeatures
	}
	if view > 0 {
		// View 0 is the image as the station sees it: its key does not
		// depend on the augmentation, so runs with other pipelines share it.
		p.Augmentation, p.Seed, p.View = e.aug, e.opt.Seed, view
	}
	return embed.MakeKey(p)
}

// split embeds samples with view 0 and views augmented copies each.
// Unreadable images are skipped and reported.
func (e *embedder) split(ctx context.Context, samples []datasets.Sample, views int) (*embedded, []datasets.Problem, error) {
	out := &embedded{}
	var problems []datasets.Problem
	const chunk = 16 // images per round: decode in parallel, then embed
	for start := 0; start < len(samples); start += chunk {
		part := samples[start:min(start+chunk, len(samples))]
		var keys []embed.Key
		type item struct{ img, view int }
		var items []item
		for i, s := range part {
			for v := 0; v <= views; v++ {
				keys = append(keys, e.key(e.sums[s.Path], v))
				items = append(items, item{i, v})
			}
		}
		have, err := e.cache.Get(keys)
		if err != nil {
			return nil, nil, fmt.Errorf("embed cache: %w", err)
		}
		need := make([][]int, len(part)) // per image: the views to compute
		for k, v := range have {
			if v == nil {
				need[items[k].img] = append(need[items[k].img], items[k].view)
			}
		}
		tensors, errs := e.tensors(ctx, part, need)
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		var ks []embed.Key
		var idx []int
		for k, it := range items {
			if errs[it.img] != nil {
				continue
			}
			ks = append(ks, keys[k])
			idx = append(idx, k)
		}
		vecs, st, err := embed.Cached(ctx, e.emb, e.cache, ks, func(i int, dst []float32) error {
			it := items[idx[i]]
			x := tensors[it.img][it.view]
			if x == nil {
				return fmt.Errorf("%s view %d: no tensor (cache changed during the run)", part[it.img].Path, it.view)
			}
			copy(dst, x)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		out.stats.Hits += st.Hits
		out.stats.Computed += st.Computed
		for i, s := range part {
			if errs[i] != nil {
				problems = append(problems, datasets.Problem{Path: s.Path, Err: errs[i].Error()})
			}
		}
		for j, k := range idx {
			it := items[k]
			out.vecs = append(out.vecs, vecs[j])
			out.labels = append(out.labels, part[it.img].Label)
			out.files = append(out.files, part[it.img].Path)
			out.views = append(out.views, it.view)
		}
	}
	return out, problems, nil
}

// tensors decodes the images that need views on all cores and makes each
// needed view's tensor: view 0 through the station's Preprocessor from the
// whole image; view v > 0 cut to the ROI, pre-shrunk, augmented with a
// generator seeded by (seed, image content, v), then preprocessed.
func (e *embedder) tensors(ctx context.Context, part []datasets.Sample, need [][]int) ([]map[int][]float32, []error) {
	out := make([]map[int][]float32, len(part))
	errs := make([]error, len(part))
	jobs := make(chan int)
	var wg sync.WaitGroup
	workers := min(runtime.NumCPU(), len(part))
	augSpec := e.spec
	augSpec.ROI = nil
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pre, err := opencv.NewPreprocessor(e.spec)
			if err != nil {
				for i := range jobs {
					errs[i] = err
				}
				return
			}
			defer pre.Close()
			preAug, err := opencv.NewPreprocessor(augSpec)
			if err != nil {
				for i := range jobs {
					errs[i] = err
				}
				return
			}
			defer preAug.Close()
			aug := gocv.NewMat()
			defer aug.Close()
			for i := range jobs {
				out[i], errs[i] = e.viewTensors(part[i].Path, need[i], pre, preAug, &aug)
			}
		}()
	}
	for i := range part {
		if len(need[i]) == 0 || ctx.Err() != nil {
			continue
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out, errs
}

func (e *embedder) viewTensors(path string, views []int, pre, preAug *opencv.Preprocessor, aug *gocv.Mat) (map[int][]float32, error) {
	img, err := opencv.ReadImageFile(path, opencv.Limits{})
	if err != nil {
		return nil, err
	}
	defer img.Close()
	out := map[int][]float32{}
	var small gocv.Mat // the ROI, pre-shrunk: the augmentations' source
	defer func() { small.Close() }()
	sum, _ := hex.DecodeString(e.sums[path])
	var imgSeed uint64
	if len(sum) >= 8 {
		imgSeed = binary.LittleEndian.Uint64(sum)
	}
	for _, v := range views {
		x := make([]float32, e.spec.TensorLen())
		if v == 0 {
			if err := pre.Run(img, x); err != nil {
				return nil, err
			}
			out[v] = x
			continue
		}
		if small.Ptr() == nil {
			src := img
			if r := e.spec.ROI; r != nil {
				area := image.Rect(r.X, r.Y, r.X+r.W, r.Y+r.H).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
				if area.Empty() {
					return nil, fmt.Errorf("roi %+v lies outside the %dx%d image", *r, img.Cols(), img.Rows())
				}
				region := img.Region(area)
				src = region.Clone()
				region.Close()
				defer src.Close()
			}
			if s, ok := opencv.PreShrink(src, e.spec); ok {
				small = s
			} else {
				small = src.Clone()
			}
		}
		rng := rand.New(rand.NewPCG(e.opt.Seed^imgSeed, uint64(v)))
		if _, err := e.opt.Pipeline.Apply(small, aug, rng); err != nil {
			return nil, err
		}
		if err := preAug.Run(*aug, x); err != nil {
			return nil, err
		}
		out[v] = x
	}
	return out, nil
}

// head is a trained head: its layers (the scale folded in) and a forward pass.
type head struct {
	patch     *patchBranch // nil: the input is the pooled blocks alone
	pooledLen int          // length of the blocks before the raw map (with patch)
	layers    []headLayer
	curve     []models.EpochStats
	bestEpoch int
	steps     int
	secs      float64
}

// probs runs the head in Go on normalised embeddings. It is the "trained"
// side of the export check; the graph's Gemm computes the same sums.
func (h *head) probs(vecs [][]float32) [][]float32 {
	out := h.logitsOf(vecs)
	for i, l := range out {
		out[i] = inspector.Softmax(l)
	}
	return out
}

// logits is the head's forward pass on one vector.
func (h *head) logits(v []float32) []float32 {
	return h.logitsOf([][]float32{v})[0]
}

// logitsOf is the head's forward pass on a batch: one matrix product per
// layer (gonum's, with its vector kernels), since the validation pass of
// every epoch is a fair share of a head's training time.
func (h *head) logitsOf(vecs [][]float32) [][]float32 {
	if len(vecs) == 0 {
		return nil
	}
	in := h.layers[0].In
	x := blas32.General{Rows: len(vecs), Cols: in, Stride: in, Data: make([]float32, len(vecs)*in)}
	for i, v := range vecs {
		row := x.Data[i*in : (i+1)*in]
		if h.patch != nil {
			copy(row, v[:h.pooledLen])
			h.patch.featuresInto(row[h.pooledLen:], v[h.pooledLen:])
		} else {
			copy(row, v[:in])
		}
	}
	for li, l := range h.layers {
		y := affine(x, l.W, l.B, l.Out)
		if li < len(h.layers)-1 {
			for j, v := range y.Data {
				y.Data[j] = max(v, 0)
			}
		}
		x = y
	}
	out := make([][]float32, len(vecs))
	for i := range out {
		out[i] = x.Data[i*x.Cols : (i+1)*x.Cols]
	}
	return out
}

// affine returns x·W + b for W of x.Cols rows and cols columns, row-major.
func affine(x blas32.General, w, b []float32, cols int) blas32.General {
	y := blas32.General{Rows: x.Rows, Cols: cols, Stride: cols, Data: make([]float32, x.Rows*cols)}
	for i := 0; i < x.Rows; i++ {
		copy(y.Data[i*cols:(i+1)*cols], b)
	}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, x, blas32.General{Rows: x.Cols, Cols: cols, Stride: cols, Data: w}, 1, y)
	return y
}

// trainHead learns the head on the training vectors with GoMLX: Adam,
// cosine-annealed, class-balanced batches, early stopping on the validation
// loss with the best epoch's weights kept.
//
// member numbers the heads of an ensemble: each draws its own initial
// weights and batches from the seed; member 0 is the single head's.
//
// The vectors hold pooledLen values of pooled blocks, then (with patch
// filters, opt.Patch > 0) the raw feat_s16 map; a head without filters
// reads only the blocks.
func trainHead(ctx context.Context, opt Options, member int, tr, va *embedded, classes, pooledLen int) (*head, error) {
	backend, err := newBackend(opt)
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(opt.Seed)+int64(member)*7919)
	store.SetParam(regularizer.ParamL2, opt.WeightDecay)
	hidden := opt.Hidden
	// The raw map is a second input rather than a slice of the vector: the
	// gradient of a slice is a Pad, which GoMLX's ONNX Runtime backend lacks.
	modelFn := func(scope *model.Scope, x, m *graph.Node) *graph.Node {
		if m != nil {
			// m arrives position-major ([batch·196, 96], see selectBlocks):
			// a plain matrix product, where a transpose and a 3-D Dense in
			// the graph took most of a step.
			f := layers.Dense(scope.In("patch"), m, true, opt.Patch)
			f = graph.Reshape(f, -1, s16Pos, opt.Patch)
			f = graph.ReduceMax(graph.Max(f, graph.ZerosLike(f)), 1)
			// The filters fit the training images within a few epochs
			// (magnetic-tile); dropping half their answers keeps the head
			// from leaning on any one of them.
			f = layers.DropoutStatic(scope, f, patchDropout)
			x = graph.Concatenate([]*graph.Node{graph.MulScalar(x, headScale), f}, 1)
		} else {
			x = graph.MulScalar(x, headScale)
		}
		if hidden > 0 {
			x = layers.Dense(scope.In("head0"), x, true, hidden)
			x = graph.Max(x, graph.ZerosLike(x))
			x = layers.DropoutStatic(scope, x, 0.2)
			return layers.Dense(scope.In("head1").WithInitializer(initializer.Zero), x, true, classes)
		}
		return layers.Dense(scope.In("head0").WithInitializer(initializer.Zero), x, true, classes)
	}
	trainer := gtrain.NewTrainer(backend, store, func(scope *model.Scope, spec any, inputs []*graph.Node) []*graph.Node {
		var m *graph.Node
		if len(inputs) > 1 {
			m = inputs[1]
		}
		return []*graph.Node{modelFn(scope, inputs[0], m)}
	}, loss.SparseCategoricalCrossEntropyLogits, optimizer.Adam().LearningRate(opt.LR).Done(), nil, nil)
	lrVar := optimizer.LearningRateVar(store.RootScope(), dtypes.Float32, opt.LR)

	byClass := make([][]int, classes)
	for i, l := range tr.labels {
		byClass[l] = append(byClass[l], i)
	}
	var nonEmpty []int
	for c, idx := range byClass {
		if len(idx) > 0 {
			nonEmpty = append(nonEmpty, c)
		}
	}
	bs := opt.Batch
	steps := opt.StepsPerEpoch
	if steps <= 0 {
		steps = max(10, len(tr.vecs)/bs)
	}
	h := &head{steps: steps, pooledLen: pooledLen}
	// Training accuracy for the curve on at most 256 unaugmented vectors:
	// on all of them it took a third of the head's time.
	var tr0 [][]float32
	var tr0y []int
	var unaug []int
	for i, v := range tr.views {
		if v == 0 {
			unaug = append(unaug, i)
		}
	}
	stride := max(1, (len(unaug)+255)/256)
	for k := 0; k < len(unaug); k += stride {
		tr0, tr0y = append(tr0, tr.vecs[unaug[k]]), append(tr0y, tr.labels[unaug[k]])
	}
	bestLoss := math.Inf(1)
	var best []headLayer
	var bestPatch *patchBranch
	t0 := time.Now()
	for epoch := 1; epoch <= opt.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lr := opt.LR * (0.02 + 0.98*0.5*(1+math.Cos(math.Pi*float64(epoch-1)/float64(opt.Epochs))))
		if err := lrVar.SetValue(tensors.FromScalar(float32(lr))); err != nil {
			return nil, err
		}
		rng := rand.New(rand.NewPCG(opt.Seed, uint64(epoch)|uint64(member)<<32))
		var lossSum float64
		for k := 0; k < steps; k++ {
			x := make([]float32, bs*pooledLen)
			var maps []float32
			if opt.Patch > 0 {
				maps = make([]float32, bs*embed.S16Len)
			}
			y := make([]int32, bs)
			for i := 0; i < bs; i++ {
				c := nonEmpty[rng.IntN(len(nonEmpty))]
				j := byClass[c][rng.IntN(len(byClass[c]))]
				copy(x[i*pooledLen:], tr.vecs[j][:pooledLen])
				if maps != nil {
					copy(maps[i*embed.S16Len:], tr.vecs[j][pooledLen:])
				}
				y[i] = int32(c)
			}
			in := []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, bs, pooledLen)}
			if maps != nil {
				in = append(in, tensors.FromFlatDataAndDimensions(maps, bs*s16Pos, embed.S16Ch))
			}
			m, err := trainer.TrainStep(gtrain.Batch{
				Inputs: in,
				Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(y, bs, 1)}})
			if err != nil {
				return nil, fmt.Errorf("train: head step: %w", err)
			}
			lossSum += float64(tensors.MustCopyFlatData[float32](m[0])[0])
			for _, t := range m {
				t.FinalizeAll()
			}
		}
		cur, curPatch, err := headLayers(store, hidden > 0, pooledLen, opt.Patch)
		if err != nil {
			return nil, err
		}
		h.layers, h.patch = cur, curPatch
		_, trAcc := lossAndAccuracy(h.probs(tr0), tr0y)
		vl, vacc := lossAndAccuracy(h.probs(va.vecs), va.labels)
		st := models.EpochStats{Epoch: epoch, TrainLoss: lossSum / float64(steps), TrainAcc: trAcc, ValLoss: vl, ValAcc: vacc, LR: lr}
		h.curve = append(h.curve, st)
		fmt.Fprintf(opt.Out, "epoch %3d/%d  train loss %.4f  train acc %.3f  val loss %.4f  val acc %.3f  lr %.5f\n",
			epoch, opt.Epochs, st.TrainLoss, trAcc, vl, vacc, lr)
		if vl < bestLoss-1e-4 {
			bestLoss, h.bestEpoch, best, bestPatch = vl, epoch, cur, curPatch
		} else if epoch-h.bestEpoch >= opt.Patience {
			fmt.Fprintf(opt.Out, "early stop: validation loss has not improved for %d epochs (best: epoch %d)\n", opt.Patience, h.bestEpoch)
			break
		}
	}
	h.layers, h.patch = best, bestPatch
	h.secs = time.Since(t0).Seconds()
	return h, nil
}

// valCost is what the head's answers on the validation split cost under
// opt's threshold rule with the thresholds it would choose there: the share
// sent to a human plus the price of each accepted wrong answer.
func valCost(opt Options, classes []string, h *head, va *embedded) float64 {
	probs := h.probs(va.vecs)
	_, m := judge(opt, classes, probs, va.labels, probs, va.labels)
	v := m["validation"]
	price := opt.Thresholds.WrongCost
	if opt.Thresholds.Rule != models.RuleCost || price <= 0 {
		price = models.DefaultWrongCost
	}
	return v.Uncertain + price*(1-v.Uncertain)*(1-v.AcceptedAccuracy)
}

// headLayers copies the head's weights out of the store, with headScale
// folded into the first layer's rows of the pooled blocks (the first
// pooledLen inputs) so the graph takes them as they are; with patch > 0 it
// returns the patch branch too.
func headLayers(store *model.Store, hidden bool, pooledLen, patch int) ([]headLayer, *patchBranch, error) {
	var pb *patchBranch
	if patch > 0 {
		w, b, _, err := denseWeights(store, "patch")
		if err != nil {
			return nil, nil, err
		}
		pb = &patchBranch{W: w, B: b, C: patch}
	}
	names := []string{"head0"}
	if hidden {
		names = append(names, "head1")
	}
	var out []headLayer
	for i, n := range names {
		w, b, d, err := denseWeights(store, n)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			for j := range w[:pooledLen*d[1]] {
				w[j] *= headScale
			}
		}
		out = append(out, headLayer{W: w, B: b, In: d[0], Out: d[1]})
	}
	return out, pb, nil
}

// denseWeights copies the weights and biases of scope's dense layer out
// of store, with the weights' dimensions.
func denseWeights(store *model.Store, scope string) (w, b []float32, dims []int, err error) {
	s := store.RootScope().In("%s", scope).In("dense")
	wv, bv := s.GetVariable("weights"), s.GetVariable("biases")
	if wv == nil || bv == nil {
		return nil, nil, nil, fmt.Errorf("train: layer %s has no weights", scope)
	}
	wt, err := wv.Value()
	if err != nil {
		return nil, nil, nil, err
	}
	bt, err := bv.Value()
	if err != nil {
		return nil, nil, nil, err
	}
	return tensors.MustCopyFlatData[float32](wt), tensors.MustCopyFlatData[float32](bt), wv.Shape().Dimensions, nil
}

// exportGrafted writes the backbone with the head grafted on to path.
func exportGrafted(opt Options, bb embed.Backbone, blocks []embed.Block, patch *patchBranch, hl []headLayer, path string) error {
	if err := bb.Verify(); err != nil {
		return err
	}
	src, err := os.ReadFile(bb.File)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	g, err := graftHead(src, blocks, patch, hl)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	f, err := opt.createFile(path)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	_, err = f.Write(g)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("export to %s: %w", path, err)
	}
	return nil
}

// mergeHeads makes one head whose logits are the mean of the heads':
// their hidden layers side by side, and one output layer that reads all of
// them with weights and biases divided by the number of heads. The export
// grafts it like a single head, so an ensemble costs one wider Gemm at the
// station, not a second graph. Patch branches are stacked into one filter
// bank; each head's hidden units read only its own filters. Heads without a
// hidden layer add their (linear) layers' means. Curves and epochs are the
// first head's (the caller sets the seconds).
func mergeHeads(hs []*head) *head {
	if len(hs) == 1 {
		return hs[0]
	}
	out := *hs[0]
	k := len(hs)
	kf := float32(k)
	first := hs[0].layers[0]
	pooled, c := first.In, 0
	if p := hs[0].patch; p != nil {
		c = p.C
		pooled -= c
		mp := &patchBranch{W: make([]float32, embed.S16Ch*k*c), C: k * c}
		for j, h := range hs {
			for r := 0; r < embed.S16Ch; r++ {
				copy(mp.W[r*k*c+j*c:], h.patch.W[r*c:(r+1)*c])
			}
			mp.B = append(mp.B, h.patch.B...)
		}
		out.patch = mp
	}
	in := pooled + k*c
	// row returns the merged input row that head j's first-layer row r reads.
	row := func(j, r int) int {
		if r < pooled {
			return r
		}
		return pooled + j*c + (r - pooled)
	}
	if len(hs[0].layers) == 1 {
		classes := first.Out
		m := headLayer{W: make([]float32, in*classes), B: make([]float32, classes), In: in, Out: classes}
		for j, h := range hs {
			l := h.layers[0]
			for r := 0; r < l.In; r++ {
				dst := m.W[row(j, r)*classes:]
				for o, w := range l.W[r*classes : (r+1)*classes] {
					dst[o] += w / kf
				}
			}
			for o, b := range l.B {
				m.B[o] += b / kf
			}
		}
		out.layers = []headLayer{m}
		return &out
	}
	last := hs[0].layers[1]
	hid, classes := first.Out, last.Out
	l0 := headLayer{W: make([]float32, in*hid*k), B: make([]float32, 0, hid*k), In: in, Out: hid * k}
	l1 := headLayer{W: make([]float32, 0, hid*k*classes), B: make([]float32, classes), In: hid * k, Out: classes}
	for j, h := range hs {
		a, b := h.layers[0], h.layers[1]
		for r := 0; r < a.In; r++ {
			copy(l0.W[row(j, r)*l0.Out+j*hid:], a.W[r*hid:(r+1)*hid])
		}
		l0.B = append(l0.B, a.B...)
		for _, w := range b.W {
			l1.W = append(l1.W, w/kf)
		}
		for i, v := range b.B {
			l1.B[i] += v / kf
		}
	}
	out.layers = []headLayer{l0, l1}
	return &out
}
