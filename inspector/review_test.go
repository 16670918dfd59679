package inspector

import (
	"testing"
	"time"
)

func TestReviewsKeepHistory(t *testing.T) {
	v := &Verdict{Decision: Decision{Outcome: OutcomeNOK, Label: "dent"}}
	if o, l := v.Effective(); o != OutcomeNOK || l != "dent" || v.Reviews() != nil {
		t.Fatalf("unreviewed: %s %s %v", o, l, v.Reviews())
	}
	t0 := time.Date(2025, 3, 1, 6, 0, 0, 0, time.UTC)
	v.AddReview(Review{Label: "ok", Outcome: OutcomeOK, By: "anna", At: t0})
	v.AddReview(Review{Label: "crack", Outcome: OutcomeNOK, By: "ben", At: t0.Add(time.Minute)})
	v.AddReview(Review{Label: "ok", Outcome: OutcomeOK, By: "carl", At: t0.Add(2 * time.Minute)})
	rs := v.Reviews()
	if len(rs) != 3 || rs[0].By != "anna" || rs[1].By != "ben" || rs[2].By != "carl" {
		t.Fatalf("reviews %+v", rs)
	}
	if o, l := v.Effective(); o != OutcomeOK || l != "ok" || v.Review.By != "carl" {
		t.Errorf("effective %s %s by %s, want the last review's", o, l, v.Review.By)
	}
}
