// Package models holds model cards and the versioned model registry:
// models/<name>/<version>/{model.onnx, card.json, *.png}. A card says what a
// model expects, what it was trained on, how it was evaluated and how its
// verdict thresholds were chosen, so every verdict can be traced to it
// (EU AI Act). The package is pure Go: training lives in models/train,
// evaluation in models/eval.
package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/monitor"
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
	// ThresholdPolicy is the rule that chose Thresholds; nil on cards from
	// before it was recorded, which used LegacyThresholdPolicy.
	ThresholdPolicy *ThresholdPolicy `json:"threshold_policy,omitempty"`
	Architecture    string           `json:"architecture"`
	// Kind is "" (or KindClassifier) for a classifier and KindAnomaly for
	// a good-only anomaly model (see Anomaly).
	Kind string `json:"kind,omitempty"`
	// Anomaly holds an anomaly model's settings and threshold choice.
	Anomaly *AnomalyInfo `json:"anomaly,omitempty"`
	// FileSHA256 holds the sha256 of every file besides model.onnx that a
	// verdict depends on (an anomaly model's memory bank). Publish fills
	// the sums of the names it lists; Verify checks them all, and the
	// model reference of every verdict covers them (Ref).
	FileSHA256 map[string]string `json:"file_sha256,omitempty"`
	// Backbone names the pretrained backbone inside the model, if any.
	Backbone *BackboneInfo `json:"backbone,omitempty"`
	// Warnings an engineer must read before trusting the figures, such
	// as a test split too small to mean anything.
	Warnings []string            `json:"warnings,omitempty"`
	Training *TrainingInfo       `json:"training,omitempty"`
	Dataset  *DatasetInfo        `json:"dataset,omitempty"`
	Metrics  map[string]*Metrics `json:"metrics,omitempty"` // "validation", "test"
	// ScoreBaseline is the histogram of the top class probability on the
	// validation split, the baseline of the live score-drift monitor
	// (inspector/monitor); nil on cards written before it existed.
	ScoreBaseline *monitor.Histogram `json:"score_baseline,omitempty"`
	Verification  *Verification      `json:"verification,omitempty"`
	ONNXSHA256    string             `json:"onnx_sha256"`
	ONNXInput     string             `json:"onnx_input"`
	ONNXOutput    string             `json:"onnx_output"`
	// Outputs says whether the ONNX output is "logits" or "probabilities".
	Outputs  string            `json:"outputs"`
	Imported bool              `json:"imported,omitempty"`
	Tool     string            `json:"tool"`
	Created  time.Time         `json:"created"`
	Files    map[string]string `json:"files,omitempty"` // e.g. "curve": "curve.png"

	// Doc is the provider's statement of intended use, limits and risk
	// (set at training, edited later with Registry.EditDoc); DocHistory
	// keeps every earlier statement with who set it and when.
	Doc
	DocHistory []DocRevision `json:"doc_history,omitempty"`
	// Quality holds the data-quality and bias checks (see Quality).
	Quality *Quality `json:"quality,omitempty"`
}

// Model kinds.
const (
	KindClassifier = "classifier"
	KindAnomaly    = "anomaly"
)

// AnomalyInfo describes a good-only anomaly model (inspector/anomaly).
type AnomalyInfo struct {
	Method string `json:"method"`
	// BankFile is the memory bank's file in the version folder.
	BankFile string `json:"bank_file"`
	// Grid is the number of 224 px tiles per side of the input.
	Grid       int     `json:"grid"`
	FeatureDim int     `json:"feature_dim"`
	Sigma      float32 `json:"heatmap_sigma_cells"`
	// ScoreOK and ScoreNOK are the image-score thresholds (at most: OK,
	// at least: NOK, between: uncertain); Thresholds holds the same rule
	// on the P(OK) the model reports.
	ScoreOK  float32 `json:"score_ok"`
	ScoreNOK float32 `json:"score_nok"`
	Quantile float64 `json:"quantile"`
	Margin   float64 `json:"margin"`
	// HeldOutOK is the number of held-out good images the threshold came from.
	HeldOutOK int     `json:"held_out_ok"`
	Images    int     `json:"train_images"`
	Patches   int     `json:"patches_seen"`
	Pool      int     `json:"pool_patches"`
	BankSize  int     `json:"bank_patches"`
	Ratio     float64 `json:"coreset_ratio"`
	ImageKeep float64 `json:"image_keep,omitempty"`
	Proj      int     `json:"projection_dim"`
	Seed      uint64  `json:"seed"`
	// BackboneOutputs are the outputs model.onnx keeps: the backbone
	// (Card.Backbone, whose sha256 is the shipped file's) pruned to the
	// feature maps the model reads. Empty: model.onnx is the whole
	// backbone, byte for byte (versions made before pruning).
	BackboneOutputs []string `json:"backbone_outputs,omitempty"`
	// TopK is how many of the largest patch distances the patch score
	// averages; 0 (versions before it) or 1: the largest alone.
	TopK int `json:"score_top_k,omitempty"`
	// MedianOffset is the share of the image's median patch distance the
	// patch score subtracts (0: none, as versions before it).
	MedianOffset float32 `json:"score_median_offset,omitempty"`
	// Neighbourhood is the patch features' neighbourhood: 5, 7, 9 average
	// the 3×3-averaged features over 3×3 once, twice, thrice more
	// (inspector/anomaly Widen); 0 (versions before it) or 3: 3×3.
	Neighbourhood int `json:"neighbourhood,omitempty"`
	// Global, when set, is the image-level half of the score (see
	// GlobalInfo); nil: the score is the largest patch distance alone.
	Global *GlobalInfo `json:"global,omitempty"`
	// Positional, when set, is the positional part (see PositionalInfo).
	Positional *PositionalInfo `json:"positional,omitempty"`
	// Letterbox, when set, is a second patch part on the image letterboxed
	// (see LetterboxInfo); only with Norm.
	Letterbox *LetterboxInfo `json:"letterbox,omitempty"`
	// Norm, when set, makes the image score the sum of the parts, each
	// standardised by the held-out good images (see ScoreNorm); it then
	// supersedes Global's references.
	Norm *ScoreNorm `json:"score_norm,omitempty"`
	// ThresholdZ, when set, says ScoreOK and ScoreNOK are the held-out
	// good images' mean + ThresholdZ[0] and + ThresholdZ[1] standard
	// deviations of the image score; empty: Quantile and Margin.
	ThresholdZ []float64 `json:"threshold_z,omitempty"`
	// Eval holds the figures on the test split: good test images plus
	// every defect image (never used for training or the threshold).
	Eval *AnomalyEval `json:"eval,omitempty"`
}

