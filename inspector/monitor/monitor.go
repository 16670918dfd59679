// Package monitor watches a model in production: it compares the live
// verdicts of the active model with what the model's card recorded at
// training time, and raises an alarm when a monitor crosses its threshold.
//
// The monitors, over a rolling window of the newest verdicts:
//   - score_drift: the population stability index (PSI) between the
//     distribution of top scores on the validation split (the card's
//     ScoreBaseline) and the live one;
//   - uncertain_rate: the share of verdicts the model left to a human;
//   - override_rate: the share of reviewed verdicts the model had decided
//     where the human disagreed (shiftstats.Overridden);
//   - class_mix: the PSI between the class mix of training and the live
//     effective labels.
//
// A monitor without its baseline (an older card) reads "no baseline" and
// never alarms; one with too few verdicts in the window reads "too few".
package monitor

import (
	"math"
	"sort"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
)

// Histogram is a distribution of scores in [0, 1] over equal-width bins.
type Histogram struct {
	// Bins is the number of equal-width bins over [0, 1].
	Bins int `json:"bins"`
	// Counts holds one count per bin; a score of exactly 1 is in the last.
	Counts []int64 `json:"counts"`
}

// DefaultBins is the resolution of the score histograms: ten bins keep
// each expected bin populated with a few hundred validation images.
const DefaultBins = 10

// NewHistogram counts scores into bins equal-width bins over [0, 1].
func NewHistogram(bins int, scores []float64) Histogram {
	h := Histogram{Bins: bins, Counts: make([]int64, bins)}
	for _, s := range scores {
		h.Add(s)
	}
	return h
}

// Add counts one score; scores outside [0, 1] count in the nearest bin.
func (h *Histogram) Add(s float64) {
	i := int(s * float64(h.Bins))
	i = max(0, min(h.Bins-1, i))
	h.Counts[i]++
}

