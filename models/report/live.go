package report

import (
	"context"
	"sort"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
)

// AuditLog reads the audit log (auth.Store has it).
type AuditLog interface {
	Audit(ctx context.Context, q auth.AuditQuery) ([]auth.Event, error)
}

// Activations reads name/version's activations and rollbacks from the
// audit log, oldest first. What an activation replaced is the model the
// previous successful activation (or rollback) had made active; the first
// one's is unknown (""). The list is empty, not nil, when the log holds
// none. It returns the log's error.
func Activations(ctx context.Context, log AuditLog, name, version string) ([]Activation, error) {
	evs, err := log.Audit(ctx, auth.AuditQuery{})
	if err != nil {
		return nil, err
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].ID < evs[j].ID })
	key := name + "/" + version
	out := []Activation{}
	current := ""
	for _, e := range evs {
		if e.Action != auth.ActionModelActivate && e.Action != auth.ActionModelRollback {
			continue
		}
		if e.Target == key {
			out = append(out, Activation{At: e.Time, By: e.Actor, Action: string(e.Action), Replaced: current, OK: e.OK, Detail: e.Detail})
		}
		if e.OK {
			current = e.Target
		}
	}
	return out, nil
}

// VerdictLister lists verdicts newest first (inspector.VerdictStore has it).
type VerdictLister interface {
	List(ctx context.Context, q inspector.VerdictQuery) ([]inspector.Verdict, error)
}

// ReviewCounter is a store that keeps a model version's verdict and review
// counts itself (pre-aggregated); Reviews asks it instead of reading every
// verdict, which takes seconds per 100,000 verdicts.
type ReviewCounter interface {
	ModelReviewStats(ctx context.Context, name, version string) (*ReviewStats, error)
}

// reviewPage is how many verdicts Reviews reads at a time.
const reviewPage = 5000

// Reviews counts name/version's verdicts in the store, by the machine's
// outcome, and their reviews: confirmed, or overridden (the effective
// review chose another answer). A store that is a ReviewCounter answers
// itself; otherwise Reviews pages through the whole store. It returns the
// store's or ctx's error.
func Reviews(ctx context.Context, store VerdictLister, name, version string) (*ReviewStats, error) {
	if rc, ok := store.(ReviewCounter); ok {
		return rc.ModelReviewStats(ctx, name, version)
	}
	r := &ReviewStats{ByOutcome: map[string]int{}}
	var before uint64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		vs, err := store.List(ctx, inspector.VerdictQuery{Limit: reviewPage, Before: before})
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if v.Model.Name != name || v.Model.Version != version {
				continue
			}
			r.Verdicts++
			r.ByOutcome[string(v.Outcome)]++
			if r.From.IsZero() || v.Time.Before(r.From) {
				r.From = v.Time
			}
			if v.Time.After(r.To) {
				r.To = v.Time
			}
			if v.Review != nil {
				r.Reviewed++
				if v.Review.Confirmed {
					r.Confirmed++
				} else {
					r.Overridden++
				}
			}
		}
		if len(vs) < reviewPage {
			return r, nil
		}
		before = vs[len(vs)-1].ID
	}
}
