package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/eval"
	"github.com/pruefplatz/pruefplatz/models/quality"
	"github.com/pruefplatz/pruefplatz/models/report"
)

// newModelsDocCmds returns `models edit`, `models check` and `models
// report`: the documentation of a model version (EU AI Act).
func newModelsDocCmds(root *string) []*cobra.Command {
	reg := func() models.Registry { return models.Registry{Root: *root} }
	return []*cobra.Command{newModelsEditCmd(reg), newModelsCheckCmd(reg), newModelsReportCmd(reg)}
}

// docFlags are the card's documentation fields as flags, for train and edit.
type docFlags struct {
	use, limits, risk, reason string
}

func (d *docFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&d.use, "intended-use", "", "what the model is for: parts, station, decisions it may take")
	cmd.Flags().StringVar(&d.limits, "limitations", "", "where the model must not be trusted")
	cmd.Flags().StringVar(&d.risk, "risk-category", "", "risk category the provider chose: "+strings.Join(models.RiskCategories, ", "))
	cmd.Flags().StringVar(&d.reason, "risk-reason", "", "why that category")
}

// edit returns the fields given on the command line.
func (d *docFlags) edit(cmd *cobra.Command) models.DocEdit {
	var e models.DocEdit
	for name, dst := range map[string]**string{
		"intended-use": &e.IntendedUse, "limitations": &e.Limitations, "risk-category": &e.RiskCategory, "risk-reason": &e.RiskReason,
	} {
		if cmd.Flags().Changed(name) {
			v, _ := cmd.Flags().GetString(name)
			*dst = &v
		}
	}
	return e
}

