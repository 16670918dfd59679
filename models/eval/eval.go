// Package eval measures a registered model on an ImageFolder dataset through
// the same ONNX Runtime session and preprocessing the station uses.
package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
)

// Skipped is an image that could not be evaluated.
type Skipped struct {
	Path string
	Err  string
}

// Result holds the metrics and the per-image class probabilities (in dataset sample order, skipped images left out).
type Result struct {
	Metrics *models.Metrics
	Probs   [][]float32
	Truth   []int
	// Paths are the evaluated images' files, in the order of Probs.
	Paths   []string
	Skipped []Skipped
	// Seen gives, per evaluated image, the model's split it was in
	// ("train" or "val"), or "" for an image the model never learned from
	// (by content hash, see Known).
	Seen []string
	// SeenN counts the evaluated images of Seen that are not "". When it is
	// above zero, Unseen and SeenMetrics hold the figures of the two groups
	// (nil for an empty group): figures on training images flatter a model.
	SeenN       int
	Unseen      *models.Metrics
	SeenMetrics *models.Metrics
}

// Known maps an image file's sha256 to the split of a model's manifest it
// was in, for the training and validation splits only (the test split was
// never learned from).
type Known map[string]string

// KnownFromManifest reads a model's manifest.json. It returns the read or
// parse error.
func KnownFromManifest(path string) (Known, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m datasets.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("eval: manifest %s: %w", path, err)
	}
	k := Known{}
	for _, f := range m.Files {
		if f.Split == "train" || f.Split == "val" {
			k[f.SHA256] = f.Split
		}
	}
	return k, nil
}

// LabelMap maps each dataset class onto the card's label index. It returns an
// error naming the first class that is not one of the card's labels.
func LabelMap(card *models.Card, classes []string) (map[string]int, error) {
	idx := make(map[string]int, len(card.Labels))
	for i, l := range card.Labels {
		idx[l] = i
	}
	m := make(map[string]int, len(classes))
	for _, c := range classes {
		i, ok := idx[c]
		if !ok {
			return nil, fmt.Errorf("eval: dataset class %q is not a label of %s/%s (labels %v)", c, card.Name, card.Version, card.Labels)
		}
		m[c] = i
	}
	return m, nil
}

// Evaluate classifies every sample of ds with the model at modelPath (onnx.Init
// must have been called). It returns the LabelMap error, errors opening the
// model or building the preprocessor, ctx's error, and classification errors;
// unreadable images are skipped and listed in Result.Skipped.
func Evaluate(ctx context.Context, card *models.Card, modelPath string, ds *datasets.Dataset) (*Result, error) {
	return EvaluateKnown(ctx, card, modelPath, ds, nil)
}

// EvaluateKnown is Evaluate that also marks the images whose content the
// model learned from (known, from its manifest) and reports their figures
// apart (Result.Seen, SeenN, Unseen, SeenMetrics).
func EvaluateKnown(ctx context.Context, card *models.Card, modelPath string, ds *datasets.Dataset, known Known) (*Result, error) {
	lm, err := LabelMap(card, ds.Classes)
	if err != nil {
		return nil, err
	}
	s, err := onnx.Open(modelPath, card.Input, len(card.Labels), onnx.Options{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	pre, err := opencv.NewPreprocessor(card.Input)
	if err != nil {
		return nil, err
	}
	defer pre.Close()
	in := make([]float32, card.Input.TensorLen())
	res := &Result{}
	var pred []int
	for _, smp := range ds.Samples {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, err := opencv.ReadImageFile(smp.Path, opencv.Limits{})
		if err != nil {
			res.Skipped = append(res.Skipped, Skipped{smp.Path, err.Error()})
			continue
		}
		err = pre.Run(img, in)
		img.Close()
		if err != nil {
			res.Skipped = append(res.Skipped, Skipped{smp.Path, err.Error()})
			continue
		}
		out, err := s.Classify(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("eval: %s: %w", smp.Path, err)
		}
		p := append([]float32(nil), card.Probabilities(out)...)
		best := 0
		for i := range p {
			if p[i] > p[best] {
				best = i
			}
		}
		seen := ""
		if len(known) > 0 {
			if sum, err := models.FileSHA256(smp.Path); err == nil {
				seen = known[sum]
			}
		}
		if seen != "" {
			res.SeenN++
		}
		res.Seen = append(res.Seen, seen)
		res.Probs = append(res.Probs, p)
		res.Paths = append(res.Paths, smp.Path)
		res.Truth = append(res.Truth, lm[smp.Class])
		pred = append(pred, best)
	}
	res.Metrics = models.ComputeMetrics(card.Labels, res.Truth, pred)
	res.Metrics.AddThresholdStats(res.Probs, res.Truth, card.Thresholds, card.OKLabels)
	if res.SeenN > 0 {
		res.Unseen = subset(card, res, pred, false)
		res.SeenMetrics = subset(card, res, pred, true)
	}
	return res, nil
}

// subset computes the metrics of the seen (or unseen) images; nil when there are none.
func subset(card *models.Card, res *Result, pred []int, seen bool) *models.Metrics {
	var probs [][]float32
	var truth, p []int
	for i := range res.Probs {
		if (res.Seen[i] != "") == seen {
			probs, truth, p = append(probs, res.Probs[i]), append(truth, res.Truth[i]), append(p, pred[i])
		}
	}
	if len(probs) == 0 {
		return nil
	}
	m := models.ComputeMetrics(card.Labels, truth, p)
	m.AddThresholdStats(probs, truth, card.Thresholds, card.OKLabels)
	return m
}
