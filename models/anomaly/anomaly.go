// Package anomaly trains, evaluates and opens good-only anomaly models
// (inspector/anomaly) from ImageFolder datasets and the model registry. A
// model version holds model.onnx (the backbone pruned to the feature maps
// the model reads; versions before pruning hold the whole backbone), bank.f16
// (the memory bank) and card.json, whose FileSHA256 covers the bank, so the
// model reference of every verdict names both files.
package anomaly

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector"
	ia "github.com/pruefplatz/pruefplatz/inspector/anomaly"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"gocv.io/x/gocv"
)

// BankFile is the memory bank's name in a version folder.
const BankFile = "bank.f16"

// GlobalFile holds the training images' global descriptors (ia.Global).
const GlobalFile = "global.f16"

// LetterboxFile holds a letterboxed part's bank (ia.Letterboxed).
const LetterboxFile = "letterbox.f16"

// PosFile and PoseFile hold a positional part's bank and pose reference.
const (
	PosFile  = "pos.f16"
	PoseFile = "pose.f16"
)

// Threshold rules (Options.ThresholdRule). RuleZ: OK up to the held-out
// good images' mean + z standard deviations, z the normal distribution's
// point for Options.FalseAlarms (2.33 for 1 %), NOK from its point for a
// tenth of that (3.09, ia.ZForFalseAlarms); with a few dozen held-out images
// a mean and an SD are far steadier than a 99 % quantile, which is then
// practically their largest score. RuleQuantile: OK up to the Quantile,
// NOK from that × (1 + Margin), the rule of earlier versions.
const (
	RuleZ        = "z"
	RuleQuantile = "quantile"
)

// DefaultFalseAlarms is RuleZ's share of good parts the thresholds may
// stop (OK or uncertain) when Options.FalseAlarms is not set.
const DefaultFalseAlarms = 0.01

// AnomalyLabel is the second label of every anomaly model.
const AnomalyLabel = "anomaly"

// Errors returned by Train.
var (
	// ErrNoOK is returned when the dataset has no image of an OK class.
	ErrNoOK = errors.New("no OK images to learn from")
	// ErrMixedShapes is returned when images of different aspect ratios
	// would be stretched differently (use letterbox).
	ErrMixedShapes = errors.New("images of different aspect ratios")
	// ErrBadOption is returned for an option Train does not know.
	ErrBadOption = errors.New("bad option")
)

// Options configure Train.
type Options struct {
	Data     string
	Name     string
	Version  string // default: the registry's next
	Registry string
	OKLabels []string
	Backbone embed.Backbone
	Threads  int // ONNX Runtime threads (0: all cores)
	// Grid is the number of 224 px tiles per side (default 1).
	Grid   int
	Resize inspector.ResizeMode // default letterbox
	ROI    *inspector.Rect
	Fit    ia.FitOptions
	// ThresholdRule is how the thresholds come from the held-out good
	// images' scores: RuleZ (the default) or RuleQuantile.
	ThresholdRule string
	// Quantile and Margin set the threshold of RuleQuantile (defaults 0.99
	// and 0.10).
	Quantile, Margin float64
	// FalseAlarms is RuleZ's budget: the share of good parts, judged by
	// the held-out good images' mean and SD, that may score above the OK
	// threshold (default DefaultFalseAlarms).
	FalseAlarms float64
	// ValFrac and TestFrac are the good images held out for the
	// threshold and for the test figures (defaults 0.15 and 0.25).
	ValFrac, TestFrac float64
	// ExtraOK are further good images for the bank only (training split),
	// such as frames an operator confirmed OK at the station.
	ExtraOK []string
	// TopK, when above 1, makes the patch score the mean of the TopK
	// largest patch distances (ia.Params.TopK).
	TopK int
	// MedianOffset subtracts this share of the image's median patch
	// distance from the patch score (ia.Params.MedianOffset).
	MedianOffset float32
	// Neighbourhood is the patch features' neighbourhood, ia.Narrow (or
	// 0), ia.Wide, … (ia.ValidNeighbourhood).
	Neighbourhood int
	// LetterboxGrid, when above 0, gives a model whose input is padded at
	// the image's own scale (Resize inspector.ResizePad) a second patch
	// part: the image letterboxed to LetterboxGrid×LetterboxGrid tiles,
	// with a bank of its own (ia.Letterboxed; TopK and Neighbourhood as
	// the patch part's, LetterboxMedianOffset its median offset); the
	// image score is then the sum of the standardised parts.
	LetterboxGrid         int
	LetterboxMedianOffset float32
	// GlobalWords, when above 0, gives the model a global part with this
	// many words (ia.Global; ia.DefaultWords); 0: patch scores alone.
	GlobalWords int
	// Positional, when above 0, gives the model a positional part keeping
	// this many patches per canonical cell (ia.Positional), for parts of
	// one shape laid at a placement mark at any angle; 0: none.
	Positional int
	// PosSpread is how many cells around its canonical place a training
	// patch joins (default 1: absorbs the pose's error).
	PosSpread int
	// PosTopK averages the largest positional distances (default 3).
	PosTopK int
	// Masks is a folder MASKS/<class>/<name>.png of defect masks (white
	// on the defect) for the heatmap check; empty: none.
	Masks string
	// Search, when set, makes the nearest-neighbour search for a bank
	// (ONNX Runtime's, say); nil uses the pure-Go one.
	Search func(*ia.Bank) (ia.Searcher, error)
	Out    io.Writer
	Now    func() time.Time
	// createFile is the hook the failure tests use.
	createFile func(string) (*os.File, error)
}

func (o *Options) defaults() {
	if o.Grid <= 0 {
		o.Grid = 1
	}
	if o.Neighbourhood == ia.Narrow {
		o.Neighbourhood = 0 // the card omits the default, as before it
	}
	if o.Resize == "" {
		o.Resize = inspector.ResizeLetterbox
	}
	if o.Quantile <= 0 {
		o.Quantile = 0.99
	}
	if o.ThresholdRule == "" {
		o.ThresholdRule = RuleZ
	}
	if o.FalseAlarms == 0 {
		o.FalseAlarms = DefaultFalseAlarms
	}
	if o.Margin < 0 {
		o.Margin = 0
	} else if o.Margin == 0 {
		o.Margin = 0.10
	}
	if o.ValFrac <= 0 {
		o.ValFrac = 0.15
	}
	if o.TestFrac <= 0 {
		o.TestFrac = 0.25
	}
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.createFile == nil {
		o.createFile = os.Create
	}
	if o.Registry == "" {
		o.Registry = "models"
	}
	if o.PosSpread <= 0 {
		o.PosSpread = 1
	}
	if o.PosTopK <= 0 {
		o.PosTopK = 3
	}
}

