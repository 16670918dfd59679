package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pruefplatz/pruefplatz/augment"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/backbones"
	"github.com/pruefplatz/pruefplatz/models/train"
	"github.com/spf13/cobra"
)

func newTrainCmd() *cobra.Command {
	var opt train.Options
	var pipeline, resize, interp, roi, backbone, cacheDir, backboneDir string
	var an anomalyFlags
	var doc docFlags
	cmd := &cobra.Command{
		Use:   "train --data DIR --name NAME",
		Short: "Train a classifier on an ImageFolder dataset and publish it as a new model version",
		Long: `train learns an image classifier from DIR/<class>/<image> with GoMLX, exports it
to ONNX, checks with ONNX Runtime that the export gives the trained model's answers,
and publishes MODELS/NAME/vN/ with model.onnx, card.json (labels, input spec, metrics,
thresholds, dataset manifest hash), the training curve and the confusion matrix.
Nothing is written to the registry unless every step succeeds; Ctrl-C stops cleanly.

By default a small head learns on the frozen features of the pretrained
MobileNetV2 backbone (--backbone mobilenet-v2): every image, and --views augmented
copies of each training image, is embedded once and cached (--cache-dir), and the
head reads the embedding, beside learned filters on the stride-16 patches when the
validation split says they pay (--patch: small local defects), and pooled feature
maps if asked (--pool). --backbone none trains the small CNN from scratch instead
(--input-size, --channels, --stem-stride apply only there; --epochs, --patience and
--batch show its defaults, a head on the backbone takes 100, 15 and 64 unless set).

Images are augmented (--pipeline, default: mild rotation, shift, mirror, light and
noise), sampled class-balanced, and training stops early when the validation loss
stops improving. For a defect model name the OK classes with --ok-labels; the
station then answers OK / NOK / uncertain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opt.Data == "" || opt.Name == "" {
				return errors.New("--data and --name are required")
			}
			if an.on {
				an.doc = doc.edit(cmd)
				an.backbone = backbone
				if !cmd.Flags().Changed("backbone") {
					// An anomaly model always needs the feature maps.
					an.backbone = backbones.MobileNetV2
				}
				return an.run(cmd, opt.Data, opt.Name, opt.Registry, opt.Version, resize, roi, opt.OKLabels, opt.Seed, opt.Threads)
			}
			opt.Thresholds.Rule = models.RuleCost
			if pipeline != "" {
				p, err := augment.LoadPipeline(pipeline)
				if err != nil {
					return err
				}
				opt.Pipeline = &p
			}
			if backbone != backbones.None {
				b, err := backbones.Get(backbones.Folder(backboneDir, opt.Registry), backbone)
				if err != nil {
					return err
				}
				opt.Backbone = &b
				// The CNN's defaults do not fit a head on frozen features:
				// left unset, the backbone path's own defaults apply.
				for name, zero := range map[string]func(){
					"epochs": func() { opt.Epochs = 0 }, "batch": func() { opt.Batch = 0 }, "resize": func() { resize = "" },
				} {
					if !cmd.Flags().Changed(name) {
						zero()
					}
				}
				for _, name := range []string{"input-size", "channels", "stem-stride"} {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("--%s does not apply with --backbone %s (the backbone fixes its input); use --backbone none", name, backbone)
					}
				}
				if resize == "" {
					resize = string(defaultBackboneResize)
				}
				cache, closeCache, err := openEmbedCache(cacheDir, opt.Data)
				if err != nil {
					return err
				}
				defer closeCache()
				opt.Cache = cache
			}
			opt.Resize = inspector.ResizeMode(resize)
			opt.Interpolation = inspector.Interpolation(interp)
			if roi != "" {
				r, err := parseROI(roi)
				if err != nil {
					return err
				}
				opt.ROI = r
			}
			lib, err := ortLibPath(cmd)
			if err != nil && opt.Backend != train.BackendGo {
				fmt.Fprintln(cmd.ErrOrStderr(), "ONNX Runtime not found; training on the pure-Go backend (slow) instead:", err)
				opt.Backend = train.BackendGo
			}
			opt.ORTLib = lib
			if err == nil {
				// GoMLX's ONNX Runtime backend reads both from the environment only.
				os.Setenv("ONNXRUNTIME_SHARED_LIBRARY_PATH", lib)
				os.Setenv("GOMLX_BACKEND", "onnx:cpu")
			}
			opt.Out = cmd.ErrOrStderr()
			opt.Doc, opt.DocBy = doc.edit(cmd).Apply(models.Doc{}), whoAmI("")
			res, err := train.Train(cmd.Context(), opt)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: test accuracy %.1f%%, saved in %s\n", res.Card.Name, res.Card.Version,
				100*res.Card.Metrics["test"].Accuracy, res.Dir)
			return nil
		},
	}
	doc.register(cmd)
	f := cmd.Flags()
	f.StringVar(&opt.Data, "data", "", "ImageFolder dataset: DIR/<class>/<image>")
	f.StringVar(&opt.Name, "name", "", "model name in the registry")
	f.StringVar(&opt.Registry, "models", "models", "model registry folder")
	f.StringVar(&opt.Version, "version", "", "version to publish (default: the next vN)")
	f.IntVar(&opt.Epochs, "epochs", 40, "most epochs (early stopping usually ends sooner)")
	f.IntVar(&opt.Patience, "patience", 8, "epochs without validation-loss improvement before stopping")
	f.IntVar(&opt.Batch, "batch", 32, "batch size")
	f.IntVar(&opt.StepsPerEpoch, "steps-per-epoch", 0, "training steps per epoch (default: training images / batch, at least 30)")
	f.IntVar(&opt.InputSize, "input-size", 64, "model input width and height in pixels")
	f.IntVar(&opt.StemStride, "stem-stride", 1, "fold each s×s pixel block into channels before the first convolution (space-to-depth): 2 lets a twice as large input keep the first feature maps small")
	f.IntVar(&opt.Channels, "channels", 3, "3 for colour, 1 for grey")
	f.StringVar(&resize, "resize", "stretch", "how frames become the input: stretch, letterbox, centercrop or pad (the image at its own scale, centred on the input and padded; shrunk only if larger)")
	f.StringVar(&interp, "interpolation", string(inspector.InterpLinear), "last downscaling step after the 2×2 halvings: linear (fast; reads every pixel below 2×) or area (OpenCV INTER_AREA)")
	f.StringVar(&roi, "roi", "", "region of interest x,y,w,h in frame pixels the model looks at (default: the whole frame)")
	f.Float64Var(&opt.LR, "lr", 0.003, "start learning rate (Adam, cosine-annealed); 0.01 learns easy data faster but may never start on hard data")
	f.Uint64Var(&opt.Seed, "seed", 1, "seed for the split, initial weights, sampling and augmentation")
	f.StringVar(&pipeline, "pipeline", "", "augmentation pipeline file (YAML or JSON; default: mild built-in pipeline)")
	f.StringSliceVar(&opt.OKLabels, "ok-labels", nil, "classes that mean OK (makes a defect model), e.g. --ok-labels ok")
	f.StringVar(&opt.Backend, "backend", train.BackendONNX, "training backend: onnx (ONNX Runtime) or go (pure Go, slow)")
	f.StringVar(&backboneDir, "backbones", "", "folder of the pretrained backbones (default: the registry's backbones/ when it has one, else models/backbones)")
	f.StringVar(&backbone, "backbone", backbones.MobileNetV2, "pretrained backbone to train a head on (frozen features): "+strings.Join(backbones.Names(), ", ")+", or none for the small CNN trained from scratch")
	f.IntVar(&opt.Views, "views", 4, "augmented copies of each training image embedded once and cached (--backbone only); -1 for none")
	f.IntVar(&opt.Hidden, "hidden", 256, "width of the head's hidden ReLU layer (--backbone only); -1 for a linear head")
	f.Float64Var(&opt.Thresholds.WrongCost, "wrong-cost", models.DefaultWrongCost, "price of a wrong automatic verdict in looks by a human: the card's thresholds sit where the validation images cost least")
	f.IntVar(&opt.Heads, "heads", 3, "heads trained from different initial weights whose logits are averaged, merged into one wider head at export (--backbone only)")
	f.IntVar(&opt.Threads, "threads", 0, "ONNX Runtime threads for embedding (--backbone only; default all cores)")
	f.StringSliceVar(&opt.Pool, "pool", nil, "blocks of the head's input (--backbone only): embedding, s16max, s16avg, s8max, s8avg (the stride-16/8 feature maps' max or mean over positions); default "+strings.Join(train.DefaultPool, ","))
	f.IntVar(&opt.Patch, "patch", train.DefaultPatch, "filters the head learns on the stride-16 patches, max-pooled over positions, for small local defects (--backbone only); kept only when a head with them costs less on the validation split than one without; -1 for none")
	f.BoolVar(&opt.PatchAlways, "patch-always", false, "keep the patch filters without the validation split's choice (--backbone only)")
	f.StringVar(&cacheDir, "cache-dir", "", "folder of the embedding caches, one file per dataset (default: the user cache folder, pruefplatz/embed)")
	f.BoolVar(&opt.AllowLabelChange, "allow-label-change", false, "publish even when the labels differ from the previous version's")
	an.register(cmd)
	f.Float64Var(&opt.Tolerance, "tolerance", 1e-4, "largest allowed probability difference between trained and exported model")
	return cmd
}

// defaultBackboneResize is how frames reach the backbone unless --resize
// says otherwise (see docs/training.md, "Pretrained backbone").
const defaultBackboneResize = inspector.ResizeStretch

// openEmbedCache opens the embedding cache file of a dataset: one bbolt
// file per dataset folder (named by a hash of its absolute path) in dir, or
// in the user cache folder.
func openEmbedCache(dir, data string) (*bolt.EmbedCache, func(), error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, nil, fmt.Errorf("no cache folder (%w): pass --cache-dir", err)
		}
		dir = filepath.Join(base, "pruefplatz", "embed")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(data)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256([]byte(abs))
	path := filepath.Join(dir, filepath.Base(abs)+"-"+hex.EncodeToString(sum[:6])+".db")
	c, err := bolt.OpenEmbedCache(path)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close() }, nil
}
