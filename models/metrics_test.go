package models

import (
	"math"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
)

func TestComputeMetricsByHand(t *testing.T) {
	// Truth a a a b b c; predicted a a b b c c.
	m := ComputeMetrics([]string{"a", "b", "c"}, []int{0, 0, 0, 1, 1, 2}, []int{0, 0, 1, 1, 2, 2})
	if m.Accuracy != 4.0/6 {
		t.Errorf("accuracy %v, want 4/6", m.Accuracy)
	}
	want := map[string]ClassMetrics{
		"a": {Precision: 1, Recall: 2.0 / 3, F1: 0.8, Support: 3},
		"b": {Precision: 0.5, Recall: 0.5, F1: 0.5, Support: 2},
		"c": {Precision: 0.5, Recall: 1, F1: 2.0 / 3, Support: 1},
	}
	for l, w := range want {
		g := m.PerClass[l]
		if math.Abs(g.Precision-w.Precision) > 1e-9 || math.Abs(g.Recall-w.Recall) > 1e-9 || math.Abs(g.F1-w.F1) > 1e-9 || g.Support != w.Support {
			t.Errorf("%s: %+v, want %+v", l, g, w)
		}
	}
	if m.Confusion[0][1] != 1 || m.Confusion[1][2] != 1 || m.Confusion[2][2] != 1 {
		t.Errorf("confusion %v", m.Confusion)
	}
}

func TestDecideAndThresholds(t *testing.T) {
	labels := []string{"crack", "ok", "scratch"}
	// Validation: OK images score P(ok) 0.95, 0.9, 0.6; defects 0.7, 0.2, 0.05.
	probs := [][]float32{{0.02, 0.95, 0.03}, {0.05, 0.9, 0.05}, {0.2, 0.6, 0.2}, {0.25, 0.7, 0.05}, {0.7, 0.2, 0.1}, {0.05, 0.05, 0.9}}
	truth := []int{1, 1, 1, 0, 0, 2}
	th := ChooseThresholds(probs, truth, []int{1}, ThresholdPolicy{Rule: RulePrecision, TargetPrecision: 1})
	// All OK calls right requires P(ok) ≥ 0.9 (0.7 would pass a crack); all NOK
	// calls right requires P(ok) ≤ 0.2, and the next image up (a good part at
	// 0.6) puts reject halfway, at 0.4.
	if math.Abs(float64(th.Accept)-0.9) > 1e-6 || math.Abs(float64(th.Reject)-0.4) > 1e-6 {
		t.Fatalf("thresholds %+v, want accept 0.9 reject 0.4", th)
	}
	cases := []struct {
		name  string
		probs []float32
		want  inspector.Outcome
		label string
	}{
		{"clear ok", []float32{0.01, 0.97, 0.02}, inspector.OutcomeOK, "ok"},
		{"clear scratch", []float32{0.1, 0.05, 0.85}, inspector.OutcomeNOK, "scratch"},
		{"in the band", []float32{0.2, 0.6, 0.2}, inspector.OutcomeUncertain, ""},
	}
	for _, c := range cases {
		d := inspector.Decide(c.probs, labels, th, []string{"ok"}, 3)
		if d.Outcome != c.want || d.Label != c.label {
			t.Errorf("%s: %s %q, want %s %q", c.name, d.Outcome, d.Label, c.want, c.label)
		}
	}
	parts := inspector.Thresholds{Accept: 0.8}
	if d := inspector.Decide([]float32{0.1, 0.85, 0.05}, labels, parts, nil, 2); d.Outcome != inspector.OutcomeClass || d.Label != "ok" || len(d.TopK) != 2 {
		t.Errorf("parts model accepted: %+v", d)
	}
	if d := inspector.Decide([]float32{0.3, 0.4, 0.3}, labels, parts, nil, 2); d.Outcome != inspector.OutcomeUncertain {
		t.Errorf("parts model below accept: %+v", d)
	}
}

