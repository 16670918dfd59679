// Package eval measures a registered model on an ImageFolder dataset through
// the same ONNX Runtime session and preprocessing the station uses.
package eval

import (
	"context"
	"fmt"

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
	Skipped []Skipped
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
		res.Probs = append(res.Probs, p)
		res.Truth = append(res.Truth, lm[smp.Class])
		pred = append(pred, best)
	}
	res.Metrics = models.ComputeMetrics(card.Labels, res.Truth, pred)
	res.Metrics.AddThresholdStats(res.Probs, res.Truth, card.Thresholds, card.OKLabels)
	return res, nil
}
