package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/anomaly"
	"github.com/pruefplatz/pruefplatz/models/eval"
	"github.com/pruefplatz/pruefplatz/models/train"
)

// newEvalCmd evaluates a registered model on an ImageFolder dataset.
func newEvalCmd() *cobra.Command {
	var model, data, root, out, masks string
	cmd := &cobra.Command{
		Use:   "eval --model NAME[/VERSION]|FILE.onnx --data DIR",
		Short: "Evaluate a registered model on an ImageFolder dataset (metrics.json, confusion.png)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			card, modelPath, err := evalModel(root, model)
			if err != nil {
				return err
			}
			ds, err := datasets.LoadWith(data, datasets.Options{})
			if err != nil {
				return err
			}
			if err := initORT(cmd); err != nil {
				return err
			}
			if card.Kind == models.KindAnomaly {
				return evalAnomaly(cmd, card, modelPath, ds, masks, out)
			}
			start := time.Now()
			// The manifest beside the model says which images it learned from.
			var known eval.Known
			if mf := card.Files["manifest"]; mf != "" {
				known, err = eval.KnownFromManifest(filepath.Join(filepath.Dir(modelPath), mf))
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			res, err := eval.EvaluateKnown(cmd.Context(), card, modelPath, ds, known)
			if err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			if out == "" {
				out = filepath.Join("out", "eval-"+card.Name+"-"+card.Version)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			j, err := json.MarshalIndent(res.Metrics, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, "metrics.json"), j, 0o644); err != nil {
				return err
			}
			if err := train.WriteConfusionPNG(filepath.Join(out, "confusion.png"), res.Metrics); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s/%s on %s\n%s\n", card.Name, card.Version, data, res.Metrics.Table())
			if res.SeenN > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d of %d images were in the model's training or validation split (same content); the figures above flatter the model\n",
					res.SeenN, res.Metrics.N)
				if res.Unseen != nil {
					fmt.Fprintf(w, "\nimages the model never learned from (%d):\n%s\n", res.Unseen.N, res.Unseen.Table())
				} else {
					fmt.Fprintln(w, "\nimages the model never learned from: none")
				}
				fmt.Fprintf(w, "images from its training or validation split (%d):\n%s\n", res.SeenMetrics.N, res.SeenMetrics.Table())
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(w, "skipped %s: %s\n", s.Path, s.Err)
			}
			fmt.Fprintf(w, "%d images in %.1f s (%.0f images/s); written to %s\n", res.Metrics.N, secs, float64(res.Metrics.N)/secs, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "model to evaluate: NAME or NAME/VERSION in the registry (latest version when left out), or a path to model.onnx with its card.json beside it")
	cmd.Flags().StringVar(&data, "data", "", "ImageFolder dataset DIR/<class>/*.jpg; classes must be labels of the model")
	cmd.Flags().StringVar(&root, "models", "models", "model registry folder")
	cmd.Flags().StringVar(&masks, "masks", "", "anomaly models: folder MASKS/<class>/<image>.png of defect masks, to check where the heatmap points")
	cmd.Flags().StringVar(&out, "out", "", "output folder for metrics.json and confusion.png (default out/eval-NAME-VERSION)")
	_ = cmd.MarkFlagRequired("model")
	_ = cmd.MarkFlagRequired("data")
	return cmd
}

// evalModel resolves --model: a path ending in .onnx is read with the
// card.json in its folder and checked against the card's sha256, anything
// else is a registry NAME[/VERSION].
func evalModel(root, model string) (*models.Card, string, error) {
	if !strings.HasSuffix(model, ".onnx") {
		name, version, err := modelRef([]string{model})
		if err != nil {
			return nil, "", err
		}
		reg := models.Registry{Root: root}
		card, err := reg.Get(name, version)
		if err != nil {
			return nil, "", err
		}
		return card, reg.ModelPath(card), reg.Verify(card)
	}
	card, err := models.LoadCard(filepath.Join(filepath.Dir(model), models.CardFile))
	if err != nil {
		return nil, "", fmt.Errorf("--model %s needs its card beside it: %w", model, err)
	}
	sum, err := models.FileSHA256(model)
	if err != nil {
		return nil, "", err
	}
	if sum != card.ONNXSHA256 {
		return nil, "", fmt.Errorf("%w: %s has sha256 %s, its card says %s", models.ErrTampered, model, sum, card.ONNXSHA256)
	}
	return card, model, nil
}

// evalAnomaly evaluates an anomaly model: image AUROC (auroc in
// metrics.json), recall and false alarms at the card's thresholds, per
// defect class.
func evalAnomaly(cmd *cobra.Command, card *models.Card, modelPath string, ds *datasets.Dataset, masks, out string) error {
	start := time.Now()
	threads := runtime.NumCPU()
	res, err := anomaly.Evaluate(cmd.Context(), card, filepath.Dir(modelPath), ds, masks, onnx.Options{Threads: threads},
		nearestSearch(threads), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join("out", "eval-"+card.Name+"-"+card.Version)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("metrics: %w (too few good or defect images for AUROC?)", err)
	}
	if err := os.WriteFile(filepath.Join(out, "metrics.json"), j, 0o644); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%s/%s on %s\n%s", card.Name, card.Version, ds.Root, res.Table())
	for _, p := range res.Problems() {
		fmt.Fprintln(w, "skipped:", p)
	}
	n := res.Good + res.Defects
	secs := time.Since(start).Seconds()
	fmt.Fprintf(w, "%d images in %.1f s (%.1f images/s); written to %s\n", n, secs, float64(n)/secs, out)
	return nil
}
