package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/pruefplatz/pruefplatz/inspector"
	ia "github.com/pruefplatz/pruefplatz/inspector/anomaly"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/anomaly"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

// anomalyFlags are train's flags for --anomaly.
type anomalyFlags struct {
	on        bool
	fromStore string
	opt       anomaly.Options
	backbone  string
	// doc is the provider's statement given with train's documentation flags.
	doc models.DocEdit
}

func (a *anomalyFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&a.on, "anomaly", false, "train a good-only anomaly model (PatchCore-style, from the OK classes alone; other classes only evaluate it)")
	f.IntVar(&a.opt.Grid, "grid", 1, "--anomaly: 224 px tiles per side of the input (2: a 448 px input in 4 tiles), so small defects on large images survive")
	f.Float64Var(&a.opt.Fit.Ratio, "coreset-ratio", 0.01, "--anomaly: share of the OK patches the memory bank keeps (greedy coreset)")
	f.IntVar(&a.opt.Fit.MaxBank, "max-bank", 4096, "--anomaly: most patches in the memory bank (inference time grows with it)")
	f.Float64Var(&a.opt.Fit.ImageKeep, "image-keep", 0, "--anomaly: share of each image's patches kept before the final selection (default: chosen when the pool passes 250,000 patches)")
	f.StringVar(&a.opt.ThresholdRule, "threshold-rule", anomaly.RuleZ, "--anomaly: how the thresholds come from the held-out OK images' scores: z (OK up to their mean + z standard deviations, z set by --false-alarms: 2.33 for 1 %, NOK from the point for a tenth of it, 3.09; steady with a few dozen images) or quantile (--quantile, --margin)")
	f.Float64Var(&a.opt.FalseAlarms, "false-alarms", anomaly.DefaultFalseAlarms, "--anomaly, --threshold-rule z: the share of good parts the station may stop as NOK or uncertain (0.05: 5 %); a larger budget finds more defects. Judged from the held-out OK images alone")
	f.Float64Var(&a.opt.Quantile, "quantile", 0.99, "--anomaly, --threshold-rule quantile: OK threshold = this quantile of the held-out OK images' scores")
	f.Float64Var(&a.opt.Margin, "margin", 0.10, "--anomaly, --threshold-rule quantile: NOK threshold = OK threshold × (1 + margin); between them: uncertain")
	f.StringVar(&a.fromStore, "from-store", "", "--anomaly: also learn from the frames of this verdict store (station.db) that a person confirmed or set OK (stop the station first, or use a backup copy), so false alarms fall over time")
	f.IntVar(&a.opt.TopK, "top-k", 1, "--anomaly: the image's patch score is the mean of its k largest patch distances (1: the largest); on large textured images (magnetic-tile) 10 to 40 rank defects better")
	f.Float32Var(&a.opt.MedianOffset, "median-offset", 0, "--anomaly: subtract this share of the image's median patch distance from its patch score (0.5 with --top-k 40 ranks magnetic-tile best: tiles differ in level, an uneven surface keeps half its rise); 0: none")
	f.IntVar(&a.opt.Neighbourhood, "neighbourhood", ia.Narrow, "--anomaly: the patch features' neighbourhood: 3 (3×3); 5, 7 or 9 average the 3×3 features over 3×3 once, twice or thrice more (5: weights 1,2,3,2,1), for large textured images whose defects are wider than a patch (magnetic-tile); on the demo flange they rank worse")
	f.IntVar(&a.opt.LetterboxGrid, "letterbox-grid", 0, "--anomaly with --resize pad: add a second patch part, the image letterboxed to this many 224 px tiles per side with a bank of its own (same --top-k and --neighbourhood), and sum the two parts' scores, each standardised by the held-out OK images; the two scales find different defects (magnetic-tile: --resize pad --grid 3 --letterbox-grid 1 --letterbox-median-offset 0.5). Costs the letterbox's backbone run and search per frame; 0: none")
	f.Float32Var(&a.opt.LetterboxMedianOffset, "letterbox-median-offset", 0, "--anomaly, --letterbox-grid: the letterboxed part's --median-offset")
	f.IntVar(&a.opt.GlobalWords, "global-words", 0, fmt.Sprintf("--anomaly: words of a global part (a bag-of-words image descriptor added to the patch score, for what no single patch shows, such as a missing hole on a part of fixed shape; %d is a good start); 0: patch scores alone. Check it with the evaluation: on images whose shape or framing varies it adds false alarms", ia.DefaultWords))
	f.IntVar(&a.opt.Positional, "positional", 0, "--anomaly: patches per place of a positional part (16 is a good start), for parts of one shape laid at a placement mark at any angle: each image's pose is found and every patch is compared with what good parts show at the same place, so something missing (a hole) is seen where it is missing; 0: none. With it (or --global-words) the threshold is the held-out OK images' mean + 2.33 / 3.09 standard deviations of the summed, standardised parts")
	f.IntVar(&a.opt.PosTopK, "positional-top-k", 3, "--anomaly: the positional score is the mean of the k largest positional distances")
	f.StringVar(&a.opt.Masks, "masks", "", "--anomaly: folder MASKS/<class>/<image>.png of defect masks, to check where the heatmap points (demo-data writes datasets/demo-defects-masks)")
}

