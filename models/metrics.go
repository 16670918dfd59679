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

// ThresholdRule explains ChooseThresholds, for the card.
const ThresholdRule = "Chosen on the validation split. Parts model: accept = the lowest top-class probability " +
	"at which the validation images scoring at least that are right in at least the target share (never below 0.5). " +
	"Defect model: accept = the lowest P(OK) at which the images called OK are truly OK in at least the target share; " +
	"reject = the highest P(OK) at which the images called NOK are truly defective in at least that share. " +
	"Between reject and accept the station answers 'uncertain' and asks a human."

// ChooseThresholds picks thresholds from validation probabilities and true
// label indices, so that accepted verdicts are right in at least
// targetPrecision of validation cases (see ThresholdRule). okIdx lists the
// OK labels' indices of a defect model; empty for a parts model.
func ChooseThresholds(probs [][]float32, truth []int, okIdx []int, targetPrecision float64) inspector.Thresholds {
	isOK := func(c int) bool {
		for _, o := range okIdx {
			if o == c {
				return true
			}
		}
		return false
	}
	type scored struct {
		score float64
		right bool
	}
	// lowestAt returns the lowest score s such that the items with score ≥ s
	// are right in at least targetPrecision of cases (1 when none qualifies).
	lowestAt := func(ss []scored) float64 {
		sort.Slice(ss, func(i, j int) bool { return ss[i].score > ss[j].score })
		lowest, right := 1.0, 0
		for i, v := range ss {
			if v.right {
				right++
			}
			if float64(right)/float64(i+1) >= targetPrecision {
				lowest = v.score
			}
		}
		return lowest
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
		accept := min(0.99, max(0.5, lowestAt(ss)))
		return inspector.Thresholds{Accept: float32(accept), Reject: float32(accept)}
	}
	var okCalls, nokCalls []scored
	for i, p := range probs {
		var pOK float64
		for _, o := range okIdx {
			pOK += float64(p[o])
		}
		okCalls = append(okCalls, scored{pOK, isOK(truth[i])})
		nokCalls = append(nokCalls, scored{1 - pOK, !isOK(truth[i])})
	}
	accept := min(0.99, max(0.5, lowestAt(okCalls)))
	reject := max(0.01, min(accept, 1-lowestAt(nokCalls)))
	return inspector.Thresholds{Accept: float32(accept), Reject: float32(reject)}
}