// whoAmI names the person editing a card: --by, else the login name.
func whoAmI(by string) string {
	if by != "" {
		return by
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

func newModelsEditCmd(reg func() models.Registry) *cobra.Command {
	var d docFlags
	var by string
	cmd := &cobra.Command{
		Use:   "edit NAME/VERSION [--intended-use TEXT] [--limitations TEXT] [--risk-category C --risk-reason TEXT]",
		Short: "Set a model version's intended use, limitations and risk category (versioned; the model files stay untouched)",
		Long: `edit records the provider's statement on a model version's card: what it is for,
where it must not be trusted, and the risk category with its reason. Every edit is
kept with who made it and when (card doc_history); the model files and their sha256
do not change, so verdicts keep pointing at the same model.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := versionRef("edit", args)
			if err != nil {
				return err
			}
			e := d.edit(cmd)
			if e == (models.DocEdit{}) {
				return errors.New("edit: nothing to change: give --intended-use, --limitations, --risk-category or --risk-reason")
			}
			c, err := reg().EditDoc(name, version, e, whoAmI(by), time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: documentation revision %d\n", c.Name, c.Version, len(c.DocHistory))
			return nil
		},
	}
	d.register(cmd)
	cmd.Flags().StringVar(&by, "by", "", "who makes the edit (default: the login name)")
	return cmd
}

func newModelsCheckCmd(reg func() models.Registry) *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "check NAME/VERSION --data DIR",
		Short: "Run the data-quality and bias checks of a model version on its dataset and record them on its card",
		Long: `check reads the version's manifest.json, checks that DIR holds exactly those images
(sha256), runs the model on the test split with ONNX Runtime, and records on the card:
class imbalance, near duplicates across the train/test split (difference hash),
accuracy per capture condition the manifest records, and the test images the model
gets wrong with high confidence (likely label errors). Capture conditions the manifest
lacks can be given in DIR/conditions.json ({"class/image.jpg": {"session": "…",
"light": "…"}}). The model files stay untouched.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := modelRef(args)
			if err != nil {
				return err
			}
			if data == "" {
				return errors.New("check: --data DIR is required (the dataset the model was trained on)")
			}
			r := reg()
			c, err := r.Get(name, version)
			if err != nil {
				return err
			}
			if c.Kind == models.KindAnomaly {
				return fmt.Errorf("check %s/%s: an anomaly model records its evaluation at training; the checks here are for classifiers", c.Name, c.Version)
			}
			start := time.Now()
			q, err := checkQuality(cmd.Context(), cmd, r, c, data)
			if err != nil {
				return err
			}
			if _, err := r.SetQuality(c.Name, c.Version, q); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if c.ScoreBaseline == nil {
				// Cards from before the drift monitor: its baseline comes
				// from the same validation images training would have used.
				h, err := validationBaseline(cmd.Context(), cmd, r, c, data)
				if err != nil {
					return err
				}
				if _, err := r.SetScoreBaseline(c.Name, c.Version, h); err != nil {
					return err
				}
				fmt.Fprintf(out, "score baseline for the drift monitor: %d validation images\n", h.Total())
			}
			fmt.Fprintf(out, "%s/%s: checks recorded on the card (%.1f s)\n", c.Name, c.Version, time.Since(start).Seconds())
			fmt.Fprintf(out, "imbalance: ratio %.2f (%s %d / %s %d)\n", q.Imbalance.Ratio, q.Imbalance.Largest, q.Imbalance.Counts[q.Imbalance.Largest], q.Imbalance.Smallest, q.Imbalance.Counts[q.Imbalance.Smallest])
			if nd := q.NearDuplicates; nd != nil {
				fmt.Fprintf(out, "near duplicates: %d of %d test images within distance %d of a training image; median nearest distance %d\n", nd.TestWithDuplicate, nd.Test, nd.MaxDistance, nd.NearestMedian)
			}
			fmt.Fprintf(out, "test accuracy %.1f %% on %d images; conditions: %v; likely label errors: %d\n", 100*q.Accuracy, q.Images, q.Conditions, len(q.Suspects))
			for _, w := range q.Warnings {
				fmt.Fprintf(out, "warning: %s\n", w)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "the model's dataset folder (ImageFolder, as in its manifest)")
	return cmd
}

// checkQuality runs the quality checks of c on the dataset in dir.
func checkQuality(ctx context.Context, cmd *cobra.Command, r models.Registry, c *models.Card, dir string) (*models.Quality, error) {
	if err := r.Verify(c); err != nil {
		return nil, err
	}
	images, err := quality.ReadManifest(filepath.Join(r.Dir(c.Name, c.Version), "manifest.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("check %s/%s: the version has no manifest.json, so nothing says which images were its test split", c.Name, c.Version)
		}
		return nil, err
	}
	if err := sameData(dir, images); err != nil {
		return nil, err
	}
	// Capture conditions the manifest lacks may come with the dataset.
	if n, unknown, err := quality.AddConditions(images, filepath.Join(dir, quality.ConditionsFile)); err == nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "capture conditions of %d images from %s (%d entries name no image of the manifest)\n",
			n, filepath.Join(dir, quality.ConditionsFile), unknown)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	res, err := evalSplit(ctx, cmd, r, c, dir, images, "test")
	if err != nil {
		return nil, err
	}
	rel := make([]string, len(res.Paths))
	for i, p := range res.Paths {
		rp, err := filepath.Rel(dir, p)
		if err != nil {
			return nil, err
		}
		rel[i] = filepath.ToSlash(rp)
	}
	return quality.Check(ctx, quality.Input{
		Root: dir, Images: images, ROI: c.Input.ROI,
		Predictions: quality.Predictions(c.Labels, rel, res.Truth, res.Probs),
	}, quality.Options{Tool: "pruefplatz models check"})
}

// evalSplit runs c on the images of one split of its manifest in dir.
func evalSplit(ctx context.Context, cmd *cobra.Command, r models.Registry, c *models.Card, dir string, images []quality.Image, split string) (*eval.Result, error) {
	ds := &datasets.Dataset{Root: dir}
	seen := map[string]bool{}
	for _, im := range images {
		if im.Split != split {
			continue
		}
		if !seen[im.Class] {
			seen[im.Class] = true
			ds.Classes = append(ds.Classes, im.Class)
		}
		ds.Samples = append(ds.Samples, datasets.Sample{Path: filepath.Join(dir, filepath.FromSlash(im.Path)), Class: im.Class})
	}
	if len(ds.Samples) == 0 {
		return nil, fmt.Errorf("check %s/%s: the manifest names no %s images", c.Name, c.Version, split)
	}
	if err := initORT(cmd); err != nil {
		return nil, err
	}
	res, err := eval.Evaluate(ctx, c, r.ModelPath(c), ds)
	if err != nil {
		return nil, err
	}
	if len(res.Skipped) > 0 {
		return nil, fmt.Errorf("check: %d %s images could not be evaluated (first: %s: %s)", len(res.Skipped), split, res.Skipped[0].Path, res.Skipped[0].Err)
	}
	return res, nil
}

// validationBaseline is the top-score histogram of c on its validation
// split, as training records it (monitor.TopScoreHistogram).
func validationBaseline(ctx context.Context, cmd *cobra.Command, r models.Registry, c *models.Card, dir string) (*monitor.Histogram, error) {
	images, err := quality.ReadManifest(filepath.Join(r.Dir(c.Name, c.Version), "manifest.json"))
	if err != nil {
		return nil, err
	}
	res, err := evalSplit(ctx, cmd, r, c, dir, images, "val")
	if err != nil {
		return nil, err
	}
	return monitor.TopScoreHistogram(res.Probs), nil
}

// sameData checks that dir holds the manifest's images with their sha256:
// checks on other data would describe another model.
func sameData(dir string, images []quality.Image) error {
	var bad []string
	for _, im := range images {
		sum, err := models.FileSHA256(filepath.Join(dir, filepath.FromSlash(im.Path)))
		if err != nil || sum != im.SHA256 {
			bad = append(bad, im.Path)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("check: %s is not the model's dataset: %d of %d images are missing or differ from the manifest (first: %s)",
			dir, len(bad), len(images), bad[0])
	}
	return nil
}

func newModelsReportCmd(reg func() models.Registry) *cobra.Command {
	var format, lang, out, data, store, authStore, sheet string
	cmd := &cobra.Command{
		Use:   "report NAME/VERSION [--format pdf|html] [--lang de|en] [--out FILE]",
		Short: "Write a model version's technical documentation (PDF or HTML)",
		Long: `report writes the technical documentation of a model version: intended use and
limits, risk category, training data (manifest, class counts, contact sheet,
augmentation), architecture and backbone licence, test results and thresholds, export
verification, data-quality and bias checks, the running model's record, and the
sha256 of every file it describes and of its own content.

The running model's record comes from --store (verdicts and reviews; not while a
station holds it) and --auth-store (activations in the audit log); without them the
report says so. The contact sheet is made from --data when given, else taken from
--sheet or datasets/contact-sheets/NAME.png.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := modelRef(args)
			if err != nil {
				return err
			}
			if format != "pdf" && format != "html" {
				return fmt.Errorf("report: --format %q (want pdf or html)", format)
			}
			r := reg()
			c, err := r.Get(name, version)
			if err != nil {
				return err
			}
			in := report.Input{Card: c, Dir: r.Dir(c.Name, c.Version), Lang: lang, Now: time.Now()}
			in.ContactSheet, in.ContactSheetSource = contactSheet(r, c, data, sheet)
			if in.Live, err = cliLive(cmd.Context(), r, c, store, authStore); err != nil {
				return err
			}
			rep, err := report.Build(in)
			if err != nil {
				return err
			}
			if out == "" {
				out = fmt.Sprintf("%s-%s-report-%s.%s", c.Name, c.Version, lang, format)
			}
			var w io.Writer = cmd.OutOrStdout()
			var f *os.File
			if out != "-" {
				if f, err = os.Create(out); err != nil {
					return err
				}
				w = f
			}
			if format == "pdf" {
				err = rep.PDF(w, report.PDFOptions{})
			} else {
				err = rep.HTML(w)
			}
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(out)
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (content sha256 %s)\n", out, rep.SHA256)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "pdf", "pdf or html")
	cmd.Flags().StringVar(&lang, "lang", "de", "language: de or en")
	cmd.Flags().StringVar(&out, "out", "", "output file (default NAME-VERSION-report-LANG.FORMAT; - for stdout)")
	cmd.Flags().StringVar(&data, "data", "", "the model's dataset folder, to draw the contact sheet from")
	cmd.Flags().StringVar(&sheet, "sheet", "", "a contact sheet PNG to include")
	cmd.Flags().StringVar(&store, "store", "", "verdict store (bbolt) for the review statistics")
	cmd.Flags().StringVar(&authStore, "auth-store", "", "auth store (bbolt) whose audit log holds the activations")
	return cmd
}

// contactSheet returns the PNG the report shows and where it came from:
// drawn from the dataset (--data, else the card's dataset folder when it
// is there), else a prepared file (--sheet, datasets/contact-sheets/NAME.png).
func contactSheet(r models.Registry, c *models.Card, data, sheet string) ([]byte, string) {
	dirs := []string{data}
	if c.Dataset != nil {
		dirs = append(dirs, c.Dataset.Path)
	}
	return report.FindContactSheet(r.Dir(c.Name, c.Version), dirs, []string{sheet, filepath.Join("datasets", "contact-sheets", c.Name+".png")})
}

// cliLive fills the running model's record from the registry and, when
// given, the verdict and auth stores.
func cliLive(ctx context.Context, r models.Registry, c *models.Card, storePath, authPath string) (*report.Live, error) {
	l := &report.Live{}
	// Opening a bbolt file creates it: a mistyped path must not leave an empty store behind.
	for _, p := range []string{storePath, authPath} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
		}
	}
	if a, err := r.ReadActive(); err == nil {
		l.Active = a.Name == c.Name && a.Version == c.Version
	}
	if authPath != "" {
		as, err := bolt.OpenAuth(authPath)
		if err != nil {
			return nil, err
		}
		if l.Activations, err = report.Activations(ctx, as, c.Name, c.Version); err != nil {
			return nil, err
		}
	}
	if storePath != "" {
		st, err := bolt.Open(storePath)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		if l.Reviews, err = report.Reviews(ctx, st, c.Name, c.Version); err != nil {
			return nil, err
		}
	}
	return l, nil
}
