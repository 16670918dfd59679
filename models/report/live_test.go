package report

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
)

// pagedStore lists verdicts newest first in pages, as inspector/bolt does.
type pagedStore struct {
	vs  []inspector.Verdict // oldest first, ids 1..n
	err error
}

func (s *pagedStore) List(_ context.Context, q inspector.VerdictQuery) ([]inspector.Verdict, error) {
	if s.err != nil {
		return nil, s.err
	}
	var out []inspector.Verdict
	for i := len(s.vs) - 1; i >= 0 && len(out) < q.Limit; i-- {
		if q.Before == 0 || s.vs[i].ID < q.Before {
			out = append(out, s.vs[i])
		}
	}
	return out, nil
}

func TestReviewsPagesThroughTheStore(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := &pagedStore{}
	// 12,001 verdicts over three pages: every third of another model, every
	// fifth of ours reviewed, every second review an override.
	var want ReviewStats
	reviews := 0
	for i := range 12001 {
		v := inspector.Verdict{ID: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Second),
			Model: inspector.ModelRef{Name: "m", Version: "v2"}, Decision: inspector.Decision{Outcome: inspector.OutcomeOK}}
		if i%3 == 0 {
			v.Model.Version = "v1"
		} else {
			want.Verdicts++
			if want.From.IsZero() {
				want.From = v.Time
			}
			want.To = v.Time
			if i%5 == 0 {
				reviews++
				v.Review = &inspector.Review{Confirmed: reviews%2 == 0}
				want.Reviewed++
				if reviews%2 == 0 {
					want.Confirmed++
				} else {
					want.Overridden++
				}
			}
		}
		s.vs = append(s.vs, v)
	}
	got, err := Reviews(context.Background(), s, "m", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Verdicts != want.Verdicts || got.Reviewed != want.Reviewed || got.Confirmed != want.Confirmed ||
		got.Overridden != want.Overridden || !got.From.Equal(want.From) || !got.To.Equal(want.To) || got.ByOutcome["ok"] != want.Verdicts {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if r := got.OverrideRate(); r != float64(want.Overridden)/float64(want.Reviewed) {
		t.Errorf("override rate %v", r)
	}
	s.err = errors.New("disk gone")
	if _, err := Reviews(context.Background(), s, "m", "v2"); !errors.Is(err, s.err) {
		t.Errorf("store error: %v", err)
	}
}

// countingStore keeps its own counts and must not be paged through.
type countingStore struct{ pagedStore }

func (c *countingStore) ModelReviewStats(_ context.Context, name, version string) (*ReviewStats, error) {
	return &ReviewStats{Verdicts: 7, Reviewed: 2, Overridden: 1}, nil
}

func TestReviewsAsksACountingStore(t *testing.T) {
	s := &countingStore{pagedStore{err: errors.New("List must not be called")}}
	r, err := Reviews(context.Background(), s, "m", "v1")
	if err != nil || r.Verdicts != 7 || r.OverrideRate() != 0.5 {
		t.Errorf("counting store: %+v, %v", r, err)
	}
}

type auditLog []auth.Event

func (a auditLog) Audit(context.Context, auth.AuditQuery) ([]auth.Event, error) { return a, nil }

func TestActivationsSayWhatTheyReplaced(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	// Newest first, as the store returns them.
	log := auditLog{
		{ID: 6, Time: t0.Add(6 * time.Hour), Actor: "cem", Action: auth.ActionModelActivate, Target: "m/v2", OK: true},
		{ID: 5, Time: t0.Add(5 * time.Hour), Actor: "ben", Action: auth.ActionModelRollback, Target: "m/v1", OK: true},
		{ID: 4, Time: t0.Add(4 * time.Hour), Actor: "ben", Action: auth.ActionModelActivate, Target: "m/v3", OK: false},
		{ID: 3, Time: t0.Add(3 * time.Hour), Actor: "anna", Action: auth.ActionLogin, OK: true},
		{ID: 2, Time: t0.Add(2 * time.Hour), Actor: "anna", Action: auth.ActionModelActivate, Target: "m/v2", OK: true},
		{ID: 1, Time: t0.Add(1 * time.Hour), Actor: "anna", Action: auth.ActionModelActivate, Target: "m/v1", OK: true},
	}
	got, err := Activations(context.Background(), log, "m", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].By != "anna" || got[0].Replaced != "m/v1" || got[1].By != "cem" || got[1].Replaced != "m/v1" {
		t.Errorf("v2's activations %+v", got)
	}
	got, _ = Activations(context.Background(), log, "m", "v3")
	if len(got) != 1 || got[0].OK || got[0].Replaced != "m/v2" {
		t.Errorf("v3's refused activation %+v", got)
	}
	if got, _ := Activations(context.Background(), log, "m", "v9"); got == nil || len(got) != 0 {
		t.Errorf("no activation: %#v, want an empty list (the log was read)", got)
	}
}
