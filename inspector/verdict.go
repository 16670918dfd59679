package inspector

import (
	"encoding/json"
	"math"
	"sort"
	"time"
)

// Outcome is what the station tells the operator.
type Outcome string

const (
	// OutcomeOK: a defect model accepted an OK label.
	OutcomeOK Outcome = "ok"
	// OutcomeNOK: a defect model accepted a defect label.
	OutcomeNOK Outcome = "nok"
	// OutcomeClass: a part model accepted a class (the label says which).
	OutcomeClass Outcome = "class"
	// OutcomeUncertain: no class reached the accept threshold; a human must decide.
	OutcomeUncertain Outcome = "uncertain"
)

// Prediction is one class and its probability.
type Prediction struct {
	Label string  `json:"label"`
	Index int     `json:"index"`
	Score float32 `json:"score"`
}

// Thresholds decide between the machine's verdict and asking a human.
//
// For a parts model the top class is accepted when its probability is at
// least Accept (or PerClass[label], where set); otherwise the verdict is
// uncertain.
//
// For a defect model the probability of OK (the sum over its OK labels) is
// compared: at least Accept → OK; at most Reject → NOK; in the band between
// → uncertain, a human must decide.
type Thresholds struct {
	Accept   float32            `json:"accept"`
	Reject   float32            `json:"reject"`
	PerClass map[string]float32 `json:"per_class,omitempty"`
}

// Decision is the verdict logic's result for one frame.
type Decision struct {
	Outcome Outcome      `json:"outcome"`
	Label   string       `json:"label"` // top label; empty when uncertain
	TopK    []Prediction `json:"top_k"`
	// Heatmap is where an anomaly model sees the defect (nil for
	// classifiers that do not locate).
	Heatmap *Heatmap `json:"heatmap,omitempty"`
}

// Softmax returns the softmax of logits, stable for large values.
func Softmax(logits []float32) []float32 {
	out := make([]float32, len(logits))
	if len(logits) == 0 {
		return out
	}
	maxv := logits[0]
	for _, v := range logits[1:] {
		if v > maxv {
			maxv = v
		}
	}
	var sum float64
	for i, v := range logits {
		e := math.Exp(float64(v - maxv))
		out[i] = float32(e)
		sum += e
	}
	for i := range out {
		out[i] = float32(float64(out[i]) / sum)
	}
	return out
}

// TopK returns the k most probable labels, best first; ties keep label order.
func TopK(probs []float32, labels []string, k int) []Prediction {
	p := make([]Prediction, len(probs))
	for i, s := range probs {
		l := ""
		if i < len(labels) {
			l = labels[i]
		}
		p[i] = Prediction{Label: l, Index: i, Score: s}
	}
	sort.SliceStable(p, func(a, b int) bool { return p[a].Score > p[b].Score })
	if k > 0 && k < len(p) {
		p = p[:k]
	}
	return p
}

// Decide turns probabilities into a decision (see Thresholds). okLabels
// marks a defect model; with none the model names classes (spare parts) and
// an accepted result is OutcomeClass.
func Decide(probs []float32, labels []string, th Thresholds, okLabels []string, k int) Decision {
	top := TopK(probs, labels, k)
	d := Decision{Outcome: OutcomeUncertain, TopK: top}
	if len(top) == 0 {
		return d
	}
	if len(okLabels) == 0 {
		best := top[0]
		accept := th.Accept
		if v, ok := th.PerClass[best.Label]; ok {
			accept = v
		}
		if best.Score >= accept {
			d.Outcome, d.Label = OutcomeClass, best.Label
		}
		return d
	}
	var pOK float32
	bestOK, bestNOK := -1, -1
	for i, p := range probs {
		isOK := false
		for _, l := range okLabels {
			if i < len(labels) && labels[i] == l {
				isOK = true
			}
		}
		if isOK {
			pOK += p
			if bestOK < 0 || p > probs[bestOK] {
				bestOK = i
			}
		} else if bestNOK < 0 || p > probs[bestNOK] {
			bestNOK = i
		}
	}
	switch {
	case pOK >= th.Accept && bestOK >= 0:
		d.Outcome, d.Label = OutcomeOK, labels[bestOK]
	case pOK <= th.Reject && bestNOK >= 0:
		d.Outcome, d.Label = OutcomeNOK, labels[bestNOK]
	}
	return d
}

// ModelRef names the exact model (and its training data) behind a verdict, for traceability.
type ModelRef struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	SHA256      string `json:"sha256"`
	DatasetHash string `json:"dataset_hash"`
}

// Review is a human's decision on a verdict.
type Review struct {
	Label   string  `json:"label"`
	Outcome Outcome `json:"outcome"`
	// By is the logged-in user (or the kiosk's operator name), set by the
	// server: a client cannot choose it.
	By string `json:"by"`
	// Via says how By was authenticated: "session", "token" or "kiosk"
	// (empty in records made before logins existed).
	Via     string    `json:"via,omitempty"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
	// Confirmed is true when the human agreed with the machine's label.
	Confirmed bool `json:"confirmed"`
}

// Verdict is one recorded inspection: the whole story in one record.
type Verdict struct {
	ID         uint64     `json:"id"`
	Time       time.Time  `json:"time"`
	Source     string     `json:"source"`
	Trigger    string     `json:"trigger"`
	Model      ModelRef   `json:"model"`
	Thresholds Thresholds `json:"thresholds"`
	Decision
	// Review is the effective review: the latest.
	Review *Review `json:"review,omitempty"`
	// History holds the earlier reviews, oldest first, when a verdict was
	// reviewed again. Records written before a verdict could be reviewed
	// twice have a Review and no History, and read the same way.
	History []Review `json:"review_history,omitempty"`
	// Image is the frame as JPEG and Thumb a small JPEG of it. They are kept
	// out of JSON listings; the API serves them separately.
	Image []byte `json:"-"`
	Thumb []byte `json:"-"`
}

// AddReview records r as the verdict's effective review; the one it
// replaces is kept, in order, in History. Nothing is ever dropped.
func (v *Verdict) AddReview(r Review) {
	if v.Review != nil {
		v.History = append(v.History, *v.Review)
	}
	v.Review = &r
}

// Reviews returns every review, oldest first; the last is the effective one.
func (v *Verdict) Reviews() []Review {
	if v.Review == nil {
		return nil
	}
	out := make([]Review, 0, len(v.History)+1)
	return append(append(out, v.History...), *v.Review)
}

// EffectiveResult is the outcome and label that count, as the JSON of a
// verdict carries them, so pages and exports never re-derive the rule.
type EffectiveResult struct {
	Outcome  Outcome `json:"outcome"`
	Label    string  `json:"label"`
	Reviewed bool    `json:"reviewed"`
}

// MarshalJSON writes the verdict with its effective result added.
func (v Verdict) MarshalJSON() ([]byte, error) {
	type plain Verdict // without this method
	o, l := v.Effective()
	return json.Marshal(struct {
		plain
		Effective EffectiveResult `json:"effective"`
	}{plain(v), EffectiveResult{Outcome: o, Label: l, Reviewed: v.Review != nil && v.Review.Outcome != ""}})
}

// Effective returns the outcome and label that count: the latest review's
// when a human reviewed the verdict, the machine's otherwise. Counters,
// filters and exports all use it.
func (v *Verdict) Effective() (Outcome, string) {
	if v.Review != nil && v.Review.Outcome != "" {
		return v.Review.Outcome, v.Review.Label
	}
	return v.Outcome, v.Label
}