// TestThresholdsNeverSitOnAWrongImage reproduces the validation split that
// made demo-defects scrap good flanges: 120 defects at P(ok) ≤ 0.4, then 30
// good parts from 0.94 up. A 99 % target allows one wrong NOK call in 121, so
// a bare precision sweep set reject to the lowest good part's 0.94 and the
// test set's good parts at 0.90–0.93 were rejected. Reject must stay in the
// gap between the classes, and accept must not sit on the defect that
// scored like a good part.
func TestThresholdsNeverSitOnAWrongImage(t *testing.T) {
	var probs [][]float32
	var truth []int
	add := func(pOK float32, label int) {
		probs = append(probs, []float32{(1 - pOK) / 2, pOK, (1 - pOK) / 2})
		truth = append(truth, label)
	}
	for i := range 120 {
		add(0.4*float32(i)/119, i%2*2) // cracks and scratches, P(ok) 0 … 0.4
	}
	for i := range 30 {
		add(0.94+0.05*float32(i)/29, 1)
	}
	add(0.972, 2) // a scratch among the good parts
	th := ChooseThresholds(probs, truth, []int{1}, LegacyThresholdPolicy)
	if th.Reject < 0.4 || th.Reject >= 0.94 {
		t.Errorf("reject %.4f, want in the gap (0.4, 0.94)", th.Reject)
	}
	if math.Abs(float64(th.Reject)-0.67) > 1e-6 {
		t.Errorf("reject %.4f, want halfway 0.67", th.Reject)
	}
	// 22 good parts score above the scratch's 0.972: with it they are 22/23
	// right (< 99 %), so accept is the lowest good part above it.
	if th.Accept <= 0.972 || th.Accept > 0.975 {
		t.Errorf("accept %.4f, want just above the scratch's 0.972", th.Accept)
	}

	// Parts model: the top score 0.9 is shared by a right and a wrong image;
	// a threshold at 0.9 takes both, so with target 1 accept must stay above.
	parts := [][]float32{{0.95, 0.05}, {0.9, 0.1}, {0.1, 0.9}, {0.2, 0.8}}
	pth := ChooseThresholds(parts, []int{0, 0, 0, 1}, nil, ThresholdPolicy{Rule: RulePrecision, TargetPrecision: 1})
	if math.Abs(float64(pth.Accept)-0.95) > 1e-6 {
		t.Errorf("parts accept %.4f, want 0.95 (0.9 is tied with a wrong call)", pth.Accept)
	}
}

// TestThresholdStats checks that the share sent to a human and the share
// right among the rest follow the station's rule: P(OK) against accept and
// reject for a defect model, the top class against accept for a parts model.
func TestThresholdStats(t *testing.T) {
	labels := []string{"crack", "ok", "scratch"}
	probs := [][]float32{
		{0.02, 0.95, 0.03}, // ok, called OK: right
		{0.30, 0.65, 0.05}, // ok, P(ok) in the band: to a human
		{0.55, 0.30, 0.15}, // scratch, called NOK (as crack): the OK/NOK side is right
		{0.10, 0.85, 0.05}, // crack, called OK: wrong
		{0.40, 0.10, 0.50}, // crack, NOK (as scratch); its top class is below 0.8
	}
	truth := []int{1, 1, 2, 0, 0}
	th := inspector.Thresholds{Accept: 0.8, Reject: 0.4}
	m := ComputeMetrics(labels, truth, []int{1, 1, 0, 1, 2})
	m.AddThresholdStats(probs, truth, th, []string{"ok"})
	if math.Abs(m.Uncertain-0.2) > 1e-9 || math.Abs(m.AcceptedAccuracy-0.75) > 1e-9 || !m.DefectModel {
		t.Errorf("defect model: uncertain %v, right %v (defect %v), want 0.2 and 0.75", m.Uncertain, m.AcceptedAccuracy, m.DefectModel)
	}
	// As a parts model the same answers are decided on the top class:
	// 0.95 and 0.85 pass 0.8, the rest go to a human; one of the two is right.
	m.AddThresholdStats(probs, truth, th, nil)
	if math.Abs(m.Uncertain-0.6) > 1e-9 || math.Abs(m.AcceptedAccuracy-0.5) > 1e-9 || m.DefectModel {
		t.Errorf("parts model: uncertain %v, right %v (defect %v), want 0.6 and 0.5", m.Uncertain, m.AcceptedAccuracy, m.DefectModel)
	}
}

