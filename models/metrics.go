package models

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// ClassMetrics are one class's precision, recall, F1 and support.
type ClassMetrics struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// Metrics summarise an evaluation. Confusion[i][j] counts images of true
// class Labels[i] predicted as Labels[j].
type Metrics struct {
	N         int                     `json:"n"`
	Accuracy  float64                 `json:"accuracy"`
	PerClass  map[string]ClassMetrics `json:"per_class"`
	Labels    []string                `json:"labels"`
	Confusion [][]int                 `json:"confusion"`
	// Uncertain is the share of images the thresholds would send to a human.
	Uncertain float64 `json:"uncertain_rate"`
	// AcceptedAccuracy is the accuracy on the images the thresholds accept:
	// for a defect model, of their OK/NOK answer.
	AcceptedAccuracy float64 `json:"accepted_accuracy"`
	// DefectModel says the two figures above are OK/NOK decisions.
	DefectModel bool `json:"defect_model,omitempty"`
}

// ComputeMetrics compares predicted with true label indices.
func ComputeMetrics(labels []string, truth, pred []int) *Metrics {
	n := len(labels)
	m := &Metrics{N: len(truth), Labels: labels, PerClass: map[string]ClassMetrics{}, Confusion: make([][]int, n)}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, n)
	}
	right := 0
	for i := range truth {
		if truth[i] >= 0 && truth[i] < n && pred[i] >= 0 && pred[i] < n {
			m.Confusion[truth[i]][pred[i]]++
		}
		if truth[i] == pred[i] {
			right++
		}
	}
	if m.N > 0 {
		m.Accuracy = float64(right) / float64(m.N)
	}
	for c, l := range labels {
		tp, fn, fp := m.Confusion[c][c], 0, 0
		for j := 0; j < n; j++ {
			if j != c {
				fn += m.Confusion[c][j]
				fp += m.Confusion[j][c]
			}
		}
		cm := ClassMetrics{Support: tp + fn}
		if tp+fp > 0 {
			cm.Precision = float64(tp) / float64(tp+fp)
		}
		if tp+fn > 0 {
			cm.Recall = float64(tp) / float64(tp+fn)
		}
		if cm.Precision+cm.Recall > 0 {
			cm.F1 = 2 * cm.Precision * cm.Recall / (cm.Precision + cm.Recall)
		}
		m.PerClass[l] = cm
	}
	return m
}

// AddThresholdStats fills Uncertain and AcceptedAccuracy for probabilities
// under thresholds th, deciding as the station does: for a defect model
// (okLabels set) on P(OK), where a decided image counts as right when its
// OK/NOK side is; for a parts model on the top class.
func (m *Metrics) AddThresholdStats(probs [][]float32, truth []int, th inspector.Thresholds, okLabels []string) {
	isOK := make([]bool, len(m.Labels))
	for i, l := range m.Labels {
		isOK[i] = slices.Contains(okLabels, l)
	}
	acc, right := 0, 0
	for i, p := range probs {
		d := inspector.Decide(p, m.Labels, th, okLabels, 1)
		switch d.Outcome {
		case inspector.OutcomeUncertain:
			continue
		case inspector.OutcomeOK, inspector.OutcomeNOK:
			if (d.Outcome == inspector.OutcomeOK) == isOK[truth[i]] {
				right++
			}
		default:
			if d.TopK[0].Index == truth[i] {
				right++
			}
		}
		acc++
	}
	m.DefectModel = len(okLabels) > 0
	if len(probs) > 0 {
		m.Uncertain = 1 - float64(acc)/float64(len(probs))
	}
	if acc > 0 {
		m.AcceptedAccuracy = float64(right) / float64(acc)
	}
}