// GlobalInfo describes an anomaly model's global part (inspector/anomaly
// Global): a bag-of-words descriptor of each image over the first Words
// bank patches, its distance to the K nearest training descriptors, and the
// image score patch/PatchRef + global/GlobalRef, the references being the
// RefQuantile of held-out good images' patch and global scores.
type GlobalInfo struct {
	// File holds the training images' descriptors (the bank format,
	// Words values each, float16); FileSHA256 covers it.
	File        string  `json:"file"`
	Words       int     `json:"words"`
	K           int     `json:"k"`
	PatchRef    float32 `json:"patch_ref"`
	GlobalRef   float32 `json:"global_ref"`
	RefQuantile float64 `json:"ref_quantile"`
}

// PositionalInfo describes an anomaly model's positional part (inspector/
// anomaly Positional) for parts of one shape laid at a placement mark at
// any angle: each image's pose (centre and rotation) is found against the
// reference in PoseFile, and each patch is compared with the K patches of
// good images that lay at its place in the part (File: Side²·K patches,
// the bank format). TopK as the patch score's.
type PositionalInfo struct {
	File     string `json:"file"`
	PoseFile string `json:"pose_file"`
	K        int    `json:"k"`
	Spread   int    `json:"spread_cells"`
	TopK     int    `json:"score_top_k"`
	// Disc says only the patches whose canonical place lies inside the
	// grid's inscribed circle are compared (inspector/anomaly PosBank.Disc);
	// false (versions before it): the whole grid, its outside clamped to
	// the border.
	Disc bool `json:"disc,omitempty"`
}

// LetterboxInfo describes an anomaly model's letterboxed part (inspector/
// anomaly Letterboxed) of a model whose input is padded at the image's own
// scale: the image found on the input is letterboxed to Grid×Grid tiles of
// 224 px and scored against its own bank (File, the bank format) with its
// own TopK, MedianOffset and Neighbourhood, as the patch part's fields.
type LetterboxInfo struct {
	File          string  `json:"bank_file"`
	Grid          int     `json:"grid"`
	BankSize      int     `json:"bank_patches"`
	Pool          int     `json:"pool_patches"`
	Patches       int     `json:"patches_seen"`
	TopK          int     `json:"score_top_k"`
	MedianOffset  float32 `json:"score_median_offset,omitempty"`
	Neighbourhood int     `json:"neighbourhood,omitempty"`
}

// ScoreNorm holds the held-out good images' mean and standard deviation of
// each part score (a zero SD: no such part) and their mean largest patch
// and positional distance, which put both on one heatmap (see
// inspector/anomaly Norm).
type ScoreNorm struct {
	PatchMean  float32 `json:"patch_mean"`
	PatchSD    float32 `json:"patch_sd"`
	GlobalMean float32 `json:"global_mean,omitempty"`
	GlobalSD   float32 `json:"global_sd,omitempty"`
	PosMean    float32 `json:"pos_mean,omitempty"`
	PosSD      float32 `json:"pos_sd,omitempty"`
	// LbMean and LbSD standardise the letterboxed part (LetterboxInfo).
	LbMean   float32 `json:"letterbox_mean,omitempty"`
	LbSD     float32 `json:"letterbox_sd,omitempty"`
	PatchHot float32 `json:"patch_hot"`
	PosHot   float32 `json:"pos_hot,omitempty"`
	// PatchHotSD and PosHotSD are the standard deviations of those
	// largest distances: with both, the heatmap measures each distance in
	// them (cards without them keep the larger of the scaled distances).
	PatchHotSD float32 `json:"patch_hot_sd,omitempty"`
	PosHotSD   float32 `json:"pos_hot_sd,omitempty"`
}

