package monitor

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Source supplies what Evaluate needs for the active model: its name
// ("name/version"), its baseline and its newest verdicts (newest first,
// at most limit). ok is false when no model is active.
type Source func(ctx context.Context, limit int) (model string, base Baseline, vs []inspector.Verdict, ok bool, err error)

// Transition is a monitor entering or leaving the alarm state.
type Transition struct {
	Model   string
	Reading Reading
	// Raised is true when the alarm starts, false when it clears.
	Raised bool
}

// Watcher evaluates the monitors every interval and reports alarms that
// start or clear. Start it with Run; Latest is safe from any goroutine.
type Watcher struct {
	Config Config
	Source Source
	// OnTransition is called (from Run's goroutine) for each alarm that
	// starts or clears: cmd/pruefplatz logs it and writes the audit log.
	OnTransition func(ctx context.Context, t Transition)
	Log          *slog.Logger
	Now          func() time.Time

	mu     sync.Mutex
	latest *Status
	alarms map[string]bool // "model monitor" → in alarm
}

// Latest returns the last evaluation; nil before the first or when no
// model is active.
func (w *Watcher) Latest() *Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest
}

// Check evaluates the monitors now, records the result for Latest and
// reports transitions. It returns the new status (nil with no active model).
func (w *Watcher) Check(ctx context.Context) (*Status, error) {
	cfg := w.Config.withDefaults()
	model, base, vs, ok, err := w.Source(ctx, cfg.Window)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	var st *Status
	if ok {
		s := Evaluate(cfg, model, base, vs, now())
		st = &s
	}
	w.mu.Lock()
	if w.alarms == nil {
		w.alarms = map[string]bool{}
	}
	var ts []Transition
	seen := map[string]bool{}
	if st != nil {
		for _, r := range st.Readings {
			k := st.Model + " " + r.Monitor
			seen[k] = true
			if r.Alarm() != w.alarms[k] {
				ts = append(ts, Transition{Model: st.Model, Reading: r, Raised: r.Alarm()})
				w.alarms[k] = r.Alarm()
			}
		}
	}
	// A model that is no longer active clears its alarms.
	for k, on := range w.alarms {
		if on && !seen[k] {
			model, mon, _ := cut(k)
			ts = append(ts, Transition{Model: model, Reading: Reading{Monitor: mon}, Raised: false})
			delete(w.alarms, k)
		}
	}
	w.latest = st
	w.mu.Unlock()
	for _, t := range ts {
		if w.OnTransition != nil {
			w.OnTransition(ctx, t)
		}
	}
	return st, nil
}

func cut(k string) (string, string, bool) {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == ' ' {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
}

// Run checks every interval until ctx ends. Errors are logged, at most
// once a minute, and the next tick tries again.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) {
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	var lastErr time.Time
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := w.Check(ctx); err != nil && ctx.Err() == nil && time.Since(lastErr) > time.Minute {
			log.Warn("model monitors not evaluated", "err", err)
			lastErr = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
