package inspector

import (
	"encoding/json"
	"math"
	"testing"
)

func TestSoftmax(t *testing.T) {
	for _, tc := range []struct {
		name   string
		logits []float32
		want   []float32
	}{
		{"empty", nil, []float32{}},
		{"equal", []float32{2, 2}, []float32{0.5, 0.5}},
		{"one dominant", []float32{0, float32(math.Log(3))}, []float32{0.25, 0.75}},
		// Without subtracting the maximum, exp(1000) overflows to +Inf.
		{"large values stay finite", []float32{1000, 1000 + float32(math.Log(3))}, []float32{0.25, 0.75}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Softmax(tc.logits)
			if len(got) != len(tc.want) {
				t.Fatalf("len %d, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if math.Abs(float64(got[i]-tc.want[i])) > 1e-5 {
					t.Errorf("p[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestTopKOrderAndTies(t *testing.T) {
	labels := []string{"a", "b", "c", "d"}
	got := TopK([]float32{0.2, 0.4, 0.2, 0.2}, labels, 3)
	want := []string{"b", "a", "c"} // ties keep label order
	if len(got) != 3 {
		t.Fatalf("%d predictions, want 3", len(got))
	}
	for i, w := range want {
		if got[i].Label != w || got[i].Index != indexOf(labels, w) {
			t.Errorf("rank %d: %+v, want %s", i, got[i], w)
		}
	}
	if all := TopK([]float32{0.5, 0.5}, []string{"x"}, 0); len(all) != 2 || all[1].Label != "" {
		t.Errorf("k=0 with a missing label: %+v, want both, the unnamed one with an empty label", all)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestDecidePartsModel(t *testing.T) {
	labels := []string{"bolt", "nut", "washer"}
	th := Thresholds{Accept: 0.8, PerClass: map[string]float32{"washer": 0.95}}
	for _, tc := range []struct {
		name    string
		probs   []float32
		outcome Outcome
		label   string
	}{
		{"accepted", []float32{0.85, 0.1, 0.05}, OutcomeClass, "bolt"},
		{"exactly at accept", []float32{0.8, 0.15, 0.05}, OutcomeClass, "bolt"},
		{"below accept", []float32{0.6, 0.3, 0.1}, OutcomeUncertain, ""},
		{"per-class threshold is stricter", []float32{0.02, 0.08, 0.9}, OutcomeUncertain, ""},
		{"per-class threshold met", []float32{0.01, 0.03, 0.96}, OutcomeClass, "washer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.probs, labels, th, nil, 2)
			if d.Outcome != tc.outcome || d.Label != tc.label {
				t.Errorf("Decide = %s %q, want %s %q", d.Outcome, d.Label, tc.outcome, tc.label)
			}
			if len(d.TopK) != 2 || d.TopK[0].Score < d.TopK[1].Score {
				t.Errorf("top-k %+v: want the best two, best first", d.TopK)
			}
		})
	}
	if d := Decide(nil, nil, th, nil, 3); d.Outcome != OutcomeUncertain || len(d.TopK) != 0 {
		t.Errorf("no probabilities: %+v, want uncertain", d)
	}
}

func TestDecideDefectModel(t *testing.T) {
	labels := []string{"crack", "ok", "ok_dusty", "scratch"}
	ok := []string{"ok", "ok_dusty"}
	th := Thresholds{Accept: 0.9, Reject: 0.4}
	for _, tc := range []struct {
		name    string
		probs   []float32
		outcome Outcome
		label   string
	}{
		{"clearly OK", []float32{0.02, 0.95, 0.01, 0.02}, OutcomeOK, "ok"},
		// P(OK) sums the OK labels: 0.5 + 0.45 reaches accept though neither does alone.
		{"OK labels add up", []float32{0.03, 0.5, 0.45, 0.02}, OutcomeOK, "ok"},
		{"the best OK label names it", []float32{0.03, 0.3, 0.65, 0.02}, OutcomeOK, "ok_dusty"},
		{"clearly NOK names the worst defect", []float32{0.2, 0.1, 0.05, 0.65}, OutcomeNOK, "scratch"},
		{"exactly at reject is NOK", []float32{0.6, 0.4, 0, 0}, OutcomeNOK, "crack"},
		{"in the band a human decides", []float32{0.2, 0.6, 0.1, 0.1}, OutcomeUncertain, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.probs, labels, th, ok, 3)
			if d.Outcome != tc.outcome || d.Label != tc.label {
				t.Errorf("Decide = %s %q, want %s %q", d.Outcome, d.Label, tc.outcome, tc.label)
			}
		})
	}
}

func TestInputSpecValidate(t *testing.T) {
	good := DefaultSpec(64)
	if err := good.Validate(); err != nil {
		t.Fatalf("default spec: %v", err)
	}
	if good.TensorLen() != 64*64*3 || good.Shape()[1] != 3 {
		t.Errorf("tensor len %d, shape %v", good.TensorLen(), good.Shape())
	}
	for _, tc := range []struct {
		name string
		mod  func(*InputSpec)
	}{
		{"zero size", func(s *InputSpec) { s.Width = 0 }},
		{"huge", func(s *InputSpec) { s.Height = 5000 }},
		{"two channels", func(s *InputSpec) { s.Channels = 2 }},
		{"mean count", func(s *InputSpec) { s.Mean = s.Mean[:1] }},
		{"zero std", func(s *InputSpec) { s.Std = []float32{0.5, 0, 0.5} }},
		{"resize mode", func(s *InputSpec) { s.Resize = "squash" }},
		{"interpolation", func(s *InputSpec) { s.Interpolation = "cubic" }},
		{"empty roi", func(s *InputSpec) { s.ROI = &Rect{X: 1, Y: 1} }},
		{"negative roi", func(s *InputSpec) { s.ROI = &Rect{X: -1, Y: 0, W: 5, H: 5} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSpec(64)
			s.Mean = append([]float32(nil), s.Mean...)
			tc.mod(&s)
			if err := s.Validate(); err == nil {
				t.Errorf("%+v accepted", s)
			}
		})
	}
}

func TestVerdictJSONCarriesEffective(t *testing.T) {
	v := Verdict{ID: 7, Decision: Decision{Outcome: OutcomeNOK, Label: "scratch"}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID        uint64          `json:"id"`
		Label     string          `json:"label"`
		Effective EffectiveResult `json:"effective"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != 7 || got.Label != "scratch" || got.Effective != (EffectiveResult{OutcomeNOK, "scratch", false}) {
		t.Errorf("unreviewed: %s", b)
	}
	v.AddReview(Review{Label: "ok", Outcome: OutcomeOK, By: "anna"})
	v.AddReview(Review{Label: "dent", Outcome: OutcomeNOK, By: "ben"})
	b, _ = json.Marshal(&v)
	json.Unmarshal(b, &got)
	if got.Effective != (EffectiveResult{OutcomeNOK, "dent", true}) {
		t.Errorf("reviewed twice: %s", b)
	}
	// A review without an outcome (a comment) does not change what counts.
	w := Verdict{Decision: Decision{Outcome: OutcomeOK, Label: "ok"}, Review: &Review{Comment: "looked twice"}}
	if o, l := w.Effective(); o != OutcomeOK || l != "ok" {
		t.Errorf("comment-only review: %s %s", o, l)
	}
	var back Verdict
	if err := json.Unmarshal(b, &back); err != nil || back.Review == nil || back.Review.By != "ben" || len(back.History) != 1 {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}
