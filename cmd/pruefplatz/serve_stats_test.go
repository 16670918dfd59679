package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
	"github.com/pruefplatz/pruefplatz/inspector/station"
	"github.com/pruefplatz/pruefplatz/models"
)

func TestParseShifts(t *testing.T) {
	for _, tc := range []struct {
		name, spec, tz, err string
	}{
		{"default in Berlin", shiftstats.DefaultShifts, "Europe/Berlin", ""},
		{"machine zone", "07:00-19:00,19:00-07:00", "", ""},
		{"unknown zone", shiftstats.DefaultShifts, "Mars/Olympus", "--tz"},
		{"overlap", "06:00-15:00,14:00-22:00", "UTC", "--shifts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := parseShifts(tc.spec, tc.tz)
			if tc.err == "" && (err != nil || len(sc.Shifts) == 0) {
				t.Fatalf("parseShifts: %v", err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want one naming %s", err, tc.err)
			}
		})
	}
	c, err := resolved(t, "--shifts", "06:00-18:00,18:00-06:00", "--tz", "Europe/Berlin")
	if err != nil || c.Shifts != "06:00-18:00,18:00-06:00" || c.TZ != "Europe/Berlin" {
		t.Fatalf("flags: %+v, %v", c, err)
	}
}

// noFrames is a frame source that is never opened: the backfill runs
// before the station starts.
func noFrames() (station.FrameSource, error) { return nil, errors.New("not opened in this test") }

// TestDemoHistoryBackfill fills an empty store with the repository's demo
// model's verdicts on demo images, spread over the past day, and leaves a
// store that holds verdicts alone.
func TestDemoHistoryBackfill(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	if err := onnx.Init(filepath.Join(repo, ".deps", "onnxruntime", ortLibName)); err != nil {
		t.Fatalf("ONNX Runtime: %v (run make setup)", err)
	}
	reg := models.Registry{Root: filepath.Join(repo, "models")}
	loader := registryLoader(reg, defaultModel, onnx.Options{Threads: 1})
	ctx := context.Background()
	m, err := loader(ctx, defaultModel, "v1")
	if err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st := station.New(station.Config{}, "test", noFrames, m, loader, store)
	defer st.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	if err := backfillDemoHistory(ctx, st, store, m, now, log); err != nil {
		t.Fatal(err)
	}
	vs, err := store.List(ctx, inspector.VerdictQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) < 700 {
		t.Fatalf("%d verdicts of demo history, want a day's worth", len(vs))
	}
	labels := map[string]int{}
	for i, v := range vs {
		if v.Trigger != shiftstats.DemoTrigger || v.Model.Name != defaultModel || now.Sub(v.Time) > 24*time.Hour || !v.Time.Before(now) {
			t.Fatalf("verdict %+v", v)
		}
		if i > 0 && v.Time.After(vs[i-1].Time) {
			t.Fatal("ids do not grow with time")
		}
		labels[v.Label]++
	}
	if labels["ok"] < len(vs)*3/4 || len(labels) < 3 {
		t.Errorf("labels %v: want mostly ok and some defects", labels)
	}
	if !strings.Contains(logs.String(), "demo history added") {
		t.Errorf("log: %s", logs.String())
	}
	// A store with verdicts gets none.
	if err := backfillDemoHistory(ctx, st, store, m, now.Add(time.Hour), log); err != nil {
		t.Fatal(err)
	}
	if s, _ := store.Stats(); s.Count != len(vs) {
		t.Fatalf("second backfill: %d verdicts, want %d", s.Count, len(vs))
	}

	// The watcher ignores the demo history; live verdicts the model
	// leaves uncertain raise an alarm: logged and in the audit log.
	users, err := bolt.OpenAuth(filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	authSvc := auth.NewService(users, 4, nil)
	w := newModelWatcher(st, store, authSvc, log)
	status, err := w.Check(ctx)
	if err != nil || status == nil || status.Readings[1].State != monitor.StateTooFew {
		t.Fatalf("with demo history only: %+v, %v", status, err)
	}
	for i := range 60 {
		v := &inspector.Verdict{Time: now.Add(time.Duration(i) * time.Second), Model: m.Card.Ref(), Trigger: "auto",
			Decision: inspector.Decision{Outcome: inspector.OutcomeUncertain, TopK: []inspector.Prediction{{Label: "ok", Score: 0.6}}}}
		if err := store.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	// Both the uncertain rate and, against the shipped card's validation
	// scores (mostly above 0.9), the drift of these 0.6 scores alarm.
	status, err = w.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alarmed := map[string]bool{}
	for _, r := range status.Alarms() {
		alarmed[r.Monitor] = true
	}
	if len(alarmed) != 2 || !alarmed[monitor.UncertainRate] || !alarmed[monitor.ScoreDrift] {
		t.Fatalf("60 uncertain verdicts: %+v", status)
	}
	evs, err := users.Audit(ctx, auth.AuditQuery{})
	if err != nil || len(evs) != 2 {
		t.Fatalf("audit log %+v, %v", evs, err)
	}
	for _, e := range evs {
		if e.Action != auth.ActionMonitorAlarm || e.Target != "demo-defects/v1" ||
			!(strings.Contains(e.Detail, "uncertain_rate") || strings.Contains(e.Detail, "score_drift")) {
			t.Errorf("audit entry %+v", e)
		}
	}
	if !strings.Contains(logs.String(), "model monitor alarm") {
		t.Errorf("alarm not logged: %s", logs.String())
	}
}