// runAnomaly trains and publishes an anomaly model.
func (a *anomalyFlags) run(cmd *cobra.Command, data, name, registry, version, resize, roi string, okLabels []string, seed uint64, threads int) error {
	o := a.opt
	o.Data, o.Name, o.Registry, o.Version, o.OKLabels = data, name, registry, version, okLabels
	o.Fit.Seed, o.Threads, o.Out = seed, threads, cmd.ErrOrStderr()
	if cmd.Flags().Changed("resize") {
		o.Resize = inspector.ResizeMode(resize)
	}
	if roi != "" {
		r, err := parseROI(roi)
		if err != nil {
			return err
		}
		o.ROI = r
	}
	if a.backbone == backbones.None {
		return fmt.Errorf("--anomaly needs a pretrained backbone (its feature maps); --backbone %s", backbones.None)
	}
	b, err := backbones.Get(backbones.Folder("", registry), a.backbone)
	if err != nil {
		return err
	}
	o.Backbone = b
	lib, err := ortLibPath(cmd)
	if err != nil {
		return err
	}
	if err := onnx.Init(lib); err != nil {
		return err
	}
	if a.fromStore != "" {
		dir, err := os.MkdirTemp("", "pruefplatz-confirmed-ok-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		paths, err := confirmedOKFrames(cmd.Context(), a.fromStore, dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%d frames confirmed OK by a person in %s join the good images\n", len(paths), a.fromStore)
		o.ExtraOK = paths
	}
	// The provider's statement is checked before the long part, and
	// recorded on the published card as its first edit.
	if a.doc != (models.DocEdit{}) {
		if err := a.doc.Apply(models.Doc{}).Validate(); err != nil {
			return err
		}
	}
	o.Search = nearestSearch(threads)
	res, err := anomaly.Train(cmd.Context(), o)
	if err != nil {
		return err
	}
	if a.doc != (models.DocEdit{}) {
		reg := models.Registry{Root: registry}
		if res.Card, err = reg.EditDoc(res.Card.Name, res.Card.Version, a.doc, whoAmI(""), time.Now()); err != nil {
			return err
		}
	}
	msg := ""
	if e := res.Card.Anomaly.Eval; e != nil {
		msg = fmt.Sprintf(": image AUROC %.3f, recall %.1f %% at %.1f %% false alarms", e.AUROC, 100*e.Recall, 100*e.FalseAlarms)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s/%s%s, saved in %s\n", res.Card.Name, res.Card.Version, msg, res.Dir)
	return nil
}

// nearestSearch makes anomaly models search their bank on ONNX Runtime
// (threads 0: all cores).
func nearestSearch(threads int) func(*ia.Bank) (ia.Searcher, error) {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	// NoSpin: Go code runs between the backbone and the search on the
	// same cores (docs/anomaly.md, Bench)
	return func(b *ia.Bank) (ia.Searcher, error) {
		return onnx.NewNearest(b, onnx.Options{Threads: threads, NoSpin: true})
	}
}

// confirmedOKFrames writes the frames of every verdict in the store whose
// effective outcome a person reviewed as OK (a confirmed OK, or a NOK or
// uncertain verdict set to OK) into dir and returns their paths. Machine
// verdicts nobody looked at are left out: the bank must not learn a defect
// the model missed.
func confirmedOKFrames(ctx context.Context, storePath, dir string) ([]string, error) {
	if _, err := os.Stat(storePath); err != nil {
		return nil, fmt.Errorf("--from-store: %w", err)
	}
	st, err := bolt.Open(storePath)
	if err != nil {
		return nil, fmt.Errorf("--from-store: %w", err)
	}
	defer st.Close()
	var paths []string
	var before uint64
	for {
		page, err := st.List(ctx, inspector.VerdictQuery{Limit: 500, Before: before})
		if err != nil {
			return nil, err
		}
		for _, v := range page {
			before = v.ID
			if out, _ := v.Effective(); v.Review == nil || out != inspector.OutcomeOK {
				continue
			}
			full, err := st.Get(ctx, v.ID)
			if err != nil {
				return nil, err
			}
			if len(full.Image) == 0 {
				continue
			}
			p := filepath.Join(dir, fmt.Sprintf("verdict-%d.jpg", v.ID))
			if err := os.WriteFile(p, full.Image, 0o600); err != nil {
				return nil, err
			}
			paths = append(paths, p)
		}
		if len(page) < 500 {
			return paths, nil
		}
	}
}