// TestCostRuleAcceptsTheBandsWorthIt builds magnetic-tile's validation
// shape for a parts model: one confidently wrong image on top, 50 right ones
// (0.99 … 0.80), a wrong one at 0.79, 30 right (0.78 … 0.70), then a band
// at chance (0.69 … 0.50, every other image wrong). No prefix is 99 % right,
// so the precision rule sends nearly everything to a human; the cost rule
// accepts as far as a mistake is outweighed by the questions it saves.
func TestCostRuleAcceptsTheBandsWorthIt(t *testing.T) {
	var probs [][]float32
	var truth []int
	add := func(p float32, right bool) {
		probs = append(probs, []float32{p, 1 - p})
		truth = append(truth, map[bool]int{true: 0, false: 1}[right])
	}
	add(0.995, false)
	for i := range 50 {
		add(0.99-0.19*float32(i)/49, true)
	}
	add(0.79, false)
	for i := range 30 {
		add(0.78-0.08*float32(i)/29, true)
	}
	for i := range 20 {
		add(0.69-0.19*float32(i)/19, i%2 == 1)
	}
	cost := func(k float64) ThresholdPolicy { return ThresholdPolicy{Rule: RuleCost, WrongCost: k} }
	cases := []struct {
		name   string
		policy ThresholdPolicy
		accept float64
	}{
		// Cost of accepting down to 0.70: 2×19 − 80 < 0; the band below
		// adds 19 − 1 per pair.
		{"cost 20", cost(20), 0.70},
		// At 40: 39 − 50 = −11 down to 0.80, then 39 − 30 more: stop at 0.80.
		{"cost 40", cost(40), 0.80},
		// At 100 no prefix pays for its first mistake: accept stays at 0.99.
		{"cost 100", cost(100), 0.99},
		{"precision 99 %", LegacyThresholdPolicy, 0.99},
		{"precision 97 %", ThresholdPolicy{Rule: RulePrecision, TargetPrecision: 0.97}, 0.70},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			th := ChooseThresholds(probs, truth, nil, c.policy)
			if math.Abs(float64(th.Accept)-c.accept) > 1e-6 || th.Reject != th.Accept {
				t.Errorf("thresholds %+v, want accept = reject = %.2f", th, c.accept)
			}
		})
	}
}

// TestCostRuleDefectModel runs the defect-model split of
// TestThresholdsNeverSitOnAWrongImage under the default cost rule: accept
// must not sit on or below the scratch among the good parts (22 good
// parts above it save 22 questions; accepting it costs 19, and the 8 good
// parts below it do not win that back), and reject stays in the gap.
func TestCostRuleDefectModel(t *testing.T) {
	var probs [][]float32
	var truth []int
	add := func(pOK float32, label int) {
		probs = append(probs, []float32{(1 - pOK) / 2, pOK, (1 - pOK) / 2})
		truth = append(truth, label)
	}
	for i := range 120 {
		add(0.4*float32(i)/119, i%2*2)
	}
	for i := range 30 {
		add(0.94+0.05*float32(i)/29, 1)
	}
	add(0.972, 2)
	th := ChooseThresholds(probs, truth, []int{1}, DefaultThresholdPolicy)
	if th.Accept <= 0.972 || th.Accept > 0.975 {
		t.Errorf("accept %.4f, want just above the scratch's 0.972", th.Accept)
	}
	if math.Abs(float64(th.Reject)-0.67) > 1e-6 {
		t.Errorf("reject %.4f, want halfway in the gap, 0.67", th.Reject)
	}
}

func TestThresholdPolicyValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		p    ThresholdPolicy
		ok   bool
	}{
		{"default", DefaultThresholdPolicy, true},
		{"legacy", LegacyThresholdPolicy, true},
		{"cost below one look", ThresholdPolicy{Rule: RuleCost, WrongCost: 0.5}, false},
		{"precision above 1", ThresholdPolicy{Rule: RulePrecision, TargetPrecision: 1.5}, false},
		{"precision 0", ThresholdPolicy{Rule: RulePrecision}, false},
		{"unknown rule", ThresholdPolicy{Rule: "vibes", WrongCost: 20}, false},
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", c.name, err, c.ok)
		}
	}
}

// TestCardPolicy: a card from before the policy was recorded was chosen
// with the legacy precision rule, so a retraining from it can reproduce it.
func TestCardPolicy(t *testing.T) {
	if got := (&Card{}).Policy(); got != LegacyThresholdPolicy {
		t.Errorf("card without a policy: %+v, want the legacy rule", got)
	}
	p := ThresholdPolicy{Rule: RuleCost, WrongCost: 7}
	if got := (&Card{ThresholdPolicy: &p}).Policy(); got != p {
		t.Errorf("card policy %+v, want %+v", got, p)
	}
	if !strings.Contains(p.Explain(), "cost 7 looks") {
		t.Errorf("explanation does not name the cost: %s", p.Explain())
	}
}
