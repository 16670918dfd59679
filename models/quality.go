package models

import "time"

// Quality records the data-quality and bias checks of a model version
// (models/quality computes them, at training or later with `pruefplatz
// models check`). Each check says what it found; Warnings lists the findings
// an engineer must look at before trusting the model.
type Quality struct {
	Tool     string    `json:"tool"`
	Computed time.Time `json:"computed"`
	// Data is the dataset folder the images were read from.
	Data string `json:"data"`
	// Split is the split the model's answers were judged on ("test").
	Split     string     `json:"split"`
	Imbalance *Imbalance `json:"imbalance"`
	// NearDuplicates compares every test image with every training image.
	NearDuplicates *NearDuplicates `json:"near_duplicates,omitempty"`
	// Accuracy is the overall accuracy on Split, the figure subgroups are
	// compared with.
	Accuracy float64 `json:"accuracy"`
	Images   int     `json:"images"`
	// Conditions names the capture conditions the manifest records (session,
	// camera, light, background); Subgroups holds the accuracy per value.
	Conditions []string   `json:"conditions,omitempty"`
	Subgroups  []Subgroup `json:"subgroups,omitempty"`
	// SubgroupGap is how far below Accuracy a subgroup of at least
	// SubgroupMin images must fall to be marked Low.
	SubgroupGap float64 `json:"subgroup_gap"`
	SubgroupMin int     `json:"subgroup_min"`
	// Suspects are images of Split the model gets wrong with at least
	// SuspectConfidence: likely label errors, listed for review.
	SuspectConfidence float64   `json:"suspect_confidence"`
	Suspects          []Suspect `json:"suspects,omitempty"`
	Warnings          []string  `json:"warnings,omitempty"`
}

// Imbalance describes the class balance of the training split.
type Imbalance struct {
	Counts map[string]int `json:"train_counts"`
	// Ratio is the largest class's count over the smallest's; above
	// MaxRatio the check warns.
	Ratio    float64 `json:"ratio"`
	MaxRatio float64 `json:"max_ratio"`
	Largest  string  `json:"largest"`
	Smallest string  `json:"smallest"`
}

// NearDuplicates is the result of the perceptual-hash comparison between
// the training and the test split.
type NearDuplicates struct {
	// Method names the hash and its size, e.g. "dHash 16×16 (256 bits) of the model's ROI".
	Method string `json:"method"`
	// MaxDistance is the largest Hamming distance counted as a near duplicate.
	MaxDistance int `json:"max_distance"`
	Train       int `json:"train_images"`
	Test        int `json:"test_images"`
	// TestWithDuplicate counts test images with at least one near duplicate in training.
	TestWithDuplicate int `json:"test_with_duplicate"`
	// Pairs lists the closest pairs found (at most a few dozen, closest first).
	Pairs []DuplicatePair `json:"pairs,omitempty"`
	// NearestMedian is the median distance of each test image to its
	// nearest training image: how far apart the splits usually are.
	NearestMedian int `json:"nearest_median"`
}

// DuplicatePair is a test image and its nearest training image.
type DuplicatePair struct {
	Test      string `json:"test"`
	Train     string `json:"train"`
	Distance  int    `json:"distance"`
	SameClass bool   `json:"same_class"`
}

// Subgroup is the accuracy on the images sharing one capture condition value.
type Subgroup struct {
	Condition string  `json:"condition"`
	Value     string  `json:"value"`
	N         int     `json:"n"`
	Accuracy  float64 `json:"accuracy"`
	// Low marks a subgroup far below the overall accuracy (see Quality.SubgroupGap).
	Low bool `json:"low,omitempty"`
}

// Suspect is an image the model calls wrong with high confidence.
type Suspect struct {
	Path       string  `json:"path"`
	Label      string  `json:"label"`
	Predicted  string  `json:"predicted"`
	Confidence float64 `json:"confidence"`
}