// Spec is the input spec of an anomaly model with g tiles per side.
func Spec(g int, resize inspector.ResizeMode, roi *inspector.Rect) inspector.InputSpec {
	s := embed.Spec(resize, roi)
	s.Width, s.Height = embed.Size*g, embed.Size*g
	return s
}

// Result is a published model.
type Result struct {
	Card *models.Card
	Dir  string
}

// Train builds a memory bank from the OK images of opt.Data, chooses the
// thresholds on held-out OK images, evaluates on the rest (held-out OK plus
// every defect image) and publishes the version. Nothing reaches the
// registry unless every step succeeds. It returns errors wrapping ErrNoOK,
// ErrMixedShapes, datasets' errors, or the backbone's.
func Train(ctx context.Context, opt Options) (*Result, error) {
	opt.defaults()
	start := opt.Now()
	if !ia.ValidNeighbourhood(opt.Neighbourhood) {
		return nil, fmt.Errorf("%w: neighbourhood %d (want an odd number from %d to %d)", ErrBadOption, opt.Neighbourhood, ia.Narrow, ia.MaxNeighbourhood)
	}
	if opt.LetterboxGrid > 0 && opt.Resize != inspector.ResizePad {
		return nil, fmt.Errorf("%w: a letterboxed part (grid %d) needs an input padded at the image's own scale (--resize pad)", ErrBadOption, opt.LetterboxGrid)
	}
	if opt.ThresholdRule != RuleZ && opt.ThresholdRule != RuleQuantile {
		return nil, fmt.Errorf("%w: threshold rule %q (want %s or %s)", ErrBadOption, opt.ThresholdRule, RuleZ, RuleQuantile)
	}
	if !(opt.FalseAlarms > 0 && opt.FalseAlarms < 0.5) {
		return nil, fmt.Errorf("%w: false alarms %g (want a share above 0 and below 0.5, such as 0.01)", ErrBadOption, opt.FalseAlarms)
	}
	ds, err := loadDataset(opt.Data, opt.OKLabels)
	if err != nil {
		return nil, err
	}
	oks, defects := splitOK(ds.Samples, opt.OKLabels)
	if len(opt.OKLabels) == 0 {
		return nil, fmt.Errorf("%w: name the OK classes with --ok-labels (classes: %s)", ErrNoOK, strings.Join(ds.Classes, ", "))
	}
	if len(oks) < 3 {
		return nil, fmt.Errorf("%w: %d images in the OK classes %v of %s (classes: %s); at least 3 are needed (train, threshold, test)",
			ErrNoOK, len(oks), opt.OKLabels, opt.Data, strings.Join(ds.Classes, ", "))
	}
	if opt.Resize == inspector.ResizeStretch {
		if err := sameAspect(ds.Samples); err != nil {
			return nil, err
		}
	}
	okDS := &datasets.Dataset{Root: ds.Root, Classes: opt.OKLabels, Samples: oks}
	sp := okDS.Split(opt.Fit.Seed, opt.ValFrac, opt.TestFrac)
	if len(sp.Val) == 0 || len(sp.Train) == 0 {
		return nil, fmt.Errorf("%w: %d OK images leave none for training or the threshold", ErrNoOK, len(oks))
	}
	for _, p := range opt.ExtraOK {
		sp.Train = append(sp.Train, datasets.Sample{Path: p, Class: opt.OKLabels[0]})
	}
	manifestSplit := datasets.Split{Train: sp.Train, Val: sp.Val, Test: append(append([]datasets.Sample(nil), sp.Test...), defects...)}
	manifest, err := datasets.BuildManifest(ds, manifestSplit, opt.Fit.Seed)
	if err != nil {
		return nil, fmt.Errorf("anomaly: %w", err)
	}
	reg := models.Registry{Root: opt.Registry}
	version := opt.Version
	if version == "" {
		version = reg.NextVersion(opt.Name)
	}
	labels := []string{opt.OKLabels[0], AnomalyLabel}
	if err := reg.CheckLabels(opt.Name, labels); err != nil {
		return nil, err
	}

	tmp, err := os.MkdirTemp("", "pruefplatz-anomaly-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	pruned, err := pruneBackbone(opt.Backbone, filepath.Join(tmp, models.ModelFile), opt.createFile)
	if err != nil {
		return nil, fmt.Errorf("anomaly: %w", err)
	}
	runner, err := onnx.OpenBackbone(pruned, onnx.Options{Threads: opt.Threads, NoSpin: true})
	if err != nil {
		return nil, fmt.Errorf("anomaly: %w", err)
	}
	defer runner.Close()
	spec := Spec(opt.Grid, opt.Resize, opt.ROI)
	ex, err := newExtractor(runner, spec, opt.Grid, opt.Neighbourhood)
	if err != nil {
		return nil, err
	}
	defer ex.Close()

	if opt.Fit.ImageKeep == 0 {
		// Two stages once one stage would select from over 250,000
		// patches (see FitOptions.ImageKeep).
		per := ia.Patches * opt.Grid * opt.Grid
		if n := len(sp.Train) * per; n > 250000 {
			opt.Fit.ImageKeep = math.Max(0.02, 250000/float64(n))
		}
	}
	fmt.Fprintf(opt.Out, "learning from %d OK images (%d held out for the threshold, %d OK and %d defect images for the test), %d×%d tiles of %d px, %s\n",
		len(sp.Train), len(sp.Val), len(sp.Test), len(defects), opt.Grid, opt.Grid, embed.Size, spec.Resize)
	fit := ia.NewFitter(opt.Fit)
	var lbFit *ia.Fitter
	var lbPad []float32
	if opt.LetterboxGrid > 0 {
		lbFit = ia.NewFitter(opt.Fit)
		lbPad = PadValues(spec)
	}
	var problems []string
	var posGreys, posFeats [][]float32
	embedStart := time.Now()
	for i, s := range sp.Train {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := ex.features(ctx, s.Path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", s.Path, err))
			fmt.Fprintln(opt.Out, "skipped:", s.Path, err)
			continue
		}
		fit.Add(f)
		if lbFit != nil {
			lf, err := letterboxFeatures(ctx, runner, ex.x, spec.Width, lbPad, opt)
			if err != nil {
				return nil, err
			}
			lbFit.Add(lf)
		}
		if opt.Positional > 0 {
			g, err := ia.Grey(ex.x, embed.Size*opt.Grid)
			if err != nil {
				return nil, err
			}
			posGreys, posFeats = append(posGreys, g), append(posFeats, f)
		}
		if (i+1)%100 == 0 {
			fmt.Fprintf(opt.Out, "  %d/%d images\n", i+1, len(sp.Train))
		}
	}
	embedSecs := time.Since(embedStart).Seconds()
	bank, st, err := fit.Bank()
	if err != nil {
		return nil, fmt.Errorf("%w: none of the %d training images could be read", ErrNoOK, len(sp.Train))
	}
	fmt.Fprintf(opt.Out, "bank: %d of %d patches (greedy coreset%s) in %.1f s\n", st.Bank, st.Patches,
		map[bool]string{true: fmt.Sprintf(", two stages via %d", st.Pool), false: ""}[st.Pool != st.Patches], time.Since(embedStart).Seconds()-embedSecs)

	params := ia.Params{Grid: opt.Grid, Sigma: 1, TopK: opt.TopK, MedianOffset: opt.MedianOffset, Neighbourhood: opt.Neighbourhood}
	scorer, err := ia.New(nil, bank, params)
	if err != nil {
		return nil, err
	}
	if opt.Search != nil {
		if scorer.Search, err = opt.Search(bank); err != nil {
			return nil, err
		}
		defer func() {
			if c, ok := scorer.Search.(io.Closer); ok {
				c.Close()
			}
		}()
	}
	var lbBank *ia.Bank
	var lbSt ia.FitStats
	if lbFit != nil {
		t0 := time.Now()
		if lbBank, lbSt, err = lbFit.Bank(); err != nil {
			return nil, fmt.Errorf("%w: none of the %d training images could be read", ErrNoOK, len(sp.Train))
		}
		scorer.Lb = &ia.Letterboxed{Grid: opt.LetterboxGrid, Pad: lbPad, TopK: opt.TopK, MedianOffset: opt.LetterboxMedianOffset,
			Neighbourhood: opt.Neighbourhood, Bank: lbBank, R: runner}
		if opt.Search != nil {
			if scorer.Lb.Search, err = opt.Search(lbBank); err != nil {
				return nil, err
			}
			defer func() {
				if c, ok := scorer.Lb.Search.(io.Closer); ok {
					c.Close()
				}
			}()
		}
		fmt.Fprintf(opt.Out, "letterboxed part: %d×%d tiles of %d px, bank %d of %d patches in %.1f s\n", opt.LetterboxGrid, opt.LetterboxGrid, embed.Size,
			lbSt.Bank, lbSt.Patches, time.Since(t0).Seconds())
	}
	ev := &evaluator{ex: ex, m: scorer}
	var globalData []byte
	var globalInfo *models.GlobalInfo
	if opt.GlobalWords > 0 {
		if globalData, err = fitGlobal(ctx, ev, sp.Train, sp.Val, bank, opt); err != nil {
			return nil, err
		}
		globalInfo = &models.GlobalInfo{File: GlobalFile, Words: scorer.Global.Words.Len(), K: scorer.Global.K,
			PatchRef: scorer.P.PatchRef, GlobalRef: scorer.P.GlobalRef, RefQuantile: opt.Quantile}
		fmt.Fprintf(opt.Out, "global part: %d words, %d training descriptors; references (%.0f %% quantile of the held-out OK images): patch %.4g, global %.4g\n",
			globalInfo.Words, scorer.Global.Ref.Len(), 100*opt.Quantile, globalInfo.PatchRef, globalInfo.GlobalRef)
	}
	var posData, poseData []byte
	var posInfo *models.PositionalInfo
	if opt.Positional > 0 {
		if posData, poseData, err = fitPositional(ev, posGreys, posFeats, opt); err != nil {
			return nil, err
		}
		posGreys, posFeats = nil, nil
		posInfo = &models.PositionalInfo{File: PosFile, PoseFile: PoseFile, K: opt.Positional, Spread: opt.PosSpread, TopK: opt.PosTopK, Disc: true}
		fmt.Fprintf(opt.Out, "positional part: %d patches per cell of %d², pose from %d training images\n", opt.Positional, ia.Side*opt.Grid, st.Images)
	}
	var norm *models.ScoreNorm
	if opt.Positional > 0 || opt.GlobalWords > 0 || opt.LetterboxGrid > 0 {
		if norm, err = fitNorm(ctx, ev, sp.Val); err != nil {
			return nil, err
		}
		fmt.Fprintf(opt.Out, "parts standardised by the held-out OK images: patch %.4g ± %.4g", norm.PatchMean, norm.PatchSD)
		if norm.GlobalSD > 0 {
			fmt.Fprintf(opt.Out, ", global %.4g ± %.4g", norm.GlobalMean, norm.GlobalSD)
		}
		if norm.PosSD > 0 {
			fmt.Fprintf(opt.Out, ", positional %.4g ± %.4g", norm.PosMean, norm.PosSD)
		}
		if norm.LbSD > 0 {
			fmt.Fprintf(opt.Out, ", letterboxed %.4g ± %.4g", norm.LbMean, norm.LbSD)
		}
		fmt.Fprintln(opt.Out)
	}
	valScores, probs := ev.scores(ctx, sp.Val, opt.Out)
	problems = append(problems, probs...)
	var th ia.Threshold
	if opt.ThresholdRule == RuleZ {
		if len(valScores) < 2 {
			return nil, fmt.Errorf("%w: %d held-out OK image; the z threshold rule needs at least 2 (add OK images, or use the quantile rule)", ErrNoOK, len(valScores))
		}
		zOK, zNOK := ia.ZForFalseAlarms(opt.FalseAlarms)
		th, err = ia.ChooseThresholdZ(valScores, zOK, zNOK)
	} else {
		th, err = ia.ChooseThreshold(valScores, opt.Quantile, opt.Margin)
	}
	if err != nil {
		return nil, err
	}
	scorer.P.ScoreOK, scorer.P.ScoreNOK = th.ScoreOK, th.ScoreNOK
	thWhy := fmt.Sprintf("%.4g, the %.0f %% quantile of %d held-out OK images; ≥ %.4g (that +%.0f %%)", th.ScoreOK, 100*th.Quantile, th.N, th.ScoreNOK, 100*th.Margin)
	if th.Z != nil {
		thWhy = fmt.Sprintf("%.4g, the mean + %.2f standard deviations of %d held-out OK images' scores (%.3g %% false alarms); ≥ %.4g (+ %.2f)", th.ScoreOK, th.Z[0], th.N, 100*opt.FalseAlarms, th.ScoreNOK, th.Z[1])
	}
	fmt.Fprintf(opt.Out, "threshold: OK up to %s: NOK\n", thWhy)
	var evalRes *models.AnomalyEval
	var warnings []string
	if len(sp.Test) == 0 || len(defects) == 0 {
		warnings = append(warnings, fmt.Sprintf("not evaluated: %d good test images and %d defect images; AUROC and recall need both", len(sp.Test), len(defects)))
	} else {
		r, err := ev.evaluate(ctx, sp.Test, defects, opt.OKLabels, opt.Masks, opt.Out)
		if err != nil {
			return nil, err
		}
		evalRes = &r.AnomalyEval
		problems = append(problems, r.problems...)
		fmt.Fprint(opt.Out, r.Table())
	}

	bankPath := filepath.Join(tmp, BankFile)
	if err := writeFile(opt.createFile, bankPath, bank.EncodeF16()); err != nil {
		return nil, fmt.Errorf("anomaly: %w", err)
	}
	if err := manifest.WriteFile(filepath.Join(tmp, "manifest.json")); err != nil {
		return nil, err
	}
	files := map[string]string{
		models.ModelFile: pruned.File, BankFile: bankPath, "manifest.json": filepath.Join(tmp, "manifest.json"),
	}
	fileSums := map[string]string{BankFile: ""}
	if globalInfo != nil {
		p := filepath.Join(tmp, GlobalFile)
		if err := writeFile(opt.createFile, p, globalData); err != nil {
			return nil, fmt.Errorf("anomaly: %w", err)
		}
		files[GlobalFile], fileSums[GlobalFile] = p, ""
	}
	var lbInfo *models.LetterboxInfo
	if lbBank != nil {
		p := filepath.Join(tmp, LetterboxFile)
		if err := writeFile(opt.createFile, p, lbBank.EncodeF16()); err != nil {
			return nil, fmt.Errorf("anomaly: %w", err)
		}
		files[LetterboxFile], fileSums[LetterboxFile] = p, ""
		lbInfo = &models.LetterboxInfo{File: LetterboxFile, Grid: opt.LetterboxGrid, BankSize: lbSt.Bank, Pool: lbSt.Pool, Patches: lbSt.Patches,
			TopK: max(opt.TopK, 1), MedianOffset: opt.LetterboxMedianOffset, Neighbourhood: opt.Neighbourhood}
	}
	if posInfo != nil {
		for name, data := range map[string][]byte{PosFile: posData, PoseFile: poseData} {
			p := filepath.Join(tmp, name)
			if err := writeFile(opt.createFile, p, data); err != nil {
				return nil, fmt.Errorf("anomaly: %w", err)
			}
			files[name], fileSums[name] = p, ""
		}
	}
	secs := opt.Now().Sub(start).Seconds()
	scoreWhat := "largest patch distance"
	if opt.TopK > 1 {
		scoreWhat = fmt.Sprintf("mean of the %d largest patch distances", opt.TopK)
	}
	if opt.MedianOffset > 0 {
		scoreWhat = fmt.Sprintf("%s − %.2g × their median", scoreWhat, opt.MedianOffset)
	}
	switch {
	case norm != nil:
		scoreWhat = fmt.Sprintf("(%s − %.4g) / %.4g", scoreWhat, norm.PatchMean, norm.PatchSD)
		if norm.GlobalSD > 0 {
			scoreWhat += fmt.Sprintf(" + (global distance − %.4g) / %.4g", norm.GlobalMean, norm.GlobalSD)
		}
		if norm.PosSD > 0 {
			scoreWhat += fmt.Sprintf(" + (positional distance − %.4g) / %.4g", norm.PosMean, norm.PosSD)
		}
		if lbInfo != nil {
			lbWhat := fmt.Sprintf("mean of the %d largest patch distances", lbInfo.TopK)
			if lbInfo.MedianOffset > 0 {
				lbWhat = fmt.Sprintf("%s − %.2g × their median", lbWhat, lbInfo.MedianOffset)
			}
			scoreWhat += fmt.Sprintf(" + (letterboxed to %d×%d tiles: %s − %.4g) / %.4g", lbInfo.Grid, lbInfo.Grid, lbWhat, norm.LbMean, norm.LbSD)
		}
	case globalInfo != nil:
		scoreWhat = fmt.Sprintf("%s / %.4g + global distance / %.4g", scoreWhat, globalInfo.PatchRef, globalInfo.GlobalRef)
	}
	card := &models.Card{
		Name: opt.Name, Version: version, Labels: labels, Input: spec, OKLabels: opt.OKLabels[:1],
		Thresholds: inspector.Thresholds{Accept: ia.AcceptP, Reject: ia.RejectP},
		ThresholdWhy: fmt.Sprintf("image score (%s) ≤ %s: NOK; between: uncertain. P(OK) is logistic in the score, %.1f at the one and %.1f at the other.",
			scoreWhat, thWhy, ia.AcceptP, ia.RejectP),
		Architecture: fmt.Sprintf("PatchCore-style anomaly model: %s feat_s8 + feat_s16 (upsampled), 3×3 average, %d-d patches; greedy-coreset memory bank of %d patches%s; image score = %s", opt.Backbone.Name, ia.Dim, bank.Len(), posWhat(posInfo), scoreWhat),
		Kind:         models.KindAnomaly,
		Anomaly: &models.AnomalyInfo{
			Method: "patchcore", BankFile: BankFile, Grid: opt.Grid, FeatureDim: ia.Dim, Sigma: params.Sigma,
			ScoreOK: th.ScoreOK, ScoreNOK: th.ScoreNOK, Quantile: th.Quantile, Margin: th.Margin, HeldOutOK: th.N,
			Images: st.Images, Patches: st.Patches, Pool: st.Pool, BankSize: st.Bank, Ratio: opt.Fit.Ratio, ImageKeep: opt.Fit.ImageKeep,
			Proj: opt.Fit.Proj, Seed: opt.Fit.Seed, Eval: evalRes, BackboneOutputs: onnx.FeatureOutputs, Global: globalInfo, TopK: max(opt.TopK, 1),
			Positional: posInfo, Letterbox: lbInfo, Norm: norm, ThresholdZ: th.Z, MedianOffset: opt.MedianOffset, Neighbourhood: opt.Neighbourhood,
		},
		FileSHA256: fileSums,
		// The drift monitor's baseline: the held-out OK images' top
		// class probabilities, as verdicts carry them.
		ScoreBaseline: validationBaseline(scorer.P, valScores),
		Backbone:      &models.BackboneInfo{Name: opt.Backbone.Name, SHA256: opt.Backbone.SHA256, License: opt.Backbone.License, Source: opt.Backbone.Source, Frozen: true},
		Training: &models.TrainingInfo{Backend: "pure Go (features: ONNX Runtime)", Seed: opt.Fit.Seed, Seconds: secs, EmbedSeconds: embedSecs,
			ImagesPerSec: float64(st.Images) / secs, Batch: opt.Grid * opt.Grid, Sampling: "OK images only"},
		Dataset: &models.DatasetInfo{Path: opt.Data, ManifestHash: manifest.Hash(), ClassCounts: manifest.ClassCounts,
			SplitCounts: manifest.SplitCounts, Problems: problems},
		ONNXInput: embed.InputName, ONNXOutput: embed.OutFeatS8 + "," + embed.OutFeatS16, Outputs: "probabilities",
		Tool: "pruefplatz train --anomaly", Created: opt.Now().UTC().Truncate(time.Second),
		Files: map[string]string{"manifest": "manifest.json"},
	}
	card.Warnings = warnings
	if evalRes != nil && evalRes.Good < models.MinTestPerClass {
		card.Warnings = append(card.Warnings, fmt.Sprintf("only %d good test images: the false-alarm figures are anecdotes", evalRes.Good))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := reg.Publish(card, files)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(opt.Out, "published %s/%s in %s (%.0f s)\n", card.Name, card.Version, dir, opt.Now().Sub(start).Seconds())
	return &Result{Card: card, Dir: dir}, nil
}

// fitGlobal gives ev's model its global part: the descriptors of the
// training images over the first opt.GlobalWords bank patches, and the
// patch and global references from the held-out images val. It returns the
// descriptors file. The words and descriptors are the float16 values the
// files keep, so a loaded model scores as the trained one.
func fitGlobal(ctx context.Context, ev *evaluator, train, val []datasets.Sample, bank *ia.Bank, opt Options) ([]byte, error) {
	b16, err := ia.DecodeBank(bank.EncodeF16())
	if err != nil {
		return nil, err
	}
	words, err := ia.NewBank(b16.Data[:min(opt.GlobalWords, b16.Len())*ia.Dim], ia.Dim)
	if err != nil {
		return nil, err
	}
	var flat []float32
	for _, s := range train {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := ev.ex.features(ctx, s.Path)
		if err != nil {
			continue // reported when the bank was built
		}
		flat = append(flat, ia.Descriptor(f, words)...)
	}
	descs, err := ia.NewBank(flat, words.Len())
	if err != nil {
		return nil, fmt.Errorf("%w: no training image for the global part", ErrNoOK)
	}
	data := descs.EncodeF16()
	g, err := openGlobal(words, data)
	if err != nil {
		return nil, err
	}
	var patch, global []float32
	err = ev.eachHeldOut(ctx, val, func(f []float32) error {
		d := make([]float32, len(f)/ia.Dim)
		if err := ev.m.Search.Nearest(ctx, f, d); err != nil {
			return err
		}
		patch = append(patch, ev.m.P.PatchScore(d))
		global = append(global, g.Distance(f))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(patch) == 0 {
		return nil, fmt.Errorf("%w: no held-out good images to set the global references", ia.ErrNoImages)
	}
	ev.m.Global = g
	ev.m.P.PatchRef, ev.m.P.GlobalRef = ia.Quantile(patch, opt.Quantile), ia.Quantile(global, opt.Quantile)
	return data, nil
}

func posWhat(p *models.PositionalInfo) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("; positional part: the part's pose (centre, rotation) found on each image, %d good patches per place of the part", p.K)
}

// fitPositional gives ev's model its positional part from the training
// images' grey images and patch features. It returns the bank and pose
// files; the model scores with their float16 values, as a loaded one.
func fitPositional(ev *evaluator, greys, feats [][]float32, opt Options) (posData, poseData []byte, err error) {
	ref, err := ia.NewPoseRef(greys)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: no training image for the positional part", ErrNoOK)
	}
	poseData = ref.Encode()
	if ref, err = ia.DecodePoseRef(poseData); err != nil {
		return nil, nil, err
	}
	side := ia.Side * opt.Grid
	pf := ia.NewPosFitter(side, opt.Positional, opt.PosSpread, opt.Fit.Seed, opt.Fit.Workers)
	// a part laid at any angle lies inside the inscribed circle; the
	// grid's corners are mat, seen at some angles only
	pf.Disc = true
	for i, f := range feats {
		pf.Add(f, ref.Estimate(greys[i]))
	}
	pb, err := pf.Bank()
	if err != nil {
		return nil, nil, err
	}
	posData = pb.EncodeF16()
	if pb, err = ia.DecodePosBank(posData, side, opt.Positional); err != nil {
		return nil, nil, err
	}
	pb.Disc = true // the file does not say; the card does
	ev.m.Pos = &ia.Positional{Ref: ref, Bank: pb, TopK: opt.PosTopK}
	return posData, poseData, nil
}

// eachHeldOut calls fn with the patch features of every held-out good
// image in val that reads; scores() reports those that do not.
func (ev *evaluator) eachHeldOut(ctx context.Context, val []datasets.Sample, fn func(f []float32) error) error {
	for _, s := range val {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := ev.ex.features(ctx, s.Path)
		if err != nil {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// fitNorm sets ev's model's Norm from the part scores of the held-out
// good images val and returns it for the card.
func fitNorm(ctx context.Context, ev *evaluator, val []datasets.Sample) (*models.ScoreNorm, error) {
	var patch, global, pos, patchMax, posMax, lb []float32
	err := ev.eachHeldOut(ctx, val, func(f []float32) error {
		pp, err := ev.m.Parts(ctx, ev.ex.x, f)
		if err != nil {
			return err
		}
		lb = append(lb, pp.Lb)
		patch, global, patchMax = append(patch, pp.Patch), append(global, pp.Global), append(patchMax, ia.MaxScore(pp.D))
		if pp.PosD != nil {
			pos, posMax = append(pos, pp.Pos), append(posMax, ia.MaxScore(pp.PosD))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(patch) < 2 {
		return nil, fmt.Errorf("%w: %d held-out good images; standardising the parts needs at least 2", ia.ErrNoImages, len(patch))
	}
	n := &models.ScoreNorm{}
	n.PatchHot, n.PatchHotSD = ia.MeanSD(patchMax)
	n.PatchMean, n.PatchSD = ia.MeanSD(patch)
	if ev.m.Global != nil {
		n.GlobalMean, n.GlobalSD = ia.MeanSD(global)
	}
	if ev.m.Pos != nil {
		n.PosMean, n.PosSD = ia.MeanSD(pos)
		n.PosHot, n.PosHotSD = ia.MeanSD(posMax)
	}
	if ev.m.Lb != nil {
		n.LbMean, n.LbSD = ia.MeanSD(lb)
	}
	if n.PatchSD <= 0 || (ev.m.Global != nil && n.GlobalSD <= 0) || (ev.m.Pos != nil && n.PosSD <= 0) || (ev.m.Lb != nil && n.LbSD <= 0) {
		return nil, fmt.Errorf("%w: the held-out good images' part scores do not vary; they cannot be standardised", ia.ErrNoImages)
	}
	ev.m.P.Norm = iaNorm(n)
	return n, nil
}

// iaNorm converts the card's ScoreNorm.
func iaNorm(n *models.ScoreNorm) *ia.Norm {
	if n == nil {
		return nil
	}
	return &ia.Norm{PatchMean: n.PatchMean, PatchSD: n.PatchSD, GlobalMean: n.GlobalMean, GlobalSD: n.GlobalSD,
		PosMean: n.PosMean, PosSD: n.PosSD, PatchHot: n.PatchHot, PosHot: n.PosHot,
		PatchHotSD: n.PatchHotSD, PosHotSD: n.PosHotSD, LbMean: n.LbMean, LbSD: n.LbSD}
}

// PadValues are the input values of a black pixel under spec, per
// channel: the padding a padded input holds (ia.Letterboxed.Pad), computed
// as the preprocessing computes it.
func PadValues(spec inspector.InputSpec) []float32 {
	pad := make([]float32, spec.Channels)
	for c := range pad {
		pad[c] = -spec.Mean[c] / spec.Std[c]
	}
	return pad
}

// letterboxFeatures are the patch features of the image the padded input
// x (side px) holds, letterboxed to opt.LetterboxGrid tiles: what the
// letterboxed part of the model sees.
func letterboxFeatures(ctx context.Context, r embed.Runner, x []float32, side int, pad []float32, opt Options) ([]float32, error) {
	lx, err := ia.LetterboxInput(x, side, embed.Size*opt.LetterboxGrid, pad)
	if err != nil {
		return nil, err
	}
	f, err := ia.Extract(ctx, r, lx, opt.LetterboxGrid, nil)
	if err != nil {
		return nil, err
	}
	return ia.Neighbourhood(f, opt.LetterboxGrid, opt.Neighbourhood), nil
}

// openGlobal builds the global part from the words and the descriptors
// file.
func openGlobal(words *ia.Bank, data []byte) (*ia.Global, error) {
	descs, err := ia.DecodeBank(data)
	if err != nil {
		return nil, err
	}
	if descs.Dim != words.Len() {
		return nil, fmt.Errorf("%w: descriptors of %d values for %d words", ia.ErrBank, descs.Dim, words.Len())
	}
	rows := make([][]float32, descs.Len())
	for i := range rows {
		rows[i] = descs.Data[i*descs.Dim : (i+1)*descs.Dim]
	}
	return ia.NewGlobal(words, rows, ia.DefaultK)
}

// pruneBackbone verifies the shipped backbone b (its sha256 must be the
// one the project records) and writes to path the backbone pruned to the
// feature maps the model reads (onnx.FeatureOutputs): about half the
// network's work per frame. It returns the pruned file as a Backbone whose
// SHA256 is the pruned file's, with b's name, licence and source.
func pruneBackbone(b embed.Backbone, path string, create func(string) (*os.File, error)) (embed.Backbone, error) {
	if err := b.Verify(); err != nil {
		return embed.Backbone{}, err
	}
	full, err := os.ReadFile(b.File)
	if err != nil {
		return embed.Backbone{}, err
	}
	data, err := onnx.Prune(full, onnx.FeatureOutputs...)
	if err != nil {
		return embed.Backbone{}, fmt.Errorf("backbone %s: %w", b.Name, err)
	}
	if err := writeFile(create, path, data); err != nil {
		return embed.Backbone{}, err
	}
	sum := sha256.Sum256(data)
	p := b
	p.File, p.SHA256 = path, hex.EncodeToString(sum[:])
	return p, nil
}

func writeFile(create func(string) (*os.File, error), path string, data []byte) error {
	f, err := create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadDataset reads an ImageFolder dataset with every image decoded (a
// corrupt file is listed in Problems, not learnt). A folder with a single
// class is fine for a good-only model: its OK images alone.
func loadDataset(dir string, okLabels []string) (*datasets.Dataset, error) {
	ds, err := datasets.LoadWith(dir, datasets.Options{Verify: true})
	if errors.Is(err, datasets.ErrTooFewClasses) && ds != nil && len(ds.Classes) == 1 {
		return ds, nil
	}
	if errors.Is(err, datasets.ErrTooFewClasses) {
		return nil, fmt.Errorf("%w: %s has no class folder with readable images; put the good images in %s/%s/", ErrNoOK, dir, dir, firstOr(okLabels, "ok"))
	}
	return ds, err
}

func firstOr(s []string, d string) string {
	if len(s) > 0 {
		return s[0]
	}
	return d
}

// sameAspect returns ErrMixedShapes when the images' aspect ratios differ
// by more than 5 %: stretched to a square they would be distorted
// differently, and the bank would learn the distortion.
func sameAspect(ss []datasets.Sample) error {
	lo, hi := math.Inf(1), 0.0
	var a, b datasets.Sample
	for _, s := range ss {
		if s.Width <= 0 || s.Height <= 0 {
			continue
		}
		r := float64(s.Width) / float64(s.Height)
		if r < lo {
			lo, a = r, s
		}
		if r > hi {
			hi, b = r, s
		}
	}
	if hi > lo*1.05 {
		return fmt.Errorf("%w: %s is %d×%d, %s is %d×%d; stretched to the square input they would be squashed differently: use --resize letterbox (the default)",
			ErrMixedShapes, a.Path, a.Width, a.Height, b.Path, b.Width, b.Height)
	}
	return nil
}

// extractor turns image files into patch features.
type extractor struct {
	r       embed.Runner
	pre     *opencv.Preprocessor
	g       int
	nb      int // ia.Params.Neighbourhood
	x, tile []float32
}

func newExtractor(r embed.Runner, spec inspector.InputSpec, g, nb int) (*extractor, error) {
	pre, err := opencv.NewPreprocessor(spec)
	if err != nil {
		return nil, err
	}
	return &extractor{r: r, pre: pre, g: g, nb: nb, x: make([]float32, spec.TensorLen())}, nil
}

func (e *extractor) Close() { e.pre.Close() }

func (e *extractor) tensor(path string) error {
	img, err := opencv.ReadImageFile(path, opencv.Limits{})
	if err != nil {
		img.Close()
		return err
	}
	defer img.Close()
	return e.pre.Run(img, e.x)
}

func (e *extractor) features(ctx context.Context, path string) ([]float32, error) {
	if err := e.tensor(path); err != nil {
		return nil, err
	}
	f, err := ia.Extract(ctx, e.r, e.x, e.g, e.tile)
	if err != nil {
		return nil, err
	}
	return ia.Neighbourhood(f, e.g, e.nb), nil
}

// evaluator scores images with a model.
type evaluator struct {
	ex *extractor
	m  *ia.Model
}

// score returns an image's patch distances and its image score.
func (ev *evaluator) score(ctx context.Context, path string) ([]float32, float32, error) {
	f, err := ev.ex.features(ctx, path)
	if err != nil {
		return nil, 0, err
	}
	return ev.m.Score(ctx, ev.ex.x, f)
}

// validationBaseline is the histogram of the top class probability the
// model gives each held-out image (see monitor.TopScoreHistogram).
func validationBaseline(p ia.Params, scores []float32) *monitor.Histogram {
	probs := make([][]float32, len(scores))
	for i, s := range scores {
		probs[i] = p.Probabilities(s)
	}
	return monitor.TopScoreHistogram(probs)
}

func (ev *evaluator) scores(ctx context.Context, ss []datasets.Sample, out io.Writer) ([]float32, []string) {
	var sc []float32
	var probs []string
	for _, s := range ss {
		_, score, err := ev.score(ctx, s.Path)
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s: %v", s.Path, err))
			fmt.Fprintln(out, "skipped:", s.Path, err)
			continue
		}
		sc = append(sc, score)
	}
	return sc, probs
}

// EvalResult is an anomaly model's evaluation with what it skipped.
type EvalResult struct {
	models.AnomalyEval
	ScoreOK   float32        `json:"score_ok"`
	ScoreNOK  float32        `json:"score_nok"`
	PerClassN map[string]int `json:"images_per_class"`
	problems  []string
	classes   []string
}

// Table is the evaluation as a text table.
func (r *EvalResult) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image AUROC %.3f on %d good and %d defect images\n", r.AUROC, r.Good, r.Defects)
	fmt.Fprintf(&b, "at the card's threshold (NOK ≥ %.4g): recall %.1f %%, false alarms %.1f %%; NOK or uncertain (> %.4g): recall %.1f %%, false alarms %.1f %%\n",
		r.ScoreNOK, 100*r.Recall, 100*r.FalseAlarms, r.ScoreOK, 100*r.Flagged, 100*r.FalseFlags)
	fmt.Fprintf(&b, "oracle thresholds on these good images: recall %.1f %% at ≤ 5 %% false alarms, %.1f %% at ≤ 2 %%\n", 100*r.RecallAt5, 100*r.RecallAt2)
	fmt.Fprintf(&b, "%-16s %8s %10s %14s\n", "defect class", "images", "recall", "hot on defect")
	for _, c := range r.classes {
		hot := "-"
		if v, ok := r.HotPerClass[c]; ok {
			hot = fmt.Sprintf("%.1f%%", 100*v)
		}
		fmt.Fprintf(&b, "%-16s %8d %9.1f%% %14s\n", c, r.PerClassN[c], 100*r.PerClass[c], hot)
	}
	if r.Masks > 0 {
		fmt.Fprintf(&b, "hottest heatmap cell on the defect: %.1f %% of %d masked defect images\n", 100*r.HotOnDefect, r.Masks)
	}
	return b.String()
}

func (ev *evaluator) evaluate(ctx context.Context, good, bad []datasets.Sample, okLabels []string, masks string, out io.Writer) (*EvalResult, error) {
	r := &EvalResult{ScoreOK: ev.m.P.ScoreOK, ScoreNOK: ev.m.P.ScoreNOK, PerClassN: map[string]int{}}
	goodScores, probs := ev.scores(ctx, good, out)
	r.problems = probs
	var badScores []float32
	hits := map[string]int{}
	side := ia.Side * ev.m.P.Grid
	hot := 0
	hotN, hotHits := map[string]int{}, map[string]int{}
	for _, s := range bad {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, score, err := ev.score(ctx, s.Path)
		if err != nil {
			r.problems = append(r.problems, fmt.Sprintf("%s: %v", s.Path, err))
			fmt.Fprintln(out, "skipped:", s.Path, err)
			continue
		}
		badScores = append(badScores, score)
		if _, ok := r.PerClassN[s.Class]; !ok {
			r.classes = append(r.classes, s.Class)
		}
		r.PerClassN[s.Class]++
		if score >= r.ScoreNOK {
			hits[s.Class]++
		}
		if masks != "" {
			on, ok, err := hotOnMask(ev.m.P, d, side, s, masks, ev.ex.pre.Spec())
			if err != nil {
				return nil, err
			}
			if ok {
				r.Masks++
				hotN[s.Class]++
				if on {
					hot++
					hotHits[s.Class]++
				}
			}
		}
	}
	sort.Strings(r.classes)
	r.Good, r.Defects = len(goodScores), len(badScores)
	if r.Good == 0 || r.Defects == 0 {
		return nil, fmt.Errorf("anomaly: evaluating needs readable good and defect images; have %d good and %d defect", r.Good, r.Defects)
	}
	r.AUROC = ia.AUROC(goodScores, badScores)
	r.PerClass = map[string]float64{}
	nok, flagged := 0, 0
	for _, v := range badScores {
		if v >= r.ScoreNOK {
			nok++
		}
		if v > r.ScoreOK {
			flagged++
		}
	}
	fa, ff := 0, 0
	for _, v := range goodScores {
		if v >= r.ScoreNOK {
			fa++
		}
		if v > r.ScoreOK {
			ff++
		}
	}
	r.Recall, r.Flagged = frac(nok, len(badScores)), frac(flagged, len(badScores))
	r.FalseAlarms, r.FalseFlags = frac(fa, len(goodScores)), frac(ff, len(goodScores))
	for _, c := range r.classes {
		r.PerClass[c] = frac(hits[c], r.PerClassN[c])
	}
	r.RecallAt5 = recallAt(goodScores, badScores, 0.05)
	r.RecallAt2 = recallAt(goodScores, badScores, 0.02)
	if r.Masks > 0 {
		r.HotOnDefect = frac(hot, r.Masks)
		r.HotPerClass = map[string]float64{}
		for c, n := range hotN {
			r.HotPerClass[c] = frac(hotHits[c], n)
		}
	}
	return r, nil
}

func frac(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// recallAt is the share of bad scores above the lowest threshold that
// flags at most maxFA of the good scores.
func recallAt(good, bad []float32, maxFA float64) float64 {
	if len(good) == 0 || len(bad) == 0 {
		return math.NaN()
	}
	g := append([]float32(nil), good...)
	sort.Slice(g, func(i, j int) bool { return g[i] > g[j] })
	allowed := int(math.Floor(maxFA * float64(len(g))))
	// Scores strictly above g[allowed] flag at most `allowed` good images.
	t := g[min(allowed, len(g)-1)]
	n := 0
	for _, v := range bad {
		if v > t {
			n++
		}
	}
	return float64(n) / float64(len(bad))
}

// hotOnMask says whether the hottest heatmap cell of an image lies on its
// defect mask (MASKS/<class>/<name>.png), mapping the cell through the
// model's input spec back to the image. ok is false when there is no mask.
func hotOnMask(p ia.Params, d []float32, side int, s datasets.Sample, masks string, spec inspector.InputSpec) (on, ok bool, err error) {
	path := filepath.Join(masks, s.Class, strings.TrimSuffix(filepath.Base(s.Path), filepath.Ext(s.Path))+".png")
	if _, err := os.Stat(path); err != nil {
		return false, false, nil
	}
	m := gocv.IMRead(path, gocv.IMReadGrayScale)
	defer m.Close()
	if m.Empty() {
		return false, false, fmt.Errorf("anomaly: mask %s is not an image", path)
	}
	// the hottest cell of the smoothed map before it is quantised, where
	// cells above the scale would tie at 255
	sm := ia.Smooth(d, side, side, max(p.Sigma, 1e-3))
	best := 0
	for i, v := range sm {
		if v > sm[best] {
			best = i
		}
	}
	// Accept the hottest cell when any mask pixel lies within it (a cell
	// is 8 input pixels): the cell centre alone would miss thin scratches.
	area := inspector.InputArea(spec, m.Cols(), m.Rows())
	cx, cy := best%side, best/side
	x0 := (area.X + area.W*float32(cx)/float32(side)) * float32(m.Cols())
	x1 := (area.X + area.W*float32(cx+1)/float32(side)) * float32(m.Cols())
	y0 := (area.Y + area.H*float32(cy)/float32(side)) * float32(m.Rows())
	y1 := (area.Y + area.H*float32(cy+1)/float32(side)) * float32(m.Rows())
	r := image.Rect(int(x0), int(y0), int(math.Ceil(float64(x1))), int(math.Ceil(float64(y1)))).Intersect(image.Rect(0, 0, m.Cols(), m.Rows()))
	if r.Empty() {
		return false, true, nil
	}
	pix, err := m.DataPtrUint8()
	if err != nil {
		return false, false, err
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if pix[y*m.Cols()+x] > 127 {
				return true, true, nil
			}
		}
	}
	return false, true, nil
}

// splitOK separates the images of the OK classes from the rest (the
// defects, used only to evaluate a good-only model).
func splitOK(samples []datasets.Sample, okLabels []string) (ok, defects []datasets.Sample) {
	isOK := map[string]bool{}
	for _, l := range okLabels {
		isOK[l] = true
	}
	for _, s := range samples {
		if isOK[s.Class] {
			ok = append(ok, s)
		} else {
			defects = append(defects, s)
		}
	}
	return ok, defects
}