// Table renders the metrics as a readable text table.
func (m *Metrics) Table() string {
	var b strings.Builder
	w := 12
	for _, l := range m.Labels {
		w = max(w, len(l)+2)
	}
	fmt.Fprintf(&b, "%-*s %9s %9s %9s %8s\n", w, "class", "precision", "recall", "f1", "support")
	labels := append([]string(nil), m.Labels...)
	sort.Strings(labels)
	for _, l := range labels {
		c := m.PerClass[l]
		fmt.Fprintf(&b, "%-*s %9.3f %9.3f %9.3f %8d\n", w, l, c.Precision, c.Recall, c.F1, c.Support)
	}
	fmt.Fprintf(&b, "%-*s %9s %9s %9.3f %8d\n", w, "accuracy", "", "", m.Accuracy, m.N)
	if m.Uncertain > 0 || m.AcceptedAccuracy > 0 {
		what := "right"
		if m.DefectModel {
			what = "right OK/NOK"
		}
		fmt.Fprintf(&b, "with the card's thresholds: %.1f%% sent to a human, %.1f%% %s among the rest\n", 100*m.Uncertain, 100*m.AcceptedAccuracy, what)
	}
	b.WriteString("\nconfusion (rows: true, columns: predicted)\n")
	fmt.Fprintf(&b, "%-*s", w, "")
	for j := range m.Labels {
		fmt.Fprintf(&b, " %6d", j)
	}
	b.WriteByte('\n')
	for i, l := range m.Labels {
		fmt.Fprintf(&b, "%-*s", w, fmt.Sprintf("%d %s", i, l))
		for _, v := range m.Confusion[i] {
			fmt.Fprintf(&b, " %6d", v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// The threshold rules a card can record (ThresholdPolicy.Rule).
const (
	// RulePrecision is the first rule, of the shipped v1 models: the
	// accepted validation images must be right in at least a target share.
	RulePrecision = "precision"
	// RuleCost weighs a wrong automatic verdict against a look by a human
	// and puts each threshold where the validation images cost least.
	RuleCost = "cost"
)

// DefaultWrongCost is RuleCost's default price of a wrong automatic verdict,
// in looks by a human: a look at a flagged part takes seconds, while a part
// in the wrong bin or a shipped defect means rework or a complaint. On
// magnetic-tile and the demo sets the chosen thresholds are the same for any
// price from 5 to 20, so the rule does not hinge on the exact number
// (docs/training.md).
const DefaultWrongCost = 20

// ThresholdPolicy is the rule and its parameter that chose a card's
// thresholds, so a retraining can choose them the same way.
type ThresholdPolicy struct {
	// Rule is RulePrecision or RuleCost.
	Rule string `json:"rule"`
	// TargetPrecision is RulePrecision's share of right accepted verdicts.
	TargetPrecision float64 `json:"target_precision,omitempty"`
	// WrongCost is RuleCost's price of a wrong automatic verdict in looks
	// by a human.
	WrongCost float64 `json:"wrong_cost,omitempty"`
}

// LegacyThresholdPolicy is the rule of cards that record none: the shipped
// v1 models were published with it.
var LegacyThresholdPolicy = ThresholdPolicy{Rule: RulePrecision, TargetPrecision: 0.99}

// DefaultThresholdPolicy is the rule new trainings use.
var DefaultThresholdPolicy = ThresholdPolicy{Rule: RuleCost, WrongCost: DefaultWrongCost}

// Validate returns an error for an unknown rule or a parameter outside its
// range: a target share in (0, 1], a cost of at least 1.
func (p ThresholdPolicy) Validate() error {
	switch p.Rule {
	case RulePrecision:
		if !(p.TargetPrecision > 0 && p.TargetPrecision <= 1) {
			return fmt.Errorf("threshold rule %s: target precision %v is not in (0, 1]", p.Rule, p.TargetPrecision)
		}
	case RuleCost:
		if !(p.WrongCost >= 1) {
			return fmt.Errorf("threshold rule %s: the cost of a wrong verdict (%v) must be at least one look by a human", p.Rule, p.WrongCost)
		}
	default:
		return fmt.Errorf("unknown threshold rule %q (want %s or %s)", p.Rule, RulePrecision, RuleCost)
	}
	return nil
}

// Explain says in words how the policy chose the thresholds, for the card.
func (p ThresholdPolicy) Explain() string {
	var core, defect string
	switch p.Rule {
	case RuleCost:
		core = fmt.Sprintf("Rule %q: a wrong automatic verdict is taken to cost %g looks by a human; each threshold sits where the "+
			"validation images would cost least (every accepted wrong image %g, every image sent to a human 1), so a band of "+
			"images is accepted when it is right in more than %.1f %% of cases. ", p.Rule, p.WrongCost, p.WrongCost, 100*(1-1/p.WrongCost))
		defect = "Parts model: accept = that top-class probability (never below 0.5). " +
			"Defect model: accept = that P(OK) for the images called OK; the same choice among the images called NOK marks the NOK side, "
	default:
		core = fmt.Sprintf("Rule %q, target %g: ", p.Rule, p.TargetPrecision)
		defect = "Parts model: accept = the lowest top-class probability at which the validation images scoring at least that " +
			"are right in at least the target share (never below 0.5). " +
			"Defect model: accept = the lowest P(OK) at which the images called OK are truly OK in at least the target share; " +
			"the most defective-looking image still called NOK that way marks the NOK side, "
	}
	return "Chosen on the validation split; a threshold always sits on a correctly called image, never on a wrong one. " + core + defect +
		"and reject lies halfway between its P(OK) and the next higher validation image's (at most accept), so the gap the validation data cannot vouch " +
		"for goes to a human rather than scrapping good parts. " +
		"Between reject and accept the station answers 'uncertain' and asks a human."
}

// ThresholdRule explains ChooseThresholds under the legacy policy, the
// text of the shipped v1 cards.
var ThresholdRule = LegacyThresholdPolicy.Explain()

// ChooseThresholds picks thresholds from validation probabilities and true
// label indices under policy (see ThresholdPolicy.Explain; policy must be
// valid). okIdx lists the OK labels' indices of a defect model; empty for a
// parts model.
//
// RulePrecision's sweep alone would let a threshold land on a wrong image
// (one good part in a hundred called NOK still meets 99 %), right at the
// edge of the other class's scores; with a few dozen validation images per
// class the test and station images of that class then fall past it. Ending
// on a right image and, for reject, moving into the middle of the gap keeps
// that edge uncertain instead. Accept stays on its strict edge: a defect let
// through costs more than a question to the operator.
//
// RuleCost replaces the share by a price: a target share asks the accepted
// images to be right on average, so a model that is 96 % right overall with
// a few confidently wrong validation images must send a third of its images
// to a human to reach 99 %, although the extra images it would accept are
// right in 97 % of cases. Weighing each band of images by what a mistake and
// a question cost accepts exactly the bands that are worth it.
func ChooseThresholds(probs [][]float32, truth []int, okIdx []int, policy ThresholdPolicy) inspector.Thresholds {
	type scored struct {
		score float64
		right bool
	}
	// cut sorts ss by falling score and returns the index k such that the
	// items scoring at least ss[k].score are the ones to accept under the
	// policy (right in at least the target share; or least cost, the
	// shortest such prefix) and those scoring exactly ss[k].score include a
	// right one (the last of equal scores, so a threshold there takes them
	// all), or -1 when there is none.
	cut := func(ss []scored) int {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].score > ss[j].score })
		k, right, tieRight := -1, 0, false
		// RuleCost: the cost of accepting the first i+1 images relative to
		// sending all to a human; the empty prefix costs 0.
		cost, best := 0.0, 0.0
		for i, v := range ss {
			if v.right {
				right++
				tieRight = true
				cost--
			} else {
				cost += policy.WrongCost - 1
			}
			if i+1 < len(ss) && ss[i+1].score == v.score {
				continue
			}
			if tieRight {
				switch policy.Rule {
				case RuleCost:
					if cost < best {
						k, best = i, cost
					}
				default:
					if float64(right)/float64(i+1) >= policy.TargetPrecision {
						k = i
					}
				}
			}
			tieRight = false
		}
		return k
	}
	// acceptAt is the strict edge of the cut, within [0.5, 0.99] (0.99
	// when no score qualifies).
	acceptAt := func(ss []scored) float64 {
		accept := 1.0
		if k := cut(ss); k >= 0 {
			accept = ss[k].score
		}
		return min(0.99, max(0.5, accept))
	}
	if len(okIdx) == 0 {
		var ss []scored
		for i, p := range probs {
			best := 0
			for j := range p {
				if p[j] > p[best] {
					best = j
				}
			}
			ss = append(ss, scored{float64(p[best]), best == truth[i]})
		}
		accept := acceptAt(ss)
		return inspector.Thresholds{Accept: float32(accept), Reject: float32(accept)}
	}
	var okCalls, nokCalls []scored
	for i, p := range probs {
		var pOK float64
		for _, o := range okIdx {
			pOK += float64(p[o])
		}
		okCalls = append(okCalls, scored{pOK, slices.Contains(okIdx, truth[i])})
		nokCalls = append(nokCalls, scored{1 - pOK, !slices.Contains(okIdx, truth[i])})
	}
	accept := acceptAt(okCalls)
	reject := 0.0
	if k := cut(nokCalls); k >= 0 {
		next := accept
		if k+1 < len(nokCalls) {
			next = min(next, 1-nokCalls[k+1].score)
		}
		reject = (1 - nokCalls[k].score + next) / 2
	}
	reject = max(0.01, min(accept, reject))
	return inspector.Thresholds{Accept: float32(accept), Reject: float32(reject)}
}