// AnomalyEval is an anomaly model's evaluation on images of known truth.
type AnomalyEval struct {
	AUROC float64 `json:"auroc"`
	// Recall is the share of defect images at or above ScoreNOK;
	// Flagged counts those above ScoreOK too (NOK or uncertain).
	Recall      float64 `json:"recall"`
	Flagged     float64 `json:"recall_nok_or_uncertain"`
	FalseAlarms float64 `json:"false_alarms"` // share of good images at or above ScoreNOK
	// FalseFlags is the share of good images above ScoreOK (NOK or uncertain).
	FalseFlags float64            `json:"false_alarms_nok_or_uncertain"`
	Good       int                `json:"good_images"`
	Defects    int                `json:"defect_images"`
	PerClass   map[string]float64 `json:"recall_per_class,omitempty"`
	// RecallAt5 is the recall at the score threshold giving at most 5 %
	// false alarms on these good images (an oracle figure, for comparison).
	RecallAt5 float64 `json:"recall_at_5pct_false_alarms"`
	RecallAt2 float64 `json:"recall_at_2pct_false_alarms"`
	// HotOnDefect is the share of defect images with a mask whose hottest
	// heatmap cell lies on the defect; Masks is how many had one.
	HotOnDefect float64            `json:"hot_on_defect,omitempty"`
	Masks       int                `json:"masks,omitempty"`
	HotPerClass map[string]float64 `json:"hot_on_defect_per_class,omitempty"`
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
	// Heads is the number of heads whose logits a backbone model averages
	// (merged into one wider head in the graph).
	Heads int `json:"heads,omitempty"`
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
	switch c.Kind {
	case "", KindClassifier:
	case KindAnomaly:
		if c.Anomaly == nil || c.Anomaly.BankFile == "" || c.Anomaly.Grid <= 0 {
			return fmt.Errorf("%w: an anomaly model needs its anomaly settings (bank file, grid)", ErrBadCard)
		}
		if _, ok := c.FileSHA256[c.Anomaly.BankFile]; !ok {
			return fmt.Errorf("%w: the bank %s has no sha256 on the card", ErrBadCard, c.Anomaly.BankFile)
		}
		if g := c.Anomaly.Global; g != nil {
			if _, ok := c.FileSHA256[g.File]; !ok || g.Words <= 0 || g.PatchRef <= 0 || g.GlobalRef <= 0 {
				return fmt.Errorf("%w: the global part needs its file (with a sha256 on the card), words and references", ErrBadCard)
			}
		}
		if l := c.Anomaly.Letterbox; l != nil {
			if _, ok := c.FileSHA256[l.File]; !ok || l.Grid <= 0 || c.Anomaly.Norm == nil || c.Anomaly.Norm.LbSD <= 0 {
				return fmt.Errorf("%w: the letterboxed part needs its bank file (with a sha256 on the card), grid and standardisation", ErrBadCard)
			}
		}
	default:
		return fmt.Errorf("%w: kind %q (want %s or %s)", ErrBadCard, c.Kind, KindClassifier, KindAnomaly)
	}
	if c.Outputs != "" && c.Outputs != "logits" && c.Outputs != "probabilities" {
		return fmt.Errorf("%w: outputs %q (want logits or probabilities)", ErrBadCard, c.Outputs)
	}
	return nil
}

// Ref returns the model reference recorded with every verdict. Its SHA256
// is ContentSHA256: the model file's, or for a model of several files one
// digest over all of them.
func (c *Card) Ref() inspector.ModelRef {
	r := inspector.ModelRef{Name: c.Name, Version: c.Version, SHA256: c.ContentSHA256()}
	if c.Dataset != nil {
		r.DatasetHash = c.Dataset.ManifestHash
	}
	return r
}

// ContentSHA256 identifies everything a verdict depends on: ONNXSHA256
// for a single-file model; with FileSHA256 set, the sha256 of the lines
// "NAME SHA256\n" for model.onnx and every listed file, sorted by name
// (sha256sum's format), so `sha256sum model.onnx bank.f16 | sort -k2 |
// awk '{print $2, $1}'` piped to sha256sum reproduces it.
func (c *Card) ContentSHA256() string {
	if len(c.FileSHA256) == 0 {
		return c.ONNXSHA256
	}
	names := []string{"model.onnx"}
	for n := range c.FileSHA256 {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		sum := c.FileSHA256[n]
		if n == "model.onnx" {
			sum = c.ONNXSHA256
		}
		fmt.Fprintf(h, "%s %s\n", n, sum)
	}
	return hex.EncodeToString(h.Sum(nil))
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

// Policy returns the threshold rule that chose the card's thresholds:
// ThresholdPolicy, or LegacyThresholdPolicy for a card without one.
func (c *Card) Policy() ThresholdPolicy {
	if c.ThresholdPolicy != nil {
		return *c.ThresholdPolicy
	}
	return LegacyThresholdPolicy
}