// Total is the number of scores counted.
func (h Histogram) Total() int64 {
	var n int64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// TopScoreHistogram is the histogram of the top class probability of
// each row of probs, as models/train records it for the validation split.
func TopScoreHistogram(probs [][]float32) *Histogram {
	scores := make([]float64, 0, len(probs))
	for _, p := range probs {
		best := float32(0)
		for _, v := range p {
			best = max(best, v)
		}
		scores = append(scores, float64(best))
	}
	h := NewHistogram(DefaultBins, scores)
	return &h
}

// psiFloor stands in for an empty bin's share: the PSI of a bin with no
// observations would otherwise be infinite.
const psiFloor = 1e-4

// PSI is the population stability index between two distributions given
// as counts over the same bins: Σ (a−e)·ln(a/e) over the bins' shares.
// Rules of thumb: < 0.1 stable, 0.1–0.2 watch, > 0.2 shifted.
func PSI(expected, actual []float64) float64 {
	var te, ta float64
	for i := range expected {
		te += expected[i]
		ta += actual[i]
	}
	if te == 0 || ta == 0 {
		return 0
	}
	var psi float64
	for i := range expected {
		e := math.Max(expected[i]/te, psiFloor)
		a := math.Max(actual[i]/ta, psiFloor)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// Config holds the window and thresholds; zero values take the defaults.
type Config struct {
	// Window is the number of newest verdicts of the model looked at (default 500).
	Window int
	// MinSamples is the fewest verdicts (reviews for override_rate) a
	// monitor needs before it may alarm (default 50; 20 reviews).
	MinSamples int
	// DriftPSI is score_drift's threshold (default 0.2).
	DriftPSI float64
	// MaxUncertain is uncertain_rate's threshold (default 0.2).
	MaxUncertain float64
	// MaxOverride is override_rate's threshold (default 0.1).
	MaxOverride float64
	// ClassMixPSI is class_mix's threshold; 0 reports the value without
	// an alarm, the default, because training sets are often balanced on
	// purpose while a line makes mostly good parts.
	ClassMixPSI float64
}

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = 500
	}
	if c.MinSamples <= 0 {
		c.MinSamples = 50
	}
	if c.DriftPSI <= 0 {
		c.DriftPSI = 0.2
	}
	if c.MaxUncertain <= 0 {
		c.MaxUncertain = 0.2
	}
	if c.MaxOverride <= 0 {
		c.MaxOverride = 0.1
	}
	return c
}

// Monitor names.
const (
	ScoreDrift    = "score_drift"
	UncertainRate = "uncertain_rate"
	OverrideRate  = "override_rate"
	ClassMix      = "class_mix"
)

// Reading states.
const (
	StateOK         = "ok"
	StateAlarm      = "alarm"
	StateNoBaseline = "no_baseline"
	StateTooFew     = "too_few"
	// StateReported: a monitor without a threshold (class_mix by default)
	// shows its value and never alarms.
	StateReported = "reported"
)

// Reading is one monitor's value against its threshold.
type Reading struct {
	Monitor   string  `json:"monitor"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	// N is how many verdicts (reviews, for override_rate) the value rests on.
	N     int    `json:"n"`
	State string `json:"state"`
}

// Alarm tells whether the reading crossed its threshold.
func (r Reading) Alarm() bool { return r.State == StateAlarm }

// Baseline is what the card recorded at training time.
type Baseline struct {
	// Scores is the validation split's top-score histogram; nil when the
	// card has none.
	Scores *Histogram
	// ClassCounts is the training data's images per class; nil when unknown.
	ClassCounts map[string]int
}

// Status is the monitors' state for one model.
type Status struct {
	Model    string    `json:"model"`
	At       time.Time `json:"at"`
	Window   int       `json:"window"`
	Readings []Reading `json:"readings"`
	// LiveScores and BaselineScores are the two top-score histograms
	// score_drift compares (BaselineScores nil without a baseline).
	LiveScores     Histogram  `json:"live_scores"`
	BaselineScores *Histogram `json:"baseline_scores,omitempty"`
	// LiveClasses and TrainingClasses are the class mixes class_mix compares.
	LiveClasses     map[string]int `json:"live_classes"`
	TrainingClasses map[string]int `json:"training_classes,omitempty"`
}

// Alarms returns the readings in alarm.
func (s Status) Alarms() []Reading {
	var out []Reading
	for _, r := range s.Readings {
		if r.Alarm() {
			out = append(out, r)
		}
	}
	return out
}

// Evaluate computes the monitors of model over vs, the newest verdicts
// of that model (at most cfg.Window are used, newest first as a store
// lists them).
func Evaluate(cfg Config, model string, base Baseline, vs []inspector.Verdict, now time.Time) Status {
	cfg = cfg.withDefaults()
	if len(vs) > cfg.Window {
		vs = vs[:cfg.Window]
	}
	st := Status{Model: model, At: now, Window: cfg.Window, LiveClasses: map[string]int{},
		BaselineScores: base.Scores, TrainingClasses: base.ClassCounts}
	bins := DefaultBins
	if base.Scores != nil && base.Scores.Bins > 0 {
		bins = base.Scores.Bins
	}
	st.LiveScores = Histogram{Bins: bins, Counts: make([]int64, bins)}
	uncertain, reviewed, overridden := 0, 0, 0
	for i := range vs {
		v := &vs[i]
		if len(v.TopK) > 0 {
			st.LiveScores.Add(float64(v.TopK[0].Score))
		}
		if v.Outcome == inspector.OutcomeUncertain {
			uncertain++
		}
		if v.Review != nil && v.Review.Outcome != "" && v.Outcome != inspector.OutcomeUncertain {
			reviewed++
			if shiftstats.Overridden(v) {
				overridden++
			}
		}
		if _, l := v.Effective(); l != "" {
			st.LiveClasses[l]++
		}
	}
	n := len(vs)
	judge := func(name string, value, threshold float64, samples, need int, haveBase bool) Reading {
		r := Reading{Monitor: name, Value: value, Threshold: threshold, N: samples, State: StateOK}
		switch {
		case !haveBase:
			r.State = StateNoBaseline
		case samples < need:
			r.State = StateTooFew
		case threshold <= 0:
			r.State = StateReported
		case value > threshold:
			r.State = StateAlarm
		}
		return r
	}
	// score_drift
	var drift float64
	haveScores := base.Scores != nil && base.Scores.Total() > 0 && len(base.Scores.Counts) == bins
	if haveScores {
		drift = PSI(floats(base.Scores.Counts), floats(st.LiveScores.Counts))
	}
	st.Readings = append(st.Readings, judge(ScoreDrift, drift, cfg.DriftPSI, int(st.LiveScores.Total()), cfg.MinSamples, haveScores))
	st.Readings = append(st.Readings, judge(UncertainRate, ratio(uncertain, n), cfg.MaxUncertain, n, cfg.MinSamples, true))
	st.Readings = append(st.Readings, judge(OverrideRate, ratio(overridden, reviewed), cfg.MaxOverride, reviewed, max(1, cfg.MinSamples*2/5), true))
	// class_mix over the training classes; live labels outside them count in an extra bin.
	var mix float64
	haveMix := len(base.ClassCounts) > 0
	if haveMix {
		classes := make([]string, 0, len(base.ClassCounts))
		for c := range base.ClassCounts {
			classes = append(classes, c)
		}
		sort.Strings(classes)
		exp := make([]float64, len(classes)+1)
		act := make([]float64, len(classes)+1)
		known := map[string]int{}
		for i, c := range classes {
			exp[i] = float64(base.ClassCounts[c])
			known[c] = i
		}
		for l, k := range st.LiveClasses {
			if i, ok := known[l]; ok {
				act[i] += float64(k)
			} else {
				act[len(classes)] += float64(k)
			}
		}
		mix = PSI(exp, act)
	}
	labelled := 0
	for _, k := range st.LiveClasses {
		labelled += k
	}
	st.Readings = append(st.Readings, judge(ClassMix, mix, cfg.ClassMixPSI, labelled, cfg.MinSamples, haveMix))
	return st
}

func floats(c []int64) []float64 {
	out := make([]float64, len(c))
	for i, v := range c {
		out[i] = float64(v)
	}
	return out
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
