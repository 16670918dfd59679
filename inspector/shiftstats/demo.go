package shiftstats

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// DemoSample is one demo image as the model judged it: the verdict the
// model gave and the class the image was drawn as.
type DemoSample struct {
	Verdict *inspector.Verdict
	Truth   string
}

// DemoHistory makes a clearly marked past for a station that runs on the
// demo feed with an empty store, so the statistics have a day to show:
// one part about every step over the span before now, each a copy of one
// of samples (the model's real verdict on a real demo image) with its own
// time, Trigger DemoTrigger and Source "demo-history". A share okShare of
// the parts are OK images. Verdicts the model left uncertain, and half of
// those where it was wrong, get a review with the image's true class by
// "demo-history", as an operator would have given. The verdicts come
// oldest first, the order a store must add them in. Images are left out
// (the thumbnail is kept) so a day of history stays small.
func DemoHistory(samples []DemoSample, okLabels []string, okShare float64, now time.Time, span, step time.Duration, rng *rand.Rand) []*inspector.Verdict {
	var oks, defects []DemoSample
	for _, s := range samples {
		if slices.Contains(okLabels, s.Truth) {
			oks = append(oks, s)
		} else {
			defects = append(defects, s)
		}
	}
	if len(oks) == 0 {
		okShare = 0
	}
	if len(defects) == 0 {
		okShare = 1
	}
	var out []*inspector.Verdict
	for t := now.Add(-span); t.Before(now); t = t.Add(step/2 + time.Duration(rng.Int64N(int64(step)))) {
		var s DemoSample
		if rng.Float64() < okShare {
			s = oks[rng.IntN(len(oks))]
		} else {
			s = defects[rng.IntN(len(defects))]
		}
		v := *s.Verdict
		v.ID, v.Review, v.History, v.Image = 0, nil, nil, nil
		v.Time = t.UTC()
		v.Trigger, v.Source = DemoTrigger, DemoTrigger
		wrong := v.Label != s.Truth
		if v.Outcome == inspector.OutcomeUncertain || (wrong && rng.IntN(2) == 0) {
			o := inspector.OutcomeClass
			if len(okLabels) > 0 {
				o = inspector.OutcomeNOK
				if slices.Contains(okLabels, s.Truth) {
					o = inspector.OutcomeOK
				}
			}
			v.Review = &inspector.Review{Label: s.Truth, Outcome: o, By: DemoTrigger, Via: "demo",
				At: v.Time.Add(30 * time.Second), Confirmed: !wrong,
				Comment: "demo history: the demo image's true class"}
		}
		out = append(out, &v)
	}
	return out
}
