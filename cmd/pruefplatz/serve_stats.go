package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
	"github.com/pruefplatz/pruefplatz/inspector/station"
)

// monitorInterval is how often the model monitors are evaluated.
const monitorInterval = 30 * time.Second

// parseShifts reads --shifts in the zone --tz names ("" or "Local": the
// machine's zone).
func parseShifts(spec, tz string) (shiftstats.Schedule, error) {
	loc := time.Local
	if tz != "" && tz != "Local" {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil {
			return shiftstats.Schedule{}, fmt.Errorf("--tz %q: %w", tz, err)
		}
	}
	sc, err := shiftstats.ParseSchedule(spec, loc)
	if err != nil {
		return sc, fmt.Errorf("--shifts: %w", err)
	}
	return sc, nil
}

// newModelWatcher watches the station's current model on the verdicts in
// store; alarms that start or clear are logged and written to the audit log.
func newModelWatcher(st *station.Station, store *bolt.Store, audit *auth.Service, log *slog.Logger) *monitor.Watcher {
	log = log.With("component", "monitor")
	return &monitor.Watcher{
		Log: log,
		Source: func(ctx context.Context, limit int) (string, monitor.Baseline, []inspector.Verdict, bool, error) {
			m := st.Model()
			if m == nil || m.Card == nil {
				return "", monitor.Baseline{}, nil, false, nil
			}
			base := monitor.Baseline{Scores: m.Card.ScoreBaseline}
			if m.Card.Dataset != nil {
				base.ClassCounts = m.Card.Dataset.ClassCounts
			}
			// Live verdicts of this model only: demo history and other
			// versions' verdicts say nothing about it.
			all, err := store.List(ctx, inspector.VerdictQuery{Limit: min(limit*4, 10000)})
			if err != nil {
				return "", base, nil, false, err
			}
			vs := all[:0]
			for _, v := range all {
				if v.Model.Name == m.Card.Name && v.Model.Version == m.Card.Version && v.Trigger != shiftstats.DemoTrigger {
					vs = append(vs, v)
				}
			}
			return m.Card.Name + "/" + m.Card.Version, base, vs, true, nil
		},
		OnTransition: func(ctx context.Context, t monitor.Transition) {
			r := t.Reading
			detail := fmt.Sprintf("%s %.3f, threshold %.2f, over %d", r.Monitor, r.Value, r.Threshold, r.N)
			action := auth.ActionMonitorClear
			if t.Raised {
				action = auth.ActionMonitorAlarm
				log.Warn("model monitor alarm", "model", t.Model, "monitor", r.Monitor, "value", r.Value, "threshold", r.Threshold, "n", r.N)
			} else {
				log.Info("model monitor back under its threshold", "model", t.Model, "monitor", r.Monitor, "value", r.Value)
			}
			// A failed audit write is logged by the auth service.
			_ = audit.Record(ctx, auth.Actor{Name: "pruefplatz", Via: auth.ViaSystem}, action, t.Model, detail, true)
		},
	}
}

// Demo history: the parts drawn per class for the pool of classified demo
// images, and the history's span and pace.
const (
	demoPoolPerClass = 3
	demoHistorySpan  = 24 * time.Hour
	demoHistoryStep  = 90 * time.Second
)

// backfillDemoHistory gives an empty store a day of demo history (see
// shiftstats.DemoHistory) when the station runs the demo feed with a demo
// model: a few demo images per class are drawn and classified by the
// model, and their verdicts spread over the past day. It runs before the
// station starts, so the history's ids stay older than the live ones.
func backfillDemoHistory(ctx context.Context, st *station.Station, store *bolt.Store, m *station.Model, now time.Time, log *slog.Logger) error {
	set := ""
	var classes []string
	switch m.Card.Name {
	case demo.SetDefects:
		set, classes = demo.SetDefects, demo.DefectClasses
	case demo.SetParts:
		set, classes = demo.SetParts, demo.PartClasses
	default:
		log.Info("no demo history: the model is no demo model", "model", m.Card.Name)
		return nil
	}
	stats, err := store.Stats()
	if err != nil || stats.Count > 0 {
		return err
	}
	start := time.Now()
	var samples []shiftstats.DemoSample
	for _, class := range classes {
		for i := range demoPoolPerClass {
			// Images past the training set's numbers: ones the model has not seen.
			img, err := demo.Image(1, set, class, 10_000+i)
			if err != nil {
				return fmt.Errorf("demo image %s/%s: %w", set, class, err)
			}
			v, err := st.ClassifyImage(ctx, img, false)
			if err != nil {
				return fmt.Errorf("classifying demo image %s/%s: %w", set, class, err)
			}
			samples = append(samples, shiftstats.DemoSample{Verdict: v, Truth: class})
		}
	}
	okShare := 0.9
	if len(m.Card.OKLabels) == 0 {
		okShare = 0
	}
	vs := shiftstats.DemoHistory(samples, m.Card.OKLabels, okShare, now, demoHistorySpan, demoHistoryStep, rand.New(rand.NewPCG(1, 2)))
	if err := store.AddAll(ctx, vs); err != nil {
		return err
	}
	log.Info("demo history added to the empty store (trigger demo-history; the statistics page can leave it out)",
		"verdicts", len(vs), "images_classified", len(samples), "took", time.Since(start).Round(time.Millisecond))
	return nil
}
