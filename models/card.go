// Package models holds model cards and the versioned model registry:
// models/<name>/<version>/{model.onnx, card.json, *.png}. A card says what a
// model expects, what it was trained on, how it was evaluated and how its
// verdict thresholds were chosen, so every verdict can be traced to it
// (EU AI Act). The package is pure Go: training lives in models/train,
// evaluation in models/eval.
package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Card describes one model version.
type Card struct {
	Name         string               `json:"name"`
	Version      string               `json:"version"`
	Labels       []string             `json:"labels"`
	Input        inspector.InputSpec  `json:"input"`
	OKLabels     []string             `json:"ok_labels,omitempty"`
	Thresholds   inspector.Thresholds `json:"thresholds"`
	ThresholdWhy string               `json:"threshold_rule,omitempty"`
	Architecture string               `json:"architecture"`
	// Backbone names the pretrained backbone inside the model, if any.
	Backbone *BackboneInfo `json:"backbone,omitempty"`
	// Warnings an engineer must read before trusting the figures, such
	// as a test split too small to mean anything.
	Warnings     []string            `json:"warnings,omitempty"`
	Training     *TrainingInfo       `json:"training,omitempty"`
	Dataset      *DatasetInfo        `json:"dataset,omitempty"`
	Metrics      map[string]*Metrics `json:"metrics,omitempty"` // "validation", "test"
	Verification *Verification       `json:"verification,omitempty"`
	ONNXSHA256   string              `json:"onnx_sha256"`
	ONNXInput    string              `json:"onnx_input"`
	ONNXOutput   string              `json:"onnx_output"`
	// Outputs says whether the ONNX output is "logits" or "probabilities".
	Outputs  string            `json:"outputs"`
	Imported bool              `json:"imported,omitempty"`
	Tool     string            `json:"tool"`
	Created  time.Time         `json:"created"`
	Files    map[string]string `json:"files,omitempty"` // e.g. "curve": "curve.png"
}

// BackboneInfo records the pretrained backbone a model is built on.
type BackboneInfo struct {
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	License string `json:"license"`
	Source  string `json:"source,omitempty"`
	Frozen  bool   `json:"frozen"`
}

// TrainingInfo records how a model was trained.
type TrainingInfo struct {
	Backend       string          `json:"backend"`
	Epochs        int             `json:"epochs"`
	EpochsRun     int             `json:"epochs_run"`
	BestEpoch     int             `json:"best_epoch"`
	Batch         int             `json:"batch"`
	StepsPerEpoch int             `json:"steps_per_epoch"`
	StemStride    int             `json:"stem_stride,omitempty"` // space-to-depth before the first convolution
	Patience      int             `json:"patience"`
	LearningRate  float64         `json:"learning_rate"`
	Schedule      string          `json:"schedule"`
	EarlyStopping string          `json:"early_stopping"`
	Sampling      string          `json:"sampling"`
	Seed          uint64          `json:"seed"`
	Augmentation  json.RawMessage `json:"augmentation"`
	// AugmentedViews is the number of augmented copies of each training
	// image embedded once (backbone models).
	AugmentedViews int `json:"augmented_views,omitempty"`
	// EmbedSeconds, EmbedCacheHits and EmbedComputed describe the
	// embedding step of a backbone model (Seconds includes it).
	EmbedSeconds   float64      `json:"embed_seconds,omitempty"`
	EmbedCacheHits int          `json:"embed_cache_hits,omitempty"`
	EmbedComputed  int          `json:"embed_computed,omitempty"`
	Seconds        float64      `json:"seconds"`
	ImagesPerSec   float64      `json:"images_per_second"`
	Curve          []EpochStats `json:"curve,omitempty"`
}

// EpochStats is one point of the training curve.
type EpochStats struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_accuracy"`
	ValLoss   float64 `json:"val_loss"`
	ValAcc    float64 `json:"val_accuracy"`
	LR        float64 `json:"learning_rate"`
}

// DatasetInfo ties a model to the exact data it learned from.
type DatasetInfo struct {
	Path         string                    `json:"path"`
	ManifestHash string                    `json:"manifest_sha256"`
	ClassCounts  map[string]int            `json:"class_counts"`
	SplitCounts  map[string]map[string]int `json:"split_counts"`
	Problems     []string                  `json:"problems,omitempty"`
}

// Verification proves that the exported ONNX file computes what the
// trained model computes: reference inputs run through both.
type Verification struct {
	Runtime    string      `json:"runtime"`
	Tolerance  float64     `json:"tolerance"`
	MaxAbsDiff float64     `json:"max_abs_diff"`
	References []Reference `json:"references"`
}

// Reference is one verified input.
type Reference struct {
	File        string    `json:"file"`
	FileSHA256  string    `json:"file_sha256"`
	InputSHA256 string    `json:"input_sha256"` // of the float32 tensor, little endian
	Trained     []float32 `json:"trained"`      // probabilities from the training framework
	Exported    []float32 `json:"exported"`     // probabilities from ONNX Runtime
}

// Errors returned when reading cards.
var (
	// ErrBadCard is returned for a card that does not parse or lacks required fields.
	ErrBadCard = errors.New("invalid model card")
)

// LoadCard reads and validates a card.json.
func LoadCard(path string) (*Card, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Card
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadCard, path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Validate returns an error wrapping ErrBadCard when the card cannot drive a station.
func (c *Card) Validate() error {
	switch {
	case c.Name == "" || c.Version == "":
		return fmt.Errorf("%w: name and version are required", ErrBadCard)
	case len(c.Labels) < 2:
		return fmt.Errorf("%w: needs at least two labels, has %d", ErrBadCard, len(c.Labels))
	case c.ONNXSHA256 == "":
		return fmt.Errorf("%w: onnx_sha256 missing", ErrBadCard)
	}
	if err := c.Input.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCard, err)
	}
	for _, ok := range c.OKLabels {
		if !contains(c.Labels, ok) {
			return fmt.Errorf("%w: ok label %q is not a label", ErrBadCard, ok)
		}
	}
	if c.Outputs != "" && c.Outputs != "logits" && c.Outputs != "probabilities" {
		return fmt.Errorf("%w: outputs %q (want logits or probabilities)", ErrBadCard, c.Outputs)
	}
	return nil
}

// Ref returns the model reference recorded with every verdict.
func (c *Card) Ref() inspector.ModelRef {
	r := inspector.ModelRef{Name: c.Name, Version: c.Version, SHA256: c.ONNXSHA256}
	if c.Dataset != nil {
		r.DatasetHash = c.Dataset.ManifestHash
	}
	return r
}

// Probabilities turns the model's raw output into probabilities.
func (c *Card) Probabilities(out []float32) []float32 {
	if c.Outputs == "probabilities" {
		return out
	}
	return inspector.Softmax(out)
}

// MinTestPerClass is the fewest test images per class whose accuracy means
// anything: with fewer, one image moves a class's figure by over 10 points.
const MinTestPerClass = 10

// SmallTestSplitWarnings returns one warning per class with fewer than
// MinTestPerClass test images (testCounts: class → images), in class order.
func SmallTestSplitWarnings(testCounts map[string]int, classes []string) []string {
	var w []string
	for _, c := range classes {
		if n := testCounts[c]; n < MinTestPerClass {
			w = append(w, fmt.Sprintf("test split too small to mean much: class %q has %d test images (fewer than %d); its test figures are anecdotes", c, n, MinTestPerClass))
		}
	}
	return w
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
