package monitor

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// scores draws n top scores from a beta-like distribution centred near mean.
func scores(rng *rand.Rand, n int, mean float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Max(0, math.Min(1, mean+0.05*rng.NormFloat64()))
	}
	return out
}

func verdicts(ss []float64, uncertainBelow float64) []inspector.Verdict {
	vs := make([]inspector.Verdict, len(ss))
	for i, s := range ss {
		o, l := inspector.OutcomeOK, "ok"
		if s < uncertainBelow {
			o, l = inspector.OutcomeUncertain, ""
		}
		vs[i] = inspector.Verdict{Decision: inspector.Decision{Outcome: o, Label: l, TopK: []inspector.Prediction{{Label: "ok", Score: float32(s)}}}}
	}
	return vs
}

func TestPSI(t *testing.T) {
	for _, tc := range []struct {
		name     string
		e, a     []float64
		min, max float64
	}{
		{"same", []float64{10, 20, 70}, []float64{1, 2, 7}, 0, 1e-12},
		{"mild", []float64{10, 20, 70}, []float64{12, 20, 68}, 0.001, 0.1},
		{"moved", []float64{10, 20, 70}, []float64{70, 20, 10}, 1, 10},
		{"empty bin stays finite", []float64{0, 50, 50}, []float64{50, 50, 0}, 1, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PSI(tc.e, tc.a)
			if got < tc.min || got > tc.max || math.IsNaN(got) {
				t.Fatalf("PSI = %v, want in [%v, %v]", got, tc.min, tc.max)
			}
		})
	}
}

func TestDriftAlarmOnShiftedScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := Baseline{Scores: ptr(NewHistogram(DefaultBins, scores(rng, 2000, 0.93)))}
	for _, tc := range []struct {
		name  string
		mean  float64
		alarm bool
	}{
		{"same distribution", 0.93, false},
		{"scores dropped", 0.75, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := verdicts(scores(rng, 500, tc.mean), 0)
			st := Evaluate(Config{}, "m/v1", base, live, time.Time{})
			r := st.Readings[0]
			if r.Monitor != ScoreDrift || r.Alarm() != tc.alarm {
				t.Fatalf("%s = %.3f (%s), want alarm=%v", r.Monitor, r.Value, r.State, tc.alarm)
			}
		})
	}
}

func TestStatesWithoutBaselineOrData(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	st := Evaluate(Config{}, "m/v1", Baseline{}, verdicts(scores(rng, 500, 0.5), 0), time.Time{})
	if st.Readings[0].State != StateNoBaseline || st.Readings[3].State != StateNoBaseline {
		t.Fatalf("without a baseline: %+v", st.Readings)
	}
	st = Evaluate(Config{}, "m/v1", Baseline{Scores: ptr(NewHistogram(DefaultBins, scores(rng, 100, 0.9)))}, verdicts(scores(rng, 10, 0.5), 0), time.Time{})
	if st.Readings[0].State != StateTooFew {
		t.Fatalf("ten verdicts: %+v", st.Readings[0])
	}
}

func TestUncertainAndOverrideRates(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	vs := verdicts(scores(rng, 200, 0.8), 0.8) // about half uncertain
	for i := range 40 {
		r := &inspector.Review{Outcome: inspector.OutcomeOK, Label: "ok"}
		if i%4 == 0 {
			r = &inspector.Review{Outcome: inspector.OutcomeNOK, Label: "crack"}
		}
		vs[i].Review = r
		vs[i].Outcome, vs[i].Label = inspector.OutcomeOK, "ok"
	}
	st := Evaluate(Config{}, "m/v1", Baseline{ClassCounts: map[string]int{"ok": 100, "crack": 100}}, vs, time.Time{})
	u, o, mix := st.Readings[1], st.Readings[2], st.Readings[3]
	if !u.Alarm() || u.Value < 0.2 {
		t.Fatalf("uncertain %+v", u)
	}
	if o.N != 40 || o.Value != 0.25 || !o.Alarm() {
		t.Fatalf("override %+v, want 10 of 40 and an alarm", o)
	}
	if mix.State != StateReported || mix.Value <= 0 {
		t.Fatalf("class mix reports without alarming by default: %+v", mix)
	}
}

func TestWatcherTransitions(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	base := Baseline{Scores: ptr(NewHistogram(DefaultBins, scores(rng, 2000, 0.93)))}
	mean := 0.93
	w := &Watcher{Source: func(ctx context.Context, limit int) (string, Baseline, []inspector.Verdict, bool, error) {
		return "m/v1", base, verdicts(scores(rng, limit, mean), 0), true, nil
	}}
	var got []Transition
	w.OnTransition = func(_ context.Context, t Transition) { got = append(got, t) }
	ctx := context.Background()
	steps := []struct {
		mean   float64
		events int
		raised bool
	}{{0.93, 0, false}, {0.7, 1, true}, {0.7, 0, false}, {0.93, 1, false}}
	for i, s := range steps {
		mean = s.mean
		got = nil
		if _, err := w.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if len(got) != s.events || (s.events == 1 && (got[0].Raised != s.raised || got[0].Reading.Monitor != ScoreDrift)) {
			t.Fatalf("step %d: transitions %+v", i, got)
		}
	}
	if w.Latest() == nil || len(w.Latest().Alarms()) != 0 {
		t.Fatalf("latest %+v", w.Latest())
	}
}

func ptr[T any](v T) *T { return &v }
